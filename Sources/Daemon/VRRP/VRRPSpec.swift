import NetTypes
import Packets
import SwitchHAL
import VRRP

/// One virtual router as the running configuration asks for it: what the protocol core needs,
/// plus where it lives (the VLAN) and what it tracks. Derived from `vrrp N ...` lines; every
/// group has an IPv4 and an IPv6 virtual router (as in FRR), and one that cannot run says why.
struct VRRPSpec: Equatable, Sendable {
    var key: VRRPEngine.Key
    var config: VirtualRouterConfig
    var interface: InterfaceAddresses
    /// Tracked ports and what each being down subtracts from the priority.
    var tracks: [PortID: Int]
    var description: String?
    var shutdown: Bool
    var preemptDelaySeconds: Int?
    /// Why the configuration alone keeps it in Initialize (nil: it can run).
    var blocked: String?

    /// Its VLAN: a spec is derived only for an SVI, whose VLAN its key names.
    var vlan: UInt16 {
        guard case .svi(let vlan) = key.interface else { preconditionFailure("a VRRP spec for \(key.interface), not an SVI") }
        return vlan
    }

    /// The two virtual routers (IPv4, IPv6) of group `vrid` of SVI `name` in `config` (none if
    /// the group or the SVI is not configured).
    static func derive(_ name: InterfaceID, vrid: VRID, in config: RunningConfig, routerMAC: MACAddress) -> [VRRPSpec] {
        guard let interface = config.interfaces[name], let group = interface.vrrp[vrid], case .svi(let vlan) = name else { return [] }
        let linkLocal = IPv6Address.linkLocal(for: routerMAC)
        let addresses = InterfaceAddresses(
            primaryIPv4: interface.addresses.first?.address, linkLocalIPv6: linkLocal,
            ownIPv4: interface.addresses.map(\.address), ownIPv6: [linkLocal])
        var tracks: [PortID: Int] = [:]
        for case (.port(let port), let decrement) in group.tracks { tracks[port] = decrement }
        return [false, true].map { ipv6 in
            let key = VRRPEngine.Key(interface: name, vrid: vrid, ipv6: ipv6)
            var routerConfig = VirtualRouterConfig(vrid: vrid.rawValue, addresses: ipv6 ? .ipv6(group.ipv6) : .ipv4(group.ipv4))
            routerConfig.version = group.version
            routerConfig.priority = group.priority
            routerConfig.advertisementInterval = group.advertisementIntervalMs / 10
            routerConfig.preempt = group.preempt
            routerConfig.preemptDelay = group.preemptDelaySeconds ?? 0
            routerConfig.acceptMode = group.acceptMode
            routerConfig.checksumWithPseudoHeader = group.checksumWithPseudoHeader
            routerConfig.acceptEitherChecksum = group.checksumLenient
            routerConfig.answerLowerPriority = group.answerLowerPriority
            var blocked: String?
            if group.shutdown {
                blocked = "administratively shut down"
            } else if interface.shutdown {
                blocked = "\(name) is shut down"
            } else if vlan != 1 && config.vlans[vlan] == nil {
                blocked = "VLAN \(vlan) does not exist"
            } else if ipv6 ? group.ipv6.isEmpty : group.ipv4.isEmpty {
                blocked = "no IPv\(ipv6 ? 6 : 4) virtual address configured"
            } else if !ipv6 && addresses.primaryIPv4 == nil {
                blocked = "\(name) has no IPv4 address to send advertisements from"
            }
            return VRRPSpec(
                key: key, config: routerConfig, interface: addresses, tracks: tracks,
                description: group.description, shutdown: group.shutdown, preemptDelaySeconds: group.preemptDelaySeconds,
                blocked: blocked)
        }
    }
}
