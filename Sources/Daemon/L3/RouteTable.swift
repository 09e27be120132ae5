import NetTypes

/// The routing table of the router's data path: connected subnets (the SVIs that are up) and
/// static routes, longest prefix first, kept change by change.
///
/// A lookup costs at most 33 hash probes (one per prefix length) whatever the number of SVIs and
/// routes; a change of one SVI or one route costs that one entry.
struct RouteTable: Sendable {
    /// Where a packet to a destination leaves, and the next hop to send it to.
    struct Hop: Equatable, Sendable {
        /// The SVI's VLAN.
        var vlan: UInt16
        var interface: InterfaceID { .svi(vlan) }
        /// The SVI's prefix the next hop is on (its address is the source of an ARP request).
        var prefix: IPv4Prefix
        var nextHop: IPv4Address
    }

    private struct Connected: Sendable {
        var vlan: UInt16
        var prefix: IPv4Prefix
    }

    /// Per prefix length, network -> connected subnets on it (several SVIs may share one; the
    /// first in VLAN order wins).
    private var connected = [[UInt32: [Connected]]](repeating: [:], count: 33)
    /// Per prefix length, network -> next hop.
    private var statics = [[UInt32: IPv4Address]](repeating: [:], count: 33)
    /// What each SVI contributes (to take it out again), by VLAN.
    private var prefixesOf: [UInt16: [IPv4Prefix]] = [:]

    /// Replaces the connected subnets of the SVI of `vlan` (nil or empty: it has none, or is down).
    mutating func setConnected(_ vlan: UInt16, _ prefixes: [IPv4Prefix]?) {
        for prefix in prefixesOf[vlan] ?? [] {
            let network = prefix.network.value
            connected[prefix.length][network]?.removeAll { $0.vlan == vlan }
            if connected[prefix.length][network]?.isEmpty == true { connected[prefix.length][network] = nil }
        }
        prefixesOf[vlan] = prefixes?.isEmpty == false ? prefixes : nil
        guard let prefixes else { return }
        for prefix in prefixes {
            let entry = Connected(vlan: vlan, prefix: prefix)
            connected[prefix.length][prefix.network.value, default: []].append(entry)
            connected[prefix.length][prefix.network.value]!.sort { $0.vlan < $1.vlan }
        }
    }

    mutating func setStatic(_ prefix: IPv4Prefix, nextHop: IPv4Address?) {
        statics[prefix.length][prefix.network.value] = nextHop
    }

    /// The SVI whose subnet holds `address` (the longest match).
    private func connectedRoute(to address: IPv4Address) -> Connected? {
        for length in stride(from: 32, through: 0, by: -1) {
            let network = length == 0 ? 0 : address.value & (~UInt32(0) << (32 - UInt32(length)))
            if let first = connected[length][network]?.first { return first }
        }
        return nil
    }

    /// Where a packet to `destination` leaves: the longest matching prefix, connected or static
    /// (connected wins a tie); a static route's next hop must itself be on a connected subnet,
    /// and one that is not does not hide a shorter one.
    func lookup(_ destination: IPv4Address) -> Hop? {
        let direct = connectedRoute(to: destination)
        for length in stride(from: 32, to: direct.map { $0.prefix.length } ?? -1, by: -1) {
            let network = length == 0 ? 0 : destination.value & (~UInt32(0) << (32 - UInt32(length)))
            guard let hop = statics[length][network], let egress = connectedRoute(to: hop) else { continue }
            return Hop(vlan: egress.vlan, prefix: egress.prefix, nextHop: hop)
        }
        return direct.map { Hop(vlan: $0.vlan, prefix: $0.prefix, nextHop: destination) }
    }

    /// Whether `address` is on a connected subnet of `vlan` (a neighbour may be learnt there).
    func isOnSubnet(_ address: IPv4Address, vlan: UInt16) -> Bool {
        for prefix in prefixesOf[vlan] ?? [] where prefix.contains(address) { return true }
        return false
    }
}
