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
final class L3Service: @unchecked Sendable {
    typealias Key = VRRPEngine.Key

    let nat: NATService
    var loop: EventLoop { nat.loop }
    let hal: HALService
    let logger: Logger
    let routerMAC: MACAddress

    // Loop-confined.
    /// The SVI addresses, NAT addresses and the globals that follow each router, from the
    /// configuration.
    var desired = SVIDesired()
    /// What each Master router answers for, and the Masters of each VLAN.
    var masters: [Key: VRRPService.MasterInfo] = [:]
    var mastersOfVLAN: [UInt16: Set<Key>] = [:]
    var routes = RouteTable()
    /// NAT roles and subnets (what the routing path asks of the environment).
    var environment = NATEnvironment()
    var neighbors = NeighborTable()
    /// Packets waiting for a next hop's ARP reply: its VLAN, the packets, which request.
    var waiting: [IPv4Address: (vlan: UInt16, packets: [IPv4Packet], generation: UInt64)] = [:]
    var nextARPGeneration: UInt64 = 0
    var routing = RoutingCounters()
    var answered = AnswerCounters()
    var routeBatchInFlight = false
    var stopping = false
    /// The destinations the chip routes (L3Service+Offload), by destination and by next hop.
    var offloaded: [IPv4Address: Offloaded] = [:]
    var offloadedVia: [IPv4Address: Set<IPv4Address>] = [:]
    /// The NAT zone of each ingress VLAN, as the chip is to have it.
    var natZones: [UInt16: NATZone] = [:]
    /// Brings the HAL's L3 host table to `offloaded` and `natZones`.
    private(set) var hostTable: HALReconciler<HostObject, HostState>!

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

    struct AnswerCounters: Sendable {
        var arpRequests: UInt64 = 0
        var arpReplies: UInt64 = 0
        var neighborSolicitations: UInt64 = 0
        var neighborAdvertisements: UInt64 = 0
        var echoReplies: UInt64 = 0
    }

    struct RoutingCounters: Sendable {
        var received: UInt64 = 0
        var forwarded: UInt64 = 0
        /// Translated by the HAL's entries / by the engine on the CPU.
        var translatedByHAL: UInt64 = 0
        var translatedByCPU: UInt64 = 0
        var noRoute: UInt64 = 0
        var ttlExceeded: UInt64 = 0
        /// The next hop did not answer ARP within a second.
        var unresolved: UInt64 = 0
        var natDropped: UInt64 = 0
        /// Addressed to one of the router's own addresses, for a service it does not run.
        var forRouter: UInt64 = 0
        var fragments: UInt64 = 0
        /// Larger than the egress MTU: cut into fragments / with DF, answered with ICMP
        /// "fragmentation needed".
        var fragmented: UInt64 = 0
        var fragmentationNeeded: UInt64 = 0
        /// ICMP errors and other ICMP that would cross the NAT untranslated.
        var untranslatable: UInt64 = 0
        var malformed: UInt64 = 0
    }

    /// The service's time (neighbour lifetimes, the NAT engine's time for routed packets).
    let clock: any Clock

    init(nat: NATService, hal: HALService, routerMAC: MACAddress, logger: Logger, clock: any Clock = SystemClock()) {
        self.nat = nat
        self.clock = clock
        self.hal = hal
        self.routerMAC = routerMAC
        self.logger = logger
        hostTable = HALReconciler(driver: Self.hostTableDriver, hal: hal, loop: nat.loop, clock: clock) { [unowned self] in desiredHostState($0) }
        hostTable.onProblem = { [logger] problem in
            logger.warning("L3 host table update failed (\(problem)); the routed path stays on the CPU until it is redone")
        }
    }

    /// No frame is taken any more; returns (within 2 s) once a routing batch with the HAL has
    /// come back. Called from the control plane's loop, so it waits with a plain condition.
    func shutdown() {
        accepting.store(false, ordering: .sequentiallyConsistent)
        let done = ConditionLock(value: false)
        loop.execute { [self] in
            stopping = true
            hostTable.stop {}
            let signal = {
                done.lock()
                done.unlock(withValue: true)
            }
            if routeBatchInFlight { idle = signal } else { signal() }
        }
        if done.lock(whenValue: true, timeoutSeconds: 2) { done.unlock() }
    }

    private var idle: (() -> Void)?

    func checkIdle() {
        guard stopping, !routeBatchInFlight, let idle else { return }
        self.idle = nil
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
            self.desired = desired
            self.environment = environment
            var routingChanged = false
            for key in change.keys {
                switch key {
                case .interface(.svi(let vlan)):
                    routes.setConnected(vlan, environment.subnets[.svi(vlan)])
                    noteNATZone(of: .svi(vlan))
                    routingChanged = true
                case .staticRoute(let prefix):
                    routes.setStatic(prefix, nextHop: environment.staticRoutes[prefix])
                    routingChanged = true
                case .natStatic, .natRule, .natPool, .accessList:
                    routingChanged = true
                default: break
                }
            }
            // What the chip routes was decided with the old routes: the CPU decides again.
            if routingChanged { withdrawAllOffloads() }
        }
    }

    /// Routers that became (or still are, with new addresses) Master, and routers that are not
    /// any more (from the VRRP thread).
    func mastersChanged(_ updated: [Key: VRRPService.MasterInfo], removed: Set<Key>) {
        loop.execute { [self] in
            for key in removed {
                guard let old = masters.removeValue(forKey: key) else { continue }
                mastersOfVLAN[old.vlan]?.remove(key)
                if mastersOfVLAN[old.vlan]?.isEmpty == true { mastersOfVLAN[old.vlan] = nil }
            }
            for (key, info) in updated {
                if let old = masters[key], old.vlan != info.vlan { mastersOfVLAN[old.vlan]?.remove(key) }
                masters[key] = info
                mastersOfVLAN[info.vlan, default: []].insert(key)
            }
        }
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
            Snapshot(
                routing: routing, answered: answered, routeOverflow: routeOverflow.load(ordering: .relaxed),
                answerOverflow: answerOverflow.load(ordering: .relaxed), neighbors: neighbors.count, neighborCapacity: neighbors.capacity,
                neighborCounters: neighbors.counters, incomplete: waiting.count,
                neighborList: neighbors.entries.sorted { $0.key < $1.key }.map { [now = clock.now] in
                    ($0.key, $0.value.mac, $0.value.vlan, Int(now.duration(since: $0.value.seen).components.seconds / 60))
                })
        }
    }

    /// `clear vrrp statistics`: the answers to ARP, ping and neighbour solicitation.
    func clearAnswerCounters() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            answered = AnswerCounters()
            answerOverflow.store(0, ordering: .relaxed)
        }
    }

    /// `clear ip nat statistics`: the routed-path counters shown with the NAT statistics.
    func clearRoutingCounters() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            routing = RoutingCounters()
            routeOverflow.store(0, ordering: .relaxed)
        }
    }

    /// `clear ip arp`: forgets every neighbour.
    func clearNeighbors() -> EventLoopFuture<Int> {
        loop.submit { [self] in
            let count = neighbors.removeAll()
            withdrawAllOffloads()
            return count
        }
    }
}
