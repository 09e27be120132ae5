import Channel
import Foundation
import Glibc
import Testing
import TestSupport

/// vrrpd as a process: start-up, the socket, signals, reload, detaching.
@Suite struct DaemonLifecycleTests {
    /// `show logging`: the log buffer in IOS's layout, kept down to informational even when
    /// `--log-level warning` keeps those lines out of the log itself; `clear logging` empties it.
    @Test func showLoggingKeepsItsOwnLevel() throws {
        let daemon = try DaemonProcess(arguments: ["--log-level", "warning"])
        _ = try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "vlan 10", "-c", "exit", "-c", "interface eth1", "-c", "switchport access vlan 10",
                              "-c", "interface vlan10", "-c", "ip address 10.1.0.2/24",
                          "-c", "vrrp 10 ip 10.1.0.1", "-c", "end", "-c", "write file"])
        // The group's first transition is logged by the VRRP thread just after the edit lands.
        _ = daemon.waitUntilTrue(5) { (try? daemon.vtysh(["-c", "enable", "-c", "show logging"]).stdout.contains("Initialize -> Backup")) == true }
        let shown = try daemon.vtysh(["-c", "enable", "-c", "show logging"]).stdout
        #expect(shown.contains("Buffer logging:  level informational") && shown.contains("level warnings"), "\(shown)")
        let lines = shown.split(separator: "\n").filter { $0.contains(" UTC: %VRRPD-") }
        #expect(lines.contains { $0.contains("%VRRPD-6-INFO: configuration saved") }, "\(shown)")
        #expect(lines.contains { $0.contains("%VRRPD-5-NOTICE: VRRP vlan10 VRID 10: Initialize -> Backup") }, "\(shown)")
        #expect(!daemon.log.contains("configuration saved"), "the log itself keeps to --log-level")
        #expect(try daemon.vtysh(["-c", "enable", "-c", "clear logging"]).status == 0)
        let cleared = try daemon.vtysh(["-c", "enable", "-c", "show logging"]).stdout
        #expect(!cleared.contains("configuration saved") && cleared.contains("0 messages logged"), "\(cleared)")
    }

    @Test func socketModeAndCleanShutdown() throws {
        let daemon = try DaemonProcess()
        var st = stat()
        #expect(lstat(daemon.socket, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o660)
        #expect(try daemon.stop(SIGTERM) == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
        #expect(daemon.log.contains("SIGTERM: stopping"))
    }

    @Test func pidFileWrittenAndRemoved() throws {
        let scratch = try Scratch()
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--pid-file", scratch.file("vrrpd.pid")])
        #expect(scratch.read("vrrpd.pid") == "\(daemon.pid)\n")
        #expect(try daemon.stop(SIGINT) == 0)
        #expect(!scratch.exists("vrrpd.pid"))
        #expect(!scratch.exists("vrrpd.vty"))
    }

    @Test func secondDaemonRefusesAndStaleSocketIsReplaced() throws {
        let scratch = try Scratch()
        let first = try DaemonProcess(scratch: scratch)
        let second = try Vtysh.vrrpd(["--socket", first.socket, "-f", scratch.file("other.conf")])
        #expect(second.status != 0)
        #expect(second.stderr.contains("another vrrpd is already running on \(first.socket) (pid \(first.pid))"))
        // The first one still serves.
        #expect(try first.vtysh(["-c", "show version"]).status == 0)

        // A daemon killed hard leaves its socket file behind; the next one replaces it.
        try first.stop(SIGKILL)
        #expect(FileManager.default.fileExists(atPath: first.socket))
        let third = try DaemonProcess(scratch: scratch)
        #expect(third.log.contains("removed stale socket"))
        #expect(try third.vtysh(["-c", "show version"]).status == 0)
    }

    @Test func badStartupLinesAreReportedAndTheRestApplies() throws {
        let daemon = try DaemonProcess(config: """
            hostname good-part
            interface eth1
             description ok
             frobnicate
            exit
            hostname
            interface eth2
             shutdown
            exit
            """)
        #expect(daemon.log.contains("vrrpd.conf:4: Invalid input detected in \"frobnicate"), "\(daemon.log)")
        #expect(daemon.log.contains("vrrpd.conf:6: Incomplete command: \"hostname\""))
        let show = try daemon.vtysh(["-c", "enable", "-c", "show running-config"])
        #expect(show.stdout.contains("hostname good-part"))
        #expect(show.stdout.contains("interface eth2\n shutdown\nexit"))
        let version = try daemon.vtysh(["-c", "show version"])
        #expect(version.stdout.contains("2 errors"))
    }


    /// `vrrpd --check-config`: the file through the daemon's loader, nothing started; every
    /// failing line as FILE:LINE, exit 1; a good file exits 0 with the summary.
    @Test func checkConfigReportsEveryFailingLineAndStartsNothing() throws {
        let scratch = try Scratch()
        let bad = scratch.file("bad.conf")
        try "hostname x\ninterface vlan10\n ip address 10.0.0.2/24\n vrrp 1 ip 224.0.0.5\nexit\nfrobnicate\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let failed = try Spawned.run(Binaries.vrrpd, ["--check-config", "-f", bad, "--socket", scratch.file("never.vty")])
        #expect(failed.status == 1, "\(failed)")
        #expect(failed.stdout.contains("bad.conf:4: ") && failed.stdout.contains("bad.conf:6: Invalid input detected in \"frobnicate"), "\(failed.stdout)")
        #expect(failed.stdout.contains("2 errors"), "\(failed.stdout)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("never.vty")), "--check-config opened a socket")
        let good = try Spawned.run(Binaries.vrrpd, ["--check-config", "-f", try Self.demoConfig()])
        #expect(good.status == 0 && good.stdout.contains("0 errors"), "\(good)")
    }

    static func demoConfig() throws -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("configs/demo.conf").path
    }

    @Test func sighupAppliesTheDifference() throws {
        let daemon = try DaemonProcess(config: "hostname before\ninterface eth1\n description old\nexit\n")
        try daemon.scratch.write("vrrpd.conf", "hostname after\ninterface eth1\n description new\nexit\ninterface eth9\nexit\n")
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForLog("reload applied"))
        #expect(daemon.log.contains("reload: - hostname before"))
        #expect(daemon.log.contains("reload: + interface eth1: description new"))
        let show = try daemon.vtysh(["-c", "enable", "-c", "show running-config"])
        #expect(show.stdout.contains("hostname after"))
        #expect(show.stdout.contains("interface eth9"))
        #expect(!show.stdout.contains("description old"))
    }

    @Test func sighupReopensTheLogFileAfterRotation() throws {
        let scratch = try Scratch()
        let logFile = scratch.file("rotated.log")
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--log-file", logFile], config: "hostname logged\n")
        #expect(try daemon.waitUntilTrue(5) { (scratch.read("rotated.log") ?? "").contains("ready") })
        // logrotate's way: rename, then SIGHUP.
        #expect(rename(logFile, logFile + ".1") == 0)
        kill(daemon.pid, SIGHUP)
        #expect(try daemon.waitUntilTrue(5) { (scratch.read("rotated.log") ?? "").contains("SIGHUP: log file reopened") },
                "the lines after SIGHUP go to a new file at the path")
        #expect(!(scratch.read("rotated.log.1") ?? "").contains("reload"), "nothing after the SIGHUP went into the rotated file")
    }

    @Test func whatAKilledSaveLeftIsRemovedAtStart() throws {
        let scratch = try Scratch()
        try scratch.write("vrrpd.conf", "hostname clean\n")
        try scratch.write(".vrrpd.conf.lock", "")
        try scratch.write(".vrrpd.conf.tmp.Ab3xQ9", "hostname half-writ")
        try scratch.write(".vrrpd.conf.sav.tmp", "hostname old")
        try scratch.write(".vrrpd.conf.tmp.notours", "kept: not mkstemp's name")
        let daemon = try DaemonProcess(scratch: scratch)
        #expect(!scratch.exists(".vrrpd.conf.tmp.Ab3xQ9") && !scratch.exists(".vrrpd.conf.sav.tmp"))
        #expect(scratch.exists(".vrrpd.conf.tmp.notours"))
        #expect(daemon.waitForLog("removed what an interrupted save left: .vrrpd.conf.sav.tmp, .vrrpd.conf.tmp.Ab3xQ9"))
        #expect(try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout.contains("hostname clean"))
    }

    /// A FIFO given to `copy` is refused at once: nothing waits on it, nothing applies later,
    /// and logins (the enable secret's check) go on.
    @Test func aFIFOIsNotAConfigurationFile() throws {
        let daemon = try DaemonProcess(config: "hostname fifo-before\nenable secret 0 s3cret\n")
        let fifo = daemon.scratch.file("trap.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let copy = try daemon.vtysh(["-c", "enable", "-c", "copy \(fifo) running-config"], environment: ["VTYSH_ENABLE_SECRET": "s3cret"])
        #expect(copy.status == 1)
        #expect(copy.stdout.contains("is not a regular file"), "\(copy.stdout)")
        #expect(copy.seconds < 3, "refused at once, not after the command deadline")
        let enable = try daemon.vtysh(["-c", "enable", "-c", "show version"], environment: ["VTYSH_ENABLE_SECRET": "s3cret"])
        #expect(enable.status == 0 && enable.stdout.contains("Hostname: fifo-before"))
        // Writing the FIFO later changes nothing.
        let writer = open(fifo, O_WRONLY | O_NONBLOCK)
        if writer >= 0 {
            _ = "hostname fifo-after\n".withCString { write(writer, $0, 20) }
            close(writer)
        }
        usleep(300_000)
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("Hostname: fifo-before"))
    }

    /// A socket directory others can write, or a socket someone else owns: vrrpd will not listen
    /// there, vtysh sends nothing there (an enable secret least of all).
    @Test func socketsNobodyElseCouldHavePlacedOnly() throws {
        let open = try Scratch()
        #expect(chmod(open.path, 0o777) == 0)
        let refused = try Spawned.run(Binaries.vrrpd, ["--socket", open.file("vrrpd.vty"), "-f", open.file("none.conf")])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("can be written by others (mode 777)"), "\(refused.stderr)")
        let told = try Vtysh.run(["--socket", open.file("vrrpd.vty"), "-c", "enable"], environment: ["VTYSH_ENABLE_SECRET": "s3cret"])
        #expect(told.status == 2 && told.stderr.contains("refusing"), "\(told.stderr)")
        guard geteuid() == 0 else {
            print("skipped the other-owner half: giving a socket to another user needs root; CI runs it as root")
            return
        }
        // A fake server someone else owns, in a directory of ours: vtysh does not talk to it.
        let dir = try Scratch()
        let fake = dir.file("vrrpd.vty")
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(server) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in fake.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0 && listen(server, 4) == 0)
        #expect(chown(fake, 65534, 65534) == 0)
        let result = try Vtysh.run(["--socket", fake, "-c", "enable"], environment: ["VTYSH_ENABLE_SECRET": "s3cret"])
        #expect(result.status == 2 && result.stderr.contains("belongs to uid 65534"), "\(result.stderr)")
        var p = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
        #expect(poll(&p, 1, 200) == 0, "nobody connected to the fake server")
    }

    /// `copy` reads configuration files, not the system's: only under the configuration
    /// directories (the startup file's by default, `--copy-dir`), the path resolved first.
    @Test func copyReadsOnlyFromTheConfigurationDirectories() throws {
        let daemon = try DaemonProcess(config: "hostname policy\n")
        let refused = try daemon.vtysh(["-c", "enable", "-c", "copy /etc/passwd running-config"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("copy reads only files under \(daemon.scratch.path)"), "\(refused.stdout)")
        #expect(!refused.stdout.contains("root:"), "not a line of the file is printed back")
        // A link out of the directory, or `..`, leads nowhere.
        #expect(symlink("/etc/passwd", daemon.scratch.file("innocent.conf")) == 0)
        for path in [daemon.scratch.file("innocent.conf"), daemon.scratch.path + "/../../etc/passwd"] {
            let out = try daemon.vtysh(["-c", "enable", "-c", "copy \(path) running-config"])
            #expect(out.status == 1 && out.stdout.contains("copy reads only files under") && !out.stdout.contains("root:"), "\(out.stdout)")
        }
        try daemon.scratch.write("site.conf", "hostname merged\n")
        #expect(try daemon.vtysh(["-c", "enable", "-c", "copy \(daemon.scratch.file("site.conf")) running-config"]).status == 0)
        // Another directory, when vrrpd is told.
        let extra = try Scratch()
        try extra.write("more.conf", "hostname from-extra\n")
        let other = try DaemonProcess(arguments: ["--copy-dir", extra.path], config: "hostname second\n")
        #expect(try other.vtysh(["-c", "enable", "-c", "copy \(extra.file("more.conf")) running-config"]).status == 0)
        #expect(try other.vtysh(["-c", "show version"]).stdout.contains("Hostname: from-extra"))
    }

    @Test func sighupWithErrorsChangesNothing() throws {
        let daemon = try DaemonProcess(config: "hostname stable\n")
        try daemon.scratch.write("vrrpd.conf", "hostname changed\nthis is not a command\n")
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForLog("reload not applied"))
        #expect(daemon.log.contains("vrrpd.conf:2: Invalid input detected in \"this is not a command\""))
        let show = try daemon.vtysh(["-c", "enable", "-c", "show running-config"])
        #expect(show.stdout.contains("hostname stable"))
    }

    @Test func detachWritesPidFileAndReturnsWhenReady() throws {
        let scratch = try Scratch()
        let socket = scratch.file("d.vty")
        let starter = try Vtysh.vrrpd(["-d", "--socket", socket, "-f", scratch.file("d.conf"), "--log-file", scratch.file("d.log")])
        let message = starter.stderr
        #expect(starter.status == 0, "\(message)")
        // Ready means serving: no waiting needed.
        let pidText = try #require(scratch.read("vrrpd.pid"))
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGKILL) }
        #expect(message.contains("pid \(pid)"))
        let result = try Vtysh.run(["--socket", socket, "-c", "show version"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("PID: \(pid)"))
        // The daemon is in its own session, not the starter's.
        #expect(getsid(pid) == pid || getsid(pid) != getsid(0))
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while kill(pid, 0) == 0 && Date() < deadline { usleep(20_000) }
        #expect(kill(pid, 0) != 0)
        #expect(!scratch.exists("vrrpd.pid"))
        #expect(scratch.read("d.log")?.contains("ready") == true)
    }

    @Test func detachReportsFailureToTheStarter() throws {
        let daemon = try DaemonProcess()
        let starter = try Vtysh.vrrpd(["-d", "--socket", daemon.socket, "-f", daemon.scratch.file("x.conf"), "--log-file", daemon.scratch.file("x.log")])
        #expect(starter.status == 1)
        #expect(starter.stderr.contains("another vrrpd is already running"))
    }

    @Test func helpDocumentsEveryFlag() throws {
        let text = try Vtysh.vrrpd(["--help"]).stdout
        for flag in ["-d", "--config", "--socket", "--pid-file", "--log-level", "--log-file", "--command-timeout", "--allow-fault-injection"] {
            #expect(text.contains(flag), "\(flag) missing from --help")
        }
    }
}
