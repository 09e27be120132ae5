import NAT
import NIOCore
import NetTypes
import Packets
import SwitchHAL

/// Real frames through the NAT: IPv4 packets a host sends to the router (its MAC or a virtual
/// MAC) arrive here from the VRRP thread, meet the HAL NAT table (a hit is translated as the
/// chip would; a miss goes to the engine, as on a switch's CPU), and are routed to the SVI whose
/// subnet holds the destination (or the next hop of the longest static route), with the next
/// hop's MAC from ARP.
extension NATService {
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
        /// ICMP errors and other ICMP that would cross the NAT untranslated.
        var untranslatable: UInt64 = 0
        var neighborTableFull: UInt64 = 0
        var malformed: UInt64 = 0
    }

    struct Neighbor: Sendable {
        var mac: MACAddress
        var vlan: UInt16
        /// The port it was last heard on: routed packets go there, not to every port of the VLAN.
        var port: PortID
        var seen: UInt64
    }

    /// How many packets may wait for one next hop's ARP reply, and how many next hops may be
    /// waiting at once (a scan of a connected /16 asks for at most this many per second).
    static let maxWaiting = 8
    static let maxUnresolvedHops = 256
    /// The neighbour table's size, and how long an entry lives without being heard from.
    static let maxNeighbors = 4096
    static let neighborLifetimeMs: UInt64 = 300_000

    /// More than this many frames waiting means the NAT thread is behind: the rest are dropped
    /// and counted (a flood to the router costs bounded memory and never reaches VRRP).
    static let maxPendingFrames = 4096

    /// From any thread (the HAL's CPU path, the VRRP thread): a packet for the router to route.
    /// Never blocks; frames wait in a bounded inbox and are handled in batches.
    func routeFrame(_ bytes: [UInt8], vlan: UInt16, port: PortID) {
        switch routeInbox.offer((bytes, vlan, port)) {
        case .refused: routeOverflow.wrappingIncrement(ordering: .relaxed)
        case .first: loop.execute { [self] in drainRouteInbox() }
        case .accepted: break
        }
    }

    /// From the VRRP thread: an ARP sender (request or reply) on the VLAN's own subnet is a
    /// neighbour; packets waiting for it on that VLAN go out.
    func learnNeighbor(_ address: IPv4Address, mac: MACAddress, vlan: UInt16, port: PortID) {
        loop.execute { [self] in
            guard note(address, mac: mac, vlan: vlan, port: port) else { return }
            guard let queued = waiting[address], queued.vlan == vlan else { return }
            waiting[address] = nil
            for packet in queued.packets { send(packet, to: mac, vlan: vlan, port: port) }
        }
    }

    /// Records a neighbour heard on `vlan` if `address` is on that SVI's subnet (nobody can
    /// plant an entry for another VLAN's addresses) and the table has room. True if recorded.
    @discardableResult
    private func note(_ address: IPv4Address, mac: MACAddress, vlan: UInt16, port: PortID) -> Bool {
        guard environment.subnets["vlan\(vlan)"]?.contains(where: { $0.contains(address) }) == true,
            !mac.isMulticast
        else { return false }
        let now = NATService.now
        if neighbors[address] == nil && neighbors.count >= Self.maxNeighbors {
            // Full: make room from the entries not heard from for their lifetime.
            neighbors = neighbors.filter { now - $0.value.seen < Self.neighborLifetimeMs }
            guard neighbors.count < Self.maxNeighbors else {
                routing.neighborTableFull += 1
                return false
            }
        }
        neighbors[address] = Neighbor(mac: mac, vlan: vlan, port: port, seen: now)
        return true
    }

    /// `clear ip arp`: forgets every neighbour.
    func clearNeighbors() -> EventLoopFuture<Int> {
        loop.submit { [self] in
            let count = neighbors.count
            neighbors = [:]
            return count
        }
    }

    /// A received packet that needs the NAT: what the HAL is asked, and what to do after.
    private struct Pending {
        var packet: IPv4Packet
        var flow: FlowPacket
        var side: NATZone
    }

    /// On the loop: every frame that arrived since the last turn, with one HAL call for all of
    /// them. While that call is out, new frames wait in the (bounded) inbox.
    func drainRouteInbox() {
        guard !routeBatchInFlight, !stopping else { return checkIdle() }
        let frames = routeInbox.take()
        guard !frames.isEmpty else { return }
        var pending: [Pending] = []
        for (bytes, vlan, port) in frames {
            if let item = prepare(bytes, vlan: vlan, port: port) { pending.append(item) }
        }
        // Nothing for the HAL: come back on the next turn of the loop (never a recursion, and
        // never a turn that keeps everything else waiting under a flood).
        guard !pending.isEmpty else {
            loop.execute { [self] in drainRouteInbox() }
            return
        }
        let queries = pending.map { (Self.halPacket($0.flow), $0.side, $0.packet.payload.count + 20) }
        routeBatchInFlight = true
        hal.callNAT("nat-route", on: loop) { hal, deadline in
            try queries.map { try hal.natTranslate($0.0, zone: $0.1, bytes: $0.2, deadline: deadline) }
        }.assumeIsolated().whenComplete { [self] result in
            routeBatchInFlight = false
            guard !stopping else { return checkIdle() }
            let hits = (try? result.get()) ?? []
            for (index, item) in pending.enumerated() {
                finish(item, hit: index < hits.count ? hits[index] : nil)
            }
            loop.execute { [self] in drainRouteInbox() }
        }
    }

    /// Checks one frame; forwards (or drops) what needs no NAT at once, returns what does.
    private func prepare(_ bytes: [UInt8], vlan: UInt16, port: PortID) -> Pending? {
        routing.received += 1
        guard let frame = EthernetFrame.parse(bytes), let packet = IPv4Packet.parse(frame.payload) else {
            routing.malformed += 1
            return nil
        }
        let ingress = "vlan\(vlan)"
        // A sender on the ingress subnet is a neighbour (so the reply needs no ARP).
        note(packet.source, mac: frame.source, vlan: vlan, port: port)
        guard packet.ttl > 1 else {
            routing.ttlExceeded += 1
            return nil
        }
        let side = engine.isActive ? environment.roles[ingress] : nil
        // Fragments: the ports are not (all) in this one. Not reassembled here: dropped and
        // counted where NAT applies, rather than translated wrong.
        if packet.isFragment {
            if side != nil {
                routing.fragments += 1
                return nil
            }
            forward(packet)
            return nil
        }
        let proto: L4Protocol
        var ports: (source: UInt16, destination: UInt16) = (0, 0)
        switch packet.protocolNumber {
        case Transport.tcp, Transport.udp, Transport.icmp:
            guard let found = Transport.ports(packet.payload, protocolNumber: packet.protocolNumber) else {
                // ICMP other than echo (errors quote a packet this router does not rewrite):
                // not sent on through NAT with an inside address in it.
                if side != nil {
                    routing.untranslatable += 1
                    return nil
                }
                forward(packet)
                return nil
            }
            proto = packet.protocolNumber == Transport.tcp ? .tcp : packet.protocolNumber == Transport.udp ? .udp : .icmp
            ports = found
        default:
            // GRE, ESP, ...: address-only translation (one-to-one mappings), if any.
            proto = .any
        }
        guard let side else {
            forward(packet)
            return nil
        }
        // As IOS orders it: from inside, routing decides first, and only a packet that leaves
        // through an outside interface is translated; from outside, translation comes first.
        if side == .inside {
            guard let egress = nextHop(to: packet.destination) else {
                routing.noRoute += 1
                return nil
            }
            if environment.roles[egress.name] != .outside {
                forward(packet)
                return nil
            }
        }
        var flags: TCPFlags = []
        if proto == .tcp, let raw = Transport.tcpFlags(packet.payload) { flags = TCPFlags(rawValue: raw & 0x17) }
        let flow = FlowPacket(proto: proto, source: Endpoint(packet.source, ports.source), destination: Endpoint(packet.destination, ports.destination), flags: flags)
        return Pending(packet: packet, flow: flow, side: side)
    }

    /// After the HAL's answer: a hit is rewritten as the chip would; a miss (or a TCP
    /// SYN/FIN/RST, which the CPU follows) goes to the engine.
    private func finish(_ item: Pending, hit: NATLookupResult?) {
        if let hit, hit.translated, !item.flow.isTCPControl {
            routing.translatedByHAL += 1
            engine.countHardwareHits(1)
            return forward(Self.rewrite(item.packet, as: Self.flowPacket(hit.packet, flags: item.flow.flags)))
        }
        let decision = engine.process(item.flow, from: item.side, now: NATService.now, commit: true, explain: false)
        install([decision])
        switch decision.outcome {
        case .translated:
            routing.translatedByCPU += 1
            forward(Self.rewrite(item.packet, as: decision.packet))
        case .untranslated:
            forward(item.packet)
        case .dropped:
            routing.natDropped += 1
        }
    }

    /// The packet with the translated addresses and ports (checksums recomputed).
    static func rewrite(_ packet: IPv4Packet, as flow: FlowPacket) -> IPv4Packet {
        var out = packet
        out.source = flow.source.address
        out.destination = flow.destination.address
        if let payload = Transport.rewritten(
            packet.payload, protocolNumber: packet.protocolNumber, sourcePort: flow.source.port, destinationPort: flow.destination.port,
            source: out.source, destination: out.destination)
        {
            out.payload = payload
        }
        return out
    }

    /// The SVI whose subnet holds `destination`.
    private func connectedRoute(to destination: IPv4Address) -> (name: String, prefix: IPv4Prefix, vlan: UInt16)? {
        var best: (name: String, prefix: IPv4Prefix, vlan: UInt16)?
        for (name, prefixes) in environment.subnets {
            guard let vlan = UInt16(name.dropFirst(4)) else { continue }
            for prefix in prefixes where prefix.contains(destination) && prefix.length > (best?.prefix.length ?? -1) {
                best = (name, prefix, vlan)
            }
        }
        return best
    }

    /// Where a packet to `destination` leaves, and the next hop to send it to: the longest
    /// matching prefix, connected or static (connected wins a tie); a static route's next hop
    /// must itself be on a connected subnet.
    func nextHop(to destination: IPv4Address) -> (name: String, prefix: IPv4Prefix, vlan: UInt16, hop: IPv4Address)? {
        let connected = connectedRoute(to: destination)
        // The longest usable static route (its next hop on a connected subnet); an unusable one
        // does not hide a shorter one.
        let viaStatic = environment.staticRoutes
            .filter { $0.key.contains(destination) && connectedRoute(to: $0.value) != nil }
            .max { $0.key.length < $1.key.length }
        if let route = viaStatic, route.key.length > (connected?.prefix.length ?? -1), let egress = connectedRoute(to: route.value) {
            return (egress.name, egress.prefix, egress.vlan, route.value)
        }
        return connected.map { ($0.name, $0.prefix, $0.vlan, destination) }
    }

    /// Routes to the SVI whose subnet holds the destination; the next hop is the destination.
    private func forward(_ packet: IPv4Packet) {
        var out = packet
        out.ttl -= 1
        // For the router itself (its SVI addresses, virtual addresses, NAT globals) and not
        // translated away: no service here.
        if environment.subnets.values.contains(where: { $0.contains { $0.address == out.destination } })
            || environment.isVirtualAddress(out.destination) || engine.config.statics.hasInsideGlobal(out.destination)
        {
            routing.forRouter += 1
            return
        }
        guard let (_, prefix, vlan, hop) = nextHop(to: out.destination) else {
            routing.noRoute += 1
            return
        }
        if let neighbor = neighbors[hop], neighbor.vlan == vlan, NATService.now - neighbor.seen < Self.neighborLifetimeMs {
            return send(out, to: neighbor.mac, vlan: vlan, port: neighbor.port)
        }
        // Ask, and hold the packet (a few per next hop, a bounded number of next hops) for a second.
        if let queued = waiting[hop] {
            guard queued.packets.count < Self.maxWaiting, queued.vlan == vlan else {
                routing.unresolved += 1
                return
            }
            waiting[hop]?.packets.append(out)
            return
        }
        guard waiting.count < Self.maxUnresolvedHops else {
            routing.unresolved += 1
            return
        }
        let generation = nextARPGeneration
        nextARPGeneration += 1
        waiting[hop] = (vlan, [out], generation)
        let request = ARPPacket(operation: 1, senderMAC: routerMAC, senderIP: prefix.address, targetMAC: MACAddress(0), targetIP: hop)
        let frame = EthernetFrame(destination: Multicast.broadcast, source: routerMAC, etherType: EtherType.arp, payload: request.bytes[...])
        hal.hal.sendFromCPU(frame.bytes, vlan: vlan)
        let target = hop
        loop.scheduleTask(in: .seconds(1)) { [self] in
            // Only this request's wait ends here (a later one has its own second).
            guard let queued = waiting[target], queued.generation == generation else { return }
            waiting[target] = nil
            routing.unresolved += UInt64(queued.packets.count)
        }
    }

    /// To the neighbour's port only (as the chip's L3 egress would), never flooded.
    private func send(_ packet: IPv4Packet, to mac: MACAddress, vlan: UInt16, port: PortID) {
        let frame = EthernetFrame(destination: mac, source: routerMAC, etherType: EtherType.ipv4, payload: packet.bytes[...])
        hal.hal.sendFromCPU(frame.bytes, vlan: vlan, port: port)
        routing.forwarded += 1
    }
}
