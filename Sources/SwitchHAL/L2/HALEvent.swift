import NetTypes

/// What subscribers hear about, in the order it happened.
public enum HALEvent: Sendable, Equatable {
    /// A new MAC learned from traffic.
    case learned(L2Entry)
    /// An idle dynamic entry removed by aging.
    case aged(L2Entry)
    /// A MAC seen on another port: one event with the old and the new port.
    case moved(L2Entry, from: PortID)
    /// Added through the API (static entries, router MACs).
    case added(L2Entry)
    /// Removed through the API, or evicted by an add with replace-dynamic.
    case deleted(L2Entry, reason: DeleteReason)
    /// A bulk delete: what it matched and how many entries went (one event, as in SAI).
    case flushed(L2Filter, count: Int, reason: FlushReason)
    /// A port's link went up or down.
    case link(port: PortID, up: Bool)

    public enum DeleteReason: String, Sendable { case api, evicted }
    public enum FlushReason: String, Sendable { case api, linkDown = "link down", vlanMembership = "VLAN membership", vlanDeleted = "VLAN deleted" }
}

/// A subscriber's view of its own delivery: how many events reached it and how many were lost
/// because it was too slow.
public struct SubscriptionStatistics: Sendable {
    public var name: String
    public var capacity: Int
    public var queued: Int
    public var delivered: UInt64
    public var overflowed: UInt64
}
