import Channel
import Foundation
import Glibc
import Testing
import TestSupport

/// Who may do what, against a careless or hostile client: fault injection only where vrrpd
/// allows it, view mode sees no secret and is told to `enable`, and a client that goes away is
/// named in words.
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
            #expect(refused.stdout.contains("% Fault injection is off in this vrrpd: start it with --allow-fault-injection"), "\(line): \(refused.stdout)")
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
        #expect(restall.status == 1 && restall.stdout.contains("% ager is stalled already ("), "\(restall.stdout)")
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
            #expect(refused.stdout == "% This command needs privileged mode: type enable first\n", "\(line): \(refused.stdout)")
        }
        let typo = try daemon.vtysh(["-c", "show runnning-config"])
        #expect(typo.stdout.hasPrefix("% Unknown command: show runnning-config"), "\(typo.stdout)")
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

    /// A client killed while its reply is on the way: the log names the session and says what
    /// happened in words, not SwiftNIO's function names.
    @Test func aClientThatGoesAwayIsNamedInWords() throws {
        let daemon = try DaemonProcess()
        do {
            let raw = try RawSocket(path: daemon.socket)
            raw.send(Frame(.hello, id: 1, text: "client=reset test").encoded)
            usleep(200_000)  // its WELCOME arrives and is never read: closing now resets the connection
            raw.send(Frame(.exec, id: 2, text: "show version").encoded)
            usleep(200_000)
        }
        #expect(daemon.waitForLog("(reset test): connection reset by peer") || daemon.log.contains("(reset test): broken pipe"), "\(daemon.log)")
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("reset test") }
        #expect(lines.allSatisfy { !$0.contains("descriptor") && !$0.contains("errno") }, "\(lines)")
        #expect(try daemon.vtysh(["-c", "show version"]).status == 0)
    }
}
