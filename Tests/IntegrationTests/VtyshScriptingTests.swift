import Foundation
import Glibc
import Testing

/// vtysh driven the way scripts drive it: -c, -f, stdin, -E, exit statuses.
@Suite struct VtyshScriptingTests {
    @Test func commandsRunInOrderAndSucceed() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh([
            "-c", "enable", "-c", "configure terminal", "-c", "hostname lab1", "-c", "interface eth3",
            "-c", "description to server", "-c", "end", "-c", "show running-config",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("hostname lab1\n!\ninterface eth3\n description to server\nexit\n"))
        #expect(result.stdout.hasPrefix("Building configuration...\n\nCurrent configuration:\n"))
    }

    @Test func firstFailingCommandStopsAndIsNamed() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh(["-c", "enable", "-c", "show vrp", "-c", "configure terminal"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("% Unknown command: show vrp\n" + String(repeating: " ", count: 24) + "^"))
        #expect(result.stderr.contains("command 2: \"show vrp\" failed (unknown command)"))
    }

    @Test func ambiguousAndIncompleteHaveMarkers() throws {
        let daemon = try DaemonProcess()
        let ambiguous = try daemon.vtysh(["-c", "enable", "-c", "co"])
        #expect(ambiguous.status == 1)
        #expect(ambiguous.stdout.contains("% Ambiguous command: co\n" + String(repeating: " ", count: 21) + "^"))
        let incomplete = try daemon.vtysh(["-c", "enable", "-c", "configure"])
        #expect(incomplete.stdout.contains("% Incomplete command: configure\n" + String(repeating: " ", count: 32) + "^"))
    }

    @Test func fileRunsEveryLineAndListsFailures() throws {
        let daemon = try DaemonProcess()
        try daemon.scratch.write("script.txt", """
            ! configuration script from the field
            enable
            configure terminal
            hostname from-file
            # another comment style
            interface eth1
             description a
             bogus
            exit
            interface eth2
             description b
            end
            """)
        let result = try daemon.vtysh(["-f", daemon.scratch.file("script.txt")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("script.txt:8: \"bogus\" failed (unknown command)"))
        let check = try daemon.vtysh(["-c", "enable", "-c", "show running-config"])
        #expect(check.stdout.contains("hostname from-file"))
        #expect(check.stdout.contains("interface eth2\n description b\n"))
    }

    @Test func stdinScriptWithEcho() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh(["-E"], stdin: "enable\nconfigure terminal\nhostname piped\nend\nshow running-config | include hostname\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("switch> enable\nswitch# configure terminal\nswitch(config)# hostname piped\npiped(config)# end\npiped# show running-config | include hostname\nhostname piped\n"))
    }

    @Test func questionMarkAtEndOfCommand() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh(["-c", "enable", "-c", "show ?"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("  running-config"))
        #expect(result.stdout.contains("Current operating configuration"))
        let partial = try daemon.vtysh(["-c", "enable", "-c", "wr?"])
        #expect(partial.stdout.contains("  write"))
    }

    @Test func missingDaemonIsOneClearLine() throws {
        let scratch = try Scratch()
        let result = try Vtysh.run(["--socket", scratch.file("nothing.vty"), "-c", "show version"])
        #expect(result.status == 2)
        #expect(result.stderr == "% cannot connect to vrrpd at \(scratch.file("nothing.vty")): No such file or directory (is vrrpd running?)\n")
    }

    @Test func enableSecretFromEnvironment() throws {
        let daemon = try DaemonProcess(config: "enable secret 9 $9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6\n")
        let good = try daemon.vtysh(["-c", "enable", "-c", "show running-config"], environment: ["VTYSH_ENABLE_SECRET": "hashcat"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("enable secret 9 $9$2MJBozw/9R3UsU$"))
        let bad = try daemon.vtysh(["-c", "enable", "-c", "show running-config"], environment: ["VTYSH_ENABLE_SECRET": "wrong"])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("% Access denied"))
        #expect(!bad.stdout.contains("Current configuration"))
        let none = try daemon.vtysh(["-c", "enable"])
        #expect(none.status == 1)
        #expect(none.stderr.contains("VTYSH_ENABLE_SECRET"))
    }

    @Test func writeFileSurvivesRestart() throws {
        let scratch = try Scratch()
        do {
            let daemon = try DaemonProcess(scratch: scratch)
            let result = try daemon.vtysh([
                "-c", "enable", "-c", "conf t", "-c", "hostname persisted", "-c", "interface vlan20",
                "-c", "ip address 10.20.0.1/24", "-c", "end", "-c", "write file",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("[OK]"))
            #expect(try daemon.stop() == 0)
        }
        var st = stat()
        #expect(stat(scratch.file("vrrpd.conf"), &st) == 0 && st.st_mode & 0o777 == 0o600)
        let again = try DaemonProcess(scratch: scratch)
        let show = try again.vtysh(["-c", "enable", "-c", "show running-config"])
        #expect(show.stdout.contains("hostname persisted"))
        #expect(show.stdout.contains("interface vlan20\n ip address 10.20.0.1/24\nexit"))
        let startup = try again.vtysh(["-c", "enable", "-c", "show startup-config"])
        #expect(startup.stdout.contains("hostname persisted"))
    }

    @Test func exitEndsTheSession() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh(["-c", "exit", "-c", "show version"])
        #expect(result.status == 0)
        #expect(!result.stdout.contains("vrrpd 0."))
    }
}
