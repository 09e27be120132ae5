import NetTypes
import Time

/// Every virtual router of one switch, with one timer heap: dispatches received messages by
/// (interface, VRID, family), fires due timers, and hands back actions tagged with their router.
/// Still pure: the caller supplies the time and carries out the actions.
public struct VRRPEngine: Sendable {
    public struct Key: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var interface: InterfaceID
        public var vrid: VRID
        public var ipv6: Bool

        public init(interface: InterfaceID, vrid: VRID, ipv6: Bool) {
            self.interface = interface
            self.vrid = vrid
            self.ipv6 = ipv6
        }

        /// By interface (in natural order), VRID, then IPv4 before IPv6.
        public static func < (a: Key, b: Key) -> Bool { (a.interface, a.vrid, a.ipv6 ? 1 : 0) < (b.interface, b.vrid, b.ipv6 ? 1 : 0) }
        public var description: String { "\(interface) VRID \(vrid)\(ipv6 ? " (IPv6)" : "")" }
    }

    public private(set) var routers: [Key: VirtualRouter] = [:]
    private var timers = TimerHeap<Key>()
    /// Messages for a VRID no router of that interface has (RFC 5798 §7.1, checklist 66).
    public private(set) var unknownVRID: [InterfaceID: UInt64] = [:]

    public init() {}

    /// Adds (and starts) a router.
    public mutating func add(_ key: Key, config: VirtualRouterConfig, interface: InterfaceAddresses, start: Bool, now: Instant) -> [RouterAction] {
        var router = VirtualRouter(config: config, interface: interface)
        let actions = start ? router.start(now: now) : []
        routers[key] = router
        timers.schedule(key, at: router.nextDeadline)
        return actions
    }

    /// Removes a router (sending priority 0 if it was Master).
    public mutating func remove(_ key: Key, now: Instant) -> [RouterAction] {
        guard var router = routers.removeValue(forKey: key) else { return [] }
        timers.schedule(key, at: nil)
        return router.shutdown(now: now)
    }

    /// Runs `body` on one router and reschedules its timers.
    public mutating func with(_ key: Key, _ body: (inout VirtualRouter) -> [RouterAction]) -> [RouterAction] {
        // In place: no copy of the router in and out, one hash of the key.
        guard let index = routers.index(forKey: key) else { return [] }
        let actions = body(&routers.values[index])
        timers.schedule(key, at: routers.values[index].nextDeadline)
        return actions
    }

    /// A received VRRP message on `interface`.
    public mutating func receive(
        interface: InterfaceID, ipv6: Bool, message: [UInt8], source: IPAddressPair.Source, destination: IPAddressPair.Destination,
        ttl: UInt8, now: Instant
    ) -> [(Key, RouterAction)] {
        guard message.count >= 2 else { return [] }
        // VRID 0 is no router's: counted like any VRID nobody has.
        let key = VRID(rawValue: message[1]).map { Key(interface: interface, vrid: $0, ipv6: ipv6) }
        guard let key, routers[key] != nil else {
            unknownVRID[interface, default: 0] += 1
            return []
        }
        return with(key) { $0.receive(message, source: source, destination: destination, ttl: ttl, now: now) }.map { (key, $0) }
    }

    /// Fires every timer due at `now`.
    public mutating func advance(to now: Instant) -> [(Key, RouterAction)] {
        var out: [(Key, RouterAction)] = []
        for key in timers.popDue(now) {
            out += with(key) { $0.advance(to: now) }.map { (key, $0) }
        }
        return out
    }

    /// `clear vrrp statistics`.
    public mutating func clearStatistics() {
        for key in routers.keys { routers[key]!.clearStatistics() }
        unknownVRID = [:]
    }

    /// When `advance` next has something to do.
    public mutating func nextDeadline() -> Instant? { timers.peek() }
}
