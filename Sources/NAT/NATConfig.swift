import NetTypes

/// The NAT configuration as a Cisco-style switch holds it: access lists, pools, static mappings,
/// dynamic rules, timeouts. A value; the daemon keeps it in the running configuration and hands
/// copies to the engine. Interface roles (`ip nat inside|outside`) live with the interfaces and
/// reach the engine through `NATEnvironment`.
public struct NATConfig: Equatable, Sendable {
    /// `access-list (1-99) ...`: standard access lists, lines in the order typed.
    public var accessLists: [Int: [AccessListEntry]] = [:]
    public var pools: [String: NATPool] = [:]
    /// `ip nat {inside|outside} source static ...`, in the order typed.
    public var statics: [StaticMapping] = []
    /// `ip nat inside source list ACL {pool NAME|interface IF} [overload]`, one per access list.
    public var rules: [Int: DynamicRule] = [:]
    public var timeouts = NATTimeouts()
    /// `ip nat translation max-entries N`: dynamic translations at most (nil: no limit).
    public var maxEntries: Int?

    public init() {}

    public var isEmpty: Bool { self == NATConfig() }
}

/// An address with an L4 port (or ICMP query id); port 0 means "address only".
public struct Endpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(_ address: IPv4Address, _ port: UInt16 = 0) {
        self.address = address
        self.port = port
    }

    public var description: String { port == 0 ? "\(address)" : "\(address):\(port)" }

    public static func < (a: Endpoint, b: Endpoint) -> Bool { (a.address, a.port) < (b.address, b.port) }
}

// MARK: Access lists

/// One line of a standard access list: permit or deny a source.
public struct AccessListEntry: Hashable, Sendable, CustomStringConvertible {
    public enum Action: String, Sendable { case permit, deny }
    public enum Match: Hashable, Sendable {
        case any
        case host(IPv4Address)
        /// Address and wildcard bits (1 = don't care); the address has no bits under the wildcard.
        case wildcard(IPv4Address, IPv4Address)
    }

    public var action: Action
    public var match: Match

    public init(action: Action, match: Match) {
        self.action = action
        switch match {
        case .wildcard(let address, let wild) where wild.value == 0:
            self.match = .host(address)
        case .wildcard(_, let wild) where wild.value == UInt32.max:
            self.match = .any
        case .wildcard(let address, let wild):
            self.match = .wildcard(IPv4Address(address.value & ~wild.value), wild)
        default:
            self.match = match
        }
    }

    public func matches(_ address: IPv4Address) -> Bool {
        switch match {
        case .any: return true
        case .host(let host): return host == address
        case .wildcard(let base, let wild): return address.value & ~wild.value == base.value
        }
    }

    /// The source part as IOS prints it: `any`, `10.0.0.5`, `10.0.0.0 0.0.0.255`.
    public var sourceText: String {
        switch match {
        case .any: return "any"
        case .host(let host): return "\(host)"
        case .wildcard(let base, let wild): return "\(base) \(wild)"
        }
    }

    public var description: String { "\(action.rawValue) \(sourceText)" }
}

/// What an access list says about a source, and which line said it.
public struct AccessListVerdict: Equatable, Sendable {
    public var permitted: Bool
    /// 1-based line number; nil for the implicit deny at the end.
    public var line: Int?
    public var entry: AccessListEntry?

    public var description: String {
        guard let line, let entry else { return "no line matched: implicit deny" }
        return "line \(line) \"\(entry)\": \(entry.action.rawValue)"
    }
}

public enum AccessLists {
    /// First match wins; no match (or no list) denies.
    public static func evaluate(_ entries: [AccessListEntry]?, _ address: IPv4Address) -> AccessListVerdict {
        for (index, entry) in (entries ?? []).enumerated() where entry.matches(address) {
            return AccessListVerdict(permitted: entry.action == .permit, line: index + 1, entry: entry)
        }
        return AccessListVerdict(permitted: false, line: nil, entry: nil)
    }
}

// MARK: Pools

/// `ip nat pool NAME START END {netmask M | prefix-length N}`.
public struct NATPool: Equatable, Sendable {
    public var name: String
    public var start: IPv4Address
    public var end: IPv4Address
    public var prefixLength: Int
    /// Rendered as typed: `netmask 255.255.255.0` or `prefix-length 24`.
    public var typedAsNetmask: Bool

    public init(name: String, start: IPv4Address, end: IPv4Address, prefixLength: Int, typedAsNetmask: Bool) {
        self.name = name
        self.start = start
        self.end = end
        self.prefixLength = prefixLength
        self.typedAsNetmask = typedAsNetmask
    }

