import Logging
import NIOCore
import SwitchHAL
import Time

/// One change to one HAL object: the state wanted (nil: the object must not exist, or has its
/// default), and the state it had before (what undoing puts back).
struct HALChange<Object: Hashable & Sendable, State: Equatable & Sendable>: Sendable {
    var object: Object
    var target: State?
    var previous: State?
}

/// How a group of changes went in the HAL.
enum HALGroupResult: Sendable {
    case applied
    /// Refused; the HAL is as it was before the group (what was done was undone).
    case refused(HALError)
    /// The HAL's state of the group's objects is not known: a timeout, or an undo that failed.
    case unknown(HALError)
    /// Not attempted (an earlier part of the same call timed out): the HAL is as it was.
    case skipped(HALError)

    var error: HALError? {
        switch self {
        case .applied: return nil
        case .refused(let e), .unknown(let e), .skipped(let e): return e
        }
    }
}

/// What a reconciler needs to know of its objects: how to change them in the HAL and, to verify,
/// how to read them back. The closures run on a HAL thread.
struct HALDriver<Object: Hashable & Sendable, State: Equatable & Sendable>: Sendable {
    /// The HAL call's name (in `show hal` and timeout messages).
    var operation: String
    /// Run on the HAL's NAT thread rather than the hal-api threads.
    var natThread = false
    /// Applies one group of changes, all or nothing (undoing what it did on a refusal).
    var applyGroup: @Sendable (Switch, Instant, [HALChange<Object, State>]) -> HALGroupResult
    /// Applies independent changes, each on its own; one result per change, in order. By default
    /// a group of one each; a driver may do better (one NAT call for many entries).
    var applyEach: (@Sendable (Switch, Instant, [HALChange<Object, State>]) -> [HALGroupResult])?
    /// The HAL's current state of each of `objects` (absent: the object is not there).
    var read: (@Sendable (Switch, Instant, [Object]) throws -> [Object: State])?
}

/// Brings HAL objects to the states their owner wants. One type for the HAL configuration
/// (VLANs, ports, SVIs, static MACs), the VRRP Masters' virtual MACs, the NAT table's entries
/// and the L3 host table's entries with the VLANs' NAT zones:
///
/// - **Desired versus applied, per object.** The owner holds the desired state (`desired`); it
///   says which objects changed (`changed`, applied in the background) or asks for a group of
///   changes applied together (`transaction`, all or nothing: a command). Nothing here mirrors
///   the whole table: only objects in flight or not yet in step are tracked.
/// - **One HAL call in flight**, carrying everything queued since the last one, in order: a
///   4,094-VLAN change is one call, not 4,094 round trips.
/// - **A timeout makes the objects unknown**: they are applied again from the desired state,
///   with back-off (by default 1 s doubling to 16 s) while the HAL keeps failing; so is a
///   refusal, which is shown (`problem`) until it clears.
/// - **Verify**: `verify` reads objects back and repairs those the HAL lost.
///
/// Confined to its owner's event loop (its entry points assert it in debug builds); only the
/// driver's closures run elsewhere.
final class HALReconciler<Object: Hashable & Sendable, State: Equatable & Sendable> {
    typealias Change = HALChange<Object, State>

    struct Counters: Sendable {
        var calls: UInt64 = 0
        var applied: UInt64 = 0
        var failures: UInt64 = 0
        var repaired: UInt64 = 0
        var slowestCall: Double = 0
    }

    private struct Transaction {
        var changes: [Change]
        var label: String
        /// Checked when the call that would carry it starts: an abandoned command's edit is
        /// never sent.
        var isCancelled: () -> Bool
        var done: (HALGroupResult) -> Void
    }

    private let driver: HALDriver<Object, State>
    private let hal: HALService
    private let loop: EventLoop
    private let desired: (Object) -> State?
    /// Told of objects a verification found wrong (after they are queued for repair).
    var onRepair: (([Object]) -> Void)?
    /// Told of every failed call or change, once per distinct message.
    var onProblem: ((String) -> Void)?
    /// Told when a problem cleared.
    var onRecovered: ((String) -> Void)?
    /// Told of every change the HAL accepted.
    var onApplied: ((Change) -> Void)?
    /// The configuration line an object comes from, if any: a refusal names it.
    var origin: ((Object) -> String?)?

