import NIOCore
import NetTypes
import SwitchHAL

/// The chip routes what the CPU has routed once: after the routing path sends a packet to a
/// resolved next hop, the destination goes into the HAL's L3 host table (VLAN, next-hop MAC),
/// and l2x routes that destination's packets from then on, in the data path (docs/hal.md,
/// "L3 host table"). On the NAT's VLANs the chip translates first, with the NAT table, the
/// flows the CPU has set up (SYN, FIN and RST still go to the CPU, which follows TCP).
///
/// Kept exact, change by change: an entry goes when its next hop changes MAC or VLAN or is
/// forgotten (`clear ip arp`, aged out), and every entry goes when the routes, the SVIs or the
/// NAT's configuration change (rare; the next packet to each destination reinstalls it).
/// Changes are sent to the HAL in batches, one call in flight.
extension L3Service {
    struct Offloaded: Sendable, Equatable {
        var hop: IPv4Address
        var vlan: UInt16
        var mac: MACAddress
    }

    /// The packet to `destination` just left for `hop` (`mac`, in `vlan`): the chip takes over.
    func offload(_ destination: IPv4Address, hop: IPv4Address, vlan: UInt16, mac: MACAddress) {
        let entry = Offloaded(hop: hop, vlan: vlan, mac: mac)
        if offloaded[destination] == entry { return }
        if let old = offloaded[destination], old.hop != hop { offloadedVia[old.hop]?.remove(destination) }
        guard offloaded[destination] != nil || offloaded.count < hal.hal.chip.l3HostEntries else { return }
        offloaded[destination] = entry
        offloadedVia[hop, default: []].insert(destination)
        pendingHosts[destination] = L3Host(destination: destination, vlan: vlan, nextHopMAC: mac)
        flushHostTable()
    }

    /// Every destination routed through `hop` goes back to the CPU (its MAC or VLAN changed,
    /// or it is forgotten).
    func withdrawOffloads(via hop: IPv4Address) {
        guard let destinations = offloadedVia.removeValue(forKey: hop) else { return }
        for destination in destinations {
            offloaded[destination] = nil
            pendingHosts[destination] = .some(nil)
        }
        flushHostTable()
    }

    /// Every destination goes back to the CPU (routes, SVIs or the NAT changed).
    func withdrawAllOffloads() {
        guard !offloaded.isEmpty || !pendingHosts.isEmpty else { return }
        offloaded = [:]
        offloadedVia = [:]
        pendingHosts = [:]
        pendingHostClear = true
        flushHostTable()
    }

    /// The SVI `name` changed: the chip is told its VLAN's NAT zone if that moved (sent with
    /// the next `flushHostTable`).
    func noteNATZone(of name: String) {
        guard case .svi(let vlan) = InterfaceKind.parse(name, portCount: 0) else { return }
        let zone = environment.roles[name]
        guard natZones[vlan] != zone else { return }
        pendingZones[vlan] = .some(zone)
        natZones[vlan] = zone
    }

    /// Sends what changed since the last call, if none is in flight (the next goes when it
    /// comes back). A call that fails leaves the chip unknown: everything is cleared next time.
    func flushHostTable() {
        guard !hostFlushInFlight, pendingHostClear || !pendingHosts.isEmpty || !pendingZones.isEmpty else { return }
        let clear = pendingHostClear
        let changes = pendingHosts
        let zones = pendingZones
        pendingHostClear = false
        pendingHosts = [:]
        pendingZones = [:]
        hostFlushInFlight = true
        // Zones first: no entry routes a NAT VLAN's packet untranslated in between.
        hal.call("l3-host", on: loop) { hal, deadline -> Int in
            if !zones.isEmpty { try hal.l3SetNATZones(zones, deadline: deadline) }
            if clear { try hal.l3HostClear(deadline: deadline) }
            let deletes = changes.compactMap { $0.value == nil ? $0.key : nil }
            if !deletes.isEmpty { try hal.l3HostDelete(deletes, deadline: deadline) }
            let adds = changes.values.compactMap { $0 }
            return adds.isEmpty ? 0 : try hal.l3HostAdd(adds, deadline: deadline)
        }.assumeIsolated().whenComplete { [self] result in
            hostFlushInFlight = false
            if case .failure(let error) = result {
                logger.warning("L3 host table update failed (\(error)); the routed path stays on the CPU until it is redone")
                offloaded = [:]
                offloadedVia = [:]
                pendingHostClear = true
                for (vlan, zone) in zones where pendingZones[vlan] == nil { pendingZones[vlan] = zone }
            }
            flushHostTable()
        }
    }
}
