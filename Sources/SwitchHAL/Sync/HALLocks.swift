/// Every lock of the HAL, declared in one place with its rank and purpose.
///
/// The rule: a thread holding a lock may only take locks of higher rank. Nothing calls out of
/// the HAL (events, logging, the control plane) while holding any of them; events are queued
/// and delivered after release. docs/hal.md explains each rank.
public final class HALLocks: Sendable {
    public enum Rank {
        /// Ports, VLANs, SVIs: configuration of the "hardware"; taken before the table because
        /// a port or VLAN change flushes table entries.
        public static let ports = 10
        /// The L2 table, its counters and learn limits (the SDK's L2Xm).
        public static let l2Table = 20
        /// The NAT table and its counters. Never taken together with `l2.table` (nor with any
        /// other lock): every NAT call takes it alone.
        public static let natTable = 25
        /// The traffic generator's state.
        public static let generator = 30
        /// The list of event subscribers.
        public static let subscribers = 40
        /// One subscriber's event queue (a leaf: nothing is taken while holding it).
        public static let eventQueue = 50
        /// Small leaves: injected faults, where trace lines and watchdog reports go. Never
        /// held while taking anything else.
        public static let leaf = 60
    }

    public let ports = HALLock(name: "hal.ports", rank: Rank.ports, purpose: "ports, VLANs and SVIs")
    public let l2Table = HALLock(name: "l2.table", rank: Rank.l2Table, purpose: "the L2 table, its counters and learn limits")
    public let natTable = HALLock(name: "nat.table", rank: Rank.natTable, purpose: "the NAT table and its counters")
    public let generator = HALLock(name: "hal.generator", rank: Rank.generator, purpose: "the traffic generator")
    public let subscribers = HALLock(name: "hal.subscribers", rank: Rank.subscribers, purpose: "the list of event subscribers")

    public init() {}

    /// The fixed locks (each subscriber's queue lock is reported with its subscription).
    public var all: [HALLock] { [ports, l2Table, natTable, generator, subscribers] }
}
