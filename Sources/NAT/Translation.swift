import NetTypes
import Time

/// One packet's addressing as the NAT sees it.
public struct FlowPacket: Hashable, Sendable, CustomStringConvertible {
    public var proto: L4Protocol
    public var source: Endpoint
    public var destination: Endpoint
    public var flags: TCPFlags

    public init(proto: L4Protocol, source: Endpoint, destination: Endpoint, flags: TCPFlags = []) {
        self.proto = proto
        self.source = source
        self.destination = destination
        self.flags = flags
    }

    /// A TCP SYN, FIN or RST: it changes a connection's state, so the CPU sees it even when the
    /// HAL translates it.
    public var isTCPControl: Bool { proto == .tcp && !flags.subtracting(.ack).isEmpty }

    public var description: String {
        // An ICMP query's identifier travels in both "port" fields.
        if proto == .icmp { return "icmp \(source.address) -> \(destination.address) id \(source.port)" }
        var text = "\(proto == .any ? "ip" : proto.description) \(source) -> \(destination)"
        // Plain ACKs are the normal case; the flags that change a translation's state show.
        if isTCPControl { text += " [\(flags)]" }
        return text
    }
}

public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let ack = TCPFlags(rawValue: 0x10)

    public var description: String {
        var names: [String] = []
        if contains(.syn) { names.append("SYN") }
        if contains(.fin) { names.append("FIN") }
        if contains(.rst) { names.append("RST") }
        if contains(.ack) { names.append("ACK") }
        return names.joined(separator: ",")
    }
}

/// A translation: what `show ip nat translations` lists, and what the HAL holds two entries for.
public struct Translation: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case staticSimple = "static"
        case staticExtended = "static, extended"
        case dynamicSimple = "dynamic"
        case dynamicExtended = "dynamic, extended"
    }

    public enum TCPState: String, Sendable {
        case none
        /// Opened by a SYN, nothing heard back yet: syn-timeout.
        case syn
        case established
        /// A FIN or RST was seen: finrst-timeout.
        case closing
    }

    public var id: UInt64
    public var kind: Kind
    /// inside: an `inside source` translation; outside: `outside source static`.
    public var direction: NATZone
    public var proto: L4Protocol
    public var insideLocal: Endpoint?
    public var insideGlobal: Endpoint?
    public var outsideLocal: Endpoint?
    public var outsideGlobal: Endpoint?
    /// The access list of the dynamic rule that made it.
    public var rule: Int?
    public var pool: String?
    /// On the engine's caller's clock.
    public var created: Instant
    public var lastUsed: Instant
    public var tcpState: TCPState = .none
    /// Packets the CPU translated (the slow path) plus what the HAL counted on its two entries.
    public var softwarePackets: UInt64 = 0
    /// What the HAL counted on the entry matching traffic from inside, and from outside.
    /// False for an `extendable` static whose local side another mapping already sends out:
    /// the HAL has one SNAT entry per local, so only the first mapping installs it.
    public var sendsLocalOut = true
    public var hardwarePacketsIn: UInt64 = 0
    public var hardwarePacketsOut: UInt64 = 0
    public var hardwareBytesIn: UInt64 = 0
    public var hardwareBytesOut: UInt64 = 0

    public var isStatic: Bool { kind == .staticSimple || kind == .staticExtended }
    public var isExtended: Bool { kind == .staticExtended || kind == .dynamicExtended }
    public var packets: UInt64 { softwarePackets + hardwarePacketsIn + hardwarePacketsOut }

    /// What the HAL keys an inside translation's sides by: the protocol and the endpoints of an
    /// extended one; for a simple one, any protocol and the addresses alone.
    public var keyProto: L4Protocol { isExtended ? proto : .any }
    public var localKey: Endpoint? { insideLocal.map { isExtended ? $0 : Endpoint($0.address) } }
    public var globalKey: Endpoint? { insideGlobal.map { isExtended ? $0 : Endpoint($0.address) } }

    /// The SNAT entry of an inside translation (packets from inside, local -> global).
    public var outgoingEntry: HardwareEntry? {
        guard direction == .inside, let local = localKey, let global = globalKey else { return nil }
        return HardwareEntry(zone: .inside, rewritesSource: true, proto: keyProto, match: local, translated: global, isStatic: isStatic, cookie: id << 1)
    }

    /// The HAL entries that carry it: traffic from inside and traffic from outside.
    /// Cookie = id * 2 (the entry that matches packets from inside) or id * 2 + 1 (from outside).
    public var hardwareEntries: [HardwareEntry] {
        switch direction {
        case .inside:
            guard let local = localKey, let global = globalKey, let outgoing = outgoingEntry else { return [] }
            let incoming = HardwareEntry(
                zone: .outside, rewritesSource: false, proto: keyProto, match: global, translated: local, isStatic: isStatic, cookie: id << 1 | 1)
            return sendsLocalOut ? [outgoing, incoming] : [incoming]
        case .outside:
            guard let local = outsideLocal, let global = outsideGlobal else { return [] }
            return [
                HardwareEntry(zone: .inside, rewritesSource: false, proto: .any, match: Endpoint(local.address),
                              translated: Endpoint(global.address), isStatic: isStatic, cookie: id << 1),
                HardwareEntry(zone: .outside, rewritesSource: true, proto: .any, match: Endpoint(global.address),
                              translated: Endpoint(local.address), isStatic: isStatic, cookie: id << 1 | 1),
            ]
        }
    }
}

