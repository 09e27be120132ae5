import HashTreeCollections
import NetTypes

/// `ip nat inside source static [tcp|udp] LOCAL [LPORT] GLOBAL [GPORT] [extendable] [redundancy ...]`
/// and `ip nat outside source static GLOBAL LOCAL`.
public struct StaticMapping: Hashable, Sendable {
    public var direction: NATZone
    /// `.any` for a one-to-one address mapping; tcp/udp for static PAT.
    public var proto: L4Protocol
    public var local: Endpoint
    public var global: Endpoint
    public var extendable: Bool
    /// Active only while this switch is Master of the VRRP group.
    public var redundancy: Redundancy?

    public struct Redundancy: Hashable, Sendable, CustomStringConvertible {
        public var vrid: VRID
        /// The interface of the group; nil: the one interface that has a group `vrid`.
        public var interface: InterfaceID?

        public init(vrid: VRID, interface: InterfaceID?) {
            self.vrid = vrid
            self.interface = interface
        }

        public var description: String { "vrrp \(vrid)" + (interface.map { " interface \($0)" } ?? "") }

        /// The interface of the group: the one named, else the one SVI with an IPv4 group of
        /// this VRID, else the one such SVI that is a NAT outside interface; nil if none or
        /// ambiguous. `holders` are the SVIs with the group, `outsideHolders` those of them that
        /// are NAT outside interfaces.
        public func resolve<S: Collection, T: Collection>(holders: S, outsideHolders: T) -> InterfaceID?
        where S.Element == InterfaceID, T.Element == InterfaceID {
            if let interface { return holders.contains(interface) ? interface : nil }
            if holders.count == 1 { return holders.first }
            return outsideHolders.count == 1 ? outsideHolders.first : nil
        }
    }

    public init(
        direction: NATZone, proto: L4Protocol = .any, local: Endpoint, global: Endpoint, extendable: Bool = false,
        redundancy: Redundancy? = nil
    ) {
        self.direction = direction
        self.proto = proto
        self.local = local
        self.global = global
        self.extendable = extendable
        self.redundancy = redundancy
    }

    /// Two lines are the same mapping when these agree (the options may differ).
    public var identity: Identity { Identity(direction: direction, proto: proto, local: local, global: global) }

    public struct Identity: Hashable, Sendable, Comparable {
        public var direction: NATZone
        public var proto: L4Protocol
        public var local: Endpoint
        public var global: Endpoint

        public static func < (a: Identity, b: Identity) -> Bool {
            if a.direction != b.direction { return a.direction == .inside }
            if a.proto != b.proto { return a.proto.rawValue < b.proto.rawValue }
            if a.local != b.local { return a.local < b.local }
            return a.global < b.global
        }
    }

    /// The configuration line, as `show running-config` prints it.
    public var line: String {
        var text = "ip nat \(direction) source static "
        if direction == .outside {
            text += "\(global.address) \(local.address)"
        } else if proto == .any {
            text += "\(local.address) \(global.address)"
        } else {
            text += "\(proto) \(local.address) \(local.port) \(global.address) \(global.port)"
        }
        if extendable { text += " extendable" }
        if let redundancy { text += " redundancy \(redundancy)" }
        return text
    }

    /// Why this mapping cannot sit beside `other`, or nil.
    public func conflict(with other: StaticMapping) -> String? {
        guard identity != other.identity, direction == other.direction else { return nil }
        let both = "(\(other.line))"
        // A one-to-one mapping owns its global address outright: that is the conflict to name
        // first (naming the group would send the user to add one, only to be refused again).
        if direction == .inside && (proto == .any || other.proto == .any) && global.address == other.global.address {
            return "\(global.address) is already a global address of \(other.local.address) \(both)"
        }
        // One address answers ARP from one switch: its mappings follow the same VRRP group.
        if direction == .inside && global.address == other.global.address && redundancy != other.redundancy {
            let theirs = other.redundancy.map { "follows \($0)" } ?? "follows no VRRP group"
            return "\(global.address) \(theirs) \(both): every mapping of one global address must follow the same group"
        }
        if direction == .outside {
            if global.address == other.global.address { return "\(global.address) is already mapped to \(other.local.address) \(both)" }
            if local.address == other.local.address { return "\(local.address) is already mapped from \(other.global.address) \(both)" }
            return nil
        }
        // One-to-one mappings own their local addresses outright too.
        if proto == .any || other.proto == .any {
            if proto == .any && other.proto == .any && local.address == other.local.address && !(extendable && other.extendable) {
                return "\(local.address) is already mapped to \(other.global.address) \(both); add extendable to both to map it twice"
            }
            return nil
        }
        if proto == other.proto && global == other.global {
            return "\(proto) \(global) is already the global side of \(other.local) \(both)"
        }
        if proto == other.proto && local == other.local && !(extendable && other.extendable) {
            return "\(proto) \(local) is already mapped to \(other.global) \(both); add extendable to both to map it twice"
        }
        return nil
    }
}

