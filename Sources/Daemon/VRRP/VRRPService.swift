import Atomics
import Glibc
import HashTreeCollections
import Logging
import NAT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import Packets
import SwitchHAL
import Time
import VRRP

/// VRRP on the switch: the protocol core (`VRRPEngine`) driven by a real clock, packets from the
/// HAL's CPU path, and the running configuration.
///
/// It runs on its own event loop (the `vrrp` thread), not the control plane's: a long command, a
/// 10,000-line configuration load or a stuck HAL call never delays an advertisement. All its
/// state is confined to that loop (the functions that touch it assert so in debug builds); the control plane hands it configuration snapshots and asks
/// for state snapshots (`show vrrp`). HAL calls (the virtual MAC) run on the HAL threads with
/// deadlines; when they fail or stall, the state machine and the timers carry on, the failure is
/// logged and shown, and the call is retried.
public final class VRRPService: @unchecked Sendable {
    typealias Key = VRRPEngine.Key

    public let loop: EventLoop
    private let group: MultiThreadedEventLoopGroup
    let hal: HALService
    let logger: Logger
    let routerMAC: MACAddress
    let portCount: Int

    // Loop-confined state.
    var engine = VRRPEngine()
    /// What the configuration asks for (routers, SVI addresses, NAT addresses), as last told.
    var desired = SVIDesired()
    var specs: TreeDictionary<Key, VRRPSpec> { desired.specs }
    /// The routers of each VLAN, and those tracking each port (what a port change reaches).
    var routersByVLAN: [UInt16: Set<Key>] = [:]
    var routersTracking: [PortID: Set<Key>] = [:]
    /// Why a router whose configuration could run is held in Initialize (no port of its VLAN up).
    var heldDown: [Key: String] = [:]
    private var timer: ClockTimer?
    private var timerAt: Instant?
    var counters = PacketCounters()
    var transitionTimes: [Key: Double] = [:]
    /// For a Backup that became Master: how long the Master had been silent (the failover time
    /// as the network saw it).
    var transitionSilence: [Key: Double] = [:]
    var statisticsSince: Double
    var debugEvents = false
    var debugPackets = false
    /// The virtual MACs this switch should own (its Master routers), and what the HAL has.
    var wantedMACs: Set<VirtualMAC> = []
    /// Brings the L2 table to `wantedMACs` (see VRRPService+VirtualMAC).
    private(set) var macs: HALReconciler<VirtualMAC, Bool>!
    var macCalls = MACCallCounters()
    /// Set once the routers have stopped for good: no new HAL call starts.
    var shuttingDown = false

    /// Each router's last advert as a whole frame: the same bytes go out every interval.
    var advertFrames: [Key: (advertisement: Advertisement, vlan: UInt16, frame: [UInt8])] = [:]

    // Any thread.
    /// Advertisements handed from the HAL's rx thread to this loop and not yet handled (the
    /// only frames this thread takes: nothing else can take their room): one wake-up of the loop
    /// per batch, not per frame.
    let adverts = BoundedInbox<InboundFrame>(capacity: VRRPService.maxPendingFrames)
    let framesOverflowed = ManagedAtomic<UInt64>(0)
    /// False once shutdown began: threads that hand work to the loop (rx, HAL events) stop.
    let accepting = ManagedAtomic(true)
    /// Told of the routers that became Master (with what they answer for) and those that stopped
    /// (NAT mappings with redundancy, the router's answers).
    let masterObserver = NIOLockedValueBox<(@Sendable (_ updated: [Key: MasterInfo], _ removed: Set<Key>) -> Void)?>(nil)
    /// The Masters as last told (loop-confined).
    var publishedMasters: [Key: MasterInfo] = [:]
    /// The routers that are Master now (kept by their transitions: never a scan of every router),
    /// and those whose mastership moved since the observer last heard.
    var masters = Set<Key>()
    var masterChanges = Set<Key>()
    /// More than this many frames waiting means the loop is behind: drop (and count) the rest.
    static let maxPendingFrames = 4096

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

    struct MACCallCounters: Sendable {
        var installs: UInt64 = 0
        var removals: UInt64 = 0
        var failures: UInt64 = 0
        var slowest: Double = 0
    }

