import CLI
import HashTreeCollections
import NAT
import NetTypes
import SwitchHAL

/// The running configuration: everything `show running-config` prints and `write file` saves.
///
/// A persistent value: its maps are hash tries (`TreeDictionary`) whose copies share structure,
/// so the live configuration, a pending change and a candidate being loaded cost memory and time
/// only for what differs, and a change to one interface costs O(log n) whatever the size of the
/// rest. It is changed only through `ConfigEdit`, which records what each edit touched (the
/// `ConfigChange` the subsystems apply) and keeps `index` in step.
public struct RunningConfig: Equatable, Sendable {
    public static let defaultHostname = "switch"
    public static let defaultMACAgingTime = 300
    /// IOS's `exec-timeout` default: 10 minutes.
    public static let defaultExecTimeout = 600

    public fileprivate(set) var hostname = RunningConfig.defaultHostname
    /// `ip domain name NAME` (nil: not set).
    public fileprivate(set) var domainName: String?
    /// The enable secret as a Cisco type 9 (scrypt) string, never the password itself.
    public fileprivate(set) var enableSecret: String?
    public fileprivate(set) var interfaces: TreeDictionary<InterfaceID, InterfaceConfig> = [:]
    /// `vlan N` blocks (VLAN 1 always exists and is not listed unless named).
    public fileprivate(set) var vlans: TreeDictionary<UInt16, VLANConfig> = [:]
    /// `mac address-table static MAC vlan N interface IF`.
    public fileprivate(set) var staticMACs: TreeDictionary<StaticMAC, InterfaceID> = [:]
    /// `mac address-table aging-time S` (nil: the default).
    public fileprivate(set) var macAgingTime: Int?
    /// `exec-timeout M [S]`: seconds an idle session stays open (nil: the default, 0: forever).
    public fileprivate(set) var execTimeout: Int?
    /// `mac address-table limit maximum N [vlan V | interface IF]`.
    public fileprivate(set) var learnLimitSystem: Int?
    public fileprivate(set) var learnLimitPerVLAN: TreeDictionary<UInt16, Int> = [:]
    public fileprivate(set) var learnLimitPerInterface: TreeDictionary<InterfaceID, Int> = [:]
    /// Access lists, NAT pools, mappings, rules and timeouts (interface roles are per interface).
    public fileprivate(set) var nat = NATConfig()
    /// `ip route PREFIX NEXTHOP`: static routes (the prefix is a network address).
    public fileprivate(set) var staticRoutes: TreeDictionary<IPv4Prefix, IPv4Address> = [:]
    /// `control-plane police CLASS rate N pps burst M packets`: the CPU policers set away from
    /// their defaults (`PolicerRate.defaultRate`).
    public fileprivate(set) var cpuPolicers: TreeDictionary<CPUClass, PolicerRate> = [:]
    /// Derived from the above, kept by every edit.
    public fileprivate(set) var index = ConfigIndex()

    public init() {}

    /// Interfaces in the order people expect (`eth2` before `eth10`).
    public var sortedInterfaces: [InterfaceID] { interfaces.keys.sorted() }

    /// The SVI whose VRRP group a NAT mapping with `redundancy` follows (nil: none, or
    /// ambiguous; see `StaticMapping.Redundancy.resolve`). O(1).
    func groupInterface(for redundancy: StaticMapping.Redundancy) -> InterfaceID? {
        index.environment.resolve(redundancy)?.interface
    }

    /// Equal configurations (the index follows from the rest and is not compared).
    public static func == (a: RunningConfig, b: RunningConfig) -> Bool {
        a.hostname == b.hostname && a.domainName == b.domainName && a.enableSecret == b.enableSecret && a.interfaces == b.interfaces && a.vlans == b.vlans
            && a.staticMACs == b.staticMACs && a.macAgingTime == b.macAgingTime && a.learnLimitSystem == b.learnLimitSystem
            && a.learnLimitPerVLAN == b.learnLimitPerVLAN && a.learnLimitPerInterface == b.learnLimitPerInterface && a.nat == b.nat
            && a.staticRoutes == b.staticRoutes && a.execTimeout == b.execTimeout && a.cpuPolicers == b.cpuPolicers
    }
}

/// An edit of a running configuration: the only way to change one. Each method changes one
/// thing, records its key in `change` and keeps the indexes in step; a command's edit is a
/// closure over one of these, run on the configuration the command applies to.
public struct ConfigEdit {
    public private(set) var config: RunningConfig
    public private(set) var change = ConfigChange()

    public init(_ config: RunningConfig) { self.config = config }

    /// Sets one part of the configuration and records its key, if the value is new.
    private mutating func set<Value: Equatable>(_ part: WritableKeyPath<RunningConfig, Value>, _ value: Value, _ key: ConfigKey) {
        guard config[keyPath: part] != value else { return }
        config[keyPath: part] = value
        change.insert(key)
    }

    // MARK: System

    public mutating func setHostname(_ name: String) {
        set(\.hostname, name, .hostname)
    }

    public mutating func setDomainName(_ name: String?) {
        set(\.domainName, name, .domainName)
    }

    public mutating func setEnableSecret(_ secret: String?) {
        set(\.enableSecret, secret, .enableSecret)
    }

    // MARK: Interfaces

    /// Changes interface `name` (creating it if it is not configured); `body` returns an error
    /// message to refuse, and then nothing changes.
    public mutating func editInterface(_ name: InterfaceID, _ body: (inout InterfaceConfig) -> String?) -> String? {
        let old = config.interfaces[name]
        var interface = old ?? InterfaceConfig()
        if let error = body(&interface) { return error }
        replaceInterface(name, old: old, new: interface)
        return nil
    }

