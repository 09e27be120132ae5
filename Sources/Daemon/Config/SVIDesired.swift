import HashTreeCollections
import NAT
import NetTypes
import SwitchHAL
import VRRP

/// What the running configuration asks of VRRP and of the router's answers on the SVIs: every
/// virtual router, the SVIs' own addresses, the NAT global addresses that follow each Master,
/// the NAT addresses answered with the router MAC, and the ports' VLAN membership.
///
/// Kept change by change (`update`): a configuration key costs the work of what it covers (one
/// group's two routers, one SVI's groups, one static mapping), never a pass over the whole
/// configuration. A persistent value, handed whole to the VRRP thread with the keys that moved.
/// `init(rebuilding:)` derives it from scratch: the oracle the randomized tests hold `update` to.
struct SVIDesired: Equatable, Sendable {
    typealias Key = VRRPEngine.Key

    var specs: TreeDictionary<Key, VRRPSpec> = [:]
    /// The SVIs' own IPv4 addresses (answered with the router MAC), for SVIs that are up, and
    /// each address with the number of SVIs that have it.
    private(set) var sviAddresses: TreeDictionary<UInt16, [IPv4Address]> = [:]
    private(set) var sviAddressSet: TreeDictionary<IPv4Address, Int> = [:]
    /// The NAT global addresses that follow each IPv4 router (static mappings with redundancy),
    /// with the number of mappings that have each.
    var natGlobals: TreeDictionary<Key, TreeDictionary<IPv4Address, Int>> = [:]
    var natProxy = NATProxy()
    /// The ports' VLAN membership and admin state: a change can bring an SVI up or down
    /// (autostate) without any link event, so it must reach the VRRP thread too.
    var ports: TreeDictionary<InterfaceID, PortMembership> = [:]

    /// Which router a static mapping with redundancy follows now, with its global address
    /// (bookkeeping for `update`).
    private var follows: TreeDictionary<StaticMapping.Identity, Follow> = [:]

    private struct Follow: Sendable {
        var router: Key
        var address: IPv4Address
    }
    /// The groups each SVI has routers for.
    private var groupsOf: TreeDictionary<InterfaceID, TreeSet<VRID>> = [:]

    struct PortMembership: Equatable, Sendable {
        var switchport: SwitchportConfig
        var shutdown: Bool
    }

    /// What moved in one update: the VRRP thread redoes these and nothing else.
    struct Delta: Sendable {
        var routers = Set<Key>()
        var ports = Set<InterfaceID>()
        var natGlobals = Set<Key>()
        var isEmpty: Bool { routers.isEmpty && ports.isEmpty && natGlobals.isEmpty }
        mutating func formUnion(_ other: Delta) {
            routers.formUnion(other.routers)
            ports.formUnion(other.ports)
            natGlobals.formUnion(other.natGlobals)
        }
    }

    init() {}

    static func == (a: SVIDesired, b: SVIDesired) -> Bool {
        a.specs == b.specs && a.sviAddresses == b.sviAddresses && a.natGlobals == b.natGlobals && a.natProxy == b.natProxy
            && a.ports == b.ports
    }

    // MARK: Change by change