    init(hal: HALService, routerMAC: MACAddress, portCount: Int, logger: Logger, clock: any Clock = SystemClock()) {
        self.hal = hal
        self.clock = clock
        statisticsSince = clock.wallNow.epochSeconds
        self.routerMAC = routerMAC
        self.portCount = portCount
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        loop.execute { ThreadName.setCurrent("vrrp") }
        // The HAL may outlive this service: it holds the observer weakly (no cycle).
        hal.setLinkObserver { [weak self] port, _ in
            guard let self, accepting.load(ordering: .relaxed) else { return }
            loop.execute { self.linkChanged(port) }
        }
        macs = HALReconciler(driver: Self.virtualMACDriver, hal: hal, loop: loop, clock: clock) { [unowned self] mac in
            wantedMACs.contains(mac) ? true : nil
        }
        loop.execute { self.startVirtualMACs() }
    }

    /// Sends priority 0 for every Master (a graceful stop, so Backups take over at once), then
    /// stops the loop. Called from the control plane's loop, so it waits with a plain condition
    /// (not a future) and for at most 2 s.
    func shutdown() {
        accepting.store(false, ordering: .sequentiallyConsistent)
        hal.setLinkObserver(nil)
        let done = ConditionLock(value: false)
        let signal: @Sendable () -> Void = {
            done.lock()
            done.unlock(withValue: true)
        }
        loop.execute {
            let keys = Set(self.engine.routers.keys)
            self.desired = SVIDesired()
            self.reconcile(keys)
            self.shuttingDown = true
            self.timer?.cancel()
            // A virtual-MAC call still on a HAL thread completes on this loop: the loop must
            // outlive it (the process is exiting, so no new call starts).
            self.macs.stop(whenIdle: signal)
        }
        if done.lock(whenValue: true, timeoutSeconds: 2) {
            done.unlock()
        } else {
            logger.error("VRRP: the VRRP thread did not stop its routers within 2 s")
        }
        group.shutdownGracefully { _ in }
    }

    /// The routers' time (their timers, `show vrrp`'s ages) and the wall clock of printed times.
    let clock: any Clock
    var now: Instant { clock.now }
    var wallClock: Double { clock.wallNow.epochSeconds }

    // MARK: Configuration