/// Every static mapping of the configuration, with the indexes that make a conflict check, a
/// lookup by global address and a lookup by VRRP group cost O(log n) instead of a scan.
///
/// A persistent value (copies share structure): the running configuration, its candidate and the
/// NAT thread's copy cost nothing to keep side by side.
public struct StaticMappings: Sendable, Equatable, Sequence, ExpressibleByArrayLiteral {
    public typealias Identity = StaticMapping.Identity

    /// A protocol and an endpoint (port 0 with `.any`: an address alone).
    struct SideKey: Hashable, Sendable {
        var proto: L4Protocol
        var endpoint: Endpoint
    }

    private var byIdentity: TreeDictionary<Identity, StaticMapping> = [:]
    /// Inside mappings by global address (any protocol), by exact global side, by local side.
    private var insideByGlobal: TreeDictionary<IPv4Address, TreeSet<Identity>> = [:]
    private var insideByGlobalSide: TreeDictionary<SideKey, Identity> = [:]
    private var insideByLocalSide: TreeDictionary<SideKey, TreeSet<Identity>> = [:]
    /// Outside mappings by outside global and outside local address.
    private var outsideByGlobal: TreeDictionary<IPv4Address, Identity> = [:]
    private var outsideByLocal: TreeDictionary<IPv4Address, Identity> = [:]
    /// Mappings with `redundancy vrrp N`, by N.
    private var byVRID: TreeDictionary<VRID, TreeSet<Identity>> = [:]

    public init() {}

    public init(arrayLiteral elements: StaticMapping...) {
        for mapping in elements { insert(mapping) }
    }

    public var count: Int { byIdentity.count }
    public var isEmpty: Bool { byIdentity.isEmpty }

    public subscript(identity: Identity) -> StaticMapping? { byIdentity[identity] }

    public func makeIterator() -> TreeDictionary<Identity, StaticMapping>.Values.Iterator {
        byIdentity.values.makeIterator()
    }

    /// In a stable order (the order of their identities).
    public var sorted: [StaticMapping] { byIdentity.keys.sorted().map { byIdentity[$0]! } }

    /// The inside mappings whose global address is `address`.
    public func inside(global address: IPv4Address) -> [StaticMapping] {
        (insideByGlobal[address] ?? []).compactMap { byIdentity[$0] }
    }

    /// The inside mappings a packet from `source` would use: one-to-one ones of its address,
    /// static PAT ones of its exact endpoint.
    public func inside(matchingSource source: Endpoint, proto: L4Protocol) -> [StaticMapping] {
        var ids = Array(insideByLocalSide[SideKey(proto: .any, endpoint: Endpoint(source.address))] ?? [])
        if proto != .any { ids += insideByLocalSide[SideKey(proto: proto, endpoint: source)] ?? [] }
        return ids.compactMap { byIdentity[$0] }
    }

    public func hasInsideGlobal(_ address: IPv4Address) -> Bool { insideByGlobal[address] != nil }

    /// The mappings that follow VRRP group `vrid`.
    public func following(vrid: VRID) -> [StaticMapping] {
        (byVRID[vrid] ?? []).compactMap { byIdentity[$0] }
    }

    /// A mapping whose translation has a HAL entry under `key` (one of `hardwareKeys`), found by
    /// index; nil if none has. Only extendable mappings share a key (their local side).
    public func mapping(holding key: HardwareEntry.Key) -> StaticMapping? {
        let side = SideKey(proto: key.proto, endpoint: key.match)
        let identity: Identity?
        switch (key.zone, key.rewritesSource) {
        case (.inside, true): identity = insideByLocalSide[side]?.first
        case (.outside, false): identity = insideByGlobalSide[side]
        case (.inside, false): identity = key.proto == .any ? outsideByLocal[key.match.address] : nil
        case (.outside, true): identity = key.proto == .any ? outsideByGlobal[key.match.address] : nil
        }
        return identity.flatMap { byIdentity[$0] }
    }

