import HashTreeCollections
import NetTypes

/// The NAT configuration as a Cisco-style switch holds it: access lists, pools, static mappings,
/// dynamic rules, timeouts. A persistent value: the daemon keeps it in the running configuration
/// and hands the same value to the engine, and neither copy costs more than what changed.
/// Interface roles (`ip nat inside|outside`) live with the interfaces and reach the engine
/// through `NATEnvironment`.
public struct NATConfig: Equatable, Sendable {
    /// `access-list (1-99) ...`: standard access lists, lines in the order typed.
    public var accessLists: TreeDictionary<Int, AccessList> = [:]
    public var pools: TreeDictionary<String, NATPool> = [:]
    /// `ip nat {inside|outside} source static ...`.
    public var statics = StaticMappings()
    /// `ip nat inside source list ACL {pool NAME|interface IF} [overload]`, one per access list.
    public var rules: TreeDictionary<Int, DynamicRule> = [:]
    public var timeouts = NATTimeouts()
    /// `ip nat translation max-entries N`: dynamic translations at most (nil: no limit).
    public var maxEntries: Int?

    public init() {}

    public var isEmpty: Bool { self == NATConfig() }

    /// The rules that translate to pool `name`.
    public func rules(usingPool name: String) -> [DynamicRule] {
        rules.values.filter { $0.target == .pool(name) }
    }
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

// MARK: Dynamic rules

/// `ip nat inside source list ACL {pool NAME | interface IF} [overload]`.
public struct DynamicRule: Hashable, Sendable {
    public enum Target: Hashable, Sendable {
        case pool(String)
        case interface(InterfaceID)
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
