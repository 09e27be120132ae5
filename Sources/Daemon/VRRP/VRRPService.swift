import Atomics
import Glibc
import Logging
import NAT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import Packets
import SwitchHAL
import VRRP

/// VRRP on the switch: the protocol core (`VRRPEngine`) driven by a real clock, packets from the
/// HAL's CPU path, and the running configuration.
///
/// It runs on its own event loop (the `vrrp` thread), not the control plane's: a long command, a
/// 10,000-line configuration load or a stuck HAL call never delays an advertisement. All its
/// state is confined to that loop; the control plane hands it configuration snapshots and asks
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
    var specs: [Key: VRRPSpec] = [:]
    /// Every SVI's own addresses (answered with the router MAC).
    var sviAddresses: [UInt16: [IPv4Address]] = [:]
    /// Why a router whose configuration could run is held in Initialize (no port of its VLAN up).
    var heldDown: [Key: String] = [:]
    private var timer: Scheduled<Void>?
    private var timerAt: Microseconds?
    var counters = PacketCounters()
    var transitionTimes: [Key: Double] = [:]
    /// For a Backup that became Master: how long the Master had been silent (the failover time
    /// as the network saw it).
    var transitionSilence: [Key: Double] = [:]
    var statisticsSince = VRRPService.wallClock
    var debugEvents = false
    var debugPackets = false
    /// The virtual MACs this switch should own (its Master routers), and what the HAL has.
    var wantedMACs: Set<VirtualMAC> = []
    var installedMACs: Set<VirtualMAC> = []
    var macSyncInFlight = false
    var macRetry: Scheduled<Void>?
    var macProblem: String?
    var macCalls = MACCallCounters()
    /// Set once the routers have stopped for good: no new HAL call starts.
    var shuttingDown = false
    /// Called when the virtual-MAC call in flight completes (shutdown waits for it).
    var macIdle: (() -> Void)?

    /// Each router's last advert as a whole frame: the same bytes go out every interval.
    var advertFrames: [Key: (advertisement: Advertisement, vlan: UInt16, frame: [UInt8])] = [:]
    var vlanOfInterface: [String: UInt16] = [:]
    var interfaceNames: [UInt16: String] = [:]

    // Any thread.
    /// Frames handed from the HAL's rx thread to this loop and not yet handled: one wake-up of
    /// the loop per batch, not per frame.
    /// Frames for the VRRP loop: advertisements in a queue of their own, so that no flood of
    /// anything else (ARP, pings through the router) can take their room.
    let adverts = BoundedInbox<InboundFrame>(capacity: VRRPService.maxPendingFrames)
    let others = BoundedInbox<InboundFrame>(capacity: VRRPService.maxPendingFrames)
    let framesOverflowed = ManagedAtomic<UInt64>(0)
    /// False once shutdown began: threads that hand work to the loop (rx, HAL events) stop.
    let accepting = ManagedAtomic(true)
    let framesIgnored = ManagedAtomic<UInt64>(0)
    /// Where IPv4 packets to the router that are not for the router itself go (the routing and
    /// NAT path), and who hears of every ARP sender (the neighbour table). Called on this loop.
    let router = NIOLockedValueBox<(@Sendable ([UInt8], UInt16, PortID) -> Void)?>(nil)
    let neighborObserver = NIOLockedValueBox<(@Sendable (IPv4Address, MACAddress, UInt16, PortID) -> Void)?>(nil)
    /// Told of the set of Master routers whenever it changes (NAT mappings with redundancy).
    let masterObserver = NIOLockedValueBox<(@Sendable (Set<Key>) -> Void)?>(nil)
    /// The Masters as last told (loop-confined).
    var publishedMasters: Set<Key>?
    /// Addresses a Master answers ARP for and announces besides its virtual addresses: the
    /// global addresses of NAT mappings that follow it.
    var extraAddresses: [Key: [IPv4Address]] = [:]
    /// NAT global addresses answered with the router MAC, per VLAN (see `Desired.natProxy`).
    var natProxy: [UInt16: [ClosedRange<UInt32>]] = [:]
    /// More than this many frames waiting means the loop is behind: drop (and count) the rest.
    static let maxPendingFrames = 4096

    struct InboundFrame: Sendable {
        var port: PortID
        var vlan: UInt16
        var bytes: [UInt8]
    }

    struct VirtualMAC: Hashable, Sendable, Comparable {
        var mac: MACAddress
        var vlan: UInt16
        static func < (a: VirtualMAC, b: VirtualMAC) -> Bool { (a.vlan, a.mac) < (b.vlan, b.mac) }
    }

    struct PacketCounters: Sendable {
        var vrrpReceived: UInt64 = 0
        var vrrpMalformed: UInt64 = 0
        var arpRequests: UInt64 = 0
        var arpReplies: UInt64 = 0
        var neighborSolicitations: UInt64 = 0
        var neighborAdvertisements: UInt64 = 0
        var echoReplies: UInt64 = 0
        var gratuitousARPs: UInt64 = 0
        var unsolicitedNAs: UInt64 = 0
    }

    struct MACCallCounters: Sendable {
        var installs: UInt64 = 0
        var removals: UInt64 = 0
        var failures: UInt64 = 0
        var slowest: Double = 0
    }

    init(hal: HALService, routerMAC: MACAddress, portCount: Int, logger: Logger) {
        self.hal = hal
        self.routerMAC = routerMAC
        self.portCount = portCount
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        loop.execute { ThreadName.setCurrent("vrrp") }
        hal.hal.setPacketHandler { [self] port, vlan, frame in
            cpuFrame(port: port, vlan: vlan, frame: frame)
        }
        hal.setLinkObserver { [self] _, _ in
            guard accepting.load(ordering: .relaxed) else { return }
            loop.execute { self.reconcile(reason: "link change") }
        }
        loop.execute { self.scheduleMACVerification() }
    }

    /// Sends priority 0 for every Master (a graceful stop, so Backups take over at once), then
    /// stops the loop. Called from the control plane's loop, so it waits with a plain condition
    /// (not a future) and for at most 2 s.
    func shutdown() {
        accepting.store(false, ordering: .sequentiallyConsistent)
        hal.hal.setPacketHandler(nil)
        hal.setLinkObserver(nil)
        let done = ConditionLock(value: false)
        let signal: @Sendable () -> Void = {
            done.lock()
            done.unlock(withValue: true)
        }
        loop.execute {
            self.apply([:])
            self.shuttingDown = true
            self.timer?.cancel()
            self.macRetry?.cancel()
            // A virtual-MAC call still on a HAL thread completes on this loop: the loop must
            // outlive it (the process is exiting, so no new call starts).
            if self.macSyncInFlight { self.macIdle = signal } else { signal() }
        }
        if done.lock(whenValue: true, timeoutSeconds: 2) {
            done.unlock()
        } else {
            logger.error("VRRP: the VRRP thread did not stop its routers within 2 s")
        }
        group.shutdownGracefully { _ in }
    }

    static var now: Microseconds { MonotonicClock.nanoseconds / 1000 }

    static var wallClock: Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    // MARK: Configuration

    /// What the running configuration asks of VRRP and the SVIs' address answering.
    struct Desired: Equatable, Sendable {
        var specs: [VRRPEngine.Key: VRRPSpec] = [:]
        var sviAddresses: [UInt16: [IPv4Address]] = [:]
        /// NAT global addresses that follow each IPv4 router (static mappings with redundancy).
        var natGlobals: [VRRPEngine.Key: [IPv4Address]] = [:]
        /// NAT global addresses answered with the router MAC on each outside SVI's VLAN: static
        /// globals without redundancy and the pools of the dynamic rules.
        var natProxy: [UInt16: [ClosedRange<UInt32>]] = [:]
        /// The ports' VLAN membership and admin state: a change can bring an SVI up or down
        /// (autostate) without any link event, so it must reach the VRRP thread too.
        var ports: [String: PortMembership] = [:]
    }

    struct PortMembership: Equatable, Sendable {
        var switchport: SwitchportConfig
        var shutdown: Bool
    }

    static func desired(_ config: RunningConfig, portCount: Int, routerMAC: MACAddress) -> Desired {
        var out = Desired(specs: VRRPSpec.derive(config, portCount: portCount, routerMAC: routerMAC))
        var proxied: [ClosedRange<UInt32>] = []
        for mapping in config.nat.statics where mapping.direction == .inside && mapping.redundancy == nil {
            proxied.append(mapping.global.address.value...mapping.global.address.value)
        }
        for rule in config.nat.rules.values {
            if case .pool(let name) = rule.target, let pool = config.nat.pools[name] { proxied.append(pool.start.value...pool.end.value) }
        }
        if !proxied.isEmpty {
            for (name, interface) in config.interfaces where interface.natRole == .outside && !interface.shutdown {
                if case .svi(let vlan) = InterfaceKind.parse(name, portCount: portCount) { out.natProxy[vlan] = proxied }
            }
        }
        for mapping in config.nat.statics where mapping.direction == .inside {
            guard let redundancy = mapping.redundancy else { continue }
            guard let interface = config.groupInterface(for: redundancy).interface else { continue }
            let key = VRRPEngine.Key(interface: interface, vrid: redundancy.vrid, ipv6: false)
            if out.natGlobals[key]?.contains(mapping.global.address) != true { out.natGlobals[key, default: []].append(mapping.global.address) }
        }
        for (name, interface) in config.interfaces {
            switch InterfaceKind.parse(name, portCount: portCount) {
            case .svi(let vlan) where !interface.addresses.isEmpty && !interface.shutdown:
                out.sviAddresses[vlan] = interface.addresses.map(\.address)
            case .port:
                out.ports[name] = PortMembership(switchport: interface.switchport, shutdown: interface.shutdown)
            default:
                break
            }
        }
        return out
    }

    /// The running configuration changed (any thread): the routers follow.
    func configure(_ desired: Desired) {
        loop.execute {
            self.sviAddresses = desired.sviAddresses
            let newGlobals = desired.natGlobals.mapValues { Set($0) }
            // A Master announces NAT global addresses that start following it now.
            for (key, addresses) in newGlobals {
                let added = addresses.subtracting(self.extraAddresses[key] ?? [])
                if !added.isEmpty, let router = self.engine.routers[key], router.state == .master, let vlan = self.vlan(of: key) {
                    self.announce(addresses: added.sorted(), mac: router.virtualMAC, vlan: vlan)
                }
            }
            self.extraAddresses = desired.natGlobals
            self.natProxy = desired.natProxy
            self.apply(desired.specs)
        }
    }

    /// On the loop: routers the configuration no longer wants stop (priority 0 if Master), new
    /// ones start, changed ones take their new settings without restarting where they can.
    private func apply(_ newSpecs: [Key: VRRPSpec]) {
        let old = specs
        specs = newSpecs
        if debugEvents {
            for key in Set(old.keys).union(newSpecs.keys).sorted() where old[key] != newSpecs[key] {
                logger.info("VRRP \(key): configuration \(old[key] == nil ? "added" : newSpecs[key] == nil ? "removed" : "changed")")
            }
        }
        reconcile(reason: "configuration")
    }

    /// Brings the engine in line with the specs and the ports: which routers run, with what
    /// settings and tracking.
    func reconcile(reason: String) {
        let now = VRRPService.now
        // Autostate: an SVI is up while some port of its VLAN is up.
        heldDown = [:]
        for (key, spec) in specs where spec.blocked == nil && !hal.hal.vlanHasUpPort(spec.vlan) {
            heldDown[key] = "no port of VLAN \(spec.vlan) is up"
        }
        for key in engine.routers.keys.sorted() {
            guard let spec = specs[key], spec.blocked == nil, heldDown[key] == nil else {
                stop(key, now: now)
                continue
            }
            let router = engine.routers[key]!
            // A new version, or becoming (or ceasing to be) the address owner, is a new router.
            let owner = VirtualRouter(config: spec.config, interface: spec.interface).isAddressOwner
            if router.config.version != spec.config.version || router.isAddressOwner != owner {
                stop(key, now: now)
            } else if router.config != spec.config || router.interface != spec.interface {
                // The cached advert frame may carry the old source address (v2 and RFC 9568 v3
                // checksums do not cover it, so the message alone would not tell).
                advertFrames[key] = nil
                _ = engine.with(key) { router in
                    router.update(config: spec.config, interface: spec.interface)
                    return []
                }
            }
        }
        for key in specs.keys.sorted() where engine.routers[key] == nil {
            let spec = specs[key]!
            guard spec.blocked == nil, heldDown[key] == nil else { continue }
            let actions = engine.add(key, config: spec.config, interface: spec.interface, start: false, now: now)
            perform(actions.map { (key, $0) }, now: now)
            setTracking(key, spec)
            perform(engine.with(key) { $0.start(now: now) }.map { (key, $0) }, now: now)
        }
        for (key, spec) in specs where engine.routers[key] != nil { setTracking(key, spec) }
        rearm()
    }

    private func stop(_ key: Key, now: Microseconds) {
        guard let router = engine.routers[key] else { return }
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
        let next = engine.nextDeadline()
        guard next != timerAt else { return }
        if let armed = timerAt, timer != nil, next.map({ $0 >= armed }) ?? true { return }
        timer?.cancel()
        timerAt = next
        guard let next else {
            timer = nil
            return
        }
        let now = VRRPService.now
        let delay = next > now ? Int64(next - now) : 0
        timer = loop.scheduleTask(in: .microseconds(delay)) { [self] in
            timerAt = nil
            timer = nil
            fire()
        }
    }

    private func fire() {
        let now = VRRPService.now
        perform(engine.advance(to: now), now: now)
        rearm()
    }

    // MARK: Actions

    /// Carries out the core's actions. `removed` is the router's last state when it was just
    /// removed from the engine (its priority-0 advert still needs its addresses).
    func perform(_ actions: [(Key, RouterAction)], now: Microseconds, removed: VirtualRouter? = nil) {
        var mastersMayHaveChanged = false
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
                announce(router: router, vlan: vlan)
            case .takeVirtualMAC:
                wantedMACs.insert(VirtualMAC(mac: router.virtualMAC, vlan: vlan))
                syncMACs()
            case .releaseVirtualMAC:
                wantedMACs.remove(VirtualMAC(mac: router.virtualMAC, vlan: vlan))
                syncMACs()
            case .transition(let from, let to, let reason):
                transitionTimes[key] = VRRPService.wallClock
                var text = reason
                transitionSilence[key] = nil
                if to == .master, from == .backup, let heard = router.lastHeardFromMaster, heard <= now {
                    let silence = Double(now - heard) / 1e6
                    transitionSilence[key] = silence
                    text += " after \(fixed(silence, 3)) s without advertisements"
                }
                logger.notice("VRRP \(key): \(from) -> \(to) (\(text))")
                mastersMayHaveChanged = true
            }
        }
        if mastersMayHaveChanged { publishMasters() }
    }

    /// Registers who hears of the Master set (and tells it the current one).
    func setMasterObserver(_ observer: (@Sendable (Set<Key>) -> Void)?) {
        masterObserver.withLockedValue { $0 = observer }
        loop.execute {
            self.publishedMasters = nil
            self.publishMasters()
        }
    }

    func publishMasters() {
        let masters = Set(engine.routers.filter { $0.value.state == .master }.map(\.key))
        guard masters != publishedMasters else { return }
        publishedMasters = masters
        masterObserver.withLockedValue { $0 }?(masters)
    }

    func vlan(of key: Key) -> UInt16? {
        if let vlan = vlanOfInterface[key.interface] { return vlan }
        guard key.interface.hasPrefix("vlan"), let vlan = UInt16(key.interface.dropFirst(4)) else { return nil }
        vlanOfInterface[key.interface] = vlan
        return vlan
    }

    // MARK: State for the CLI

    /// Everything `show vrrp` needs, copied off the loop.
    struct Snapshot: Sendable {
        var specs: [Key: VRRPSpec]
        var routers: [Key: VirtualRouter]
        var heldDown: [Key: String]
        var transitionTimes: [Key: Double]
        var transitionSilence: [Key: Double]
        var unknownVRID: [String: UInt64]
        var counters: PacketCounters
        var framesOverflowed: UInt64
        var framesIgnored: UInt64
        var now: Microseconds
        var wallClock: Double
        var statisticsSince: Double
        var macProblem: String?
        var installedMACs: Set<VirtualMAC>
        var wantedMACs: Set<VirtualMAC>
        var macCalls: MACCallCounters
        var debugEvents: Bool
        var debugPackets: Bool
    }

    func snapshot() -> EventLoopFuture<Snapshot> {
        loop.submit { [self] in
            Snapshot(
                specs: specs, routers: engine.routers, heldDown: heldDown, transitionTimes: transitionTimes, transitionSilence: transitionSilence,
                unknownVRID: engine.unknownVRID, counters: counters, framesOverflowed: framesOverflowed.load(ordering: .relaxed),
                framesIgnored: framesIgnored.load(ordering: .relaxed), now: VRRPService.now, wallClock: VRRPService.wallClock,
                statisticsSince: statisticsSince, macProblem: macProblem, installedMACs: installedMACs, wantedMACs: wantedMACs,
                macCalls: macCalls, debugEvents: debugEvents, debugPackets: debugPackets)
        }
    }

    func clearStatistics() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            engine.clearStatistics()
            counters = PacketCounters()
            framesOverflowed.store(0, ordering: .relaxed)
            framesIgnored.store(0, ordering: .relaxed)
            macCalls = MACCallCounters()
            statisticsSince = VRRPService.wallClock
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
