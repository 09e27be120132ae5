import Atomics
import HashTreeCollections
import Logging
import NAT
import NIOConcurrencyHelpers
import NIOCore
import NetTypes
import Packets
import SwitchHAL
import Time
import VRRP

/// The router on the SVIs: what it answers (ARP, ping and neighbour solicitations for its own
/// addresses, for the virtual addresses of its VRRP Masters, and for NAT global addresses), the
/// neighbour table, and the routing path that carries IPv4 between SVIs, through the NAT.
///
/// It shares the NAT service's loop (the `l3-nat` thread): a packet that needs a translation the
/// HAL does not have meets the engine there, synchronously. VRRP tells it which routers are
/// Master (`mastersChanged`); the control plane tells it what the configuration asks
/// (`configure`), change by change. Every question a packet asks (who answers this address on
/// this VLAN, where does this destination leave) costs O(1) or one probe per prefix length.
///
/// A driver: what it knows and decides is `L3State`, in a box only the loop may open; this
/// class takes the frames, sends what the state decides, asks the NAT engine and tells the HAL.
final class L3Service: Sendable {
    typealias Key = VRRPEngine.Key
    typealias AnswerCounters = L3State.AnswerCounters
    typealias RoutingCounters = L3State.RoutingCounters

    let nat: NATService
    var loop: EventLoop { nat.loop }
    let hal: HALService
    let logger: Logger
    let routerMAC: MACAddress

    /// The loop's: what the service knows and decides.
    let state: NIOLoopBoundBox<L3State>
    /// The loop's: what the driver keeps besides (the host table's reconciler, the routing
    /// batch with the HAL, stopping).
    let driving: NIOLoopBoundBox<Driving>

    struct Driving {
        /// Brings the HAL's L3 host table to the state's `offloaded` and `natZones`.
        let hostTable: HALReconciler<HostObject, HostState>
        var routeBatchInFlight = false
        var stopping = false
        /// Told once the routing batch in flight has come back, when stopping.
        var idle: (() -> Void)?
    }

    var hostTable: HALReconciler<HostObject, HostState> { driving.value.hostTable }

    // Any thread.
    /// Frames for the answers (ARP, ICMP, ND) and frames to route, each in a bounded inbox of its
    /// own: a flood of one never takes the other's room.
    let answerInbox = BoundedInbox<InboundFrame>(capacity: L3Service.maxPendingFrames)
    let routeInbox = BoundedInbox<InboundFrame>(capacity: L3Service.maxPendingFrames)
    let answerOverflow = ManagedAtomic<UInt64>(0)
    let routeOverflow = ManagedAtomic<UInt64>(0)
    let accepting = ManagedAtomic(true)

    /// More than this many frames waiting means the thread is behind: the rest are dropped and
    /// counted (a flood to the router costs bounded memory and never reaches VRRP).
    static let maxPendingFrames = 4096

    /// The service's time (neighbour lifetimes, the NAT engine's time for routed packets).
    let clock: any Clock

    init(nat: NATService, hal: HALService, routerMAC: MACAddress, logger: Logger, clock: any Clock = SystemClock()) {
        self.nat = nat
        self.clock = clock
        self.hal = hal
        self.routerMAC = routerMAC
        self.logger = logger
        let state = NIOLoopBoundBox.makeBoxSendingValue(
            L3State(routerMAC: routerMAC, hostCapacity: hal.hal.chip.l3HostEntries), eventLoop: nat.loop)
        self.state = state
        let hostTable = HALReconciler(driver: Self.hostTableDriver, hal: hal, loop: nat.loop, clock: clock) { object in
            state.withValue { Self.desiredHostState(object, in: $0) }
        }
        hostTable.onProblem = { [logger] problem in
            logger.warning("L3 host table update failed (\(problem)); the routed path stays on the CPU until it is redone")
        }
        driving = NIOLoopBoundBox.makeBoxSendingValue(Driving(hostTable: hostTable), eventLoop: nat.loop)
    }

    /// No frame is taken any more; returns (within 2 s) once a routing batch with the HAL has
    /// come back. Called from the control plane's loop, so it waits with a plain condition.
    func shutdown() {
        accepting.store(false, ordering: .sequentiallyConsistent)
        let done = ConditionLock(value: false)
        loop.execute { [self] in
            driving.value.stopping = true
            hostTable.stop {}
            let signal = {
                done.lock()
                done.unlock(withValue: true)
            }
            if driving.value.routeBatchInFlight { driving.value.idle = signal } else { signal() }
        }
        if done.lock(whenValue: true, timeoutSeconds: 2) { done.unlock() }
    }