    /// The same addresses and mask, however it was typed.
    public func sameRange(as other: NATPool) -> Bool {
        start == other.start && end == other.end && prefixLength == other.prefixLength
    }

    /// The network the pool's addresses belong to.
    public var subnet: IPv4Prefix { IPv4Prefix(address: start, length: prefixLength) }
    public var netmask: IPv4Address { IPv4Address(subnet.mask) }
    public var size: Int { Int(end.value) - Int(start.value) + 1 }

    public func contains(_ address: IPv4Address) -> Bool { address.value >= start.value && address.value <= end.value }

    /// Why the pool cannot be, or nil.
    public var problem: String? {
        if end < start { return "the pool's end address \(end) is below its start \(start)" }
        if !subnet.contains(end) {
            return "\(start) and \(end) are not in the same /\(prefixLength) network"
        }
        return nil
    }

    /// A prefix length from a netmask, if the mask is contiguous.
    public static func prefixLength(ofNetmask mask: IPv4Address) -> Int? {
        let ones = mask.value.nonzeroBitCount
        return mask.value == IPv4Prefix(address: mask, length: ones).mask ? ones : nil
    }
}

// MARK: Mappings and rules

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
        public var vrid: UInt8
        /// The interface of the group; nil: the one interface that has a group `vrid`.
        public var interface: String?

        public init(vrid: UInt8, interface: String?) {
            self.vrid = vrid
            self.interface = interface
        }

        public var description: String { "vrrp \(vrid)" + (interface.map { " interface \($0)" } ?? "") }

        /// The interface of the group: the one named, else the one SVI with an IPv4 group of
        /// this VRID, else the one such SVI that is a NAT outside interface; nil if none or
        /// ambiguous. `holders` are the SVIs with the group.
        public func resolve(holders: [String], isOutside: (String) -> Bool) -> String? {
            if let interface { return holders.contains(interface) ? interface : nil }
            if holders.count == 1 { return holders[0] }
            let outside = holders.filter(isOutside)
            return outside.count == 1 ? outside[0] : nil
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

    public struct Identity: Hashable, Sendable {
        public var direction: NATZone
        public var proto: L4Protocol
        public var local: Endpoint
        public var global: Endpoint
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
        // One-to-one mappings own their addresses outright.
        if proto == .any || other.proto == .any {
            if global.address == other.global.address { return "\(global.address) is already a global address of \(other.local.address) \(both)" }
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

/// `ip nat inside source list ACL {pool NAME | interface IF} [overload]`.
public struct DynamicRule: Hashable, Sendable {
    public enum Target: Hashable, Sendable {
        case pool(String)
        case interface(String)
    }

    public var accessList: Int
    public var target: Target
    public var overload: Bool

    public init(accessList: Int, target: Target, overload: Bool) {
        self.accessList = accessList
        self.target = target
        self.overload = overload
    }

    public var line: String {
        switch target {
        case .pool(let name): return "ip nat inside source list \(accessList) pool \(name)" + (overload ? " overload" : "")
        case .interface(let name): return "ip nat inside source list \(accessList) interface \(name) overload"
        }
    }
}

/// `ip nat translation ...-timeout {SECONDS|never}`: nil is never. IOS defaults.
public struct NATTimeouts: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case timeout, udpTimeout = "udp-timeout", dnsTimeout = "dns-timeout", tcpTimeout = "tcp-timeout"
        case finrstTimeout = "finrst-timeout", icmpTimeout = "icmp-timeout", synTimeout = "syn-timeout"

        public var defaultSeconds: Int {
            switch self {
            case .timeout: return 86400
            case .udpTimeout: return 300
            case .dnsTimeout: return 60
            case .tcpTimeout: return 86400
            case .finrstTimeout: return 60
            case .icmpTimeout: return 60
            case .synTimeout: return 60
            }
        }
    }

    private var values: [Kind: Int?] = [:]

    public init() {}

    /// Seconds, or nil for never.
    public subscript(kind: Kind) -> Int? {
        get { values[kind] ?? kind.defaultSeconds }
        set { values[kind] = .some(newValue) }
    }

    public mutating func reset(_ kind: Kind) { values[kind] = nil }

    public func isDefault(_ kind: Kind) -> Bool { self[kind] == kind.defaultSeconds }

    public static func == (a: NATTimeouts, b: NATTimeouts) -> Bool {
        Kind.allCases.allSatisfy { a[$0] == b[$0] }
    }
}
