#!/usr/bin/env python3
"""`su` as an ordinary local user who knows the SSH account's password: what does it give?

  su_session.py --password PW --socket PATH [--type TEXT] -- SU-ARGUMENTS...

Runs `su SU-ARGUMENTS` as uid/gid 65534 (nobody) on a terminal of its own (a pty), types the
password when asked, then TEXT (backslash escapes allowed) once a `>` prompt shows, and reads
until su ends (a deadline of 20 s). VRRPD_SOCKET is PATH, as a user would set it. Prints one JSON
object: output (everything the terminal showed), status (su's exit status, or null)."""
import argparse
import json
import os
import pty
import select
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--password", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--type", default="")
    parser.add_argument("su", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    su_args = args.su[1:] if args.su[:1] == ["--"] else args.su
    pid, fd = pty.fork()
    if pid == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        os.chdir("/")
        os.environ["VRRPD_SOCKET"] = args.socket
        os.execvp("su", ["su"] + su_args)
    output = b""
    stage = "password"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed: su ended
            break
        if not chunk:
            break
        output += chunk
        if stage == "password" and b"assword" in output:
            os.write(fd, args.password.encode() + b"\n")
            stage = "prompt"
        elif stage == "prompt" and args.type and output.rstrip().endswith(b">"):
            os.write(fd, args.type.encode().decode("unicode_escape").encode())
            stage = "typed"
    # The terminal closes as su's child ends; su itself follows within moments.
    code = None
    ends = time.monotonic() + 5
    while code is None and time.monotonic() < ends:
        ended, status = os.waitpid(pid, os.WNOHANG)
        if ended:
            code = os.waitstatus_to_exitcode(status)
        else:
            time.sleep(0.05)
    if code is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    print(json.dumps(dict(output=output.decode(errors="replace"), status=code)))


if __name__ == "__main__":
    main()
