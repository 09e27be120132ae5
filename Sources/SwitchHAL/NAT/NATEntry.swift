import NetTypes

/// What an entry rewrites: SNAT the packet's source, DNAT its destination (SAI's
/// `SAI_NAT_TYPE_SOURCE_NAT` / `SAI_NAT_TYPE_DESTINATION_NAT`).
public enum NATType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case source
    case destination

    public var description: String { self == .source ? "snat" : "dnat" }
}

/// The key of a NAT entry, the SDK's ingress session key: zone, direction, protocol, and the
/// packet's source (SNAT) or destination (DNAT) address and L4 port.
///
/// - `proto: .any, port: 0`: basic NAT, the address alone;
/// - `proto: .tcp/.udp` with a port: NAPT;
/// - `proto: .icmp` with a port: the ICMP query identifier.
///
/// Packed in one 64-bit word (58 bits used), so hashing and comparing cost one word. Keys sort
/// by type, zone, address, port, protocol.
public struct NATKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// type (bit 57) | zone (bit 56) | address (bits 24-55) | port (bits 8-23) | protocol
    /// (bits 0-7).
    public private(set) var raw: UInt64

    public init(zone: NATZone, type: NATType, proto: L4Protocol, address: IPv4Address, port: UInt16) {
        raw = UInt64(type.rawValue) << 57 | UInt64(zone.rawValue) << 56 | UInt64(address.value) << 24
            | UInt64(port) << 8 | UInt64(proto.rawValue)
    }

    /// A key from its packed form (as `raw` gives it).
    public init(raw: UInt64) { self.raw = raw & ((1 << 58) - 1) }

    /// A basic (address-only) key: protocol `any`, port 0.
    public static func basic(zone: NATZone, type: NATType, address: IPv4Address) -> NATKey {
        NATKey(zone: zone, type: type, proto: .any, address: address, port: 0)
    }

    public var zone: NATZone {
        get { NATZone(rawValue: UInt8(raw >> 56 & 1))! }
        set { raw = raw & ~(1 << 56) | UInt64(newValue.rawValue) << 56 }
    }

    public var type: NATType {
        get { NATType(rawValue: UInt8(raw >> 57 & 1))! }
        set { raw = raw & ~(1 << 57) | UInt64(newValue.rawValue) << 57 }
    }

    public var proto: L4Protocol {
        // Only valid protocols are ever stored (the initializer and the setter take the enum).
        get { L4Protocol(rawValue: UInt8(truncatingIfNeeded: raw))! }
        set { raw = raw & ~0xff | UInt64(newValue.rawValue) }
    }

    public var address: IPv4Address {
        get { IPv4Address(UInt32(truncatingIfNeeded: raw >> 24)) }
        set { raw = raw & ~(0xffff_ffff << 24) | UInt64(newValue.value) << 24 }
    }

    public var port: UInt16 {
        get { UInt16(truncatingIfNeeded: raw >> 8) }
        set { raw = raw & ~(0xffff << 8) | UInt64(newValue) << 8 }
    }

    /// Basic NAT: matches every protocol and port of the address.
    public var isBasic: Bool { proto == .any }

    public static func < (lhs: NATKey, rhs: NATKey) -> Bool { lhs.raw < rhs.raw }

    /// `inside snat tcp 10.0.0.5:40000`, `outside dnat any 203.0.113.7`.
    public var description: String {
        isBasic ? "\(zone) \(type) any \(address)" : "\(zone) \(type) \(proto) \(address):\(port)"
    }
}

/// One NAT entry: a key and the address (and port) it becomes, SAI's NAT entry with its hit bit
/// and counters.
public struct NATEntry: Equatable, Sendable, CustomStringConvertible {
    public var key: NATKey
    /// The new source (SNAT) or destination (DNAT) address.
    public var translatedAddress: IPv4Address
    /// The new L4 port (ICMP identifier); 0 leaves the port unchanged.
    public var translatedPort: UInt16
    /// Configured, not created by traffic; `natDeleteAll` spares it unless asked.
    public var isStatic: Bool
    /// The control plane's id of the translation that owns the entry (its SNAT and DNAT entries
    /// share it); what `natCollectHits` reports.
    public var cookie: UInt64
    /// Set by a packet that matches; cleared by `natCollectHits` (clear-on-read).
    public var hit: Bool
    /// Packets and bytes translated by this entry since it was added.
    public var packets: UInt64
    public var bytes: UInt64

