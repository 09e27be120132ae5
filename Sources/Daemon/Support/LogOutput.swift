import Channel
import DequeModule
import Glibc
import Logging
import NIOConcurrencyHelpers
import Time

/// Where vrrpd's log lines go: stderr in the foreground, a file or syslog when detached.
public enum LogDestination: Sendable {
    case standardError
    case file(String)
    case syslog
}

/// A swift-log handler writing one line per message:
/// `2026-11-26T15:26:52.123Z vrrpd[4711] info [channel] message key=value`.
/// The log buffer (`show logging`) keeps its own level, as IOS's `logging buffered` does: what
/// `--log-level warning` keeps out of the file still reaches the buffer down to its level.
public struct LineLogHandler: LogHandler {
    /// The least severe level anything takes (the output's or the buffer's).
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let sink: LogSink
    /// `--log-level`: the least severe level written to the output.
    private let outputLevel: Logger.Level

    public init(label: String, level: Logger.Level, sink: LogSink) {
        self.label = label
        self.outputLevel = level
        self.logLevel = min(level, sink.buffer?.level ?? level)
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        // No line carries a secret, wherever it goes (a reload's "+ enable secret 9 $9$...",
        // a command quoted in a warning): the one rule of `SecretLines`, on the message and on
        // each metadata value. So a message of our own never puts words after "secret": they
        // would be hidden as one.
        var message = SecretLines.redacted("\(event.message)")
        if let error = event.error { message += " error=\(SecretLines.redacted("\(error)"))" }
        if !merged.isEmpty {
            message += " " + merged.keys.sorted().map { "\($0)=\(SecretLines.redacted("\(merged[$0]!)"))" }.joined(separator: " ")
        }
        if event.level >= outputLevel { sink.write(level: event.level, text: "[\(label)] " + message) }
        if let buffer = sink.buffer, event.level >= buffer.level { buffer.append(level: event.level, label: label, message: message) }
    }
}

/// How vrrpd logs, as `show logging` reports it: where the lines go, from which level, and the
/// buffer of the last messages (nil: none kept, as in tests and `--check-config`).
public struct LogSettings: Sendable {
    public var destination = LogDestination.standardError
    /// `--log-level`: what the output takes.
    public var level = Logger.Level.info
    public var buffer: LogBuffer?

    public init(destination: LogDestination = .standardError, level: Logger.Level = .info, buffer: LogBuffer? = nil) {
        self.destination = destination
        self.level = level
        self.buffer = buffer
    }
}

/// The shared writer behind every logger; serialises lines from all threads.
public final class LogSink: @unchecked Sendable {  // its one var, the descriptor, is read and swapped under its lock
    private let destination: LogDestination
    /// The last messages, for `show logging` (nil: not kept).
    public let buffer: LogBuffer?
    /// Written under `lock` (a reopen swaps it).
    private var fd: Int32
    private let lock = NIOLock()
    /// Stamps each line (its wall clock).
    private let clock: any Clock

    public init(_ destination: LogDestination, buffer: LogBuffer? = nil, clock: any Clock = SystemClock()) throws {
        self.destination = destination
        self.buffer = buffer
        self.clock = clock
        switch destination {
        case .standardError:
            fd = STDERR_FILENO
        case .file(let path):
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard opened >= 0 else {
                throw DaemonError("cannot open log file \(path): \(String(cString: strerror(errno)))")
            }
            fd = opened
        case .syslog:
            fd = -1
            openlog("vrrpd", LOG_PID | LOG_NDELAY, LOG_DAEMON)
        }
    }

    /// Reopens a log file (SIGHUP after log rotation: the old file was renamed away and the
    /// next line goes to a new one at the same path). Returns a problem, or nil.
    public func reopen() -> String? {
        guard case .file(let path) = destination else { return nil }
        let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard opened >= 0 else { return "cannot reopen log file \(path): \(String(cString: strerror(errno)))" }
        let old = lock.withLock { () -> Int32 in
            let old = fd
            fd = opened
            return old
        }
        close(old)
        return nil
    }

    public func write(level: Logger.Level, text: String) {
        if case .syslog = destination {
            let priority: Int32
            switch level {
            case .trace, .debug: priority = LOG_DEBUG
            case .info: priority = LOG_INFO
            case .notice: priority = LOG_NOTICE
            case .warning: priority = LOG_WARNING
            case .error: priority = LOG_ERR
            case .critical: priority = LOG_CRIT
            }
            text.withCString { message in
                withVaList([message]) { vsyslog(priority, "%s", $0) }
            }
            return
        }
        let line = "\(clock.wallNow.iso8601) vrrpd[\(getpid())] \(level) \(text)\n"
        let bytes = Array(line.utf8)
        lock.withLock {
            let fd = self.fd
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    break  // a full disk or closed stderr must not take the daemon down
                }
                offset += n
            }
        }
    }

}

/// The daemon's last log messages, kept in memory for `show logging` (IOS's logging buffer):
/// the oldest go when `capacity` is reached. Written from every thread that logs.
public final class LogBuffer: Sendable {
    public struct Entry: Sendable {
        public var wallSeconds: Int
        public var milliseconds: Int
        public var level: Logger.Level
        public var label: String
        public var message: String
    }