    private func named(_ object: Object) -> String {
        guard let line = origin?(object) else { return "\(object)" }
        return "\(object) (from \"\(line)\")"
    }

    private var dirty = Set<Object>()
    private var unknown = Set<Object>()
    private var queue: [Transaction] = []
    private var inFlight: (label: String, started: Instant, objects: Int)?
    private var verifying: [Object] = []
    private var retry: ClockTimer?
    private let clock: any Clock
    private let backoffRange: ClosedRange<Duration>
    private var backoff: Duration
    private var stopped = false
    private var idleWaiters: [() -> Void] = []
    private(set) var problem: String?
    private(set) var counters = Counters()

    func resetCounters() { counters = Counters() }

    /// `backoff`: the first retry's delay and the longest (doubling in between), on `clock`.
    init(
        driver: HALDriver<Object, State>, hal: HALService, loop: EventLoop, clock: any Clock = SystemClock(),
        backoff: ClosedRange<Duration> = .seconds(1)...Duration.seconds(16), desired: @escaping (Object) -> State?
    ) {
        self.driver = driver
        self.hal = hal
        self.loop = loop
        self.clock = clock
        self.desired = desired
        backoffRange = backoff
        self.backoff = backoff.lowerBound
    }

    // MARK: What the owner asks

    /// Objects whose desired state changed: brought to it in the background.
    func changed<S: Sequence>(_ objects: S) where S.Element == Object {
        loop.assertInEventLoop()
        var any = false
        for object in objects {
            dirty.insert(object)
            any = true
        }
        if any { kick() }
    }

    func changed(_ object: Object) { changed(CollectionOfOne(object)) }

    /// Applies `changes` together, all or nothing, after what is already queued; `done` hears how
    /// it went (on the loop) before the objects are compared with the desired state again.
    func transaction(
        _ changes: [Change], label: String, isCancelled: @escaping () -> Bool = { false }, done: @escaping (HALGroupResult) -> Void
    ) {
        loop.assertInEventLoop()
        guard !stopped else { return done(.skipped(.unavailable("vrrpd is stopping"))) }
        guard !changes.isEmpty else { return done(.applied) }
        queue.append(Transaction(changes: changes, label: label, isCancelled: isCancelled, done: done))
        kick()
    }

    /// Reads `objects` back from the HAL and repairs those that differ from the desired state.
    func verify(_ objects: [Object]) {
        loop.assertInEventLoop()
        guard driver.read != nil, !objects.isEmpty else { return }
        verifying += objects
        kick()
    }

    /// No object out of step, nothing queued or in flight.
    var inSync: Bool { dirty.isEmpty && queue.isEmpty && inFlight == nil && !callScheduled }

    /// Objects whose HAL state is not known, and objects waiting to be brought in step.
    var unknownCount: Int { unknown.count }
    var pendingCount: Int { dirty.count + queue.reduce(0) { $0 + $1.changes.count } }
    func isPending(_ object: Object) -> Bool { dirty.contains(object) || inFlightObjects.contains(object) }

    /// The objects of the call in flight (kept only when `tracksInFlight`: what `isPending` asks).
    private var inFlightObjects = Set<Object>()
    var tracksInFlight = false

    /// What the reconciler is doing, for timeout messages.
    var activity: String {
        var text = driver.operation
        if let inFlight {
            text += " (HAL call with \(inFlight.objects) change(s) from \"\(inFlight.label)\" in flight for "
                + "\(formatSeconds(clock.elapsed(since: inFlight.started).inSeconds))"
            if !queue.isEmpty { text += ", \(queue.count) more queued" }
            text += ")"
        } else if !queue.isEmpty || !dirty.isEmpty {
            text += " (\(queue.count) queued, \(dirty.count) object(s) to bring in step)"
        }
        return text
    }

