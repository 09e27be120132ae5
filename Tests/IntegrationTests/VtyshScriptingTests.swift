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
        #expect(result.stdout.hasPrefix("! Building configuration...\n!\n! Current configuration:\n"))
    }

    @Test func firstFailingCommandStopsAndIsNamed() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh(["-c", "enable", "-c", "show vrp", "-c", "configure terminal"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("show vrp\n" + String(repeating: " ", count: 5) + "^\n% Invalid input detected at '^' marker."))
        #expect(result.stderr.contains("command 2: \"show vrp\" failed (unknown command)"))
    }

    /// In IOS's words, which Ansible's, netmiko's and scrapli's error patterns catch.
    @Test func ambiguousAndIncompleteInIOSWords() throws {
        let daemon = try DaemonProcess()
        let ambiguous = try daemon.vtysh(["-c", "enable", "-c", "co"])
        #expect(ambiguous.status == 1)
        #expect(ambiguous.stdout.contains("% Ambiguous command:  \"co\""))
        let incomplete = try daemon.vtysh(["-c", "enable", "-c", "configure"])
        #expect(incomplete.stdout.contains("% Incomplete command.\n"))
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
        #expect(result.stdout.contains("switch>enable\nswitch#configure terminal\nswitch(config)#hostname piped\npiped(config)#end\npiped#show running-config | include hostname\nhostname piped\n"))
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

    /// A script's `copy running-config startup-config` takes the destination prompt's default
    /// (IOS's `file prompt quiet`) and saves.
    @Test func copyRunningStartupInAScriptSaves() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "hostname copied", "-c", "end", "-c", "copy running-config startup-config"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("[OK]"))
        #expect(daemon.scratch.read("vrrpd.conf")?.contains("hostname copied") == true)
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
        #expect(result.status == 1, "a command given after exit did not run")
        #expect(result.stderr.contains("command 1: \"exit\" ended the session; the 1 line(s) after it were not run"), "\(result.stderr)")
        #expect(!result.stdout.contains("vrrpd 0."))
        #expect(try daemon.vtysh(["-c", "show version", "-c", "exit"]).status == 0)
    }
}

