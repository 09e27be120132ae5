import CPtySupport
import Foundation
import Glibc
import Testing

/// vtysh on a real pseudo-terminal, typed at like a person would: TAB, `?`, Ctrl-C, Ctrl-D,
/// the enable password, history.
final class Terminal: @unchecked Sendable {
    let master: Int32
    let pid: pid_t
    private(set) var screen = ""

    init(_ arguments: [String], home: String) throws {
        let argv = ([Binaries.vtysh] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home
        env["TERM"] = "xterm"
        env.removeValue(forKey: "VTYSH_ENABLE_SECRET")
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var fd: Int32 = -1
        pid = cpty_spawn(Binaries.vtysh, argv, envp, &fd)
        guard pid > 0 else { throw TestFailure("cannot start vtysh on a pty") }
        master = fd
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(master)
    }

    func type(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Reads until the screen (since the last mark) contains `text`, or fails after `timeout`.
    @discardableResult
    func expect(_ text: String, timeout: Double = 5) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let range = screen.range(of: text) {
                let seen = String(screen[..<range.upperBound])
                screen = String(screen[range.upperBound...])
                return seen
            }
            var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 1, 100) > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = read(master, &buffer, buffer.count)
                if n > 0 { screen += String(decoding: buffer[0..<n], as: UTF8.self) }
                if n <= 0 { break }
            }
        }
        throw TestFailure("did not see \(text.debugDescription) on the terminal; screen: \(screen.debugDescription)")
    }

    /// Waits for vtysh to exit; returns its exit status.
    func exitStatus(timeout: Double = 5) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var status: Int32 = 0
            // Keep draining the terminal so vtysh never blocks writing to it.
            var buffer = [UInt8](repeating: 0, count: 4096)
            var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 1, 20) > 0 { _ = read(master, &buffer, buffer.count) }
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xff }
        }
        return nil
    }
}

@Suite struct VtyshInteractiveTests {
    @Test func completionHelpModesAndExit() throws {
        let daemon = try DaemonProcess()
        let term = try Terminal(["--socket", daemon.socket], home: daemon.scratch.path)
        try term.expect("switch>")
        term.type("en\t")
        try term.expect("enable ")
        term.type("\r")
        try term.expect("switch#")
        // `?` lists the next words with their help and redraws the line.
        term.type("show ?")
        let help = try term.expect("switch#show ")
        #expect(help.contains("running-config  Current operating configuration"))
        #expect(help.contains("version"))
        // TAB on an ambiguous prefix lists the candidates (readline shows them on a double TAB).
        term.type("\u{15}sh ru\t")
        try term.expect("running-config ")
        term.type("| include hostname\r")
        try term.expect("hostname switch")
        term.type("conf t\r")
        try term.expect("switch(config)#")
        term.type("interface eth7\r")
        try term.expect("switch(config-if)#")
        term.type("end\r")
        try term.expect("switch#")
        term.type("\u{04}")  // Ctrl-D leaves
        #expect(term.exitStatus() == 0)
    }

    /// Ctrl-Z ends configuration mode from any depth, dropping the half-typed line (IOS); in
    /// exec mode it does nothing, and it never suspends vtysh.
    @Test func ctrlZEndsConfigurationMode() throws {
        let daemon = try DaemonProcess()
        let term = try Terminal(["--socket", daemon.socket], home: daemon.scratch.path)
        try term.expect("switch>")
        term.type("\u{1a}")
        term.type("enable\r")
        try term.expect("switch#")
        term.type("configure terminal\r")
        try term.expect("switch(config)#")
        term.type("interface eth1\r")
        try term.expect("switch(config-if)#")
        term.type("description half")
        try term.expect("description half")
        term.type("\u{1a}")
        try term.expect("switch#")
        term.type("show running-config\r")
        let shown = try term.expect("switch#")
        #expect(!shown.contains("description half"), "\(shown)")
        term.type("\u{04}")
        #expect(term.exitStatus() == 0)
    }

