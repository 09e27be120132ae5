import Atomics
import Glibc

/// Delivers HAL events to subscribers, each on its own thread, never while a HAL lock is held.
///
/// Each subscriber has a bounded queue. Producers (l2x, ager, API calls) append after they
/// have released the table lock; a subscriber that is too slow loses events, counted in
/// `overflowed`, and never slows learning down.
public final class EventFanout: @unchecked Sendable {
    private let lock: HALLock
    private var subscriptions: [Subscription] = []

    init(lock: HALLock) {
        self.lock = lock
    }

    public final class Subscription: @unchecked Sendable {
        public let name: String
        public let capacity: Int
        let queueLock: HALLock
        private var queue: [HALEvent] = []
        private var head = 0
        private let wakeup = Wakeup()
        private var thread: HALThread?
        var deliveryThread: HALThread? { thread }
        private let handler: @Sendable (HALEvent) -> Void
        let delivered = ManagedAtomic<UInt64>(0)
        let overflowed = ManagedAtomic<UInt64>(0)
        fileprivate weak var fanout: EventFanout?

        init(name: String, capacity: Int, rank: Int, handler: @escaping @Sendable (HALEvent) -> Void) {
            self.name = name
            self.capacity = capacity
            self.handler = handler
            queueLock = HALLock(name: "events.\(name)", rank: rank, purpose: "the event queue of subscriber \(name)")
            queue.reserveCapacity(min(capacity, 4096))
        }

        func start() {
            thread = HALThread.spawn(name: "ev-\(name)") { [self] me in
                var batch: [HALEvent] = []
                while !me.shouldStop {
                    me.set(.working)
                    queueLock.withLock("events-take") {
                        batch.append(contentsOf: queue[head...])
                        queue.removeAll(keepingCapacity: true)
                        head = 0
                    }
                    if batch.isEmpty {
                        me.set(.sleeping)
                        wakeup.wait(timeout: .milliseconds(100)) { queueLock.withLock("events-peek") { queue.isEmpty } }
                        continue
                    }
                    for event in batch { handler(event) }
                    delivered.wrappingIncrement(by: UInt64(batch.count), ordering: .relaxed)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }

        func post(_ events: ArraySlice<HALEvent>) {
            var lost = 0
            queueLock.withLock("events-post") {
                let room = capacity - (queue.count - head)
                if events.count <= room {
                    queue.append(contentsOf: events)
                } else {
                    queue.append(contentsOf: events.prefix(max(0, room)))
                    lost = events.count - max(0, room)
                }
            }
            if lost > 0 { overflowed.wrappingIncrement(by: UInt64(lost), ordering: .relaxed) }
            wakeup.signal()
        }

        /// Stops delivery; events still queued are dropped.
        public func cancel() {
            fanout?.remove(self)
            thread?.requestStop()
            wakeup.signal()
            thread?.join()
            thread = nil
        }

        public var statistics: SubscriptionStatistics {
            let queued = queueLock.withLock("events-stats") { queue.count - head }
            return SubscriptionStatistics(
                name: name, capacity: capacity, queued: queued, delivered: delivered.load(ordering: .relaxed),
                overflowed: overflowed.load(ordering: .relaxed))
        }
    }

    func subscribe(name: String, capacity: Int, handler: @escaping @Sendable (HALEvent) -> Void) -> Subscription {
        let subscription = Subscription(name: name, capacity: capacity, rank: HALLocks.Rank.eventQueue, handler: handler)
        subscription.fanout = self
        lock.withLock("subscribe") { subscriptions.append(subscription) }
        subscription.start()
        return subscription
    }

    fileprivate func remove(_ subscription: Subscription) {
        lock.withLock("unsubscribe") { subscriptions.removeAll { $0 === subscription } }
    }

    /// Hands events to every subscriber. Must be called with no HAL lock held but the
    /// subscriber list's own.
    func publish(_ events: ArraySlice<HALEvent>) {
        guard !events.isEmpty else { return }
        let targets = lock.withLock("publish") { subscriptions }
        for subscription in targets { subscription.post(events) }
    }

    func publish(_ event: HALEvent) { publish([event][...]) }

    var hasSubscribers: Bool { lock.withLock("peek") { !subscriptions.isEmpty } }

    var queueLocks: [HALLock] { lock.withLock("locks") { subscriptions.map(\.queueLock) } }
    var threads: [HALThread] { lock.withLock("threads") { subscriptions.compactMap(\.deliveryThread) } }

    public var statistics: [SubscriptionStatistics] {
        lock.withLock("stats") { subscriptions }.map(\.statistics)
    }

    func stopAll() {
        for subscription in lock.withLock("stop", { subscriptions }) { subscription.cancel() }
    }
}
