import Channel
import Foundation
import Glibc
@_exported import TestSupport

/// Where the built vrrpd and vtysh are: $VRRPD_BIN_DIR, else the build directory this test
/// bundle sits in.
enum Binaries {
    static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["VRRPD_BIN_DIR"], !dir.isEmpty { return dir }
        // The test bundle is built into the same directory as the executables.
        let bundle = Bundle.main.bundlePath
        var url = URL(fileURLWithPath: bundle)
        while url.path != "/" {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("vrrpd").path) { return url.path }
            url.deleteLastPathComponent()
        }
        let source = URL(fileURLWithPath: #filePath)
        return source.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug").path
    }

    static var vrrpd: String { directory + "/vrrpd" }
    static var vtysh: String { directory + "/vtysh" }
}

/// A child process started with posix_spawn and reaped with waitpid on its own pid.
///
/// (Foundation's Process sometimes misses the exit of a child that itself forks, as `vrrpd -d`
/// does, and then waits forever; this helper has no such bookkeeping.)
final class Spawned: @unchecked Sendable {
    let pid: pid_t
    private var exitStatus: Int32?

    /// Starts `path` with `arguments`; stdin, stdout and stderr are the given descriptors.
    init(_ path: String, _ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32,
         environment: [String: String]? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        // The child starts with every signal at its default action and none blocked, whatever
        // the test runner ignores or blocks (or tshark would ignore the SIGINT that stops it).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, env)
        guard result == 0 else { throw TestFailure("posix_spawn \(path): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    deinit {
        if isRunning {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
            _ = wait()
        }
    }

    var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = Spawned.decode(status)
            return false
        }
        return result == 0
    }

    /// Waits at most `timeout` seconds for the exit; nil if it is still running.
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { usleep(10_000) }
        return isRunning ? nil : wait()
    }

    /// Waits for the exit; returns the exit code (128 + signal number for a signal).
    @discardableResult
    func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let decoded = Spawned.decode(status)
        exitStatus = decoded
        return decoded
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Runs a program to completion, capturing stdout and stderr.
    static func run(_ path: String, _ arguments: [String], stdin: String? = nil,
                    environment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
        let input = try PipePair()
        let output = try PipePair()
        let errors = try PipePair()
        let started = Date()
        let child = try Spawned(path, arguments, stdin: input.read, stdout: output.write, stderr: errors.write, environment: environment)
        input.closeRead()
        output.closeWrite()
        errors.closeWrite()
        if let stdin { input.writeAll(Array(stdin.utf8)) }
        input.closeWrite()
        // Read both pipes concurrently so a large output cannot block the child.
        nonisolated(unsafe) var outBytes: [UInt8] = []
        let done = DispatchSemaphore(value: 0)
        Thread {
            outBytes = output.readAll()
            done.signal()
        }.start()
        let errBytes = errors.readAll()
        done.wait()
        let status = child.wait()
        return (status, String(decoding: outBytes, as: UTF8.self), String(decoding: errBytes, as: UTF8.self),
                Date().timeIntervalSince(started))
    }
}

/// A pipe whose ends are close-on-exec (so that children started by parallel tests do not
/// inherit them and keep them open).
final class PipePair: @unchecked Sendable {
    private(set) var read: Int32
    private(set) var write: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        // A socket pair rather than pipe(): it can be created close-on-exec atomically.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw TestFailure("socketpair failed")
        }
        read = fds[0]
        write = fds[1]
    }

    deinit {
        closeRead()
        closeWrite()
    }

    func closeRead() {
        if read >= 0 { close(read) }
        read = -1
    }

    func closeWrite() {
        if write >= 0 { close(write) }
        write = -1
    }

    func writeAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(write, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    func readAll() -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(read, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            all += buffer[0..<n]
        }
        return all
    }
}

/// A real vrrpd process on a temporary socket and config; killed when the test ends.
final class DaemonProcess: @unchecked Sendable {
    let scratch: Scratch
    let process: Spawned
    let socket: String
    let config: String
    let logPath: String

