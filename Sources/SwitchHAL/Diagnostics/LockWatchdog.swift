import Atomics
import Glibc
import Time

/// The "hal-watchdog" thread: every tick it looks at every HAL lock, and reports once any lock
/// held, or waited for, longer than the threshold (1 s by default): the lock, the holder
/// thread, its call site and operation, how long, and who waits. It reports again when the lock
/// is released, with the total time. Reports go to a sink (vrrpd's log), never under a lock.
public final class LockWatchdog: @unchecked Sendable {
    private let locks: @Sendable () -> [HALLock]
    /// The threshold in nanoseconds (an atomic word: `threshold` is set from any thread).
    private let thresholdNanos = ManagedAtomic<UInt64>(1_000_000_000)
    private let sinkLock = HALLock(name: "hal.watchdog-sink", rank: HALLocks.Rank.leaf, purpose: "where watchdog reports go")
    private var sink: (@Sendable (LockAlert) -> Void)?
    private var thread: HALThread?
    // Used by the watchdog thread only:
    private var reportedHolds: [Int: (tid: Int32, since: Instant, thread: String)] = [:]
    private var reportedWaits: Set<WaitKey> = []

    struct WaitKey: Hashable {
        var lock: Int
        var tid: Int32
        var since: Instant
    }

    init(locks: @escaping @Sendable () -> [HALLock]) {
        self.locks = locks
    }

    public var threshold: Double {
        get { Double(thresholdNanos.load(ordering: .relaxed)) / 1e9 }
        set { thresholdNanos.store(UInt64(max(0.001, newValue) * 1e9), ordering: .relaxed) }
    }

    public func setSink(_ sink: (@Sendable (LockAlert) -> Void)?) {
        sinkLock.withLock("set-sink") { self.sink = sink }
    }

    func start() -> HALThread {
        let thread = HALThread.spawn(name: "hal-watchdog") { [self] me in
            while !me.shouldStop {
                me.set(.sleeping)
                // Ticks at a tenth of the threshold (10-100 ms), so a report comes at most that
                // late after the threshold is crossed.
                let threshold = Duration.nanoseconds(Int64(clamping: thresholdNanos.load(ordering: .relaxed)))
                let tick = min(.milliseconds(100), max(.milliseconds(10), threshold / 10))
                usleep(useconds_t(tick.inMicroseconds))
                me.set(.working)
                check()
            }
        }
        self.thread = thread
        return thread
    }

    func stop() {
        thread?.requestStop()
        thread?.join()
    }

    /// One look at every lock.
    func check() {
        let threshold = Double(thresholdNanos.load(ordering: .relaxed)) / 1e9
        var alerts: [LockAlert] = []
        for lock in locks() {
            let snapshot = lock.snapshot()
            let id = lock.witnessID
            if let previous = reportedHolds[id], snapshot.holder?.tid != previous.tid || snapshot.holder?.since != previous.since {
                reportedHolds[id] = nil
                alerts.append(LockAlert(
                    kind: .released, lock: lock.name, thread: previous.thread,
                    seconds: SystemClock.elapsed(since: previous.since).inSeconds,
                    message: "lock \(lock.name) released by thread \(previous.thread) after \(formatSeconds(SystemClock.elapsed(since: previous.since).inSeconds))"))
            }
            if let holder = snapshot.holder, holder.seconds >= threshold, reportedHolds[id] == nil {
                reportedHolds[id] = (holder.tid, holder.since, holder.thread)
                let waiting = snapshot.waiters.map { "\($0.thread) (\($0.operation)) for \(formatSeconds($0.seconds))" }
                alerts.append(LockAlert(
                    kind: .heldTooLong, lock: lock.name, thread: holder.thread, seconds: holder.seconds,
                    message: "lock \(lock.name) held by thread \(holder.thread) (tid \(holder.tid)) for \(formatSeconds(holder.seconds))"
                        + " in \(holder.operation)" + (holder.site.map { " at \($0)" } ?? "")
                        + (waiting.isEmpty ? "; no waiters" : "; waiting: " + waiting.joined(separator: ", ")),
                    lateBy: holder.seconds - threshold))
            }
            for waiter in snapshot.waiters where waiter.seconds >= threshold {
                let key = WaitKey(lock: id, tid: waiter.tid, since: waiter.since)
                guard !reportedWaits.contains(key) else { continue }
                reportedWaits.insert(key)
                alerts.append(LockAlert(
                    kind: .waitingTooLong, lock: lock.name, thread: waiter.thread, seconds: waiter.seconds,
                    message: "thread \(waiter.thread) (tid \(waiter.tid)) waiting \(formatSeconds(waiter.seconds)) for lock \(lock.name) in \(waiter.operation)"
                        + (snapshot.holder.map { ", held by thread \($0.thread) for \(formatSeconds($0.seconds))" + ($0.site.map { " at \($0)" } ?? "") } ?? ""),
                    lateBy: waiter.seconds - threshold))
            }
            // Forget waits that ended.
            let current = Set(snapshot.waiters.map { WaitKey(lock: id, tid: $0.tid, since: $0.since) })
            reportedWaits = reportedWaits.filter { $0.lock != id || current.contains($0) }
        }
        guard !alerts.isEmpty else { return }
        let sink = sinkLock.withLock("read-sink") { self.sink }
        for alert in alerts { sink?(alert) }
    }
}

/// A watchdog finding.
public struct LockAlert: Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case heldTooLong, waitingTooLong, released }
    public var kind: Kind
    public var lock: String
    public var thread: String
    public var seconds: Double
    public var message: String
    /// How long after the threshold was crossed the report was made.
    public var lateBy: Double = 0
    public var description: String { message }
}
