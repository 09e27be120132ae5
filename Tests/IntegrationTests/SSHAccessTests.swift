import Foundation
import Glibc
import Testing
import TestSupport

/// The SSH account scripts/ssh-access makes, tried as its user, as a local user who knows its
/// password, and as a password guesser (issue 18): the account's shell is vtysh, so sshd and
/// su give vtysh and nothing else; `ssh HOST COMMAND` runs the command and returns its status;
/// sshd is hardened as OpenSSH advises; new connections are limited per source address by
/// nftables. Real sshd, OpenSSH's ssh client, su on a pty, paramiko. Needs root; elsewhere
/// skipped, saying why.
@Suite(.serialized) struct SSHAccessTests {
    /// Not AutomationTests' user (the suites run side by side, and each deletes its user), and
    /// this process's own (as AutomationTests.user).
    static let user = "vrrpd-ci-ssh-\(getpid())"

    static var skipReason: String? {
        if getuid() != 0 { return "needs root (a system user, sshd, su as another user, nftables); CI runs it as root" }
        if access("/usr/sbin/sshd", X_OK) != 0 || access("/usr/bin/ssh", X_OK) != 0 {
            return "OpenSSH's sshd or ssh is not installed (scripts/setup installs openssh-server)"
        }
        if access("/usr/sbin/nft", X_OK) != 0 { return "nft is not installed (scripts/setup installs nftables)" }
        let probe = try? Spawned.run("/usr/bin/env", ["python3", "-c", "import paramiko"])
        if probe?.status != 0 { return "paramiko is not installed (scripts/setup installs requirements-automation.txt)" }
        return nil
    }

    /// OpenSSH's ssh client as a person uses it: the password typed (through SSH_ASKPASS, as
    /// sshpass would), then `command` run on the switch (none: a session on stdin).
    static func ssh(_ access: AutomationTests.SSHAccess, _ command: [String], password: String? = nil, options: [String] = [],
                    stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
        let askpass = access.scratch.file("askpass")
        try access.scratch.write("askpass", "#!/bin/sh\nprintf '%s\\n' '\(password ?? access.password)'\n")
        chmod(askpass, 0o700)
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_ASKPASS"] = askpass
        environment["SSH_ASKPASS_REQUIRE"] = "force"
        return try Spawned.run(
            "/usr/bin/ssh",
            ["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "ConnectTimeout=20", "-p", "\(access.port)"] + options + ["\(access.user)@127.0.0.1"] + command,
            stdin: stdin, environment: environment)
    }

    /// `su ARGUMENTS` typed by uid 65534 with the account's password (Tests/Automation/su_session.py).
    static func su(_ access: AutomationTests.SSHAccess, socket: String, type: String = "", _ arguments: [String]) throws -> (output: String, status: Int?) {
        let run = try Spawned.run(
            "/usr/bin/env",
            ["python3", AutomationTests.root + "/Tests/Automation/su_session.py", "--password", access.password, "--socket", socket,
             "--type", type, "--"] + arguments)
        guard run.status == 0, let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("su_session.py failed (\(run.status)): \(run.stdout) \(run.stderr)")
        }
        return (object["output"] as? String ?? "", object["status"] as? Int)
    }

