#!/usr/bin/env python3
"""Guesses an SSH password as fast as one client can, the way a brute-force tool does.

  ssh_guesser.py --port PORT --user USER --source ADDRESS --seconds S

One connection after another from ADDRESS (a loopback address of its own, so the per-source
limit sees it as one source), as many wrong passwords on each as sshd takes. A connection that
does not get through within --connect-timeout seconds (its SYN dropped and retried) counts as
refused. Prints one JSON object: guesses (wrong passwords answered), connections, refused,
most_per_connection, seconds."""
import argparse
import json
import socket
import time

import paramiko


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--source", default="127.0.0.2")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connect-timeout", type=float, default=2)
    args = parser.parse_args()
    guesses = connections = refused = most = 0
    started = time.monotonic()
    end = started + args.seconds
    while time.monotonic() < end:
        try:
            sock = socket.create_connection((args.host, args.port), timeout=args.connect_timeout,
                                            source_address=(args.source, 0))
        except OSError:
            refused += 1
            continue
        connections += 1
        transport = paramiko.Transport(sock)
        here = 0
        try:
            transport.start_client(timeout=10)
            # More than sshd's MaxAuthTries: the answer says how many it took.
            for attempt in range(10):
                try:
                    transport.auth_password(args.user, f"wrong-{guesses}-{attempt}")
                except paramiko.AuthenticationException:
                    guesses += 1
                    here += 1
                if not transport.is_active():
                    break
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            most = max(most, here)
            transport.close()
    print(json.dumps(dict(guesses=guesses, connections=connections, refused=refused, most_per_connection=most,
                          seconds=time.monotonic() - started)))


if __name__ == "__main__":
    main()
