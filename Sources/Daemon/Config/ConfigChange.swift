import HashTreeCollections
import NAT
import NetTypes
import SwitchHAL

/// One thing of the running configuration a change can touch. Each subsystem maps the keys it
/// cares about onto its own objects (a VLAN, a VRRP group, a NAT pool) and redoes only those.
public enum ConfigKey: Hashable, Sendable {
    case hostname
    case domainName
    case enableSecret
    case execTimeout
    /// An interface's own settings (description, shutdown, addresses, switchport, NAT role) or
    /// its existence; its VRRP groups are keys of their own.
    case interface(InterfaceID)
    case vrrpGroup(InterfaceID, VRID)
    case vlan(UInt16)
    case staticMAC(StaticMAC)
    case macAgingTime
    case learnLimitSystem
    case learnLimitVLAN(UInt16)
    case learnLimitInterface(InterfaceID)
    case accessList(Int)
    case natPool(String)
    case natRule(Int)
    case natStatic(StaticMapping.Identity)
    case natTimeouts
    case natMaxEntries
    case staticRoute(IPv4Prefix)
    case cpuPolicer(CPUClass)
}

/// What one or more configuration edits touched: the keys, never a copy of the configuration.
public struct ConfigChange: Sendable, Equatable {
    public private(set) var keys: Set<ConfigKey> = []

    public init() {}

    public init<S: Sequence>(_ keys: S) where S.Element == ConfigKey { self.keys = Set(keys) }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }

    public mutating func insert(_ key: ConfigKey) { keys.insert(key) }

    public mutating func formUnion(_ other: ConfigChange) { keys.formUnion(other.keys) }

    /// Everything that differs between two configurations (a reload replacing one with the
    /// other): O(size of both), once per reload, never per command.
    public static func between(_ a: RunningConfig, _ b: RunningConfig) -> ConfigChange {
        var change = ConfigChange()
        if a.hostname != b.hostname { change.insert(.hostname) }
        if a.domainName != b.domainName { change.insert(.domainName) }
        if a.enableSecret != b.enableSecret { change.insert(.enableSecret) }
        for name in differing(a.interfaces, b.interfaces) {
            let old = a.interfaces[name]
            let new = b.interfaces[name]
            if old?.withoutGroups != new?.withoutGroups || (old == nil) != (new == nil) { change.insert(.interface(name)) }
            for vrid in Set((old?.vrrp ?? [:]).keys).union((new?.vrrp ?? [:]).keys) where old?.vrrp[vrid] != new?.vrrp[vrid] {
                change.insert(.vrrpGroup(name, vrid))
            }
        }
        for vlan in differing(a.vlans, b.vlans) { change.insert(.vlan(vlan)) }
        for key in differing(a.staticMACs, b.staticMACs) { change.insert(.staticMAC(key)) }
        if a.macAgingTime != b.macAgingTime { change.insert(.macAgingTime) }
        if a.learnLimitSystem != b.learnLimitSystem { change.insert(.learnLimitSystem) }
        for vlan in differing(a.learnLimitPerVLAN, b.learnLimitPerVLAN) { change.insert(.learnLimitVLAN(vlan)) }
        for name in differing(a.learnLimitPerInterface, b.learnLimitPerInterface) { change.insert(.learnLimitInterface(name)) }
        for acl in differing(a.nat.accessLists, b.nat.accessLists) { change.insert(.accessList(acl)) }
        for name in differing(a.nat.pools, b.nat.pools) { change.insert(.natPool(name)) }
        for acl in differing(a.nat.rules, b.nat.rules) { change.insert(.natRule(acl)) }
        let identities = Set(a.nat.statics.map(\.identity)).union(b.nat.statics.map(\.identity))
        for identity in identities where a.nat.statics[identity] != b.nat.statics[identity] { change.insert(.natStatic(identity)) }
        if a.nat.timeouts != b.nat.timeouts { change.insert(.natTimeouts) }
        if a.nat.maxEntries != b.nat.maxEntries { change.insert(.natMaxEntries) }
        for prefix in differing(a.staticRoutes, b.staticRoutes) { change.insert(.staticRoute(prefix)) }
        for cpuClass in differing(a.cpuPolicers, b.cpuPolicers) { change.insert(.cpuPolicer(cpuClass)) }
        return change
    }

    private static func differing<K: Hashable, V: Equatable>(_ a: TreeDictionary<K, V>, _ b: TreeDictionary<K, V>) -> [K] {
        var keys: [K] = []
        for (key, value) in a where b[key] != value { keys.append(key) }
        for (key, _) in b where a[key] == nil { keys.append(key) }
        return keys
    }
}