    public init(
        key: NATKey, translatedAddress: IPv4Address, translatedPort: UInt16 = 0, isStatic: Bool = false, cookie: UInt64,
        hit: Bool = false, packets: UInt64 = 0, bytes: UInt64 = 0
    ) {
        self.key = key
        self.translatedAddress = translatedAddress
        self.translatedPort = translatedPort
        self.isStatic = isStatic
        self.cookie = cookie
        self.hit = hit
        self.packets = packets
        self.bytes = bytes
    }

    /// Whether two entries translate to the same address and port (what makes a re-add
    /// idempotent rather than a conflict).
    public func sameTranslation(as other: NATEntry) -> Bool {
        translatedAddress == other.translatedAddress && translatedPort == other.translatedPort
    }

    /// `inside snat tcp 10.0.0.5:40000 -> 203.0.113.7:61000 cookie 12 static`.
    public var description: String {
        var text = "\(key) -> \(translatedAddress)"
        if translatedPort != 0 { text += ":\(translatedPort)" }
        text += " cookie \(cookie)"
        if isStatic { text += " static" }
        return text
    }
}

/// The fields of a packet NAT looks at and rewrites. For ICMP queries the identifier is the
/// "port": put it in both `sourcePort` and `destinationPort`; a rewrite changes both.
public struct NATPacket: Sendable, Equatable, CustomStringConvertible {
    public var proto: L4Protocol
    public var source: IPv4Address
    public var sourcePort: UInt16
    public var destination: IPv4Address
    public var destinationPort: UInt16

    public init(proto: L4Protocol, source: IPv4Address, sourcePort: UInt16 = 0, destination: IPv4Address, destinationPort: UInt16 = 0) {
        self.proto = proto
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
    }

    public var description: String {
        proto == .any
            ? "any \(source) -> \(destination)" : "\(proto) \(source):\(sourcePort) -> \(destination):\(destinationPort)"
    }
}

/// What `natTranslate` did to a packet: the packet after rewriting and the entries that matched.
public struct NATLookupResult: Sendable, Equatable {
    public var packet: NATPacket
    /// The SNAT entry that rewrote the source, if any.
    public var sourceEntry: NATKey?
    /// The DNAT entry that rewrote the destination, if any.
    public var destinationEntry: NATKey?

    public init(packet: NATPacket, sourceEntry: NATKey? = nil, destinationEntry: NATKey? = nil) {
        self.packet = packet
        self.sourceEntry = sourceEntry
        self.destinationEntry = destinationEntry
    }

    /// Whether any entry matched.
    public var translated: Bool { sourceEntry != nil || destinationEntry != nil }
}

/// NAT table counters (`natCounters`): fill, API activity, and the datapath's lookups.
public struct NATCounters: Sendable, Equatable {
    /// Entries in use and the table's size (`ChipProfile.natEntries`).
    public var entries: Int = 0
    public var capacity: Int = 0
    /// Slots reserved for static entries (`natReserve`), and of them those still waiting for
    /// their entry (holding a slot, matching nothing): slots in use = entries + idleReserved.
    public var reserved: Int = 0
    public var idleReserved: Int = 0
    /// Dynamic entries whose slot a reservation took.
    public var evictions: UInt64 = 0
    /// Entries moved to another of their buckets to make room for a new key.
    public var moves: UInt64 = 0
    /// Entries added (an idempotent re-add of an existing entry is not counted) and deleted.
    public var adds: UInt64 = 0
    public var deletes: UInt64 = 0
    /// `natAdd` calls refused with FULL.
    public var fullErrors: UInt64 = 0
    /// Packets looked up; those that matched at least one entry; those that matched none.
    public var lookups: UInt64 = 0
    public var hits: UInt64 = 0
    public var misses: UInt64 = 0

    public init() {}
}
