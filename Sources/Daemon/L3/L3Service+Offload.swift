import NIOCore
import NetTypes
import SwitchHAL
import Time

/// The chip routes what the CPU has routed once: after the routing path sends a packet to a
/// resolved next hop, the destination goes into the HAL's L3 host table (VLAN, next-hop MAC),
/// and l2x routes that destination's packets from then on, in the data path (docs/hal.md,
/// "L3 host table"). On the NAT's VLANs the chip translates first, with the NAT table, the
/// flows the CPU has set up (SYN, FIN and RST still go to the CPU, which follows TCP).
///
/// Kept exact, change by change: an entry goes when its next hop changes MAC or VLAN or is
/// forgotten (`clear ip arp`, aged out), and every entry goes when the routes, the SVIs or the
/// NAT's configuration change (rare; the next packet to each destination reinstalls it).
/// The state's `offloaded` and `natZones` (`L3State`) are what the chip should hold; a
/// `HALReconciler` (`hostTable`) brings the HAL to them, in batches, one call in flight, with
/// back-off after a failure.
extension L3Service {
    /// What the L3 host table's reconciler keeps: a destination's entry, or an ingress VLAN's
    /// NAT zone.
    enum HostObject: Hashable, Sendable, CustomStringConvertible {
        case host(IPv4Address)
        case natZone(UInt16)

        var description: String {
            switch self {
            case .host(let destination): "host \(destination)"
            case .natZone(let vlan): "NAT zone of VLAN \(vlan)"
            }
        }
    }

    enum HostState: Equatable, Sendable {
        case route(vlan: UInt16, mac: MACAddress)
        case natZone(NATZone)
    }

    /// The state `hostTable` brings `object` to (nil: no entry, no zone).
    static func desiredHostState(_ object: HostObject, in state: L3State) -> HostState? {
        switch object {
        case .host(let destination): state.offloaded[destination].map { .route(vlan: $0.vlan, mac: $0.mac) }
        case .natZone(let vlan): state.natZones[vlan].map { .natZone($0) }
        }
    }

    /// One HAL call carries every change queued: the zones first (no entry routes a NAT VLAN's
    /// packet untranslated in between), then the deletions, then the additions. A step that
    /// fails fails its changes (a timeout leaves them unknown) and skips the steps after it.
    static var hostTableDriver: HALDriver<HostObject, HostState> {
        HALDriver(
            operation: "l3-host",
            // (The table takes no transactions: a group is only ever what `applyEach` is given.)
            applyGroup: { hal, deadline, changes in
                applyHostChanges(hal, deadline, changes).first { $0.error != nil } ?? .applied
            },
            applyEach: { hal, deadline, changes in applyHostChanges(hal, deadline, changes) })
    }

    static func applyHostChanges(_ hal: Switch, _ deadline: Instant, _ changes: [HALChange<HostObject, HostState>]) -> [HALGroupResult] {
        var zones: [UInt16: NATZone?] = [:]
        var deletes: [IPv4Address] = []
        var adds: [L3Host] = []
        // Each change's step: 0 zones, 1 deletions, 2 additions.
        let steps = changes.map { change -> Int in
            switch (change.object, change.target) {
            case (.natZone(let vlan), .natZone(let zone)?):
                zones[vlan] = .some(zone)
            case (.natZone(let vlan), _):
                zones[vlan] = .some(nil)
            case (.host(let destination), .route(let vlan, let mac)?):
                adds.append(L3Host(destination: destination, vlan: vlan, nextHopMAC: mac))
                return 2
            case (.host(let destination), _):
                deletes.append(destination)
                return 1
            }
            return 0
        }
        var step = 0
        var failed: HALError?
        do {
            if !zones.isEmpty { try hal.l3SetNATZones(zones, deadline: deadline) }
            step = 1
            if !deletes.isEmpty { _ = try hal.l3HostDelete(deletes, deadline: deadline) }
            step = 2
            if !adds.isEmpty { _ = try hal.l3HostAdd(adds, deadline: deadline) }
        } catch {
            failed = (error as? HALError) ?? .internal("\(error)")
        }
        guard let failed else { return changes.map { _ in .applied } }
        return steps.map {
            if $0 < step { return .applied }
            if $0 > step { return .skipped(failed) }
            if case .timeout = failed { return .unknown(failed) }
            return .refused(failed)
        }
    }

    /// Every destination routed through `hop` goes back to the CPU (its MAC or VLAN changed,
    /// or it is forgotten).
    func withdrawOffloads(via hop: IPv4Address) {
        guard let destinations = state.value.withdrawOffloads(via: hop) else { return }
        hostTable.changed(destinations.lazy.map { .host($0) })
    }

    /// Every destination goes back to the CPU (routes, SVIs or the NAT changed).
    func withdrawAllOffloads() {
        guard let destinations = state.value.withdrawAllOffloads() else { return }
        hostTable.changed(destinations.lazy.map { .host($0) })
    }
}