    /// Brings the model in line with `config` for the keys of `change`; returns what moved.
    mutating func update(_ change: ConfigChange, _ config: RunningConfig, routerMAC: MACAddress) -> Delta {
        var delta = Delta()
        var groups = Set<GroupID>()
        var vrids = Set<VRID>()
        var statics = Set<StaticMapping.Identity>()
        var poolsChanged = false
        for key in change.keys {
            switch key {
            case .interface(let name):
                switch name {
                case .svi(let vlan):
                    for vrid in groupIDs(of: name, in: config) {
                        groups.insert(GroupID(interface: name, vrid: vrid))
                        vrids.insert(vrid)
                    }
                    let interface = config.interfaces[name]
                    let own = interface.flatMap { !$0.addresses.isEmpty && !$0.shutdown ? $0.addresses.map(\.address) : nil }
                    if sviAddresses[vlan] != own { setSVIAddresses(vlan, own) }
                    let outside = interface.map { $0.natRole == .outside && !$0.shutdown } ?? false
                    if outside { natProxy.outsideVLANs.insert(vlan) } else { natProxy.outsideVLANs.remove(vlan) }
                case .port:
                    let membership = config.interfaces[name].map { PortMembership(switchport: $0.switchport, shutdown: $0.shutdown) }
                    if ports[name] != membership {
                        ports[name] = membership
                        delta.ports.insert(name)
                    }
                }
            case .vrrpGroup(let name, let vrid):
                groups.insert(GroupID(interface: name, vrid: vrid))
                vrids.insert(vrid)
            case .vlan(let vlan):
                for vrid in groupIDs(of: .svi(vlan), in: config) { groups.insert(GroupID(interface: .svi(vlan), vrid: vrid)) }
            case .natStatic(let identity):
                statics.insert(identity)
            case .natRule, .natPool:
                poolsChanged = true
            default:
                break
            }
        }
        for group in groups { rederive(group, config, routerMAC: routerMAC, into: &delta) }
        // Mappings whose group may resolve differently now, and the mappings that changed.
        for vrid in vrids {
            for mapping in config.nat.statics.following(vrid: vrid) { statics.insert(mapping.identity) }
        }
        for identity in statics { refollow(identity, config, into: &delta) }
        if poolsChanged { natProxy.pools = NATProxy.pools(of: config.nat) }
        return delta
    }

    private mutating func setSVIAddresses(_ vlan: UInt16, _ addresses: [IPv4Address]?) {
        for address in sviAddresses[vlan] ?? [] {
            sviAddressSet[address, default: 0] -= 1
            if sviAddressSet[address]! <= 0 { sviAddressSet[address] = nil }
        }
        sviAddresses[vlan] = addresses
        for address in addresses ?? [] { sviAddressSet[address, default: 0] += 1 }
    }

    private struct GroupID: Hashable {
        var interface: InterfaceID
        var vrid: VRID
    }

    /// The groups of `name` there are routers for and those in `config`.
    private func groupIDs(of name: InterfaceID, in config: RunningConfig) -> Set<VRID> {
        Set(groupsOf[name] ?? []).union(config.interfaces[name]?.vrrp.keys ?? [:].keys)
    }

    private mutating func rederive(_ group: GroupID, _ config: RunningConfig, routerMAC: MACAddress, into delta: inout Delta) {
        let specsNow = VRRPSpec.derive(group.interface, vrid: group.vrid, in: config, routerMAC: routerMAC)
        for ipv6 in [false, true] {
            let key = Key(interface: group.interface, vrid: group.vrid, ipv6: ipv6)
            let spec = specsNow.first { $0.key == key }
            if specs[key] != spec {
                specs[key] = spec
                delta.routers.insert(key)
            }
        }
        if !specsNow.isEmpty {
            groupsOf[group.interface, default: []].insert(group.vrid)
        } else if groupsOf[group.interface]?.remove(group.vrid) != nil, groupsOf[group.interface]?.isEmpty == true {
            groupsOf[group.interface] = nil
        }
    }

    /// Moves one static mapping's global address to the router it follows now (or none).
    private mutating func refollow(_ identity: StaticMapping.Identity, _ config: RunningConfig, into delta: inout Delta) {
        let mapping = config.nat.statics[identity]
        // Answered with the router MAC: inside mappings without redundancy (what NATProxy counts).
        let proxied = mapping.map { $0.direction == .inside && $0.redundancy == nil } ?? false
        let wasProxied = natProxy.statics[identity] != nil
        if proxied != wasProxied || (proxied && natProxy.statics[identity] != mapping?.global.address) {
            natProxy.setStatic(identity, proxied ? mapping?.global.address : nil)
        }
        var target: Follow?
        if let mapping, mapping.direction == .inside, let redundancy = mapping.redundancy,
            let interface = config.groupInterface(for: redundancy)
        {
            target = Follow(router: Key(interface: interface, vrid: redundancy.vrid, ipv6: false), address: mapping.global.address)
        }
        let old = follows[identity]
        guard old?.router != target?.router || old?.address != target?.address else { return }
        if let old {
            Self.count(&natGlobals, old.router, old.address, -1)
            delta.natGlobals.insert(old.router)
        }
        follows[identity] = target
        if let target {
            Self.count(&natGlobals, target.router, target.address, 1)
            delta.natGlobals.insert(target.router)
        }
    }