/// `vtysh -f` sends lines ahead of their replies: what users rely on still holds.
@Suite struct VtyshWindowTests {
    /// A long script with failures spread through it, mode changes, `do show`, `?` and `exit`:
    /// every failing line is named with its number, in order; replies come in line order, each
    /// reading what the lines before it did; the echo shows each line's prompt; the exit status
    /// is the same as line by line.
    @Test func aLongScriptKeepsLineOrderModesAndFailures() throws {
        let daemon = try DaemonProcess()
        var lines = ["enable", "configure terminal"]
        var failing: [Int] = []
        for n in 1...400 {
            let vlan = 10 + n % 50
            lines += ["interface vlan\(vlan)", " description pass \(n)", " vrrp \(n % 7 + 1) ip 10.\(vlan).0.\(n % 200 + 1)"]
            if n % 37 == 0 {
                lines.append(" no such command \(n)")
                failing.append(lines.count)
            }
            if n % 53 == 0 { lines.append(" do show running-config | include pass \(n)$") }
            lines.append("exit")
        }
        lines += ["vlan 3000", " name window", "exit", "end", "show running-config | include window"]
        try daemon.scratch.write("long.txt", lines.joined(separator: "\n") + "\n")
        let result = try daemon.vtysh(["-f", daemon.scratch.file("long.txt")])
        #expect(result.status == 1)
        let named = result.stderr.split(separator: "\n").filter { $0.contains("failed (") }.compactMap { line -> Int? in
            guard let range = line.range(of: "long.txt:") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        #expect(named == failing, "failing lines named \(named), expected \(failing)")
        #expect(result.stderr.contains("\(failing.count) lines failed in"))
        // Each `do show ... | include pass N$` sees its own line, printed in order.
        let seen = result.stdout.split(separator: "\n").filter { $0.hasPrefix(" description pass ") }.compactMap { Int($0.dropFirst(18)) }
        let expected = (1...400).filter { $0 % 53 == 0 }
        #expect(seen == expected, "\(seen)")
        #expect(result.stdout.hasSuffix(" name window\n"))

        // The same with the echo: every line shows the prompt of the mode it was typed in.
        let echoed = try daemon.vtysh(["-E", "-f", daemon.scratch.file("long.txt")])
        let prompts = echoed.stdout.split(separator: "\n").filter { $0.hasPrefix("switch") }
        #expect(prompts.contains("switch(config-if)# description pass 400"))
        #expect(prompts.contains("switch(config)#vlan 3000"))
        #expect(prompts.contains("switch(config-vlan)# name window"))
        #expect(prompts.last == "switch#show running-config | include window")
    }

    /// `exit` at the top ends the session: the lines sent after it never run.
    @Test func topLevelExitStopsTheScriptAndSaysWhatItSkipped() throws {
        let daemon = try DaemonProcess()
        try daemon.scratch.write("exit.txt", "enable\nconfigure terminal\nhostname before\nend\nexit\nconfigure terminal\nhostname after\n")
        let result = try daemon.vtysh(["-f", daemon.scratch.file("exit.txt")])
        #expect(result.status == 1, "lines were not run: the script did not do what it says")
        #expect(result.stderr.contains("exit.txt:5: \"exit\" ended the session; the 2 line(s) after it were not run"), "\(result.stderr)")
        let check = try daemon.vtysh(["-c", "show version"])
        #expect(check.stdout.contains("Hostname: before"), "\(check.stdout)")
        // `exit` as the last line is how many scripts end: quiet, and a success.
        try daemon.scratch.write("last.txt", "enable\nconfigure terminal\nhostname last\nend\nexit\n! done\n")
        let last = try daemon.vtysh(["-f", daemon.scratch.file("last.txt")])
        #expect(last.status == 0 && last.stderr.isEmpty, "\(last.stderr)")
    }

    @Test func aLineOverTheDaemonsLimitIsNamedAndTheRestRuns() throws {
        let daemon = try DaemonProcess()
        let long = " description " + String(repeating: "x", count: 9000)
        try daemon.scratch.write("long.txt", "enable\nconfigure terminal\ninterface eth1\n\(long)\nexit\nhostname after-long\nend\n")
        let result = try daemon.vtysh(["-f", daemon.scratch.file("long.txt")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("long.txt:4: line too long (9013 bytes; vrrpd takes at most 8192)"), "\(result.stderr)")
        let check = try daemon.vtysh(["-c", "show version"])
        #expect(check.stdout.contains("Hostname: after-long"), "the lines after it ran: \(check.stdout)")
        // Piped into the shell: the same, and the session goes on.
        let piped = try daemon.vtysh([], stdin: "enable\n\(long)\nshow version\n")
        #expect(piped.stdout.contains("Hostname: after-long"), "\(piped.stdout)\(piped.stderr)")
        #expect(piped.stderr.contains("line too long"))
    }

    @Test func aCopyWithFailingLinesFails() throws {
        let daemon = try DaemonProcess()
        let lines = (0..<1000).map { $0 % 143 == 0 ? "hostname good\($0)" : "bogus line \($0)" }
        try daemon.scratch.write("mostly-bad.conf", lines.joined(separator: "\n") + "\n")
        let result = try daemon.vtysh(["-c", "enable", "-c", "copy \(daemon.scratch.file("mostly-bad.conf")) running-config"])
        #expect(result.status == 1, "993 of 1,000 lines failed")
        #expect(result.stdout.contains("993 error"), "\(result.stdout.suffix(300))")
    }

    /// `enable` with a secret in the middle of a script: the lines sent behind it wait for the
    /// answer, then run in enable mode.
    @Test func aPasswordPromptHoldsTheLinesBehindIt() throws {
        let daemon = try DaemonProcess(config: "enable secret 9 $9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6\n")
        try daemon.scratch.write("secret.txt", "enable\nconfigure terminal\nhostname secured\nend\nshow running-config | include hostname\n")
        let result = try daemon.vtysh(["-f", daemon.scratch.file("secret.txt")], environment: ["VTYSH_ENABLE_SECRET": "hashcat"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("hostname secured"))
        // From stdin, a pipe: the same.
        let piped = try daemon.vtysh([], stdin: "enable\nshow running-config | include hostname\n", environment: ["VTYSH_ENABLE_SECRET": "hashcat"])
        #expect(piped.status == 0 && piped.stdout.contains("hostname secured"), "\(piped.stdout)\(piped.stderr)")
    }

    /// `-c` still stops at the first failure: nothing after it runs.
    @Test func dashCStopsAtTheFirstFailure() throws {
        let daemon = try DaemonProcess()
        let result = try daemon.vtysh(["-c", "enable", "-c", "configure terminal", "-c", "bogus", "-c", "hostname never"])
        #expect(result.status == 1)
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("Hostname: switch"))
    }
}

/// Start-up answers at once: the socket listens while the startup configuration loads.
@Suite struct StartupLoadTests {
    @Test func showAnswersAndEditsWaitWhileTheStartupConfigurationLoads() throws {
        var lines: [String] = []
        for n in 1...4000 {
            lines += ["interface vlan\(n)", " description loading \(n)", " vrrp 1 ip 10.\(n >> 8).\(n & 255).1", " vrrp 1 priority 120", "exit"]
        }
        let scratch = try Scratch()
        try scratch.write("vrrpd.conf", lines.joined(separator: "\n") + "\n")
        let started = Date()
        let daemon = try DaemonProcess(scratch: scratch, waitForStartup: false)
        let socketAfter = Date().timeIntervalSince(started)
        // While it loads: show commands answer with the progress; edits and saves are refused.
        var version = try daemon.vtysh(["-c", "show version"])
        while version.stdout.contains("(reading)") { version = try daemon.vtysh(["-c", "show version"]) }
        #expect(version.status == 0)
        let loading = version.stdout.contains("(loading: ")
        if loading {
            #expect(version.stdout.contains(" of 20000 lines"), "\(version.stdout)")
            let edit = try daemon.vtysh(["-c", "enable", "-c", "configure terminal", "-c", "hostname early"])
            #expect(edit.status == 1)
            #expect(edit.stdout.contains("% Error: the startup configuration is still loading ("), "\(edit.stdout)")
            let save = try daemon.vtysh(["-c", "enable", "-c", "write file"])
            #expect(save.status == 1 && save.stdout.contains("still loading"), "\(save.stdout)")
        } else {
            print("startup: the configuration loaded before the first command (\(socketAfter) s to the socket); the refusal was not seen")
        }
        try daemon.waitUntilServing(timeout: 60)
        let done = try daemon.vtysh(["-c", "show version"]).stdout
        #expect(done.contains("(loaded: 20000 commands from 20000 lines, 0 errors in "), "\(done)")
        #expect(daemon.log.contains("startup configuration applied: 20000 commands from 20000 lines, 0 errors in "))
        let config = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(config.contains("interface vlan4000\n description loading 4000\n"))
        #expect(try daemon.vtysh(["-c", "enable", "-c", "configure terminal", "-c", "hostname later"]).status == 0)
    }
}
