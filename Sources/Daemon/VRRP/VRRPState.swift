import HashTreeCollections
import Logging
import NetTypes
import SwitchHAL
import Time
import VRRP

/// What VRRP reads of the ports: autostate (an SVI is up while some port of its VLAN is up),
/// tracking, and the VLANs a port carries. The driver answers from the HAL's `Switch`; a test
/// answers from a table of its own.
protocol VRRPPortView {
    func vlanHasUpPort(_ vlan: UInt16) -> Bool
    func isOperUp(_ port: PortID) -> Bool
    func memberVLANs(_ port: PortID) -> VLANSet
}

extension Switch: VRRPPortView {}

/// VRRP on the switch without its thread: the protocol core (`VRRPEngine`), what the
/// configuration asks for, and the bookkeeping around them (autostate, tracking, the Masters the
/// observer has heard of, the virtual MACs wanted, the advert frames). Its decisions take the time
/// (`now`, and the wall-clock time `show vrrp` prints for a transition), the frames and what the
/// ports say, and append what to do to an `Effect` buffer the caller carries out and reuses (no
/// allocation per advert). `VRRPService` is the driver: its loop, timer, HAL calls and logger.
///
///     var effects: [VRRPState.Effect] = []
///     let keys = state.configure(desired, delta, into: &effects)
///     state.reconcile(keys, ports: hal, now: clock.now, wall: 0, into: &effects)
///     // send the frames, want the MACs, log the lines, tell the observer; then
///     effects.removeAll(keepingCapacity: true)
struct VRRPState {
    typealias Key = VRRPEngine.Key

    /// What the driver does for the state, in order.
    enum Effect: Equatable {
        /// A frame from the CPU on `vlan` (an advert, a gratuitous ARP, an unsolicited NA).
        case send([UInt8], vlan: UInt16)
        /// A Master's virtual MAC is wanted in the L2 table (true) or no longer (false);
        /// `wantedMACs` already says so.
        case wantMAC(VirtualMAC, Bool)
        case log(Logger.Level, String)
        /// Tell the observer: these routers became Master (or answer for something else now),
        /// those stopped being Master.
        case publishMasters(updated: [Key: MasterInfo], removed: Set<Key>)
    }

    /// What a Master router answers for (the L3 service answers ARP, ping and neighbour
    /// solicitations with it).
    struct MasterInfo: Equatable, Sendable {
        var vlan: UInt16
        var virtualMAC: MACAddress
        /// The owner of its addresses (it answers ping for them whatever accept mode says).
        var isAddressOwner: Bool
        var linkLocal: IPv6Address?
    }

    struct VirtualMAC: Hashable, Sendable, Comparable {
        var mac: MACAddress
        var vlan: UInt16
        static func < (a: VirtualMAC, b: VirtualMAC) -> Bool { (a.vlan, a.mac) < (b.vlan, b.mac) }
    }

    struct PacketCounters: Sendable {
        var vrrpReceived: UInt64 = 0
        var vrrpMalformed: UInt64 = 0
        var gratuitousARPs: UInt64 = 0
        var unsolicitedNAs: UInt64 = 0
    }

    /// The protocol core: every virtual router, with their timers.
    var engine = VRRPEngine()
    /// What the configuration asks for (routers, SVI addresses, NAT addresses), as last told.
    private(set) var desired = SVIDesired()
    var specs: TreeDictionary<Key, VRRPSpec> { desired.specs }
    /// The routers of each VLAN, and those tracking each port (what a port change reaches).
    private var routersByVLAN: [UInt16: Set<Key>] = [:]
    private var routersTracking: [PortID: Set<Key>] = [:]
    /// Why a router whose configuration could run is held in Initialize (no port of its VLAN up).
    private(set) var heldDown: [Key: String] = [:]
    var counters = PacketCounters()
    private(set) var transitionTimes: [Key: Double] = [:]
    /// For a Backup that became Master: how long the Master had been silent (the failover time
    /// as the network saw it).
    private(set) var transitionSilence: [Key: Double] = [:]
    private(set) var statisticsSince: Double
    var debugEvents = false
    var debugPackets = false
    /// The virtual MACs this switch should own (its Master routers).
    private(set) var wantedMACs: Set<VirtualMAC> = []
    /// Each router's last advert as a whole frame: the same bytes go out every interval.
    private var advertFrames: [Key: (advertisement: Advertisement, vlan: UInt16, frame: [UInt8])] = [:]
    /// The Masters as the observer last heard of them.
    private var publishedMasters: [Key: MasterInfo] = [:]
    /// The routers that are Master now (kept by their transitions: never a scan of every router),
    /// and those whose mastership moved since the observer last heard.
    private(set) var masters = Set<Key>()
    private var masterChanges = Set<Key>()

