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

/// VRRP on the switch: the driver of `VRRPState` (the protocol core and its bookkeeping),
/// with a real clock, packets from the HAL's CPU path, and the running configuration.
///
/// It runs on its own event loop (the `vrrp` thread), not the control plane's: a long command, a
/// 10,000-line configuration load or a stuck HAL call never delays an advertisement. Its state
/// is in a box bound to that loop (every access checks it runs there); the control plane hands it
/// configuration snapshots and asks for state snapshots (`show vrrp`). The driver carries out
/// what the state decides: frames to the HAL, the virtual MACs through a `HALReconciler` (on the
/// HAL threads with deadlines; when they fail or stall, the state machine and the timers carry
/// on, the failure is logged and shown, and the call is retried), log lines, the Masters to the
/// observer.
public final class VRRPService: Sendable {
    typealias Key = VRRPEngine.Key
    typealias MasterInfo = VRRPState.MasterInfo
    typealias VirtualMAC = VRRPState.VirtualMAC
    typealias PacketCounters = VRRPState.PacketCounters

    public let loop: EventLoop
    private let group: MultiThreadedEventLoopGroup
    let hal: HALService
    let logger: Logger
    let routerMAC: MACAddress
    let portCount: Int

    /// What only the `vrrp` loop touches: the state, and the driver's own timer and reconciler.
    struct Confined {
        var state: VRRPState
        /// What the state asked for in one turn, carried out and emptied before the turn ends
        /// (kept with its capacity: no allocation per advert).
        var effects: [VRRPState.Effect] = []
        var timer: ClockTimer?
        var timerAt: Instant?
        /// Brings the L2 table to the state's `wantedMACs` (see VRRPService+VirtualMAC); made on
        /// the loop, by the first task it runs.
        var macs: HALReconciler<VirtualMAC, Bool>!
        var macCalls = MACCallCounters()
        /// Set once the routers have stopped for good: no new HAL call starts.
        var shuttingDown = false
    }
    let confined: NIOLoopBoundBox<Confined>

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
    /// More than this many frames waiting means the loop is behind: drop (and count) the rest.
    static let maxPendingFrames = 4096

    struct MACCallCounters: Sendable {
        var installs: UInt64 = 0
        var removals: UInt64 = 0
        var failures: UInt64 = 0
        var slowest: Double = 0
    }