    /// The running configuration changed (any thread): the routers `delta` names follow, and the
    /// answers (SVI addresses, NAT addresses) take the new tables. Costs what `delta` covers.
    func configure(_ desired: SVIDesired, _ delta: SVIDesired.Delta) {
        loop.execute { [self] in
            let old = self.desired
            self.desired = desired
            // A Master announces NAT global addresses that start following it now.
            for key in delta.natGlobals.sorted() {
                let before = old.natGlobals[key] ?? [:]
                let added = (desired.natGlobals[key] ?? [:]).keys.filter { before[$0] == nil }
                if !added.isEmpty, let router = engine.routers[key], router.state == .master, let vlan = vlan(of: key) {
                    announce(addresses: added.sorted(), mac: router.virtualMAC, vlan: vlan)
                }
            }
            var keys = delta.routers
            for key in delta.routers {
                index(key, old: old.specs[key], new: desired.specs[key])
                if debugEvents, old.specs[key] != desired.specs[key] {
                    logger.info("VRRP \(key): configuration \(old.specs[key] == nil ? "added" : desired.specs[key] == nil ? "removed" : "changed")")
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
            reconcile(keys)
        }
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

    /// Keeps the VLAN and tracking indexes of a router's spec.
    private func index(_ key: Key, old: VRRPSpec?, new: VRRPSpec?) {
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

    /// A port went up or down: autostate of its VLANs, tracking of the groups that track it.
    func linkChanged(_ port: PortID) {
        loop.assertInEventLoop()
        var keys = routersTracking[port] ?? []
        keys.formUnion(routers(inVLANs: hal.hal.memberVLANs(port)))
        reconcile(keys)
    }

    /// Every router (after a change whose reach is not known).
    func reconcileAll() {
        loop.assertInEventLoop()
        reconcile(Set(specs.keys).union(engine.routers.keys))
    }

    /// Brings the routers `keys` in line with their specs and the ports: which run, with what
    /// settings and tracking. Routers the configuration no longer wants stop (priority 0 if
    /// Master), new ones start, changed ones take their new settings without restarting where
    /// they can.
    func reconcile(_ keys: Set<Key>) {
        loop.assertInEventLoop()
        guard !keys.isEmpty else { return }
        let now = self.now
        for key in keys.sorted() {
            // Autostate: an SVI is up while some port of its VLAN is up.
            heldDown[key] = nil
            if let spec = specs[key], spec.blocked == nil, !hal.hal.vlanHasUpPort(spec.vlan) {
                heldDown[key] = "no port of VLAN \(spec.vlan) is up"
            }
            guard let spec = specs[key], spec.blocked == nil, heldDown[key] == nil else {
                stop(key, now: now)
                continue
            }
            if let router = engine.routers[key] {
                // A new version, or becoming (or ceasing to be) the address owner, is a new router.
                let owner = VirtualRouter(config: spec.config, interface: spec.interface).isAddressOwner
                if router.config.version != spec.config.version || router.isAddressOwner != owner {
                    stop(key, now: now)
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
                            publishMasters()
                        }
                    }
                    setTracking(key, spec)
                    continue
                }
            }
            let actions = engine.add(key, config: spec.config, interface: spec.interface, start: false, now: now)
            perform(actions.map { (key, $0) }, now: now)
            setTracking(key, spec)
            perform(engine.with(key) { $0.start(now: now) }.map { (key, $0) }, now: now)
        }
        rearm()
    }

    private func stop(_ key: Key, now: Instant) {
        guard let router = engine.routers[key] else { return }
        defer {
            // Removed while Master: it no longer is, whatever its last transition said.
            if masters.remove(key) != nil {
                masterChanges.insert(key)
                publishMasters()
            }
        }
        perform(engine.remove(key, now: now).map { (key, $0) }, now: now, removed: router)
        advertFrames[key] = nil
    }

    private func setTracking(_ key: Key, _ spec: VRRPSpec) {
        let decrement = spec.tracks.reduce(0) { sum, track in sum + (hal.hal.isOperUp(track.key) ? 0 : track.value) }
        guard engine.routers[key]?.trackingDecrement != decrement else { return }
        if debugEvents { logger.info("VRRP \(key): tracking subtracts \(decrement) from the priority") }
        _ = engine.with(key) { router in
            router.setTrackingDecrement(decrement)
            return []
        }
    }

    // MARK: Timers

    /// Arms the one timer for the engine's earliest deadline. A timer already armed for an
    /// earlier time stays (it fires, finds nothing due, and re-arms): with 1,000 Backups each
    /// advert pushes a deadline later, and re-scheduling on each would cost more than the rare
    /// early wake-up.
    func rearm() {
        loop.assertInEventLoop()
        let next = engine.nextDeadline()
        guard next != timerAt else { return }
        if let armed = timerAt, timer != nil, next.map({ $0 >= armed }) ?? true { return }
        timer?.cancel()
        timerAt = next
        guard let next else {
            timer = nil
            return
        }
        let now = self.now
        timer = loop.scheduleTask(after: next.duration(since: now), clock: clock) { [self] in
            timerAt = nil
            timer = nil
            fire()
        }
    }

    private func fire() {
        let now = self.now
        perform(engine.advance(to: now), now: now)
        rearm()
    }

    // MARK: Actions

    /// Carries out the core's actions. `removed` is the router's last state when it was just
    /// removed from the engine (its priority-0 advert still needs its addresses).
    func perform(_ actions: [(Key, RouterAction)], now: Instant, removed: VirtualRouter? = nil) {
        var mastersMayHaveChanged = false
        defer { if mastersMayHaveChanged { publishMasters() } }
        for (key, action) in actions {
            guard let vlan = vlan(of: key) else { continue }
            if case .sendAdvertisement(let ad) = action {
                // The common case, 10,000 times a second with 1,000 Masters: no copy of the router.
                if let cached = advertFrames[key], cached.advertisement == ad {
                    hal.hal.sendFromCPU(cached.frame, vlan: cached.vlan)
                    if debugPackets { logAdvert(ad, key: key, bytes: cached.frame.count) }
                    continue
                }
            }
            guard let router = engine.routers[key] ?? removed else { continue }
            switch action {
            case .sendAdvertisement(let ad):
                if let frame = advertisementFrame(ad, router: router) {
                    hal.hal.sendFromCPU(frame, vlan: vlan)
                    if removed == nil { advertFrames[key] = (ad, vlan, frame) }
                    if debugPackets { logAdvert(ad, key: key, bytes: frame.count) }
                }
            case .announceAddresses:
                announce(router: router, key: key, vlan: vlan)
            case .takeVirtualMAC:
                wantMAC(VirtualMAC(mac: router.virtualMAC, vlan: vlan), true)
            case .releaseVirtualMAC:
                wantMAC(VirtualMAC(mac: router.virtualMAC, vlan: vlan), false)
            case .transition(let from, let to, let reason):
                transitionTimes[key] = wallClock
                var text = reason
                transitionSilence[key] = nil
                if to == .master, from == .backup, let heard = router.lastHeardFromMaster, heard <= now {
                    let silence = (now - heard).inSeconds
                    transitionSilence[key] = silence
                    text += " after \(fixed(silence, 3)) s without advertisements"
                }
                logger.notice("VRRP \(key): \(from) -> \(to) (\(text))")
                if to == .master { masters.insert(key) } else if from == .master { masters.remove(key) }
                masterChanges.insert(key)
                mastersMayHaveChanged = true
            }
        }
    }

    /// Registers who hears of the Master set (and tells it the current one).
    /// Registers who hears of the Masters that come and go (and tells it the current ones).
    func setMasterObserver(_ observer: (@Sendable (_ updated: [Key: MasterInfo], _ removed: Set<Key>) -> Void)?) {
        masterObserver.withLockedValue { $0 = observer }
        loop.execute {
            self.publishedMasters = [:]
            self.masterChanges = self.masters
            self.publishMasters()
        }
    }

    /// Tells the observer which routers became Master (or, still Master, answer for something
    /// else now) and which stopped, since it last heard.
    func publishMasters() {
        loop.assertInEventLoop()
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
        masterObserver.withLockedValue { $0 }?(updated, removed)
    }

    static func masterInfo(_ router: VirtualRouter, vlan: UInt16) -> MasterInfo {
        MasterInfo(
            vlan: vlan, virtualMAC: router.virtualMAC, isAddressOwner: router.isAddressOwner, linkLocal: router.interface.linkLocalIPv6)
    }

    func vlan(of key: Key) -> UInt16? { key.interface.vlan }

    // MARK: State for the CLI

    /// Everything `show vrrp` needs, copied off the loop.
    struct Snapshot: Sendable {
        var specs: TreeDictionary<Key, VRRPSpec>
        var routers: [Key: VirtualRouter]
        var heldDown: [Key: String]
        var transitionTimes: [Key: Double]
        var transitionSilence: [Key: Double]
        var unknownVRID: [InterfaceID: UInt64]
        var counters: PacketCounters
        var framesOverflowed: UInt64
        var now: Instant
        var wallClock: Double
        var statisticsSince: Double
        var macProblem: String?
        var installedMACs: Set<VirtualMAC>
        var wantedMACs: Set<VirtualMAC>
        var macCalls: MACCallCounters
        var debugEvents: Bool
        var debugPackets: Bool
    }

    /// A copy for `show vrrp`: the routers of `interface` (and `vrid`), or all. The routers are
    /// copied into a table of their own, so the engine's is never shared (sharing it would make
    /// the next advert copy every router on this thread).
    func snapshot(interface: InterfaceID? = nil, vrid: VRID? = nil) -> EventLoopFuture<Snapshot> {
        loop.submit { [self] in
            var routers: [Key: VirtualRouter] = [:]
            routers.reserveCapacity(interface == nil ? engine.routers.count : 8)
            for (key, router) in engine.routers where (interface == nil || key.interface == interface) && (vrid == nil || key.vrid == vrid) {
                routers[key] = router
            }
            return Snapshot(
                specs: specs, routers: routers, heldDown: heldDown, transitionTimes: transitionTimes, transitionSilence: transitionSilence,
                unknownVRID: engine.unknownVRID, counters: counters, framesOverflowed: framesOverflowed.load(ordering: .relaxed),
                now: now, wallClock: wallClock,
                statisticsSince: statisticsSince, macProblem: macs.problem, installedMACs: installedMACs, wantedMACs: wantedMACs,
                macCalls: MACCallCounters(
                    installs: macCalls.installs, removals: macCalls.removals, failures: macs.counters.failures, slowest: macs.counters.slowestCall),
                debugEvents: debugEvents, debugPackets: debugPackets)
        }
    }

    func clearStatistics() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            engine.clearStatistics()
            counters = PacketCounters()
            framesOverflowed.store(0, ordering: .relaxed)
            macCalls = MACCallCounters()
            macs.resetCounters()
            statisticsSince = wallClock
        }
    }

    func setDebug(events: Bool?, packets: Bool?) {
        loop.execute { [self] in
            if let events { debugEvents = events }
            if let packets { debugPackets = packets }
            logger.notice("VRRP debugging: events \(debugEvents ? "on" : "off"), packets \(debugPackets ? "on" : "off")")
        }
    }
}
