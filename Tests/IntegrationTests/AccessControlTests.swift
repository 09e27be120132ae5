import Channel
import Foundation
import Glibc
import Testing
import TestSupport

/// Who may do what, against a careless or hostile client: fault injection only where vrrpd
/// allows it, view mode sees no secret and is told to `enable`, guessing the enable secret is
/// slow however many sessions guess, silent connections cannot lock the administrator out, and
/// a client that goes away is named in words.
@Suite struct AccessControlTests {
    static let hashcat = "$9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6"  // "hashcat"

    /// A production vrrpd refuses every `test fault`, naming the flag; one started with it
    /// says so in `show version` and keeps each fault within its bounds.
    @Test func faultInjectionIsOptInAndBounded() throws {
        let production = try DaemonProcess()
        #expect(try production.vtysh(["-c", "show version"]).stdout.contains("Fault injection: off (test fault needs vrrpd --allow-fault-injection)"))
        for line in ["test fault control-plane block 100", "test fault hal stall l2x 100", "test fault config-write delay 100",
                     "test fault hal fail port_set count 1 error busy", "test fault hal clear"] {
            let refused = try production.vtysh(["-c", "enable", "-c", line])
            #expect(refused.status == 1, "\(line)")
            #expect(refused.stdout.contains("% Invalid input detected: Fault injection is off in this vrrpd: start it with --allow-fault-injection"), "\(line): \(refused.stdout)")
        }
        #expect(try production.vtysh(["-c", "show hal faults"]).stdout.contains("No HAL faults injected"))

        let lab = try DaemonProcess(faults: true)
        #expect(try lab.vtysh(["-c", "show version"]).stdout.contains("Fault injection: allowed (--allow-fault-injection)"))
        // Durations past the limits are not commands at all.
        for (line, range) in [("test fault control-plane block 8000", "1-3000"), ("test fault hal stall l2x 600000", "1-60000"),
                              ("test fault config-write delay 600000", "1-10000"), ("test fault hal link-delay 600000", "0-10000")] {
            let refused = try lab.vtysh(["-c", "enable", "-c", line])
            #expect(refused.status == 1 && refused.stdout.contains("is out of range: \(range)"), "\(line): \(refused.stdout)")
        }
        // A block, then another at once: refused, so repeating cannot keep the switch frozen.
        #expect(try lab.vtysh(["-c", "enable", "-c", "test fault control-plane block 300"]).status == 0)
        let again = try lab.vtysh(["-c", "enable", "-c", "test fault control-plane block 300"])
        #expect(again.status == 1 && again.stdout.contains("one block per 10 s"), "\(again.stdout)")
        // A stall cannot be stretched by repeating it, and "until cleared" has its limit too.
        #expect(try lab.vtysh(["-c", "enable", "-c", "test fault hal stall ager 5000"]).status == 0)
        let restall = try lab.vtysh(["-c", "enable", "-c", "test fault hal stall ager 5000"])
        #expect(restall.status == 1 && restall.stdout.contains("% Error: ager is stalled already ("), "\(restall.stdout)")
        #expect(try lab.vtysh(["-c", "enable", "-c", "test fault hal stall l2x"]).status == 0)
        let faults = try lab.vtysh(["-c", "show hal faults"]).stdout
        #expect(faults.contains("l2x stalled holding l2.table for 5") && !faults.contains("until cleared"), "\(faults)")
        #expect(lab.log.contains("fault injected: l2x stalls holding l2.table until cleared (at most 60 s)"))
        #expect(try lab.vtysh(["-c", "enable", "-c", "test fault hal stall clear"]).status == 0)
    }