    /// `statisticsSince`: the wall-clock time the counters count from.
    init(statisticsSince: Double) {
        self.statisticsSince = statisticsSince
    }

    // MARK: Configuration

    /// The running configuration changed: the answers (SVI addresses, NAT addresses) take the new
    /// tables, and a Master announces the NAT global addresses that start following it. Returns
    /// the routers to reconcile: those `delta` names, and those a port's membership or admin
    /// state reaches. Costs what `delta` covers.
    mutating func configure(_ desired: SVIDesired, _ delta: SVIDesired.Delta, into effects: inout [Effect]) -> Set<Key> {
        let old = self.desired
        self.desired = desired
        for key in delta.natGlobals.sorted() {
            let before = old.natGlobals[key] ?? [:]
            let added = (desired.natGlobals[key] ?? [:]).keys.filter { before[$0] == nil }
            if !added.isEmpty, let router = engine.routers[key], router.state == .master, let vlan = vlan(of: key) {
                announce(addresses: added.sorted(), mac: router.virtualMAC, vlan: vlan, into: &effects)
            }
        }
        var keys = delta.routers
        for key in delta.routers {
            index(key, old: old.specs[key], new: desired.specs[key])
            if debugEvents, old.specs[key] != desired.specs[key] {
                effects.append(
                    .log(.info, "VRRP \(key): configuration \(old.specs[key] == nil ? "added" : desired.specs[key] == nil ? "removed" : "changed")"))
            }
        }
        // A port's membership or admin state moves autostate of the VLANs it carried and
        // carries, and the tracking of the groups that track it.
        for name in delta.ports {
            guard case .port(let port) = name else { continue }
            var vlans = VLANSet.none
            for membership in [old.ports[name], desired.ports[name]] {
                vlans = vlans.union(membership.map { Self.members($0.switchport) } ?? VLANSet([1]))
            }
            keys.formUnion(routers(inVLANs: vlans))
            keys.formUnion(routersTracking[port] ?? [])
        }
        return keys
    }

    /// The VLANs a port's settings carry.
    static func members(_ switchport: SwitchportConfig) -> VLANSet {
        switchport.mode == .access ? VLANSet([switchport.accessVLAN]) : switchport.allowedVLANs
    }

    /// The routers of `vlans`.
    func routers(inVLANs vlans: VLANSet) -> Set<Key> {
        var out = Set<Key>()
        if vlans.isAll || routersByVLAN.count < 64 {
            for (vlan, keys) in routersByVLAN where vlans.contains(vlan) { out.formUnion(keys) }
        } else {
            for vlan in vlans.members { out.formUnion(routersByVLAN[vlan] ?? []) }
        }
        return out
    }

    /// The routers a port going up or down reaches: autostate of its VLANs, tracking of the
    /// groups that track it.
    func routers(reachedByLinkOf port: PortID, ports: some VRRPPortView) -> Set<Key> {
        var keys = routersTracking[port] ?? []
        keys.formUnion(routers(inVLANs: ports.memberVLANs(port)))
        return keys
    }

    /// Keeps the VLAN and tracking indexes of a router's spec.
    private mutating func index(_ key: Key, old: VRRPSpec?, new: VRRPSpec?) {
        if let old {
            routersByVLAN[old.vlan]?.remove(key)
            if routersByVLAN[old.vlan]?.isEmpty == true { routersByVLAN[old.vlan] = nil }
            for port in old.tracks.keys {
                routersTracking[port]?.remove(key)
                if routersTracking[port]?.isEmpty == true { routersTracking[port] = nil }
            }
        }
        if let new {
            routersByVLAN[new.vlan, default: []].insert(key)
            for port in new.tracks.keys { routersTracking[port, default: []].insert(key) }
        }
    }