    /// The login shell of `user` in the passwd database.
    static func loginShell(_ user: String) -> String? {
        guard let entry = getpwnam(user), let shell = entry.pointee.pw_shell else { return nil }
        return String(cString: shell)
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Item 8: whatever starts the account's shell gets vtysh. sshd for a login or a command,
    /// `su USER` and `su USER -c` with the password, even `su -s /bin/sh`: never a system shell,
    /// no file read through vtysh's options, nothing forwarded, no sftp; sshd's configuration
    /// says what OpenSSH's hardening says.
    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func theAccountRunsVtyshAndNothingElse() throws {
        let scratch = try Scratch()
        let socket = scratch.file("vrrpd.vty")
        let access = try AutomationTests.SSHAccess(scratch: scratch, socket: socket, user: Self.user)
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname shell-sw\n")
        defer { withExtendedLifetime(daemon) {} }

        // The shell is the vtysh asked for ($VRRPD_BIN_DIR), and ssh-access says which.
        let vtysh = Self.realPath(Binaries.vtysh)
        #expect(Self.loginShell(Self.user) == vtysh)
        #expect(access.started.contains("vtysh: \(vtysh) (built "), "\(access.started)")

        // su with the password, from an ordinary local user: a vtysh session, in which `id` is
        // an unknown command.
        let session = try Self.su(access, socket: socket, type: "id\\nshow version\\nexit\\n", [Self.user])
        #expect(session.status == 0 && session.output.contains("shell-sw>") && session.output.contains("id\r\n^\r\n% Invalid input detected at '^' marker.")
                && session.output.contains("Hostname: shell-sw") && !session.output.contains("uid="), "\(session)")
        let command = try Self.su(access, socket: socket, [Self.user, "-c", "id"])
        #expect(command.status == 1 && command.output.contains("id\r\n^\r\n% Invalid input detected at '^' marker.") && !command.output.contains("uid="), "\(command)")
        // vtysh is not in /etc/shells: su ignores another shell asked for by anyone but root.
        let otherShell = try Self.su(access, socket: socket, ["-s", "/bin/sh", Self.user, "-c", "id"])
        #expect(otherShell.output.contains("restricted shell") && !otherShell.output.contains("uid="), "\(otherShell)")
        // As a login shell vtysh takes `-c COMMAND` and no option: not a socket of one's choosing.
        let options = try Self.su(access, socket: socket, [Self.user, "-c", "show version", "--", "--socket", "/tmp/elsewhere.vty"])
        #expect(options.status == 64 && options.output.contains("login shell") && !options.output.contains("Hostname"), "\(options)")

        // Over SSH: a command is a CLI line, an option-looking one too (no file is read).
        let id = try Self.ssh(access, ["id"])
        #expect(id.status == 1 && id.stdout.contains("id\n^\n% Invalid input detected at '^' marker.") && !id.stdout.contains("uid="), "\(id)")
        let file = try Self.ssh(access, ["--", "-f /etc/passwd"])
        #expect(file.status == 1 && !(file.stdout + file.stderr).contains("root:"), "\(file)")

        // Nothing but the session: port forwarding both ways, X11 and sftp are refused.
        let channels = """
            import json, paramiko
            c = paramiko.SSHClient(); c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            c.connect("127.0.0.1", port=\(access.port), username="\(Self.user)", password="\(access.password)", look_for_keys=False, allow_agent=False)
            t = c.get_transport()
            def x11():
                ch = t.open_session(); ch.request_x11(); ch.exec_command("show version"); return ch.recv_exit_status()
            tries = {"direct-tcpip": lambda: t.open_channel("direct-tcpip", ("127.0.0.1", \(access.port)), ("127.0.0.1", 0)),
                     "tcpip-forward": lambda: t.request_port_forward("127.0.0.1", 0),
                     "sftp": lambda: c.open_sftp(), "x11": x11}
            result = {}
            for name, attempt in tries.items():
                try:
                    attempt(); result[name] = "allowed"
                except Exception as e:
                    result[name] = "refused: %s" % e
            ch = t.open_session(); ch.exec_command("show version"); result["command"] = ch.recv_exit_status()
            print(json.dumps(result))
            """
        let run = try Spawned.run("/usr/bin/env", ["python3", "-c", channels])
        let refused = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]) ?? [:]
        for name in ["direct-tcpip", "tcpip-forward", "sftp", "x11"] {
            #expect((refused[name] as? String ?? "").hasPrefix("refused"), "\(name): \(run.stdout) \(run.stderr.suffix(2000))")
        }
        #expect(refused["command"] as? Int == 0, "the same connection still runs a command: \(run.stdout)")

        // The configuration sshd runs with (its own view, for this user and address).
        let effective = try Spawned.run("/usr/sbin/sshd", ["-T", "-f", scratch.file("ssh/sshd_config"), "-C", "user=\(Self.user),host=client,addr=127.0.0.1"])
        let settings = Set(effective.stdout.split(separator: "\n").map(String.init))
        for expected in ["disableforwarding yes", "permituserrc no", "maxauthtries 3", "maxstartups 10:30:60", "persourcemaxstartups 3",
                         "logingracetime 30", "allowagentforwarding no", "allowtcpforwarding no", "allowstreamlocalforwarding no",
                         "x11forwarding no", "permittunnel no", "permitrootlogin no", "permituserenvironment no", "usepam no",
                         "authenticationmethods password", "pubkeyauthentication no", "forcecommand none", "setenv VRRPD_SOCKET=\(socket)"] {
            #expect(settings.contains(expected), "sshd -T lacks \"\(expected)\": \(effective.stdout) \(effective.stderr)")
        }
        #expect(!settings.contains { $0.hasPrefix("subsystem ") }, "a subsystem runs through the shell: none is configured")
    }

    /// Newcomer item: `ssh HOST COMMAND` runs the command and exits with its status, as IOS and
    /// FRR's vtysh do; a command may be several lines (one command per line, ';' is text).
    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func aCommandOverSSHRunsAndGivesItsStatus() throws {
        let scratch = try Scratch()
        let access = try AutomationTests.SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"), user: Self.user)
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname cmd-sw\n")

        let version = try Self.ssh(access, ["show version"])
        #expect(version.status == 0 && version.stdout.contains("Hostname: cmd-sw"), "\(version)")
        let unknown = try Self.ssh(access, ["show nonsense"])
        #expect(unknown.status == 1 && unknown.stdout.contains("show nonsense\n     ^\n% Invalid input detected at '^' marker.")
                && unknown.stderr.contains("\"show nonsense\" failed"), "\(unknown)")
        // ssh joins its arguments with spaces, as it always does.
        let joined = try Self.ssh(access, ["show", "version"])
        #expect(joined.status == 0 && joined.stdout.contains("Hostname: cmd-sw"), "\(joined)")
        // Lines run in order, stopping at the first failure (vtysh -c's rule).
        let lines = try Self.ssh(access, ["enable\nshow running-config"])
        #expect(lines.status == 0 && lines.stdout.contains("hostname cmd-sw\n"), "\(lines)")
        let stops = try Self.ssh(access, ["show nonsense\nenable\nshow running-config"])
        #expect(stops.status == 1 && !stops.stdout.contains("hostname cmd-sw"), "\(stops)")
        let semicolon = try Self.ssh(access, ["show version; show clock"])
        #expect(semicolon.status == 1 && semicolon.stderr.contains("';' does not separate commands: one command per line"), "\(semicolon)")
        // No command and no terminal: the lines of stdin, as before.
        let piped = try Self.ssh(access, [], options: ["-T"], stdin: "show version\n")
        #expect(piped.status == 0 && piped.stdout.contains("Hostname: cmd-sw"), "\(piped)")
        // vtysh's other statuses come through too: 2 when vrrpd is not there.
        try daemon.stop()
        let down = try Self.ssh(access, ["show version"])
        #expect(down.status == 2 && down.stderr.contains("% cannot connect to vrrpd"), "\(down)")
    }

    /// Item 8's penalty: a password guesser from one address gets at most the connections its
    /// per-source budget allows (MaxAuthTries guesses each), while a login from another address
    /// goes straight in; without the limit the same guesser gets far more. `stop` removes the
    /// nftables table.
    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func passwordGuessingIsSlowedPerSourceAddress() throws {
        let perMinute = 3
        let seconds = 8.0
        let scratch = try Scratch()
        let access = try AutomationTests.SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"), user: Self.user,
                                                   arguments: ["--logins-per-minute", "\(perMinute)"])
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname guess-sw\n")
        defer { withExtendedLifetime(daemon) {} }
        let table = "vrrpd_ssh_\(access.port)"
        #expect(try Spawned.run("/usr/sbin/nft", ["list", "table", "inet", table]).status == 0, "the limit's table is in place")

        func guess(_ port: UInt16) throws -> [String: Any] {
            let run = try Spawned.run(
                "/usr/bin/env",
                ["python3", AutomationTests.root + "/Tests/Automation/ssh_guesser.py", "--port", "\(port)", "--user", Self.user,
                 "--source", "127.0.0.2", "--seconds", "\(seconds)"])
            guard run.status == 0, let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
                throw TestFailure("ssh_guesser.py failed (\(run.status)): \(run.stdout) \(run.stderr.suffix(2000))")
            }
            return object
        }
        let limited = try guess(access.port)
        let elapsed = limited["seconds"] as? Double ?? seconds
        // The budget: the burst, what the rate refills in the time taken, one for rounding.
        let connectionsAllowed = perMinute + Int((Double(perMinute) * elapsed / 60).rounded(.up)) + 1
        let guesses = limited["guesses"] as? Int ?? -1
        #expect(guesses >= 1 && guesses <= connectionsAllowed * 3, "limited: \(limited), at most \(connectionsAllowed) connections")
        #expect((limited["refused"] as? Int ?? 0) >= 1, "connections beyond the budget wait or fail: \(limited)")
        #expect((limited["most_per_connection"] as? Int ?? 99) <= 3, "MaxAuthTries 3: \(limited)")

        // Another address is not held up by the guesser's penalty.
        let login = try Self.ssh(access, ["show version"])
        #expect(login.status == 0 && login.stdout.contains("Hostname: guess-sw") && login.seconds < 10, "\(login)")

        // The same guesser against an sshd without the limit (same account, same machine).
        let elsewhere = try Scratch()
        let unlimited = try AutomationTests.SSHAccess(scratch: elsewhere, socket: scratch.file("vrrpd.vty"), user: Self.user,
                                                      arguments: ["--logins-per-minute", "0"])
        // Its sshd only: the account is the test's, removed at the end.
        defer { _ = try? Spawned.run(AutomationTests.root + "/scripts/ssh-access", ["stop", "--dir", elsewhere.file("ssh")]) }
        let unbounded = try guess(unlimited.port)
        #expect(unbounded["refused"] as? Int == 0 && (unbounded["guesses"] as? Int ?? 0) > 2 * guesses, "unlimited: \(unbounded), limited: \(limited)")

        _ = try Spawned.run(AutomationTests.root + "/scripts/ssh-access", ["stop", "--dir", scratch.file("ssh")])
        #expect(try Spawned.run("/usr/sbin/nft", ["list", "table", "inet", table]).status != 0, "stop removes the limit's table")
    }

    /// A key login (`--key`): the key gets in, a password does not (the account has none, and
    /// is not locked: sshd without PAM refuses even a key to a locked account). And what
    /// ssh-access refuses: a vtysh that is not there, an account it did not make.
    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func aKeyLoginWorksAndSSHAccessRefusesWhatItShouldNot() throws {
        let scratch = try Scratch()
        let key = scratch.file("id_ed25519")
        #expect(try Spawned.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status == 0)
        let access = try AutomationTests.SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"), user: Self.user, login: ["--key", key + ".pub"])
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname key-sw\n")
        defer { withExtendedLifetime(daemon) {} }
        let withKey = try Self.ssh(access, ["show version"], options: ["-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
        #expect(withKey.status == 0 && withKey.stdout.contains("Hostname: key-sw"), "\(withKey)")
        let withPassword = try Self.ssh(access, ["show version"], options: ["-o", "PubkeyAuthentication=no"])
        #expect(withPassword.status == 255 && withPassword.stderr.contains("Permission denied (publickey)"), "\(withPassword)")

        let script = AutomationTests.root + "/scripts/ssh-access"
        let common = ["start", "--socket", scratch.file("vrrpd.vty"), "--password", "x", "--dir", scratch.file("ssh-refused")]
        let noVtysh = try Spawned.run(script, common + ["--user", Self.user, "--bin-dir", scratch.file("nowhere")])
        #expect(noVtysh.status != 0 && noVtysh.stderr.contains("no vtysh in \(scratch.file("nowhere"))"), "\(noVtysh)")
        // Someone's account with a shell keeps it.
        let other = "vrrpd-ci-other"
        #expect(try Spawned.run("/usr/sbin/useradd", ["--system", "--user-group", "--shell", "/bin/sh", other]).status == 0)
        defer { _ = try? Spawned.run("/usr/sbin/userdel", [other]) }
        let foreign = try Spawned.run(script, common + ["--user", other],
                                      environment: ProcessInfo.processInfo.environment.merging(["VRRPD_BIN_DIR": Binaries.directory]) { $1 })
        #expect(foreign.status != 0 && foreign.stderr.contains("is not an ssh-access account"), "\(foreign)")
        #expect(Self.loginShell(other) == "/bin/sh")
    }
}
