import NAT
import NetTypes
import Packets
import SwitchHAL
import Time
import VRRP

/// What the router on the SVIs knows and decides, without threads or I/O: the configuration's
/// answers and routes, the VRRP Masters, the neighbour table and the packets waiting for a next
/// hop's ARP reply, the destinations the chip routes, and the counters. Each method takes what
/// arrived (a configuration change, a parsed packet, "now") and returns what to do: the driver
/// (`L3Service`) sends the frames, asks the NAT engine and tells the HAL.
///
/// The routing path's decisions return small values, never arrays built per packet: a packet
/// costs what it cost before the split.
struct L3State: Sendable {
    typealias Key = VRRPEngine.Key

    let routerMAC: MACAddress
    /// The chip's L3 host table's size: no more destinations are offloaded than it holds.
    let hostCapacity: Int

    /// The SVI addresses, NAT addresses and the globals that follow each router, from the
    /// configuration.
    private(set) var desired = SVIDesired()
    /// What each Master router answers for, and the Masters of each VLAN.
    private(set) var masters: [Key: VRRPState.MasterInfo] = [:]
    private(set) var mastersOfVLAN: [UInt16: Set<Key>] = [:]
    private(set) var routes = RouteTable()
    /// NAT roles and subnets (what the routing path asks of the environment).
    private(set) var environment = NATEnvironment()
    private(set) var neighbors = NeighborTable()
    /// Packets waiting for a next hop's ARP reply, by next hop.
    private(set) var waiting: [IPv4Address: Waiting] = [:]
    private var nextARPGeneration: UInt64 = 0
    var routing = RoutingCounters()
    var answered = AnswerCounters()
    /// The destinations the chip routes (L3Service+Offload), by destination and by next hop.
    private(set) var offloaded: [IPv4Address: Offloaded] = [:]
    private(set) var offloadedVia: [IPv4Address: Set<IPv4Address>] = [:]
    /// The NAT zone of each ingress VLAN, as the chip is to have it.
    private(set) var natZones: [UInt16: NATZone] = [:]

    /// How many packets may wait for one next hop's ARP reply, and how many next hops may be
    /// waiting at once (a scan of a connected /16 asks for at most this many per second).
    static let maxWaiting = 8
    static let maxUnresolvedHops = 256

    init(routerMAC: MACAddress, hostCapacity: Int) {
        self.routerMAC = routerMAC
        self.hostCapacity = hostCapacity
    }

    /// Packets held for one next hop: the VLAN it is asked on, and which request (a later one
    /// has its own second).
    struct Waiting: Sendable {
        var vlan: UInt16
        var packets: [IPv4Packet]
        var generation: UInt64
    }

    struct Offloaded: Sendable, Equatable {
        var hop: IPv4Address
        var vlan: UInt16
        var mac: MACAddress
    }

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

    // MARK: Configuration and VRRP

    /// What a configuration change asks of the driver besides.
    struct Reconfigured: Equatable, Sendable {
        /// The VLANs whose NAT zone moved (the chip is told).
        var natZones: [UInt16] = []
        /// What the chip routes was decided with the old routes, SVIs or NAT: every offload
        /// must be withdrawn (`withdrawAllOffloads`), and the CPU decides again.
        var withdrawOffloads = false
    }

    /// The running configuration changed: `desired` holds the answers, `environment` the roles
    /// and subnets, `change` what moved (the routes and SVIs to redo).
    mutating func configure(_ desired: SVIDesired, _ environment: NATEnvironment, _ change: ConfigChange) -> Reconfigured {
        self.desired = desired
        self.environment = environment
        var result = Reconfigured()
        for key in change.keys {
            switch key {
            case .interface(.svi(let vlan)):
                routes.setConnected(vlan, environment.subnets[.svi(vlan)])
                if noteNATZone(of: vlan) { result.natZones.append(vlan) }
                result.withdrawOffloads = true
            case .staticRoute(let prefix):
                routes.setStatic(prefix, nextHop: environment.staticRoutes[prefix])
                result.withdrawOffloads = true
            case .natStatic, .natRule, .natPool, .accessList:
                result.withdrawOffloads = true
            default: break
            }
        }
        return result
    }

    /// The SVI of `vlan` changed: whether its NAT zone moved.
    private mutating func noteNATZone(of vlan: UInt16) -> Bool {
        let zone = environment.roles[.svi(vlan)]
        guard natZones[vlan] != zone else { return false }
        natZones[vlan] = zone
        return true
    }