    /// Changes (creating it if needed) VRRP group `vrid` of interface `name`. A `no` form never
    /// creates a group: pass `create: false`.
    public mutating func editGroup(
        _ name: InterfaceID, _ vrid: VRID, create: Bool = true, _ body: (inout VRRPInstanceConfig) -> String?
    ) -> String? {
        editInterface(name) { interface in
            if !create && interface.vrrp[vrid] == nil { return "VRRP group \(vrid) is not configured on this interface" }
            var group = interface.vrrp[vrid] ?? VRRPInstanceConfig()
            if let error = body(&group) { return error }
            interface.vrrp[vrid] = group
            return nil
        }
    }

    /// Removes interface `name` (a port goes back to its defaults; an SVI ceases to exist).
    public mutating func removeInterface(_ name: InterfaceID) {
        guard let old = config.interfaces[name] else { return }
        replaceInterface(name, old: old, new: nil)
    }

    private mutating func replaceInterface(_ name: InterfaceID, old: InterfaceConfig?, new: InterfaceConfig?) {
        guard old != new || (old == nil) != (new == nil) else { return }
        if old?.withoutGroups != new?.withoutGroups || (old == nil) != (new == nil) { change.insert(.interface(name)) }
        let oldGroups = old?.vrrp ?? [:]
        let newGroups = new?.vrrp ?? [:]
        for vrid in Set(oldGroups.keys).union(newGroups.keys) where oldGroups[vrid] != newGroups[vrid] {
            change.insert(.vrrpGroup(name, vrid))
        }
        config.interfaces[name] = new
        config.index.interfaceChanged(name, from: old, to: new)
    }

    // MARK: VLANs and the MAC table

    public mutating func setVLAN(_ vlan: UInt16, _ value: VLANConfig?) {
        set(\.vlans[vlan], value, .vlan(vlan))
    }

    public mutating func setStaticMAC(_ key: StaticMAC, interface: InterfaceID?) {
        set(\.staticMACs[key], interface, .staticMAC(key))
    }

    public mutating func setMACAgingTime(_ seconds: Int?) {
        set(\.macAgingTime, seconds, .macAgingTime)
    }

    public mutating func setExecTimeout(_ seconds: Int?) {
        set(\.execTimeout, seconds, .execTimeout)
    }

    public mutating func setLearnLimitSystem(_ limit: Int?) {
        set(\.learnLimitSystem, limit, .learnLimitSystem)
    }

    public mutating func setLearnLimit(vlan: UInt16, _ limit: Int?) {
        set(\.learnLimitPerVLAN[vlan], limit, .learnLimitVLAN(vlan))
    }

    public mutating func setLearnLimit(interface name: InterfaceID, _ limit: Int?) {
        set(\.learnLimitPerInterface[name], limit, .learnLimitInterface(name))
    }

    // MARK: NAT

    /// Changes access list `acl` (nil: it does not exist; an emptied list ceases to exist).
    public mutating func editAccessList(_ acl: Int, _ body: (inout AccessList?) -> Void) {
        let old = config.nat.accessLists[acl]
        var list = old
        body(&list)
        if list?.isEmpty == true { list = nil }
        guard list != old || (list == nil) != (old == nil) else { return }
        config.nat.accessLists[acl] = list
        change.insert(.accessList(acl))
    }

    public mutating func setPool(_ name: String, _ pool: NATPool?) {
        set(\.nat.pools[name], pool, .natPool(name))
    }

    public mutating func setRule(_ acl: Int, _ rule: DynamicRule?) {
        set(\.nat.rules[acl], rule, .natRule(acl))
    }

    /// Adds a static mapping (replacing one with the same identity).
    public mutating func insertStatic(_ mapping: StaticMapping) {
        guard config.nat.statics[mapping.identity] != mapping else { return }
        config.nat.statics.insert(mapping)
        change.insert(.natStatic(mapping.identity))
    }

    public mutating func removeStatic(_ identity: StaticMapping.Identity) {
        guard config.nat.statics.remove(identity) != nil else { return }
        change.insert(.natStatic(identity))
    }

    public mutating func editTimeouts(_ body: (inout NATTimeouts) -> Void) {
        var timeouts = config.nat.timeouts
        body(&timeouts)
        guard timeouts != config.nat.timeouts else { return }
        config.nat.timeouts = timeouts
        change.insert(.natTimeouts)
    }

    public mutating func setMaxEntries(_ limit: Int?) {
        set(\.nat.maxEntries, limit, .natMaxEntries)
    }

    // MARK: Control-plane policing

    /// Sets a CPU policer (nil, or its default: back to the default, not printed).
    public mutating func setCPUPolicer(_ cpuClass: CPUClass, _ rate: PolicerRate?) {
        let stored = rate == PolicerRate.defaultRate(cpuClass) ? nil : rate
        guard config.cpuPolicers[cpuClass] != stored else { return }
        config.cpuPolicers[cpuClass] = stored
        change.insert(.cpuPolicer(cpuClass))
    }

    // MARK: Routes

    public mutating func setRoute(_ prefix: IPv4Prefix, nextHop: IPv4Address?) {
        guard config.staticRoutes[prefix] != nextHop else { return }
        config.staticRoutes[prefix] = nextHop
        config.index.routeChanged(prefix, to: nextHop)
        change.insert(.staticRoute(prefix))
    }
}

extension InterfaceConfig {
    /// The interface without its VRRP groups (what `ConfigKey.interface` covers).
    var withoutGroups: InterfaceConfig {
        var copy = self
        copy.vrrp = [:]
        return copy
    }
}
