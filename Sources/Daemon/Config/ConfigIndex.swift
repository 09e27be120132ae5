import HashTreeCollections
import NAT
import NetTypes

/// Indexes over the running configuration, kept up to date by its edits (never rebuilt): the
/// questions commands ask while checking a line ("is this address one of ours?", "is the next hop
/// on a connected subnet?") and what NAT and routing need of the interfaces cost O(log n) however
/// big the configuration is.
///
/// Part of the `RunningConfig` value, so a candidate being built or a pending change carries
/// indexes that agree with it. `init(rebuilding:)` derives them from scratch (the tests' oracle).
public struct ConfigIndex: Equatable, Sendable {
    /// Every address of every SVI (shut down or not) and the SVIs that have it.
    public private(set) var addressOwners: TreeDictionary<IPv4Address, TreeSet<InterfaceID>> = [:]
    /// The network of every SVI address, with its length, and the SVIs on it.
    public private(set) var networks: TreeDictionary<IPv4Prefix, TreeSet<InterfaceID>> = [:]
    /// Every shorter prefix that holds one of `networks`, with the SVIs whose subnets it holds:
    /// "would 10.10.0.0/23 hold another SVI's subnet?" is one probe (32 entries per subnet).
    public private(set) var holders: TreeDictionary<IPv4Prefix, TreeSet<InterfaceID>> = [:]
    /// What NAT and the routing path see: roles, the subnets of SVIs that are up, the holders of
    /// each VRRP group, the virtual addresses, the static routes.
    public private(set) var environment = NATEnvironment()

    public init() {}

    /// The indexes of `config`, from scratch.
    public init(rebuilding config: RunningConfig) {
        for (name, interface) in config.interfaces { interfaceChanged(name, from: nil, to: interface) }
        for (prefix, hop) in config.staticRoutes { routeChanged(prefix, to: hop) }
    }

    public func isOwnAddress(_ address: IPv4Address) -> Bool { addressOwners[address] != nil }

    /// Whether some SVI address's subnet holds `address`.
    public func isConnected(_ address: IPv4Address) -> Bool {
        for length in 0...32 where networks[IPv4Prefix(address: IPv4Prefix(address: address, length: length).network, length: length)] != nil {
            return true
        }
        return false
    }

    mutating func interfaceChanged(_ name: InterfaceID, from old: InterfaceConfig?, to new: InterfaceConfig?) {
        let oldAddresses = old?.addresses ?? []
        let newAddresses = new?.addresses ?? []
        if oldAddresses != newAddresses {
            for prefix in oldAddresses {
                Self.remove(name, from: &addressOwners, at: prefix.address)
                Self.remove(name, from: &networks, at: Self.networkKey(prefix))
                for length in 0..<prefix.length { Self.remove(name, from: &holders, at: Self.networkKey(IPv4Prefix(address: prefix.address, length: length))) }
            }
            for prefix in newAddresses {
                addressOwners[prefix.address, default: []].insert(name)
                networks[Self.networkKey(prefix), default: []].insert(name)
                for length in 0..<prefix.length { holders[Self.networkKey(IPv4Prefix(address: prefix.address, length: length)), default: []].insert(name) }
            }
        }
        if old?.natRole != new?.natRole { environment.setRole(new?.natRole, of: name) }
        let up = new.map { !$0.shutdown && !$0.addresses.isEmpty } ?? false
        let subnets = up ? newAddresses : nil
        if environment.subnets[name] != subnets { environment.subnets[name] = subnets }
        let oldGroups = old?.vrrp ?? [:]
        let newGroups = new?.vrrp ?? [:]
        for vrid in Set(oldGroups.keys).union(newGroups.keys) where oldGroups[vrid] != newGroups[vrid] {
            let before = oldGroups[vrid]?.ipv4 ?? []
            let after = newGroups[vrid]?.ipv4 ?? []
            guard before != after else { continue }
            for address in before { environment.countVirtualAddress(address, -1) }
            for address in after { environment.countVirtualAddress(address, 1) }
            if before.isEmpty != after.isEmpty { environment.setGroup(vrid, on: name, present: !after.isEmpty) }
        }
    }

    mutating func routeChanged(_ prefix: IPv4Prefix, to hop: IPv4Address?) {
        environment.staticRoutes[prefix] = hop
    }

    static func networkKey(_ prefix: IPv4Prefix) -> IPv4Prefix { IPv4Prefix(address: prefix.network, length: prefix.length) }

    /// In place (the set is not copied out and back).
    private static func remove<K: Hashable>(_ name: InterfaceID, from index: inout TreeDictionary<K, TreeSet<InterfaceID>>, at key: K) {
        guard index[key]?.remove(name) != nil else { return }
        if index[key]?.isEmpty == true { index[key] = nil }
    }
}