    /// No more calls start; `idle` runs once the one in flight (if any) has come back.
    func stop(whenIdle idle: @escaping () -> Void) {
        loop.assertInEventLoop()
        stopped = true
        retry?.cancel()
        let pending = queue
        queue = []
        for t in pending { t.done(.skipped(.unavailable("vrrpd is stopping"))) }
        if inFlight == nil { idle() } else { idleWaiters.append(idle) }
    }

    // MARK: Calls

    /// Starts a call on the next turn of the loop (everything queued in this turn goes with it),
    /// unless one is in flight. Background work waits out a back-off; transactions never do.
    private func kick() {
        guard !stopped, inFlight == nil, !callScheduled else { return }
        guard retry == nil || !queue.isEmpty else { return }
        callScheduled = true
        loop.assumeIsolated().execute { [self] in
            callScheduled = false
            startCall()
        }
    }

    private var callScheduled = false

    private func startCall() {
        guard !stopped, inFlight == nil else { return finishIdle() }
        var transactions: [Transaction] = []
        let queued = queue
        queue = []
        for t in queued {
            if t.isCancelled() { t.done(.skipped(.unavailable("the command was abandoned"))) } else { transactions.append(t) }
        }
        var touched = Set<Object>()
        for t in transactions { for c in t.changes { touched.insert(c.object) } }
        // Objects a queued transaction also changes wait for it: their state after it depends on
        // whether it succeeds (and the owner's desired state follows only then). While a retry is
        // pending (the HAL keeps failing) the background waits for it.
        let waiting = retry == nil ? dirty.subtracting(touched) : []
        let background = waiting.map { Change(object: $0, target: desired($0), previous: nil) }
        for change in background { dirty.remove(change.object) }
        let verify = retry == nil ? verifying : []
        if retry == nil { verifying = [] }
        guard !transactions.isEmpty || !background.isEmpty || !verify.isEmpty else { return finishIdle() }
        let groups = transactions.map(\.changes)
        let label = transactions.first?.label ?? (verify.isEmpty ? "bring \(background.count) object(s) in step" : "verify")
        let size = groups.reduce(background.count) { $0 + $1.count }
        inFlight = (label, clock.now, size)
        if tracksInFlight {
            inFlightObjects = Set(background.map(\.object))
            for t in transactions { for c in t.changes { inFlightObjects.insert(c.object) } }
        }
        counters.calls += 1
        let driver = self.driver
        let body: @Sendable (Switch, Instant) -> CallResult = { hal, deadline in
            var result = CallResult()
            var timedOut: HALError?
            for group in groups {
                if let timedOut {
                    result.groups.append(.skipped(timedOut))
                    continue
                }
                let outcome = driver.applyGroup(hal, deadline, group)
                if case .unknown(let error) = outcome, case .timeout = error { timedOut = error }
                result.groups.append(outcome)
            }
            if let timedOut {
                result.background = background.map { _ in .skipped(timedOut) }
            } else if let each = driver.applyEach {
                result.background = each(hal, deadline, background)
            } else {
                for change in background {
                    if let timedOut {
                        result.background.append(.skipped(timedOut))
                        continue
                    }
                    let outcome = driver.applyGroup(hal, deadline, [change])
                    if case .unknown(let error) = outcome, case .timeout = error { timedOut = error }
                    result.background.append(outcome)
                }
            }
            if !verify.isEmpty, timedOut == nil, let read = driver.read {
                do {
                    result.read = try read(hal, deadline, verify)
                } catch {
                    result.readError = (error as? HALError) ?? .internal("\(error)")
                }
            }
            return result
        }
        let call = driver.natThread ? hal.callNAT(driver.operation, on: loop, body) : hal.call(driver.operation, on: loop, body)
        call.assumeIsolated().whenComplete { [self] outcome in
            let seconds = inFlight.map { clock.elapsed(since: $0.started).inSeconds } ?? 0
            counters.slowestCall = max(counters.slowestCall, seconds)
            inFlight = nil
            inFlightObjects = []
            let result: CallResult
            switch outcome {
            case .success(let value):
                result = value
            case .failure(let error):
                // The thread pool refused the call (shutting down): nothing was attempted.
                let e = (error as? HALError) ?? .unavailable("\(error)")
                result = CallResult(groups: groups.map { _ in .skipped(e) }, background: background.map { _ in .skipped(e) })
            }
            finish(transactions: transactions, background: background, verify: verify, result: result, seconds: seconds)
        }
    }

