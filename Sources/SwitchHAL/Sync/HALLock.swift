import CLinux
import Glibc
import Time

/// The one lock type of the HAL: named, ranked, scoped, and able to say who holds it.
///
/// Every acquisition names its operation and records its call site, so that a waiter that gives
/// up (its deadline passed) can report `delete-by-port waited 2.0 s for lock l2.table held by
/// thread l2x for 5.3 s (L2Worker.swift:123)`. Only scoped locking exists (`withLock`): no
/// early return or thrown error can leave it held.
///
/// Built from a mutex and a condition variable on the monotonic clock: the mutex guards only
/// the lock's own bookkeeping for a few instructions, the condition variable is where waiters
/// sleep, with or without a deadline.
public final class HALLock: @unchecked Sendable {
    public let name: String
    /// Locks are taken in increasing rank order; see `HALLocks` and docs/hal.md.
    public let rank: Int
    public let purpose: String
    /// This lock's identity in the witness's order graph.
    let witnessID: Int

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`:
    private var locked = false
    private var holder = Holder()
    private var waiters: [Waiter] = []
    private var acquisitions: UInt64 = 0
    private var contended: UInt64 = 0
    private var timeouts: UInt64 = 0
    /// The longest any holder kept it, and in which operation.
    private var longestHold = Duration.zero
    private var longestHolder: StaticString = ""

    struct Holder {
        var tid: pid_t = 0
        /// The holder thread's name buffer (valid while it holds the lock: a thread cannot end
        /// inside a scoped `withLock`).
        var thread: UnsafePointer<CChar>?
        var operation: StaticString = ""
        var file: StaticString = ""
        var line: UInt = 0
        var since = Instant.zero
    }

    struct Waiter {
        var tid: pid_t
        var thread: UnsafePointer<CChar>
        var operation: StaticString
        var since: Instant
    }

    public init(name: String, rank: Int, purpose: String) {
        self.name = name
        self.rank = rank
        self.purpose = purpose
        witnessID = Witness.shared.register(name: name, rank: rank)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)  // SystemClock's: deadlines are its Instants
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the lock, waiting at most until `deadline` (on `SystemClock`)
    /// to get it; then throws `HALError.timeout` naming the holder.
    @inline(__always)
    public func withLock<T>(
        _ operation: StaticString, deadline: Instant, file: StaticString = #fileID, line: UInt = #line,
        _ body: () throws -> T
    ) throws -> T {
        try acquire(operation, deadline: deadline, file: file, line: line)
        defer { release() }
        return try body()
    }

    /// Runs `body` holding the lock, waiting as long as it takes (for the HAL's own threads;
    /// calls from the control plane always carry a deadline).
    @inline(__always)
    public func withLock<T>(
        _ operation: StaticString, file: StaticString = #fileID, line: UInt = #line, _ body: () throws -> T
    ) rethrows -> T {
        try! acquire(operation, deadline: .distantFuture, file: file, line: line)
        defer { release() }
        return try body()
    }

    private func acquire(_ operation: StaticString, deadline: Instant, file: StaticString, line: UInt) throws {
        // The order check comes before any waiting: an inversion is reported even when this
        // acquisition is the one that would deadlock.
        Witness.shared.willAcquire(witnessID, name: name, rank: rank, file: file, line: line)
        pthread_mutex_lock(mutex)
        acquisitions &+= 1
        if !locked {
            take(operation, file, line, now: SystemClock.now)
            pthread_mutex_unlock(mutex)
            Witness.shared.didAcquire(witnessID, file: file, line: line)
            return
        }
        contended &+= 1
        let started = SystemClock.now
        let me = Waiter(tid: clinux_gettid(), thread: clinux_thread_name(), operation: operation, since: started)
        waiters.append(me)
        while locked {
            if deadline == .distantFuture {
                pthread_cond_wait(condition, mutex)
                continue
            }
            var until = deadline.timespec
            if SystemClock.now >= deadline || pthread_cond_timedwait(condition, mutex, &until) == ETIMEDOUT {
                guard locked else { break }
                timeouts &+= 1
                waiters.removeAll { $0.tid == me.tid && $0.since == me.since }
                let error = LockTimeout(
                    operation: String(describing: operation), lock: name, waitedSeconds: SystemClock.elapsed(since: started).inSeconds,
                    holderThread: holder.thread.map { String(cString: $0) }, heldSeconds: SystemClock.elapsed(since: holder.since).inSeconds,
                    holderSite: HALLock.site(holder.file, holder.line))
                pthread_mutex_unlock(mutex)
                throw HALError.timeout(error)
            }
        }
        waiters.removeAll { $0.tid == me.tid && $0.since == me.since }
        take(operation, file, line, now: SystemClock.now)
        pthread_mutex_unlock(mutex)
        Witness.shared.didAcquire(witnessID, file: file, line: line)
    }

    @inline(__always)
    private func take(_ operation: StaticString, _ file: StaticString, _ line: UInt, now: Instant) {
        locked = true
        holder = Holder(tid: clinux_gettid(), thread: clinux_thread_name(), operation: operation, file: file, line: line, since: now)
    }

    private func release() {
        Witness.shared.didRelease(witnessID)
        let now = SystemClock.now
        pthread_mutex_lock(mutex)
        let held = now.duration(since: holder.since)
        if held > longestHold {
            longestHold = held
            longestHolder = holder.operation
        }
        locked = false
        holder = Holder()
        if !waiters.isEmpty { pthread_cond_signal(condition) }
        pthread_mutex_unlock(mutex)
    }

    // MARK: Looking inside

    /// A consistent picture of the lock: its holder and everyone waiting.
    public func snapshot() -> LockSnapshot {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let now = SystemClock.now
        var held: LockSnapshot.Party?
        if locked {
            held = .init(
                thread: holder.thread.map { String(cString: $0) } ?? "?", tid: holder.tid,
                operation: String(describing: holder.operation), site: HALLock.site(holder.file, holder.line),
                seconds: now.duration(since: holder.since).inSeconds, since: holder.since)
        }
        let waiting = waiters.map {
            LockSnapshot.Party(
                thread: String(cString: $0.thread), tid: $0.tid, operation: String(describing: $0.operation), site: nil,
                seconds: now.duration(since: $0.since).inSeconds, since: $0.since)
        }
        return LockSnapshot(
            name: name, rank: rank, purpose: purpose, holder: held, waiters: waiting, acquisitions: acquisitions,
            contended: contended, timeouts: timeouts, longestHoldSeconds: longestHold.inSeconds,
            longestHolder: String(describing: longestHolder))
    }

    /// Forgets the longest hold (benchmarks measure one phase at a time).
    public func resetLongestHold() {
        pthread_mutex_lock(mutex)
        longestHold = .zero
        longestHolder = ""
        pthread_mutex_unlock(mutex)
    }

    static func site(_ file: StaticString, _ line: UInt) -> String? {
        let path = String(describing: file)
        guard !path.isEmpty else { return nil }
        return "\(path.split(separator: "/").last ?? Substring(path)):\(line)"
    }
}

/// What `show hal locks` prints for one lock.
public struct LockSnapshot: Sendable {
    public struct Party: Sendable {
        public var thread: String
        public var tid: pid_t
        public var operation: String
        public var site: String?
        /// How long it has held, or waited.
        public var seconds: Double
        /// When it started holding or waiting.
        public var since: Instant
    }

    public var name: String
    public var rank: Int
    public var purpose: String
    public var holder: Party?
    public var waiters: [Party]
    public var acquisitions: UInt64
    public var contended: UInt64
    public var timeouts: UInt64
    /// The longest hold since start (or the last reset), and the operation that held it.
    public var longestHoldSeconds: Double
    public var longestHolder: String
}