    func checkIdle() {
        guard driving.value.stopping, !driving.value.routeBatchInFlight, let idle = driving.value.idle else { return }
        driving.value.idle = nil
        idle()
    }

    // MARK: Frames

    /// From the rx thread: a frame for the answers or for the routing path. Never blocks.
    func receive(_ frame: InboundFrame, routed: Bool) {
        guard accepting.load(ordering: .relaxed) else { return }
        let inbox = routed ? routeInbox : answerInbox
        switch inbox.offer(frame) {
        case .refused: (routed ? routeOverflow : answerOverflow).wrappingIncrement(ordering: .relaxed)
        case .first: loop.execute { [self] in routed ? drainRouteInbox() : drainAnswers() }
        case .accepted: break
        }
    }

    /// A frame from elsewhere (the NAT test traffic, a ping the answers did not take) to route.
    func route(_ bytes: [UInt8], vlan: UInt16, port: PortID) {
        receive(InboundFrame(port: port, vlan: vlan, bytes: bytes), routed: true)
    }

    // MARK: Configuration and VRRP

    /// The running configuration changed: `desired` holds the answers, `environment` the roles
    /// and subnets, `change` what moved (the routes and SVIs to redo).
    func configure(_ desired: SVIDesired, _ environment: NATEnvironment, _ change: ConfigChange) {
        loop.execute { [self] in
            let result = state.value.configure(desired, environment, change)
            if !result.natZones.isEmpty { hostTable.changed(result.natZones.lazy.map { .natZone($0) }) }
            if result.withdrawOffloads { withdrawAllOffloads() }
        }
    }

    /// Routers that became (or still are, with new addresses) Master, and routers that are not
    /// any more (from the VRRP thread).
    func mastersChanged(_ updated: [Key: VRRPState.MasterInfo], removed: Set<Key>) {
        loop.execute { [self] in state.value.mastersChanged(updated, removed: removed) }
    }

    // MARK: State for the CLI

    struct Snapshot: Sendable {
        var routing: RoutingCounters
        var answered: AnswerCounters
        var routeOverflow: UInt64
        var answerOverflow: UInt64
        var neighbors: Int
        var neighborCapacity: Int
        var neighborCounters: NeighborTable.Counters
        /// Next hops being resolved (an ARP request out, packets waiting for the reply).
        var incomplete: Int
        /// Age: minutes since the neighbour was last heard.
        var neighborList: [(address: IPv4Address, mac: MACAddress, vlan: UInt16, ageMinutes: Int)]
    }

    func snapshot() -> EventLoopFuture<Snapshot> {
        loop.submit { [self] in
            let current = state.value
            return Snapshot(
                routing: current.routing, answered: current.answered, routeOverflow: routeOverflow.load(ordering: .relaxed),
                answerOverflow: answerOverflow.load(ordering: .relaxed), neighbors: current.neighbors.count,
                neighborCapacity: current.neighbors.capacity, neighborCounters: current.neighbors.counters, incomplete: current.waiting.count,
                neighborList: current.neighbors.entries.sorted { $0.key < $1.key }.map { [now = clock.now] in
                    ($0.key, $0.value.mac, $0.value.vlan, Int(now.duration(since: $0.value.seen).components.seconds / 60))
                })
        }
    }

    /// `clear vrrp statistics`: the answers to ARP, ping and neighbour solicitation.
    func clearAnswerCounters() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            state.value.answered = AnswerCounters()
            answerOverflow.store(0, ordering: .relaxed)
        }
    }

    /// `clear ip nat statistics`: the routed-path counters shown with the NAT statistics.
    func clearRoutingCounters() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            state.value.routing = RoutingCounters()
            routeOverflow.store(0, ordering: .relaxed)
        }
    }

    /// `clear ip arp`: forgets every neighbour.
    func clearNeighbors() -> EventLoopFuture<Int> {
        loop.submit { [self] in
            let count = state.value.clearNeighbors()
            withdrawAllOffloads()
            return count
        }
    }
}