    /// `terminal length N`: output stops at ` --More-- `; SPACE gives the next page, RETURN
    /// one more line, q drops the rest; `terminal length 0` turns it off. `show history` lists
    /// what was typed, and `| section` shows a block.
    @Test func pagerHistoryAndSection() throws {
        let config = (2...40).map { "vlan \($0)\n name paged-\($0)\nexit\n" }.joined()
        let daemon = try DaemonProcess(config: config)
        let term = try Terminal(["--socket", daemon.socket], home: daemon.scratch.path)
        try term.expect("switch>")
        term.type("enable\r")
        try term.expect("switch#")
        term.type("terminal length 10\r")
        try term.expect("switch#")
        term.type("show running-config\r")
        let first = try term.expect("--More--")
        #expect(first.split(separator: "\n").count <= 11, "one screen: \(first)")
        #expect(!first.contains("paged-10"))
        term.type(" ")
        let second = try term.expect("--More--")
        #expect(second.contains("vlan 4") && !second.contains("paged-40"), "\(second)")
        term.type("q")
        let rest = try term.expect("switch#")
        #expect(!rest.contains("paged-40") && !rest.contains("end\r\n"), "the rest was dropped: \(rest)")
        term.type("terminal length 0\r")
        try term.expect("switch#")
        term.type("show running-config\r")
        let whole = try term.expect("end")
        #expect(whole.contains("paged-40") && !whole.contains("--More--"))
        try term.expect("switch#")
        term.type("show running-config | section vlan 7\r")
        let section = try term.expect("switch#")
        #expect(section.contains("vlan 7\r\n name paged-7") && !section.contains("vlan 8"), "\(section)")
        term.type("show history\r")
        let history = try term.expect("switch#")
        #expect(history.contains("  terminal length 10") && history.contains("  show running-config | section vlan 7"), "\(history)")
        term.type("\u{04}")
        #expect(term.exitStatus() == 0)
    }

    @Test func ctrlCAbandonsTheLineAndTheCommandInFlight() throws {
        let daemon = try DaemonProcess(arguments: ["--command-timeout", "20"], faults: true)
        let term = try Terminal(["--socket", daemon.socket], home: daemon.scratch.path)
        try term.expect("switch>")
        term.type("enable\r")
        try term.expect("switch#")
        // Ctrl-C on a half-typed line: the line is dropped, a fresh prompt appears.
        term.type("configure ter")
        try term.expect("configure ter")
        term.type("\u{03}")
        try term.expect("switch#")
        term.type("show users\r")
        let users = try term.expect("switch#")
        #expect(users.contains("show users"))
        #expect(!users.contains("configure ter"))
        // Ctrl-C during a slow command: the daemon abandons it and the shell goes on.
        term.type("test fault config-write delay 10000\r")
        try term.expect("switch#")
        term.type("write\r")
        try term.expect("Building configuration...")
        usleep(300_000)
        let started = Date()
        term.type("\u{03}")
        try term.expect("% Interrupted while waiting for startup-config writer")
        try term.expect("switch#")
        // The save itself takes 10 s.
        #expect(Date().timeIntervalSince(started) < 5)
        term.type("show version\r")
        try term.expect("Hostname: switch")
        term.type("exit\r")
        #expect(term.exitStatus() == 0)
    }

    @Test func enablePasswordIsAskedWithoutEchoAndHistoryIsKept() throws {
        let daemon = try DaemonProcess(config: "enable secret 9 $9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6\n")
        do {
            let term = try Terminal(["--socket", daemon.socket], home: daemon.scratch.path)
            try term.expect("switch>")
            term.type("enable\r")
            try term.expect("Password: ")
            term.type("hashcat\r")
            let after = try term.expect("switch#")
            #expect(!after.contains("hashcat"))
            term.type("conf t\r")
            try term.expect("switch(config)#")
            term.type("enable secret another-one\r")
            try term.expect("switch(config)#")
            term.type("end\r")
            try term.expect("switch#")
            term.type("exit\r")
            #expect(term.exitStatus() == 0)
        }
        let history = try #require(try? String(contentsOfFile: daemon.scratch.file(".vtysh_history"), encoding: .utf8))
        #expect(history.contains("conf t"))
        #expect(!history.contains("hashcat"))
        #expect(!history.contains("another-one"))
        // The next session finds the history (Up arrow recalls the last line).
        let term = try Terminal(["--socket", daemon.socket], home: daemon.scratch.path)
        try term.expect("switch>")
        term.type("\u{1b}[A")
        try term.expect("exit")
    }

    /// Whether the process is stopped (state T in /proc/PID/stat).
    static func isStopped(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first == "T"
    }

    @Test func stoppedDaemonDoesNotHangTheShell() throws {
        let daemon = try DaemonProcess()
        let term = try Terminal(["--socket", daemon.socket, "--timeout", "1"], home: daemon.scratch.path)
        try term.expect("switch>")
        kill(daemon.pid, SIGSTOP)
        defer { kill(daemon.pid, SIGCONT) }
        // A loaded machine may take a while to stop every thread: wait until the kernel says so.
        #expect(daemon.waitUntilTrue(5) { Self.isStopped(daemon.pid) })
        term.type("enable\r")
        try term.expect("% vrrpd did not answer \"enable\" within 1 s", timeout: 3)
        try term.expect("switch>")
        kill(daemon.pid, SIGCONT)
        term.type("show version\r")
        try term.expect("Hostname: switch")
    }
}
