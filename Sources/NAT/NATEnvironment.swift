import HashTreeCollections
import NetTypes

/// What the engine needs to know of the rest of the switch: interface roles and addresses, the
/// VRRP groups and which of them this switch is Master of, static routes.
///
/// A persistent value kept up to date change by change (the daemon edits it as the running
/// configuration changes, never rebuilds it): every question the per-packet path asks of it
/// (`has`, `resolve`, `address(of:)`) costs O(1) or O(log n), whatever the number of SVIs.
public struct NATEnvironment: Equatable, Sendable {
    /// `ip nat inside|outside` per interface.
    public private(set) var roles: TreeDictionary<InterfaceID, NATZone> = [:]
    private var insideCount = 0
    private var outsideCount = 0
    /// The VRRP groups (IPv4) this switch is Master of.
    public var masterGroups = TreeSet<GroupRef>()
    /// Which interfaces have an IPv4 VRRP group of each VRID, and which of those are NAT
    /// outside interfaces (what `redundancy vrrp N` resolves among).
    public private(set) var groupHolders: TreeDictionary<VRID, TreeSet<InterfaceID>> = [:]
    private var outsideHolders: TreeDictionary<VRID, TreeSet<InterfaceID>> = [:]
    /// Every SVI's addresses with their prefixes (the connected routes, for routing real frames);
    /// the first is the primary (what `interface IF overload` uses). SVIs that are shut down or
    /// have no address are absent.
    public var subnets: TreeDictionary<InterfaceID, [IPv4Prefix]> = [:]
    /// Static routes: prefix -> next hop.
    public var staticRoutes: TreeDictionary<IPv4Prefix, IPv4Address> = [:]
    /// The VRRP groups' IPv4 virtual addresses, each with the number of groups that have it: a
    /// routed packet still addressed to one of them after NAT is for the router.
    public private(set) var virtualAddresses: TreeDictionary<IPv4Address, Int> = [:]

    public init() {}

    // MARK: Questions

    public func address(of interface: InterfaceID) -> IPv4Address? { subnets[interface]?.first?.address }

    /// The interfaces with `role`, sorted by name (for `show`, not the per-packet path).
    public func interfaces(_ role: NATZone) -> [InterfaceID] {
        roles.filter { $0.value == role }.map(\.key).sortedByName()
    }

    /// Whether any interface has `role`.
    public func has(_ role: NATZone) -> Bool { role == .inside ? insideCount > 0 : outsideCount > 0 }

    /// The SVIs with an IPv4 group `vrid`, sorted by name.
    public func holders(of vrid: VRID) -> [InterfaceID] { (groupHolders[vrid] ?? []).sortedByName() }

    /// The group a mapping with `redundancy` follows (nil: none, or ambiguous).
    public func resolve(_ redundancy: StaticMapping.Redundancy) -> GroupRef? {
        let holders = groupHolders[redundancy.vrid] ?? []
        guard let interface = redundancy.resolve(holders: holders, outsideHolders: outsideHolders[redundancy.vrid] ?? []) else { return nil }
        return GroupRef(interface: interface, vrid: redundancy.vrid)
    }

    public func isVirtualAddress(_ address: IPv4Address) -> Bool { virtualAddresses[address] != nil }

    // MARK: Changes

    /// Sets (nil: clears) the NAT role of `interface`.
    public mutating func setRole(_ role: NATZone?, of interface: InterfaceID) {
        let old = roles[interface]
        guard old != role else { return }
        if let old { adjustCount(old, -1) }
        if let role { adjustCount(role, 1) }
        roles[interface] = role
        // The groups this interface holds resolve differently when it turns outside or not.
        for (vrid, holders) in groupHolders where holders.contains(interface) {
            Self.set(&outsideHolders, vrid, interface, present: role == .outside)
        }
    }

    /// Records whether `interface` has an IPv4 VRRP group `vrid`.
    public mutating func setGroup(_ vrid: VRID, on interface: InterfaceID, present: Bool) {
        Self.set(&groupHolders, vrid, interface, present: present)
        Self.set(&outsideHolders, vrid, interface, present: present && roles[interface] == .outside)
    }

    /// Counts one more (or one fewer) group with `address` among its virtual addresses.
    public mutating func countVirtualAddress(_ address: IPv4Address, _ delta: Int) {
        virtualAddresses[address, default: 0] += delta
        if virtualAddresses[address]! <= 0 { virtualAddresses[address] = nil }
    }

    private mutating func adjustCount(_ role: NATZone, _ delta: Int) {
        if role == .inside { insideCount += delta } else { outsideCount += delta }
    }

    /// In place (the set is not copied out and back: it may hold thousands of SVIs).
    private static func set(_ index: inout TreeDictionary<VRID, TreeSet<InterfaceID>>, _ vrid: VRID, _ interface: InterfaceID, present: Bool) {
        if present {
            index[vrid, default: []].insert(interface)
        } else if index[vrid]?.remove(interface) != nil, index[vrid]?.isEmpty == true {
            index[vrid] = nil
        }
    }
}

public struct GroupRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var interface: InterfaceID
    public var vrid: VRID

    public init(interface: InterfaceID, vrid: VRID) {
        self.interface = interface
        self.vrid = vrid
    }

    public var description: String { "\(interface) VRRP \(vrid)" }
    public static func < (a: GroupRef, b: GroupRef) -> Bool { (a.interface, a.vrid) < (b.interface, b.vrid) }
}
