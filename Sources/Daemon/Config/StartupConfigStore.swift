import Foundation
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Time

/// The startup configuration file: atomic, durable saves and reads, off the control-plane thread.
///
/// A save writes a temporary file in the same directory, fsyncs it, keeps the previous file as
/// `NAME.sav`, renames the temporary file over `NAME` and fsyncs the directory. The caller hears
/// "[OK]" only after all of that; on any failure the previous file is untouched. Saves are
/// serialised: one writer thread, and a lock file against other processes.
public final class StartupConfigStore: Sendable {
    public let path: String
    private let writer: NIOThreadPool
    private let status = NIOLockedValueBox(WriterStatus())
    /// Test hooks: a delay in a chosen step and failures, set by `test fault config-write`.
    public let faults = NIOLockedValueBox(WriteFaults())

    struct WriterStatus {
        var step: String?
        var stepStarted = Instant.zero
        var requester: String = ""
        var queued = 0
    }

    /// Times the writer's steps (for timeout messages).
    let clock: any Clock

    public init(path: String, clock: any Clock = SystemClock()) {
        self.clock = clock
        self.path = path
        writer = NIOThreadPool(numberOfThreads: 1)
        writer._start(threadNamePrefix: "cfg-writer-#")
    }

    public func shutdown() {
        try? writer.syncShutdownGracefully()
    }

    /// What the writer is busy with, for timeout messages.
    public var activity: String {
        status.withLockedValue { s in
            guard let step = s.step else { return "startup-config writer (idle)" }
            let seconds = clock.elapsed(since: s.stepStarted).inSeconds
            var text = "startup-config writer: \(step) in progress for \(formatSeconds(seconds)) (for \(s.requester))"
            if s.queued > 0 { text += ", \(s.queued) more save(s) queued" }
            return text
        }
    }

    /// Saves `text` atomically; the future fails with a `DaemonError` naming the step and cause.
    public func save(_ text: String, requester: String, on loop: EventLoop) -> EventLoopFuture<Void> {
        status.withLockedValue { $0.queued += 1 }
        let path = self.path
        let status = self.status
        let clock = self.clock
        let faults = self.faults.withLockedValue { $0 }
        return writer.runIfActive(eventLoop: loop) {
            status.withLockedValue {
                $0.queued -= 1
                $0.requester = requester
            }
            defer { status.withLockedValue { $0.step = nil } }
            try StartupConfigStore.atomicWrite(text, to: path, faults: faults) { step in
                status.withLockedValue {
                    $0.step = step
                    $0.stepStarted = clock.now
                }
            }
        }
    }

    /// Reads the file's bytes; nil when it does not exist.
    public func read(on loop: EventLoop, pool: NIOThreadPool) -> EventLoopFuture<[UInt8]?> {
        let path = self.path
        return pool.runIfActive(eventLoop: loop) { try StartupConfigStore.readFile(path) }
    }