    private struct CallResult: Sendable {
        var groups: [HALGroupResult] = []
        var background: [HALGroupResult] = []
        var read: [Object: State]?
        var readError: HALError?
    }

    private func finish(transactions: [Transaction], background: [Change], verify: [Object], result: CallResult, seconds: Double) {
        // Only the first failure is put in words (naming an object may look it up): a call that
        // refused 100,000 changes costs a count, not 100,000 messages.
        var failures = Failures()
        for (index, transaction) in transactions.enumerated() {
            let outcome = index < result.groups.count ? result.groups[index] : .skipped(.internal("no result"))
            if let error = outcome.error {
                failures.add { "\"\(transaction.label)\": \(error)" }
            } else {
                counters.applied += UInt64(transaction.changes.count)
                if let onApplied { for change in transaction.changes { onApplied(change) } }
            }
            transaction.done(outcome)
            // Compare what the HAL now holds with what the owner wants, after the owner decided.
            for change in transaction.changes {
                let believed: State??
                switch outcome {
                case .applied: believed = .some(change.target)
                case .refused, .skipped: believed = .some(change.previous)
                case .unknown: believed = nil
                }
                settle(change.object, believed: believed)
            }
        }
        for (index, change) in background.enumerated() {
            let outcome = index < result.background.count ? result.background[index] : .skipped(.internal("no result"))
            switch outcome {
            case .applied:
                counters.applied += 1
                onApplied?(change)
                unknown.remove(change.object)
                if desired(change.object) != change.target { dirty.insert(change.object) }
            case .refused(let error):
                failures.add { "\(self.named(change.object)): \(error)" }
                dirty.insert(change.object)
            case .unknown(let error):
                failures.add { "\(self.named(change.object)): \(error)" }
                dirty.insert(change.object)
                unknown.insert(change.object)
            case .skipped:
                dirty.insert(change.object)
            }
        }
        if let read = result.read {
            var wrong: [Object] = []
            for object in verify where read[object] != desired(object) && !dirty.contains(object) {
                dirty.insert(object)
                wrong.append(object)
            }
            if !wrong.isEmpty {
                counters.repaired += UInt64(wrong.count)
                onRepair?(wrong)
            }
        } else if let error = result.readError {
            failures.add { "reading back \(verify.count) object(s): \(error)" }
        }
        if let first = failures.first {
            counters.failures += UInt64(failures.count)
            let text = failures.count == 1 ? first : "\(first) (and \(failures.count - 1) more)"
            let message = "\(driver.operation) failed after \(formatSeconds(seconds)): \(text)"
            let isNew = problem != message
            problem = message
            if isNew { onProblem?(message) }
            if !dirty.isEmpty { scheduleRetry() }
        } else if dirty.isEmpty, let old = problem {
            problem = nil
            backoff = backoffRange.lowerBound
            onRecovered?(old)
        }
        if stopped { return finishIdle() }
        if !queue.isEmpty || (retry == nil && (!dirty.isEmpty || !verifying.isEmpty)) { kick() }
    }

    /// The failures of one call: how many, and the first in words.
    private struct Failures {
        var count = 0
        var first: String?

        mutating func add(_ text: () -> String) {
            if count == 0 { first = text() }
            count += 1
        }
    }

    /// After a transaction: the object's HAL state (nil: unknown) against the desired one.
    private func settle(_ object: Object, believed: State??) {
        guard let believed else {
            dirty.insert(object)
            unknown.insert(object)
            return
        }
        unknown.remove(object)
        if believed != desired(object) { dirty.insert(object) }
    }

    private func scheduleRetry() {
        guard retry == nil, !stopped else { return }
        let delay = backoff
        backoff = min(backoff * 2, backoffRange.upperBound)
        retry = loop.scheduleTask(after: delay, clock: clock) { [self] in
            retry = nil
            kick()
        }
    }

    private func finishIdle() {
        let waiters = idleWaiters
        idleWaiters = []
        for waiter in waiters { waiter() }
    }
}