    /// Brings the routers `keys` in line with their specs and the ports: which run, with what
    /// settings and tracking. Routers the configuration no longer wants stop (priority 0 if
    /// Master), new ones start, changed ones take their new settings without restarting where
    /// they can.
    mutating func reconcile(_ keys: Set<Key>, ports: some VRRPPortView, now: Instant, wall: Double, into effects: inout [Effect]) {
        guard !keys.isEmpty else { return }
        for key in keys.sorted() {
            // Autostate: an SVI is up while some port of its VLAN is up.
            heldDown[key] = nil
            if let spec = specs[key], spec.blocked == nil, !ports.vlanHasUpPort(spec.vlan) {
                heldDown[key] = "no port of VLAN \(spec.vlan) is up"
            }
            guard let spec = specs[key], spec.blocked == nil, heldDown[key] == nil else {
                stop(key, now: now, wall: wall, into: &effects)
                continue
            }
            if let router = engine.routers[key] {
                // A new version, or becoming (or ceasing to be) the address owner, is a new router.
                let owner = VirtualRouter(config: spec.config, interface: spec.interface).isAddressOwner
                if router.config.version != spec.config.version || router.isAddressOwner != owner {
                    stop(key, now: now, wall: wall, into: &effects)
                } else {
                    if router.config != spec.config || router.interface != spec.interface {
                        // The cached advert frame may carry the old source address (v2 and RFC
                        // 9568 v3 checksums do not cover it, so the message alone would not tell).
                        advertFrames[key] = nil
                        _ = engine.with(key) { router in
                            router.update(config: spec.config, interface: spec.interface)
                            return []
                        }
                        // A Master answers for its new addresses (and accept mode) at once.
                        if masters.contains(key) {
                            masterChanges.insert(key)
                            publishMasters(into: &effects)
                        }
                    }
                    setTracking(key, spec, ports: ports, into: &effects)
                    continue
                }
            }
            let actions = engine.add(key, config: spec.config, interface: spec.interface, start: false, now: now)
            perform(actions.map { (key, $0) }, now: now, wall: wall, into: &effects)
            setTracking(key, spec, ports: ports, into: &effects)
            perform(engine.with(key) { $0.start(now: now) }.map { (key, $0) }, now: now, wall: wall, into: &effects)
        }
    }

    /// The configuration is forgotten and every router stops (a Master sends priority 0, so
    /// Backups take over at once).
    mutating func stopAll(now: Instant, wall: Double, into effects: inout [Effect]) {
        let keys = Set(engine.routers.keys)
        desired = SVIDesired()
        for key in keys.sorted() {
            heldDown[key] = nil
            stop(key, now: now, wall: wall, into: &effects)
        }
    }

    private mutating func stop(_ key: Key, now: Instant, wall: Double, into effects: inout [Effect]) {
        guard let router = engine.routers[key] else { return }
        perform(engine.remove(key, now: now).map { (key, $0) }, removed: router, now: now, wall: wall, into: &effects)
        advertFrames[key] = nil
        // Removed while Master: it no longer is, whatever its last transition said.
        if masters.remove(key) != nil {
            masterChanges.insert(key)
            publishMasters(into: &effects)
        }
    }

    private mutating func setTracking(_ key: Key, _ spec: VRRPSpec, ports: some VRRPPortView, into effects: inout [Effect]) {
        let decrement = spec.tracks.reduce(0) { sum, track in sum + (ports.isOperUp(track.key) ? 0 : track.value) }
        guard engine.routers[key]?.trackingDecrement != decrement else { return }
        if debugEvents { effects.append(.log(.info, "VRRP \(key): tracking subtracts \(decrement) from the priority")) }
        _ = engine.with(key) { router in
            router.setTrackingDecrement(decrement)
            return []
        }
    }

    // MARK: Timers

    /// When `advance` next has something to do.
    mutating func nextDeadline() -> Instant? { engine.nextDeadline() }

    /// Fires every timer due at `now`.
    mutating func advance(to now: Instant, wall: Double, into effects: inout [Effect]) {
        perform(engine.advance(to: now), now: now, wall: wall, into: &effects)
    }

    // MARK: Actions