    /// `launcher` runs vrrpd through another program that execs it (`ip netns exec NS`).
    /// `waitForStartup: false` returns once the socket answers, the startup configuration
    /// perhaps still loading. `faults`: vrrpd runs with `--allow-fault-injection` (a test that
    /// types `test fault ...` says so; a production vrrpd refuses them).
    init(scratch: Scratch? = nil, arguments: [String] = [], config: String? = nil, launcher: [String] = [], waitForStartup: Bool = true,
         faults: Bool = false) throws {
        self.scratch = try scratch ?? Scratch()
        socket = self.scratch.file("vrrpd.vty")
        self.config = self.scratch.file("vrrpd.conf")
        logPath = self.scratch.file("vrrpd.log")
        if let config { try self.scratch.write("vrrpd.conf", config) }
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(log)
            close(null)
        }
        let command = launcher + [Binaries.vrrpd, "--socket", socket, "-f", self.config, "--log-level", "debug"]
            + (faults ? ["--allow-fault-injection"] : []) + arguments
        process = try Spawned(command[0], Array(command.dropFirst()), stdin: null, stdout: log, stderr: log)
        try waitUntilServing(startup: waitForStartup)
    }

    var pid: Int32 { process.pid }
    var log: String { scratch.read("vrrpd.log") ?? "" }

    /// Waits for the socket to answer and the startup configuration to be applied (it loads
    /// behind the socket; `show version` says how far it got).
    func waitUntilServing(timeout: Double = 10, startup: Bool = true) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !startup, (try? ChannelClient(path: socket)) != nil { return }
            if let client = try? ChannelClient(path: socket) {
                var output: [UInt8] = []
                if (try? client.request(.exec, "show version", timeout: 5) { output += $0 }) != nil {
                    let text = String(decoding: output, as: UTF8.self)
                    if !text.contains("(loading:") && !text.contains("(reading)") { return }
                }
            }
            if !process.isRunning { throw TestFailure("vrrpd exited: \(log)") }
            usleep(20_000)
        }
        throw TestFailure("vrrpd did not start serving within \(timeout) s: \(log)")
    }

    /// Sends a signal and waits for the exit status.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 10) throws -> Int32 {
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else {
            let tail = log.split(separator: "\n").suffix(10).joined(separator: "\n")
            throw TestFailure("vrrpd did not exit within \(timeout) s after signal \(signal); its log ends:\n\(tail)")
        }
        return process.wait()
    }

    /// Waits until the log contains `text`.
    /// Polls `condition` until it holds (true) or `timeout` seconds pass (false).
    func waitUntilTrue(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    func waitForLog(_ text: String, timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Lock-order findings in the log (the witness is on in debug builds): a finding is a bug.
    var witnessFindings: [Substring] {
        log.split(separator: "\n").filter { $0.contains("HAL witness:") && !$0.contains("fault-inversion") }
    }

    /// Runs `lines` on one fresh session from this test process, timed from connect to the last
    /// END. This is the daemon's own latency: a vtysh process start, which a loaded machine can
    /// delay by a second, is not in it. Latency bounds in tests compare against the daemon's
    /// timeouts (seconds), never against scheduling noise.
    func timedSession(_ lines: [String], timeout: Double = 15) throws -> TimedSession {
        let started = Date()
        let client = try ChannelClient(path: socket, timeout: timeout)
        var result = TimedSession(statuses: [], output: "", seconds: 0)
        for line in lines {
            var output: [UInt8] = []
            let end = try client.request(.exec, line, timeout: timeout) { output += $0 }
            result.statuses.append(end.status)
            result.output += String(decoding: output, as: UTF8.self)
        }
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    /// Runs vtysh against this daemon.
    func vtysh(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> VtyshResult {
        try Vtysh.run(["--socket", socket] + arguments, stdin: stdin, environment: environment)
    }
}

struct TimedSession {
    var statuses: [Status]
    var output: String
    var seconds: Double
    var succeeded: Bool { !statuses.isEmpty && statuses.allSatisfy { !$0.isFailure } }
}

struct VtyshResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
}

enum Vtysh {
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> VtyshResult {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "VTYSH_ENABLE_SECRET")
        for (key, value) in environment { env[key] = value }
        let r = try Spawned.run(Binaries.vtysh, arguments, stdin: stdin ?? "", environment: env)
        return VtyshResult(status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: r.seconds)
    }

    /// Runs vrrpd itself (for start-up failures and --help).
    static func vrrpd(_ arguments: [String]) throws -> VtyshResult {
        let r = try Spawned.run(Binaries.vrrpd, arguments)
        return VtyshResult(status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: r.seconds)
    }
}

/// A raw channel connection for sending malformed input.
final class RawSocket {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw TestFailure("connect failed: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// What arrived before the daemon closed its end, once it has (`isOpen` collects it).
    private(set) var received: [UInt8] = []

    /// Whether the daemon has not closed its end; reads (and keeps) what has arrived.
    var isOpen: Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                received += buffer[0..<n]
                continue
            }
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        }
    }

    /// Reads until the peer closes (or 10 s pass); returns everything received.
    func readUntilClosed() -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            all += buffer[0..<n]
        }
        return all
    }

    /// Decodes frames from received bytes.
    static func frames(_ bytes: [UInt8]) -> [Frame] {
        var decoder = FrameDecoder(maxPayload: 1 << 20)
        decoder.append(bytes)
        var out: [Frame] = []
        while let frame = try? decoder.next() { out.append(frame) }
        return out
    }
}