    private static func count(_ table: inout TreeDictionary<Key, TreeDictionary<IPv4Address, Int>>, _ key: Key, _ address: IPv4Address, _ delta: Int) {
        table[key, default: [:]][address, default: 0] += delta
        if table[key]![address]! <= 0 { table[key]![address] = nil }
        if table[key]!.isEmpty { table[key] = nil }
    }

    // MARK: From scratch (the oracle)

    /// Everything `config` asks for, derived directly from the whole configuration.
    init(rebuilding config: RunningConfig, routerMAC: MACAddress) {
        for (name, interface) in config.interfaces {
            switch name {
            case .svi(let vlan):
                for vrid in interface.vrrp.keys {
                    for spec in VRRPSpec.derive(name, vrid: vrid, in: config, routerMAC: routerMAC) {
                        specs[spec.key] = spec
                    }
                }
                if !interface.addresses.isEmpty && !interface.shutdown { setSVIAddresses(vlan, interface.addresses.map(\.address)) }
                if interface.natRole == .outside && !interface.shutdown { natProxy.outsideVLANs.insert(vlan) }
            case .port:
                ports[name] = PortMembership(switchport: interface.switchport, shutdown: interface.shutdown)
            }
        }
        for mapping in config.nat.statics where mapping.direction == .inside {
            guard let redundancy = mapping.redundancy else {
                natProxy.setStatic(mapping.identity, mapping.global.address)
                continue
            }
            // The SVIs with an IPv4 group of this VRID, resolved by scanning the configuration.
            let vrid = redundancy.vrid
            let holders = config.interfaces.filter { $0.value.vrrp[vrid]?.ipv4.isEmpty == false }.map(\.key)
            let outside = holders.filter { config.interfaces[$0]?.natRole == .outside }
            guard let interface = redundancy.resolve(holders: holders, outsideHolders: outside) else { continue }
            Self.count(&natGlobals, Key(interface: interface, vrid: vrid, ipv6: false), mapping.global.address, 1)
        }
        natProxy.pools = NATProxy.pools(of: config.nat)
    }
}

/// The NAT addresses an outside SVI answers ARP for with the router MAC: the global addresses of
/// static mappings without redundancy and the pools of the dynamic rules.
struct NATProxy: Equatable, Sendable {
    /// Static mappings' global addresses, by mapping (counted per address in `addresses`).
    private(set) var statics: TreeDictionary<StaticMapping.Identity, IPv4Address> = [:]
    private(set) var addresses: TreeDictionary<IPv4Address, Int> = [:]
    /// The pools some rule translates to.
    var pools: [ClosedRange<UInt32>] = []
    /// The NAT outside SVIs that are not shut down.
    var outsideVLANs: TreeSet<UInt16> = []

    func answers(_ address: IPv4Address, vlan: UInt16) -> Bool {
        guard outsideVLANs.contains(vlan) else { return false }
        return addresses[address] != nil || pools.contains { $0.contains(address.value) }
    }

    mutating func setStatic(_ identity: StaticMapping.Identity, _ address: IPv4Address?) {
        if let old = statics[identity] {
            let n = (addresses[old] ?? 0) - 1
            addresses[old] = n > 0 ? n : nil
        }
        statics[identity] = address
        if let address { addresses[address, default: 0] += 1 }
    }

    static func pools(of nat: NATConfig) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for acl in nat.rules.keys.sorted() {
            if case .pool(let name) = nat.rules[acl]!.target, let pool = nat.pools[name] {
                let range = pool.start.value...pool.end.value
                if !out.contains(range) { out.append(range) }
            }
        }
        return out
    }

    static func == (a: NATProxy, b: NATProxy) -> Bool {
        a.addresses == b.addresses && Set(a.pools) == Set(b.pools) && a.outsideVLANs == b.outsideVLANs
    }
}