    /// Why `mapping` cannot be added beside the others, or nil (a mapping with the same identity
    /// is replaced, not a conflict).
    public func conflict(for mapping: StaticMapping) -> String? {
        for other in candidates(for: mapping) {
            if let problem = mapping.conflict(with: other) { return problem }
        }
        return nil
    }

    /// The few mappings `mapping` can conflict with (see `StaticMapping.conflict`), found by
    /// index: every mapping of one global address follows the same group, so any one of them
    /// stands for all in that check; a one-to-one mapping owns its global address alone; an
    /// exact global side is held once; a local side is held by one mapping or by extendable
    /// ones only.
    private func candidates(for mapping: StaticMapping) -> [StaticMapping] {
        let identity = mapping.identity
        var ids: [Identity] = []
        switch mapping.direction {
        case .outside:
            ids = [outsideByGlobal[mapping.global.address], outsideByLocal[mapping.local.address]].compactMap { $0 }
        case .inside:
            if let sharing = insideByGlobal[mapping.global.address] {
                ids += sharing.prefix(2).filter { $0 != identity }.prefix(1)
                if mapping.proto != .any {
                    ids += [
                        insideByGlobalSide[SideKey(proto: .any, endpoint: Endpoint(mapping.global.address))],
                        insideByGlobalSide[SideKey(proto: mapping.proto, endpoint: mapping.global)],
                    ].compactMap { $0 }
                }
            }
            ids += (insideByLocalSide[localKey(mapping)] ?? []).prefix(2).filter { $0 != identity }.prefix(1)
        }
        return ids.filter { $0 != identity }.compactMap { byIdentity[$0] }
    }

    /// Adds `mapping`, replacing one with the same identity; returns the one replaced.
    @discardableResult
    public mutating func insert(_ mapping: StaticMapping) -> StaticMapping? {
        let old = remove(mapping.identity)
        let identity = mapping.identity
        byIdentity[identity] = mapping
        switch mapping.direction {
        case .inside:
            insideByGlobal[mapping.global.address, default: []].insert(identity)
            insideByGlobalSide[globalKey(mapping)] = identity
            insideByLocalSide[localKey(mapping), default: []].insert(identity)
        case .outside:
            outsideByGlobal[mapping.global.address] = identity
            outsideByLocal[mapping.local.address] = identity
        }
        if let vrid = mapping.redundancy?.vrid { byVRID[vrid, default: []].insert(identity) }
        return old
    }

    /// Removes the mapping with `identity`; returns it.
    @discardableResult
    public mutating func remove(_ identity: Identity) -> StaticMapping? {
        guard let mapping = byIdentity.removeValue(forKey: identity) else { return nil }
        switch mapping.direction {
        case .inside:
            Self.remove(identity, from: &insideByGlobal, at: mapping.global.address)
            if insideByGlobalSide[globalKey(mapping)] == identity { insideByGlobalSide[globalKey(mapping)] = nil }
            Self.remove(identity, from: &insideByLocalSide, at: localKey(mapping))
        case .outside:
            if outsideByGlobal[mapping.global.address] == identity { outsideByGlobal[mapping.global.address] = nil }
            if outsideByLocal[mapping.local.address] == identity { outsideByLocal[mapping.local.address] = nil }
        }
        if let vrid = mapping.redundancy?.vrid { Self.remove(identity, from: &byVRID, at: vrid) }
        return mapping
    }

    private func localKey(_ mapping: StaticMapping) -> SideKey {
        SideKey(proto: mapping.proto, endpoint: mapping.proto == .any ? Endpoint(mapping.local.address) : mapping.local)
    }

    private func globalKey(_ mapping: StaticMapping) -> SideKey {
        SideKey(proto: mapping.proto, endpoint: mapping.proto == .any ? Endpoint(mapping.global.address) : mapping.global)
    }

    private static func remove<K: Hashable>(_ identity: Identity, from index: inout TreeDictionary<K, TreeSet<Identity>>, at key: K) {
        guard index[key]?.remove(identity) != nil else { return }
        if index[key]?.isEmpty == true { index[key] = nil }
    }

    public static func == (a: StaticMappings, b: StaticMappings) -> Bool { a.byIdentity == b.byIdentity }
}