    /// Routers that became (or still are, with new addresses) Master, and routers that are not
    /// any more.
    mutating func mastersChanged(_ updated: [Key: VRRPState.MasterInfo], removed: Set<Key>) {
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

    // MARK: Answers

    /// A Master's virtual addresses and accept mode as configured now. They come from the
    /// configuration pushed to this thread by the control plane, not from the VRRP thread's
    /// Master notices: a packet sent after a command's reply meets the command's effect.
    private func configured(_ key: Key) -> VirtualRouterConfig? { desired.specs[key]?.config }

    /// The MAC that answers ARP for `address` on `vlan`, if the router answers for it.
    func arpAnswer(_ address: IPv4Address, vlan: UInt16) -> MACAddress? {
        for key in mastersOfVLAN[vlan] ?? [] {
            guard let master = masters[key] else { continue }
            if case .ipv4(let list) = configured(key)?.addresses, list.contains(address) { return master.virtualMAC }
            if !key.ipv6, desired.natGlobals[key]?[address] != nil { return master.virtualMAC }
        }
        if desired.sviAddresses[vlan]?.contains(address) == true { return routerMAC }
        // A NAT global address (pool or static without redundancy) on an outside SVI.
        if desired.natProxy.answers(address, vlan: vlan) { return routerMAC }
        return nil
    }

    /// An ARP heard on `vlan` (`port`): the MAC that answers it (a request for an address the
    /// router answers for), and its sender learned as the frame allows (solicited if the router
    /// is resolving it on this VLAN).
    mutating func heardARP(_ arp: ARPPacket, vlan: UInt16, port: PortID, now: Instant) -> (answer: MACAddress?, learned: Learned) {
        let answer = arp.operation == 1 ? arpAnswer(arp.targetIP, vlan: vlan) : nil
        var learned = Learned()
        if arp.senderIP.value != 0 {
            let evidence: NeighborTable.Evidence =
                waiting[arp.senderIP]?.vlan == vlan ? .solicited : answer != nil ? .addressedToUs : .unsolicited
            learned = learnNeighbor(arp.senderIP, mac: arp.senderMAC, vlan: vlan, port: port, evidence: evidence, now: now)
        }
        if arp.operation == 1 { answered.arpRequests += 1 }
        return (answer, learned)
    }

    /// The MAC that answers an echo request to `destination` sent to `frameDestination` on
    /// `vlan`: the router's own addresses, and a Master's virtual ones when it owns them or
    /// accept mode is on (nil: not the router's to answer).
    func pingAnswer(to destination: IPv4Address, vlan: UInt16, frameDestination: MACAddress) -> MACAddress? {
        var mac: MACAddress?
        for key in mastersOfVLAN[vlan] ?? [] {
            guard let master = masters[key], let config = configured(key), case .ipv4(let list) = config.addresses,
                list.contains(destination)
            else { continue }
            if (master.isAddressOwner || config.acceptMode) && frameDestination == master.virtualMAC { mac = master.virtualMAC }
            break
        }
        if mac == nil, desired.sviAddresses[vlan]?.contains(destination) == true, frameDestination == routerMAC { mac = routerMAC }
        return mac
    }

    /// The Master that answers a neighbour solicitation for `target` on `vlan`: its virtual MAC
    /// and link-local source, whatever accept mode says (RFC 5798 (635)).
    func solicitationAnswer(for target: IPv6Address, vlan: UInt16) -> (mac: MACAddress, source: IPv6Address)? {
        for key in mastersOfVLAN[vlan] ?? [] where key.ipv6 {
            guard let master = masters[key], case .ipv6(let list) = configured(key)?.addresses, list.contains(target),
                let source = master.linkLocal
            else { continue }
            return (master.virtualMAC, source)
        }
        return nil
    }

    /// Whether a packet addressed to `address` is for the router itself: one of its SVI
    /// addresses, a virtual address, a static NAT global (`isStaticGlobal`, the engine's).
    func isForRouter(_ address: IPv4Address, isStaticGlobal: (IPv4Address) -> Bool) -> Bool {
        desired.sviAddressSet[address] != nil || environment.isVirtualAddress(address) || isStaticGlobal(address)
    }

    // MARK: Neighbours

    /// What learning a neighbour asks of the driver.
    struct Learned {
        /// Next hops whose entry went or changed MAC or VLAN: what the chip routes through them
        /// goes back to the CPU (`withdrawOffloads(via:)`).
        var invalidated: [IPv4Address] = []
        /// Packets that waited for this neighbour's ARP reply: they go out to it now.
        var released: [IPv4Packet] = []
    }

    /// A sender heard on `vlan` (by ARP or a packet to route) is recorded as `evidence` allows
    /// (`NeighborTable`), if `address` is on that SVI's subnet (nobody can plant an entry for
    /// another VLAN's addresses); packets waiting for it on that VLAN are released.
    mutating func learnNeighbor(
        _ address: IPv4Address, mac: MACAddress, vlan: UInt16, port: PortID, evidence: NeighborTable.Evidence, now: Instant
    ) -> Learned {
        guard routes.isOnSubnet(address, vlan: vlan), !mac.isMulticast else { return Learned() }
        let outcome = neighbors.learn(address, mac: mac, vlan: vlan, port: port, evidence: evidence, now: now)
        var learned = Learned(invalidated: outcome.invalidated)
        guard outcome.recorded, let queued = waiting[address], queued.vlan == vlan else { return learned }
        waiting[address] = nil
        learned.released = queued.packets
        return learned
    }

    /// `clear ip arp`: forgets every neighbour; returns how many there were.
    mutating func clearNeighbors() -> Int { neighbors.removeAll() }

    // MARK: Routing

    /// Where a received packet goes next.
    enum Classification: Equatable {
        /// Dropped (and counted).
        case dropped
        /// Routed as it is (`forward`).
        case forward
        /// Through the NAT first (the HAL's table, then the engine), from the `side` zone.
        case translate(FlowPacket, side: NATZone)
    }

    /// A packet to route, received on `vlan` (its sender already learned): dropped, routed, or
    /// through the NAT when `natActive`. As IOS orders it: from inside, routing decides first,
    /// and only a packet that leaves through an outside interface is translated; from outside,
    /// translation comes first.
    mutating func classify(_ packet: IPv4Packet, from vlan: UInt16, natActive: Bool) -> Classification {
        guard packet.ttl > 1 else {
            routing.ttlExceeded += 1
            return .dropped
        }
        let side = natActive ? environment.roles[.svi(vlan)] : nil
        // Fragments: the ports are not (all) in this one. Not reassembled here: dropped and
        // counted where NAT applies, rather than translated wrong.
        if packet.isFragment {
            guard side != nil else { return .forward }
            routing.fragments += 1
            return .dropped
        }
        let proto: L4Protocol
        var ports: (source: UInt16, destination: UInt16) = (0, 0)
        switch packet.protocolNumber {
        case Transport.tcp, Transport.udp, Transport.icmp:
            guard let found = Transport.ports(packet.payload, protocolNumber: packet.protocolNumber) else {
                // ICMP other than echo (errors quote a packet this router does not rewrite):
                // not sent on through NAT with an inside address in it.
                guard side != nil else { return .forward }
                routing.untranslatable += 1
                return .dropped
            }
            proto = packet.protocolNumber == Transport.tcp ? .tcp : packet.protocolNumber == Transport.udp ? .udp : .icmp
            ports = found
        default:
            // GRE, ESP, ...: address-only translation (one-to-one mappings), if any.
            proto = .any
        }
        guard let side else { return .forward }
        if side == .inside {
            guard let egress = routes.lookup(packet.destination) else {
                routing.noRoute += 1
                return .dropped
            }
            if environment.roles[egress.interface] != .outside { return .forward }
        }
        var flags: TCPFlags = []
        if proto == .tcp, let raw = Transport.tcpFlags(packet.payload) { flags = TCPFlags(rawValue: raw & 0x17) }
        let flow = FlowPacket(
            proto: proto, source: Endpoint(packet.source, ports.source), destination: Endpoint(packet.destination, ports.destination),
            flags: flags)
        return .translate(flow, side: side)
    }

    /// Where a routed packet leaves.
    enum Forwarding: Equatable {
        /// For one of the router's own addresses, for no service it runs (counted).
        case forRouter
        /// No route (counted).
        case noRoute
        /// To the resolved neighbour `mac` on `port` of `vlan`; `offloaded`: the destination just
        /// went into (or moved in) `offloaded`, for the chip's host table.
        case neighbor(mac: MACAddress, vlan: UInt16, port: PortID, offloaded: Bool)
        /// Held for a next hop not resolved yet: the driver sends this ARP request and ends the
        /// wait a second later (`waitExpired`).
        case resolve(ARPRequest)
        /// Held behind a request already out.
        case held
        /// The next hop's wait is full, or too many next hops are waiting: dropped (counted).
        case unresolved
    }

    /// An ARP request for a next hop, and the wait it starts.
    struct ARPRequest: Equatable, Sendable {
        var hop: IPv4Address
        var vlan: UInt16
        /// The router's address on the next hop's subnet (the request's sender address).
        var source: IPv4Address
        var generation: UInt64
    }

    /// Routes `packet` (its TTL decremented here) to the SVI whose subnet holds the destination
    /// (or the next hop of the longest static route); a packet to an unresolved next hop waits
    /// for its ARP reply (a few per next hop, a bounded number of next hops, for a second).
    mutating func forward(_ packet: inout IPv4Packet, now: Instant, isStaticGlobal: (IPv4Address) -> Bool) -> Forwarding {
        packet.ttl -= 1
        // For the router itself (its SVI addresses, virtual addresses, NAT globals) and not
        // translated away: no service here.
        if isForRouter(packet.destination, isStaticGlobal: isStaticGlobal) {
            routing.forRouter += 1
            return .forRouter
        }
        guard let route = routes.lookup(packet.destination) else {
            routing.noRoute += 1
            return .noRoute
        }
        let (prefix, vlan, hop) = (route.prefix, route.vlan, route.nextHop)
        if let neighbor = neighbors[hop], neighbor.vlan == vlan, now.duration(since: neighbor.seen) < NeighborTable.lifetime {
            let offloaded = offload(packet.destination, hop: hop, vlan: vlan, mac: neighbor.mac)
            return .neighbor(mac: neighbor.mac, vlan: vlan, port: neighbor.port, offloaded: offloaded)
        }
        if let queued = waiting[hop] {
            guard queued.packets.count < Self.maxWaiting, queued.vlan == vlan else {
                routing.unresolved += 1
                return .unresolved
            }
            waiting[hop]?.packets.append(packet)
            return .held
        }
        guard waiting.count < Self.maxUnresolvedHops else {
            routing.unresolved += 1
            return .unresolved
        }
        let generation = nextARPGeneration
        nextARPGeneration += 1
        waiting[hop] = Waiting(vlan: vlan, packets: [packet], generation: generation)
        return .resolve(ARPRequest(hop: hop, vlan: vlan, source: prefix.address, generation: generation))
    }

    /// A second after request `generation` for `hop`: its packets, if still waiting, are
    /// dropped and counted (a later request's wait has its own second).
    mutating func waitExpired(for hop: IPv4Address, generation: UInt64) {
        guard let queued = waiting[hop], queued.generation == generation else { return }
        waiting[hop] = nil
        routing.unresolved += UInt64(queued.packets.count)
    }

    // MARK: Offloads

    /// The packet to `destination` just left for `hop` (`mac`, in `vlan`): the chip takes over.
    /// Returns whether the destination's entry changed (the host table is to be told).
    private mutating func offload(_ destination: IPv4Address, hop: IPv4Address, vlan: UInt16, mac: MACAddress) -> Bool {
        let entry = Offloaded(hop: hop, vlan: vlan, mac: mac)
        if offloaded[destination] == entry { return false }
        if let old = offloaded[destination], old.hop != hop { offloadedVia[old.hop]?.remove(destination) }
        guard offloaded[destination] != nil || offloaded.count < hostCapacity else { return false }
        offloaded[destination] = entry
        offloadedVia[hop, default: []].insert(destination)
        return true
    }

    /// Every destination routed through `hop` goes back to the CPU (its MAC or VLAN changed,
    /// or it is forgotten); returns them.
    mutating func withdrawOffloads(via hop: IPv4Address) -> Set<IPv4Address>? {
        guard let destinations = offloadedVia.removeValue(forKey: hop) else { return nil }
        for destination in destinations { offloaded[destination] = nil }
        return destinations
    }

    /// Every destination goes back to the CPU (routes, SVIs or the NAT changed); returns them.
    mutating func withdrawAllOffloads() -> Dictionary<IPv4Address, Offloaded>.Keys? {
        guard !offloaded.isEmpty else { return nil }
        let destinations = offloaded.keys
        offloaded = [:]
        offloadedVia = [:]
        return destinations
    }
}