    init(hal: HALService, routerMAC: MACAddress, portCount: Int, logger: Logger, clock: any Clock = SystemClock()) {
        self.hal = hal
        self.clock = clock
        self.routerMAC = routerMAC
        self.portCount = portCount
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        confined = .makeBoxSendingValue(Confined(state: VRRPState(statisticsSince: clock.wallNow.epochSeconds)), eventLoop: loop)
        loop.execute { ThreadName.setCurrent("vrrp") }
        // The HAL may outlive this service: it holds the observer weakly (no cycle).
        hal.setLinkObserver { [weak self] port, _ in
            guard let self, accepting.load(ordering: .relaxed) else { return }
            loop.execute { self.linkChanged(port) }
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
        loop.execute { [self] in
            confined.withValue { c in
                c.state.stopAll(now: now, wall: wallClock, into: &c.effects)
                carryOut(&c)
                c.shuttingDown = true
                c.timer?.cancel()
                // A virtual-MAC call still on a HAL thread completes on this loop: the loop must
                // outlive it (the process is exiting, so no new call starts).
                c.macs.stop(whenIdle: signal)
            }
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
            confined.withValue { c in
                let keys = c.state.configure(desired, delta, into: &c.effects)
                reconcile(keys, &c)
            }
        }
    }

    /// A port went up or down: autostate of its VLANs, tracking of the groups that track it.
    func linkChanged(_ port: PortID) {
        confined.withValue { c in reconcile(c.state.routers(reachedByLinkOf: port, ports: hal.hal), &c) }
    }

    /// Brings the routers `keys` in line with their specs and the ports (see
    /// `VRRPState.reconcile`), and carries out what that and anything before it in this turn
    /// asked for.
    private func reconcile(_ keys: Set<Key>, _ c: inout Confined) {
        guard !keys.isEmpty else { return carryOut(&c) }
        c.state.reconcile(keys, ports: hal.hal, now: now, wall: wallClock, into: &c.effects)
        carryOut(&c)
        rearm(&c)
    }

    // MARK: Receive

    /// From the rx thread (through `CPUPath`): an advertisement for the VRRP loop. Never blocks;
    /// when the loop is far behind, frames are dropped and counted.
    func receive(_ frame: InboundFrame) {
        switch adverts.offer(frame) {
        case .refused: framesOverflowed.wrappingIncrement(ordering: .relaxed)
        case .first where accepting.load(ordering: .relaxed): loop.execute { self.drainInbox() }
        default: break
        }
    }

    /// On the loop: every advertisement that arrived since the last wake-up, then one re-arm.
    func drainInbox() {
        confined.withValue { c in
            let wall = wallClock
            for frame in adverts.take() { c.state.handle(frame.bytes, vlan: frame.vlan, now: now, wall: wall, into: &c.effects) }
            carryOut(&c)
            rearm(&c)
        }
    }

    // MARK: Timers

    /// Arms the one timer for the engine's earliest deadline. A timer already armed for an
    /// earlier time stays (it fires, finds nothing due, and re-arms): with 1,000 Backups each
    /// advert pushes a deadline later, and re-scheduling on each would cost more than the rare
    /// early wake-up.
    private func rearm(_ c: inout Confined) {
        let next = c.state.nextDeadline()
        guard next != c.timerAt else { return }
        if let armed = c.timerAt, c.timer != nil, next.map({ $0 >= armed }) ?? true { return }
        c.timer?.cancel()
        c.timerAt = next
        guard let next else {
            c.timer = nil
            return
        }
        c.timer = loop.scheduleTask(after: next.duration(since: now), clock: clock) { [self] in
            confined.withValue { c in
                c.timerAt = nil
                c.timer = nil
                c.state.advance(to: now, wall: wallClock, into: &c.effects)
                carryOut(&c)
                rearm(&c)
            }
        }
    }

    // MARK: Effects

    /// Carries out what the state asked for, in order, and empties the buffer (keeping its room).
    private func carryOut(_ c: inout Confined) {
        guard !c.effects.isEmpty else { return }
        for effect in c.effects {
            switch effect {
            case .send(let frame, let vlan):
                hal.hal.sendFromCPU(frame, vlan: vlan)
            case .wantMAC(let mac, _):
                c.macs.changed(mac)
            case .log(let level, let text):
                logger.log(level: level, "\(text)")
            case .publishMasters(let updated, let removed):
                masterObserver.withLockedValue { $0 }?(updated, removed)
            }
        }
        c.effects.removeAll(keepingCapacity: true)
    }

    /// Registers who hears of the Masters that come and go (and tells it the current ones).
    func setMasterObserver(_ observer: (@Sendable (_ updated: [Key: MasterInfo], _ removed: Set<Key>) -> Void)?) {
        masterObserver.withLockedValue { $0 = observer }
        loop.execute { [self] in
            confined.withValue { c in
                c.state.republishMasters(into: &c.effects)
                carryOut(&c)
            }
        }
    }

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
            confined.withValue { c in
                var routers: [Key: VirtualRouter] = [:]
                routers.reserveCapacity(interface == nil ? c.state.engine.routers.count : 8)
                for (key, router) in c.state.engine.routers where (interface == nil || key.interface == interface) && (vrid == nil || key.vrid == vrid) {
                    routers[key] = router
                }
                return Snapshot(
                    specs: c.state.specs, routers: routers, heldDown: c.state.heldDown, transitionTimes: c.state.transitionTimes,
                    transitionSilence: c.state.transitionSilence, unknownVRID: c.state.engine.unknownVRID, counters: c.state.counters,
                    framesOverflowed: framesOverflowed.load(ordering: .relaxed), now: now, wallClock: wallClock,
                    statisticsSince: c.state.statisticsSince, macProblem: c.macs.problem, installedMACs: installedMACs(c),
                    wantedMACs: c.state.wantedMACs,
                    macCalls: MACCallCounters(
                        installs: c.macCalls.installs, removals: c.macCalls.removals, failures: c.macs.counters.failures,
                        slowest: c.macs.counters.slowestCall),
                    debugEvents: c.state.debugEvents, debugPackets: c.state.debugPackets)
            }
        }
    }

    func clearStatistics() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            confined.withValue { c in
                c.state.clearStatistics(wall: wallClock)
                framesOverflowed.store(0, ordering: .relaxed)
                c.macCalls = MACCallCounters()
                c.macs.resetCounters()
            }
        }
    }

    func setDebug(events: Bool?, packets: Bool?) {
        loop.execute { [self] in
            confined.withValue { c in
                if let events { c.state.debugEvents = events }
                if let packets { c.state.debugPackets = packets }
                logger.notice("VRRP debugging: events \(c.state.debugEvents ? "on" : "off"), packets \(c.state.debugPackets ? "on" : "off")")
            }
        }
    }
}