    public struct Contents: Sendable {
        public var entries: [Entry]
        /// Every message logged since the start (or the last `clear logging`).
        public var logged: UInt64
        /// Pushed out by newer ones.
        public var overwritten: UInt64
    }

    private struct State {
        var entries = Deque<Entry>()
        var logged: UInt64 = 0
        var overwritten: UInt64 = 0
    }

    public let capacity: Int
    /// The least severe level kept (`informational` unless the output's is lower).
    public let level: Logger.Level
    private let state = NIOLockedValueBox(State())

    /// Stamps each entry (its wall clock).
    private let clock: any Clock

    public init(capacity: Int = 4096, level: Logger.Level = .info, clock: any Clock = SystemClock()) {
        self.capacity = max(1, capacity)
        self.level = level
        self.clock = clock
    }

    public func append(level: Logger.Level, label: String, message: String) {
        let now = clock.wallNow
        state.withLockedValue { s in
            s.entries.append(Entry(wallSeconds: now.secondsSinceEpoch, milliseconds: now.milliseconds, level: level, label: label, message: message))
            s.logged += 1
            if s.entries.count > capacity {
                s.entries.removeFirst()
                s.overwritten += 1
            }
        }
    }

    public var contents: Contents {
        state.withLockedValue { Contents(entries: Array($0.entries), logged: $0.logged, overwritten: $0.overwritten) }
    }

    /// `clear logging`.
    public func clear() {
        state.withLockedValue { s in
            s.entries.removeAll()
            s.logged = 0
            s.overwritten = 0
        }
    }
}

/// Lets through at most `burst` messages per `interval` and then counts what it drops, so that a
/// client sending garbage in a loop cannot fill the disk with log lines.
public final class LogRateLimiter: Sendable {
    private struct State {
        /// Nil until the first message: it opens the first window (whenever the clock's origin).
        var windowStart: Instant?
        var sent = 0
        var suppressed = 0
    }

    private let burst: Int
    private let interval: Duration
    private let state = NIOLockedValueBox(State())
    private let clock: any Clock

    public init(burst: Int, interval: Duration, clock: any Clock = SystemClock()) {
        self.burst = burst
        self.interval = interval
        self.clock = clock
    }

    /// Returns nil when the message must be dropped; otherwise the number of messages dropped
    /// since the last one let through (to be mentioned in the line).
    public func admit() -> Int? { admit(now: clock.now) }

    /// `admit()` at `now` (on the limiter's clock).
    public func admit(now: Instant) -> Int? {
        state.withLockedValue { s in
            if s.windowStart.map({ now.duration(since: $0) >= interval }) ?? true {
                s.windowStart = now
                s.sent = 0
            }
            guard s.sent < burst else {
                s.suppressed += 1
                return nil
            }
            s.sent += 1
            let dropped = s.suppressed
            s.suppressed = 0
            return dropped
        }
    }
}

/// The one rate limiter for every line that a client can make the daemon repeat (a refused
/// connection, a wrong enable secret, a protocol error, a timed-out command): each kind gets at
/// most its `burst` of lines per `interval`, and the next line let through says how many were
/// dropped (`suppressed=N`).
public final class RepeatedLogLines: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case refusedConnection, wrongSecret, protocolError, commandTimeout
        /// Enable secret checks held back by the back-off: once per interval with the count,
        /// however many clients guess.
        case secretHeldBack
        /// Connections closed for not sending HELLO (once per interval, with the count).
        case silentConnection
        /// A client that went away mid-reply (connection reset, broken pipe).
        case clientGone
        /// A command the HAL refused (a full table): the session is told; a script of 100,000
        /// such lines is a few log lines with the count.
        case halRefusal

        /// Lines of this kind let through per interval.
        public var burst: Int {
            switch self {
            case .secretHeldBack, .silentConnection: return 1
            case .refusedConnection, .wrongSecret, .protocolError, .commandTimeout, .clientGone, .halRefusal: return 20
            }
        }
    }

    private let limiters: [Kind: LogRateLimiter]

    public init(interval: Duration = .seconds(10), clock: any Clock = SystemClock()) {
        limiters = Dictionary(uniqueKeysWithValues: Kind.allCases.map { ($0, LogRateLimiter(burst: $0.burst, interval: interval, clock: clock)) })
    }

    /// Nil: drop this line. Otherwise how many of its kind were dropped since the last one.
    public func admit(_ kind: Kind) -> Int? { limiters[kind]!.admit() }

    /// Logs `message` at `level` if its kind is under its limit, mentioning what was dropped.
    public func log(_ kind: Kind, _ logger: Logger, _ level: Logger.Level, _ message: String, metadata: Logger.Metadata = [:]) {
        guard let dropped = admit(kind) else { return }
        var metadata = metadata
        if dropped > 0 { metadata["suppressed"] = "\(dropped)" }
        logger.log(level: level, "\(message)", metadata: metadata)
    }
}

/// An error with a message for the user; printed as is.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
