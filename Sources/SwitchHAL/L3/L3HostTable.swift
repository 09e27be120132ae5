import NetTypes

/// The chip's L3 host table (Broadcom's L3_ENTRY with its egress objects, in one): a routed
/// IPv4 destination -> the VLAN it leaves in and the next hop's MAC. The CPU programs an entry
/// once it has routed a packet to that destination itself (the next hop resolved by ARP); from
/// then on l2x routes that destination's packets in the data path: MACs rewritten, TTL and IP
/// checksum updated, the egress port from the L2 table (so a station move is followed).
///
/// Guarded by `l2.table` (l2x reads it under the lock it holds per batch). Sized once from the
/// chip profile: no rehash, ever; an add beyond capacity is FULL.
final class L3HostTable {
    struct Entry {
        var vlan: UInt16
        var mac: UInt64
    }

    let capacity: Int
    private(set) var entries: [UInt32: Entry]
    /// The NAT zone of each ingress VLAN (`NATZone.rawValue`, `noZone` for none): routed
    /// packets from a zone are translated by the NAT table first, or go to the CPU.
    let zones: UnsafeMutablePointer<UInt8>
    static let noZone: UInt8 = 0xff
    var counters = L3Counters()

    init(capacity: Int) {
        self.capacity = capacity
        entries = Dictionary(minimumCapacity: capacity)
        zones = .allocate(capacity: 4096)
        zones.initialize(repeating: L3HostTable.noZone, count: 4096)
    }

    deinit { zones.deallocate() }

    var count: Int { entries.count }

    /// Adds or replaces; false when the table is full.
    func set(_ destination: UInt32, _ entry: Entry) -> Bool {
        guard entries[destination] != nil || entries.count < capacity else { return false }
        entries[destination] = entry
        return true
    }

    @discardableResult
    func remove(_ destination: UInt32) -> Bool { entries.removeValue(forKey: destination) != nil }

    func removeAll() { entries.removeAll(keepingCapacity: true) }
}

/// What `show hal l3` counts.
public struct L3Counters: Sendable, Equatable {
    /// Routed by l2x, in the data path.
    public var routed: UInt64 = 0
    /// Translated by the NAT table and routed, in the data path.
    public var translated: UInt64 = 0
    /// Packets to the router's MAC that went to the CPU instead: no entry, no translation for
    /// a NAT zone's packet, TCP SYN/FIN/RST there, IP options, TTL, fragments, or larger
    /// than the egress MTU.
    public var toCPU: UInt64 = 0
    public var tooBig: UInt64 = 0
    public var addFull: UInt64 = 0
}

/// One host entry, as the API takes and shows it.
public struct L3Host: Sendable, Equatable {
    public var destination: IPv4Address
    public var vlan: UInt16
    public var nextHopMAC: MACAddress

    public init(destination: IPv4Address, vlan: UInt16, nextHopMAC: MACAddress) {
        self.destination = destination
        self.vlan = vlan
        self.nextHopMAC = nextHopMAC
    }
}
