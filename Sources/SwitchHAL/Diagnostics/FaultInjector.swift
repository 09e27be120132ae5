import Atomics
import Glibc
import Time

/// Faults for labs and tests: stall a HAL thread while it holds the table lock, fail the next
/// calls of an operation, make the RX pool look empty, delay link changes, provoke a lock-order
/// inversion. Everything is off until asked for.
public final class FaultInjector: @unchecked Sendable {
    /// Stall deadlines (`Instant.nanoseconds` on `SystemClock`; 0 = no stall, .max = until cleared).
    let stallL2X = ManagedAtomic<UInt64>(0)
    let stallAger = ManagedAtomic<UInt64>(0)
    let stallNAT = ManagedAtomic<UInt64>(0)
    /// The injected link delay in nanoseconds (an atomic word; read it as `linkDelay`).
    private let linkDelayNanos = ManagedAtomic<UInt64>(0)
    private let lock = HALLock(name: "hal.faults", rank: HALLocks.Rank.leaf, purpose: "injected faults")
    private var failures: [String: (count: Int, error: HALError)] = [:]
    /// Set while any failure is armed, so that calls pay nothing otherwise.
    private let armed = ManagedAtomic<Bool>(false)

    public enum StallTarget: String, Sendable, CaseIterable {
        case l2x, ager
        /// A `nat-fault` thread holding nat.table (the NAT table has no thread of its own).
        case nat

        public var lock: String { self == .nat ? "nat.table" : "l2.table" }
    }

    /// Makes the target thread take `l2.table` and keep it for `milliseconds` (nil: until
    /// `clearStalls`).
    public func stall(_ target: StallTarget, milliseconds: Int?) {
        let until = milliseconds.map { SystemClock.deadline(after: .milliseconds($0)).nanoseconds } ?? .max
        switch target {
        case .l2x: stallL2X.store(until, ordering: .relaxed)
        case .ager: stallAger.store(until, ordering: .relaxed)
        case .nat: stallNAT.store(until, ordering: .relaxed)
        }
    }

    /// The seconds `target`'s stall has left (nil: it is not stalled; infinity: until cleared).
    public func stallLeft(_ target: StallTarget) -> Double? {
        let flag: ManagedAtomic<UInt64>
        switch target {
        case .l2x: flag = stallL2X
        case .ager: flag = stallAger
        case .nat: flag = stallNAT
        }
        let until = Instant(nanoseconds: flag.load(ordering: .relaxed))
        let now = SystemClock.now
        guard until != .zero, now < until else { return nil }
        return until == .distantFuture ? .infinity : until.duration(since: now).inSeconds
    }

    public func clearStalls() {
        stallL2X.store(0, ordering: .relaxed)
        stallAger.store(0, ordering: .relaxed)
        stallNAT.store(0, ordering: .relaxed)
    }

    /// Whether a stall is due now.
    @inline(__always)
    func stalled(_ flag: ManagedAtomic<UInt64>) -> Bool {
        let until = Instant(nanoseconds: flag.load(ordering: .relaxed))
        return until != .zero && SystemClock.now < until
    }

    /// The next `count` calls of `operation` fail with `error`.
    public func fail(_ operation: String, count: Int, with error: HALError) {
        lock.withLock("fault-set") { failures[operation] = (count, error) }
        armed.store(true, ordering: .releasing)
    }

    /// Called on entry of every traced HAL call.
    @inline(__always)
    func injectedFailure(_ operation: StaticString) -> HALError? {
        guard armed.load(ordering: .acquiring) else { return nil }
        return lock.withLock("fault-check") {
            let name = String(describing: operation)
            guard let entry = failures[name] else { return nil }
            failures[name] = entry.count <= 1 ? nil : (entry.count - 1, entry.error)
            if failures.isEmpty { armed.store(false, ordering: .releasing) }
            return entry.error
        }
    }

    public func setLinkDelay(milliseconds: Int) {
        linkDelayNanos.store(UInt64(Duration.milliseconds(milliseconds).inNanoseconds), ordering: .relaxed)
    }

    /// How long each link change waits (zero: no delay injected).
    var linkDelay: Duration { .nanoseconds(Int64(clamping: linkDelayNanos.load(ordering: .relaxed))) }

    public func clearAll() {
        clearStalls()
        linkDelayNanos.store(0, ordering: .relaxed)
        lock.withLock("fault-clear") { failures.removeAll() }
        armed.store(false, ordering: .releasing)
    }

    /// What is injected now, one line each.
    public var summary: [String] {
        var lines: [String] = []
        for (name, target, lockName) in [("l2x", StallTarget.l2x, "l2.table"), ("ager", .ager, "l2.table"), ("nat-fault", .nat, "nat.table")] {
            guard let left = stallLeft(target) else { continue }
            lines.append("\(name) stalled holding \(lockName) " + (left == .infinity ? "until cleared" : "for \(formatSeconds(left)) more"))
        }
        let delay = linkDelay
        if delay > .zero { lines.append("link changes delayed by \(delay.inMilliseconds) ms") }
        for (name, entry) in lock.withLock("fault-list", { failures }).sorted(by: { $0.key < $1.key }) {
            lines.append("next \(entry.count) call(s) of \(name) fail with \(entry.error.codeName)")
        }
        return lines
    }
}