    /// Turns the core's actions into effects. `removed` is the router's last state when it was
    /// just removed from the engine (its priority-0 advert still needs its addresses).
    mutating func perform(
        _ actions: [(Key, RouterAction)], removed: VirtualRouter? = nil, now: Instant, wall: Double, into effects: inout [Effect]
    ) {
        var mastersMayHaveChanged = false
        defer { if mastersMayHaveChanged { publishMasters(into: &effects) } }
        for (key, action) in actions {
            guard let vlan = vlan(of: key) else { continue }
            if case .sendAdvertisement(let ad) = action {
                // The common case, 10,000 times a second with 1,000 Masters: no copy of the router.
                if let cached = advertFrames[key], cached.advertisement == ad {
                    effects.append(.send(cached.frame, vlan: cached.vlan))
                    if debugPackets { logAdvert(ad, key: key, bytes: cached.frame.count, into: &effects) }
                    continue
                }
            }
            guard let router = engine.routers[key] ?? removed else { continue }
            switch action {
            case .sendAdvertisement(let ad):
                if let frame = advertisementFrame(ad, router: router) {
                    effects.append(.send(frame, vlan: vlan))
                    if removed == nil { advertFrames[key] = (ad, vlan, frame) }
                    if debugPackets { logAdvert(ad, key: key, bytes: frame.count, into: &effects) }
                }
            case .announceAddresses:
                announce(router: router, key: key, vlan: vlan, into: &effects)
            case .takeVirtualMAC:
                wantMAC(VirtualMAC(mac: router.virtualMAC, vlan: vlan), true, into: &effects)
            case .releaseVirtualMAC:
                wantMAC(VirtualMAC(mac: router.virtualMAC, vlan: vlan), false, into: &effects)
            case .transition(let from, let to, let reason):
                transitionTimes[key] = wall
                var text = reason
                transitionSilence[key] = nil
                if to == .master, from == .backup, let heard = router.lastHeardFromMaster, heard <= now {
                    let silence = (now - heard).inSeconds
                    transitionSilence[key] = silence
                    text += " after \(fixed(silence, 3)) s without advertisements"
                }
                effects.append(.log(.notice, "VRRP \(key): \(from) -> \(to) (\(text))"))
                if to == .master { masters.insert(key) } else if from == .master { masters.remove(key) }
                masterChanges.insert(key)
                mastersMayHaveChanged = true
            }
        }
    }

    /// The Master's virtual MAC is wanted in the L2 table (or no longer).
    private mutating func wantMAC(_ mac: VirtualMAC, _ wanted: Bool, into effects: inout [Effect]) {
        if wanted { wantedMACs.insert(mac) } else { wantedMACs.remove(mac) }
        effects.append(.wantMAC(mac, wanted))
    }

    /// Tells the observer which routers became Master (or, still Master, answer for something
    /// else now) and which stopped, since it last heard.
    mutating func publishMasters(into effects: inout [Effect]) {
        var updated: [Key: MasterInfo] = [:]
        var removed = Set<Key>()
        for key in masterChanges {
            if masters.contains(key), let router = engine.routers[key], let vlan = vlan(of: key) {
                let info = Self.masterInfo(router, vlan: vlan)
                if publishedMasters[key] != info {
                    publishedMasters[key] = info
                    updated[key] = info
                }
            } else if publishedMasters.removeValue(forKey: key) != nil {
                removed.insert(key)
            }
        }
        masterChanges = []
        guard !updated.isEmpty || !removed.isEmpty else { return }
        effects.append(.publishMasters(updated: updated, removed: removed))
    }

    /// A new observer: it hears of every current Master.
    mutating func republishMasters(into effects: inout [Effect]) {
        publishedMasters = [:]
        masterChanges = masters
        publishMasters(into: &effects)
    }

    static func masterInfo(_ router: VirtualRouter, vlan: UInt16) -> MasterInfo {
        MasterInfo(
            vlan: vlan, virtualMAC: router.virtualMAC, isAddressOwner: router.isAddressOwner, linkLocal: router.interface.linkLocalIPv6)
    }

    func vlan(of key: Key) -> UInt16? { key.interface.vlan }

    // MARK: Statistics

    /// `clear vrrp statistics`: the counters start again at `wall`.
    mutating func clearStatistics(wall: Double) {
        engine.clearStatistics()
        counters = PacketCounters()
        statisticsSince = wall
    }
}