    /// View mode (privilege 1): the log buffer is privileged as the running configuration is,
    /// and what a privileged command typed there answers says so; `?` and TAB keep showing
    /// view mode's commands only. No log line, in the buffer or the file, carries a secret: a
    /// SIGHUP reload that changes the enable secret logs the line without its hash.
    @Test func viewModeIsToldToEnableAndNoLogLineCarriesASecret() throws {
        let daemon = try DaemonProcess(config: "enable secret 9 \(Self.hashcat)\n")
        for line in ["show running-config", "show logging", "configure terminal", "show startup-config"] {
            let refused = try daemon.vtysh(["-c", line])
            #expect(refused.status == 1, "\(line)")
            #expect(refused.stdout == "% Invalid input detected: this command needs privileged mode: type enable first\n", "\(line): \(refused.stdout)")
        }
        let typo = try daemon.vtysh(["-c", "show runnning-config"])
        #expect(typo.stdout.hasPrefix("show runnning-config\n     ^\n% Invalid input detected at '^' marker."), "\(typo.stdout)")
        let client = try ChannelClient(path: daemon.socket)
        var help: [UInt8] = []
        _ = try client.request(.describe, "show ", timeout: 5) { help += $0 }
        let words = String(decoding: help, as: UTF8.self).split(separator: "\n").map { $0.split(separator: "\t").first ?? "" }
        #expect(words.contains("version") && !words.contains("running-config") && !words.contains("logging"), "\(words)")
        var completed: [UInt8] = []
        _ = try client.request(.complete, "show runn", timeout: 5) { completed += $0 }
        #expect(completed.isEmpty, "\(String(decoding: completed, as: UTF8.self))")

        // A new secret in the running configuration, then SIGHUP: the file's comes back.
        let secret = ["VTYSH_ENABLE_SECRET": "hashcat"]
        #expect(try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "enable secret 0 another-one"], environment: secret).status == 0)
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForLog("reload: + enable secret"))
        // (The reload brought the file's secret back.)
        let buffer = try daemon.vtysh(["-c", "enable", "-c", "show logging"], environment: secret).stdout
        #expect(buffer.contains("reload: - enable secret <redacted>") && buffer.contains("reload: + enable secret <redacted>"), "\(buffer)")
        #expect(!buffer.contains("$9$"), "\(buffer)")
        #expect(daemon.log.contains("reload: + enable secret <redacted>"))
        #expect(!daemon.log.contains("$9$") && !daemon.log.contains("another-one"), "\(daemon.log)")
    }

    /// vtysh as another user (root only): `setpriv` with that uid and the socket's group.
    static func vtyshAs(uid: Int, _ daemon: DaemonProcess, _ arguments: [String], secret: String, output: String) throws -> Spawned {
        let out = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(out)
            close(null)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["VTYSH_ENABLE_SECRET"] = secret
        return try Spawned(
            "/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=65534", "--clear-groups", Binaries.vtysh, "--socket", daemon.socket] + arguments,
            stdin: null, stdout: out, stderr: out, environment: environment)
    }

    /// Forty sessions of one user guess at once: a handful of answers are checked (the
    /// identity's back-off: 1 s, 2 s, 4 s ...) and the rest refused unchecked, saying when to
    /// try again; the log says so once. Meanwhile the local administrator, and another user,
    /// get in with the right secret at once.
    @Test(.enabled(if: geteuid() == 0, "needs root: the guessers run as another user (setpriv)"))
    func guessingTheEnableSecretIsSlowedPerIdentityNotPerSession() throws {
        let daemon = try DaemonProcess(arguments: ["--socket-group", "nogroup"], config: "enable secret 9 \(Self.hashcat)\n")
        let guessers = 40
        let started = Date()
        let processes = try (0..<guessers).map { index in
            try Self.vtyshAs(uid: 65534, daemon, ["-c", "enable"], secret: "guess-\(index)", output: daemon.scratch.file("guess-\(index).out"))
        }
        usleep(300_000)
        // The administrator (root), over the channel: answered without waiting for the guessers.
        let admin = try ChannelClient(path: daemon.socket)
        #expect(try admin.request(.exec, "enable", timeout: 10) { _ in }.status == .inputRequired)
        let asked = Date()
        let entered = try admin.request(.input, "hashcat", timeout: 10) { _ in }
        #expect(entered.status == .success && entered.prompt.hasSuffix("#"), "\(entered)")
        #expect(Date().timeIntervalSince(asked) < 1.5, "the administrator waited \(Date().timeIntervalSince(asked)) s")
        // Another user's own record is clean: the right secret works too.
        let other = try Self.vtyshAs(uid: 20001, daemon, ["-c", "enable", "-c", "show privilege"], secret: "hashcat", output: daemon.scratch.file("other.out"))
        #expect(other.wait(timeout: 10) == 0, "\(daemon.scratch.read("other.out") ?? "")")
        #expect(daemon.scratch.read("other.out")?.contains("Current privilege level is 15") == true)

        for process in processes { #expect(process.wait(timeout: 20) == 1) }
        let seconds = Date().timeIntervalSince(started)
        let outputs = (0..<guessers).map { daemon.scratch.read("guess-\($0).out") ?? "" }
        let checked = outputs.filter { $0.contains("% Access denied") }.count
        let refused = outputs.filter { $0.contains("% Too many wrong enable secrets from uid 65534 (") && $0.contains("): try again in ") }.count
        #expect(checked >= 1 && checked <= 4, "\(checked) of \(guessers) guesses checked in \(seconds) s")
        #expect(checked + refused == guessers, "\(outputs)")
        let lines = daemon.log.split(separator: "\n")
        #expect(lines.filter { $0.contains("answers refused unchecked by the back-off of the enable secret") }.count == 1, "\(daemon.log)")
        #expect(lines.filter { $0.contains("wrong enable secret from=uid 65534") }.count == checked)
    }

    /// Three hundred connections that never send HELLO (from the administrator's own user, so
    /// they could take the reserved slot): the administrator's vtysh still gets in at once,
    /// every silent one is closed and told why within the HELLO limit, and the log says so
    /// once, not three hundred times. A client that greeted and then idles stays.
    @Test func silentConnectionsCannotLockTheAdministratorOut() throws {
        let daemon = try DaemonProcess()
        let greeted = try ChannelClient(path: daemon.socket)
        let started = Date()
        let silent = try (0..<300).map { _ in try RawSocket(path: daemon.socket) }
        let admin = try daemon.vtysh(["-c", "show version"])
        #expect(admin.status == 0, "\(admin.stderr)")
        #expect(admin.seconds < 3, "vtysh took \(admin.seconds) s")
        #expect(daemon.waitUntilTrue(Double(ChannelLimits.helloTimeoutSeconds) + 5) { silent.allSatisfy { !$0.isOpen } })
        let closedAfter = Date().timeIntervalSince(started)
        #expect(closedAfter < Double(ChannelLimits.helloTimeoutSeconds) + 4, "the last silent connection was closed after \(closedAfter) s")
        for raw in silent {
            let error = RawSocket.frames(raw.received).first { $0.type == .error }?.text ?? ""
            #expect(error.hasPrefix("% no HELLO") && error.contains("closed (a session opens with HELLO"), "\(error)")
        }
        let version = try daemon.vtysh(["-c", "show version"]).stdout
        #expect(version.contains("0 refused, 300 closed without HELLO"), "\(version)")
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("connection closed: no HELLO") }
        #expect(lines.count >= 1 && lines.count <= 2, "\(lines.count) lines for 300 silent connections")
        #expect(try greeted.request(.exec, "show version", timeout: 5) { _ in }.status == .success, "a client that greeted stays")
    }

    /// A client killed while its reply is on the way: the log names the session and says what
    /// happened in words, not SwiftNIO's function names.
    @Test func aClientThatGoesAwayIsNamedInWords() throws {
        let daemon = try DaemonProcess()
        do {
            let raw = try RawSocket(path: daemon.socket)
            raw.send(Frame(.hello, id: 1, text: "client=reset test").encoded)
            // Its WELCOME arrives and is never read: closing with it unread resets the connection.
            var peek = [UInt8](repeating: 0, count: 64)
            #expect(daemon.waitUntilTrue(10) { recv(raw.fd, &peek, peek.count, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0 })
        }
        #expect(daemon.waitForLog("(reset test): connection reset by peer", timeout: 10) || daemon.log.contains("(reset test): broken pipe"), "\(daemon.log)")
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("reset test") }
        #expect(lines.allSatisfy { !$0.contains("descriptor") && !$0.contains("errno") }, "\(lines)")
        #expect(try daemon.vtysh(["-c", "show version"]).status == 0)
    }
}