extension Translation {
    /// The translation a static mapping makes.
    public init(static mapping: StaticMapping.Identity, id: UInt64, now: Instant) {
        self.init(
            id: id, kind: mapping.proto == .any ? .staticSimple : .staticExtended, direction: mapping.direction,
            proto: mapping.proto, created: now, lastUsed: now)
        if mapping.direction == .inside {
            insideLocal = mapping.local
            insideGlobal = mapping.global
        } else {
            outsideLocal = mapping.local
            outsideGlobal = mapping.global
        }
    }
}

extension StaticMapping.Identity {
    /// The keys of every HAL entry the mapping's translation can hold (an extendable sibling's
    /// shared local side included): what configuring it reserves in the HAL's NAT table.
    public var hardwareKeys: [HardwareEntry.Key] {
        Translation(static: self, id: 0, now: .zero).hardwareEntries.map(\.key)
    }
}

/// One HAL NAT entry as the engine wants it (the daemon maps it onto the HAL's type).
public struct HardwareEntry: Hashable, Sendable {
    /// The ingress side whose packets it matches.
    public var zone: NATZone
    /// SNAT (rewrites the source) or DNAT (the destination).
    public var rewritesSource: Bool
    public var proto: L4Protocol
    public var match: Endpoint
    public var translated: Endpoint
    public var isStatic: Bool
    public var cookie: UInt64

    /// What the HAL finds an entry by: its ingress zone, its direction, the protocol and the
    /// endpoint it matches.
    public struct Key: Hashable, Sendable {
        public var zone: NATZone
        public var rewritesSource: Bool
        public var proto: L4Protocol
        public var match: Endpoint

        public init(zone: NATZone, rewritesSource: Bool, proto: L4Protocol, match: Endpoint) {
            self.zone = zone
            self.rewritesSource = rewritesSource
            self.proto = proto
            self.match = match
        }
    }

    public var key: Key { Key(zone: zone, rewritesSource: rewritesSource, proto: proto, match: match) }

    public init(zone: NATZone, rewritesSource: Bool, proto: L4Protocol, match: Endpoint, translated: Endpoint, isStatic: Bool, cookie: UInt64) {
        self.zone = zone
        self.rewritesSource = rewritesSource
        self.proto = proto
        self.match = match
        self.translated = translated
        self.isStatic = isStatic
        self.cookie = cookie
    }
}

/// What the HAL must change.
public struct HardwareChanges: Equatable, Sendable {
    public var add: [HardwareEntry] = []
    public var remove: [HardwareEntry] = []

    public init(add: [HardwareEntry] = [], remove: [HardwareEntry] = []) {
        self.add = add
        self.remove = remove
    }

    public var isEmpty: Bool { add.isEmpty && remove.isEmpty }

    /// Appends `other`, which comes after: an entry it removes that this batch was going to add
    /// cancels out (a batch applies its removals first, so the pair would otherwise leave the
    /// entry behind: an extendable static's heir added, then removed in the same change).
    public mutating func merge(_ other: HardwareChanges) {
        if add.isEmpty {
            remove += other.remove
        } else {
            for entry in other.remove {
                if let index = add.firstIndex(of: entry) { add.remove(at: index) } else { remove.append(entry) }
            }
        }
        add += other.add
    }
}

/// Why a packet that needed a translation got none.
public enum DropReason: String, Sendable, CaseIterable, Hashable {
    case poolExhausted = "pool exhausted"
    case portsExhausted = "ports exhausted"
    case maxEntries = "max-entries reached"
    case noAddress = "interface has no address"
    case hardwareFull = "HAL NAT table full"
    case hardwareError = "HAL error"
    /// A static mapping configured later took its HAL slot.
    case displacedByStatic = "displaced by a static mapping"
}