    /// Reads a configuration file: a regular file only (a FIFO, a device or a socket is refused
    /// at once, never waited on), at most 16 MiB. Nil when it does not exist. The bytes as they
    /// are: whether they are UTF-8 is each line's business (`TextLines`), so one bad byte costs
    /// one line, never the file.
    public static func readFile(_ path: String) throws -> [UInt8]? {
        // Non-blocking open: opening a FIFO for reading must not wait for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw DaemonError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DaemonError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw DaemonError("\(path) is not a regular file") }
        // A regular file never blocks: back to blocking reads.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > maxFileBytes { throw DaemonError("\(path) is larger than \(maxFileBytes >> 20) MiB") }
        }
        return bytes
    }

    /// The largest configuration file read.
    public static let maxFileBytes = 16 << 20

    /// The steps of a save, in order; tests fail or delay any one of them.
    public enum Step: String, Sendable, CaseIterable {
        case lock = "locking"
        case create = "creating temporary file"
        case write = "writing"
        case fsync = "fsync"
        case backup = "keeping previous file as .sav"
        case rename = "renaming into place"
        case syncDirectory = "fsync of directory"
    }

    /// The directory a file is in ("/" for one at the root, "." for a bare name) and its name.
    public static func directoryAndName(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// Removes what a save killed half-way left next to `path` (`.NAME.tmp.XXXXXX`,
    /// `.NAME.sav.tmp`), under the same lock the saves take, so a save of another process under
    /// way keeps its file. Returns the names removed (nothing when the lock is busy).
    public static func removeStaleTemporaries(of path: String) -> [String] {
        let (dir, base) = directoryAndName(path)
        let lockFD = open("\(dir)/.\(base).lock", O_RDWR | O_CLOEXEC)
        guard lockFD >= 0 else { return [] }  // never saved here: nothing can be left
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else { return [] }
        defer { flock(lockFD, LOCK_UN) }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        let prefix = ".\(base).tmp."
        var removed: [String] = []
        for name in entries where (name.hasPrefix(prefix) && name.count == prefix.count + 6) || name == ".\(base).sav.tmp" {
            var st = stat()
            guard lstat("\(dir)/\(name)", &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == geteuid() else { continue }
            if unlink("\(dir)/\(name)") == 0 { removed.append(name) }
        }
        return removed
    }

    /// The durable save itself, synchronous. `progress` hears each step as it starts.
    public static func atomicWrite(
        _ text: String, to path: String, faults: WriteFaults = WriteFaults(), progress: (String) -> Void = { _ in }
    ) throws {
        let (dir, base) = directoryAndName(path)

        func step(_ s: Step, _ detail: String) throws {
            progress("\(s.rawValue) \(detail)")
            if faults.delayStep == s, faults.delayMilliseconds > 0 {
                usleep(useconds_t(faults.delayMilliseconds) * 1000)
            }
            if faults.failStep == s {
                throw DaemonError("\(s.rawValue) \(detail) failed: \(String(cString: strerror(faults.failErrno)))")
            }
        }
        func fail(_ what: String) -> DaemonError {
            DaemonError("\(what): \(String(cString: strerror(errno)))")
        }

        // Serialise with other processes saving the same file.
        try step(.lock, "\(dir)/.\(base).lock")
        let lockFD = open("\(dir)/.\(base).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw fail("cannot create lock file in \(dir)") }
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX) == 0 else { throw fail("cannot lock \(dir)/.\(base).lock") }

        try step(.create, "in \(dir)")
        var template = Array("\(dir)/.\(base).tmp.XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw fail("cannot create a temporary file in \(dir)") }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var keepTemporary = false
        defer { if !keepTemporary { unlink(temporary) } }
        var fdOpen = true
        defer { if fdOpen { close(fd) } }
        guard fchmod(fd, 0o600) == 0 else { throw fail("cannot set mode 0600 on \(temporary)") }

        let bytes = Array(text.utf8)
        var offset = 0
        let limit = faults.failStep == .write ? bytes.count / 2 : bytes.count
        while offset < limit {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, limit - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("cannot write \(temporary)")
            }
            offset += n
        }
        try step(.write, temporary)  // an injected failure here happens after half the bytes
        try step(.fsync, temporary)
        guard fsync(fd) == 0 else { throw fail("fsync of \(temporary) failed") }
        fdOpen = false
        guard close(fd) == 0 else { throw fail("close of \(temporary) failed") }

        var st = stat()
        if lstat(path, &st) == 0 {
            try step(.backup, "\(path).sav")
            try keepBackup(of: path, in: dir, base: base)
        } else if errno != ENOENT {
            throw fail("cannot stat \(path)")
        }

        try step(.rename, "\(temporary) -> \(path)")
        guard rename(temporary, path) == 0 else { throw fail("cannot rename \(temporary) to \(path)") }
        keepTemporary = true

        try step(.syncDirectory, dir)
        let dirFD = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw fail("cannot open directory \(dir) to fsync it") }
        defer { close(dirFD) }
        guard fsync(dirFD) == 0 else { throw fail("fsync of directory \(dir) failed") }
    }

    /// Makes `PATH.sav` a copy of the current file, atomically (hard link, or copy if the file
    /// system refuses links).
    private static func keepBackup(of path: String, in dir: String, base: String) throws {
        let backup = path + ".sav"
        let staging = "\(dir)/.\(base).sav.tmp"
        unlink(staging)
        if link(path, staging) != 0 {
            guard let old = try readFile(path) else { return }
            let fd = open(staging, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw DaemonError("cannot create \(staging): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let bytes = old
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    let message = "cannot write \(staging): \(String(cString: strerror(errno)))"
                    unlink(staging)
                    throw DaemonError(message)
                }
                offset += n
            }
            guard fsync(fd) == 0 else { throw DaemonError("fsync of \(staging) failed") }
        }
        guard rename(staging, backup) == 0 else {
            let message = "cannot rename \(staging) to \(backup): \(String(cString: strerror(errno)))"
            unlink(staging)
            throw DaemonError(message)
        }
    }
}

/// Faults injected into saves (tests and `test fault config-write`).
public struct WriteFaults: Sendable, Equatable {
    public var delayStep: StartupConfigStore.Step?
    public var delayMilliseconds = 0
    public var failStep: StartupConfigStore.Step?
    public var failErrno: Int32 = EIO

    public init() {}
}

func formatSeconds(_ seconds: Double) -> String {
    let tenths = Int((seconds * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}
