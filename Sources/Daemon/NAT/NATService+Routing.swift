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
        var malformed: UInt64 = 0
    }

    struct Neighbor: Sendable {
        var mac: MACAddress
        var vlan: UInt16
    }

    /// How many packets may wait for one next hop's ARP reply.
    static let maxWaiting = 8

    /// More than this many frames waiting means the NAT thread is behind: the rest are dropped
    /// and counted (a flood to the router costs bounded memory and never reaches VRRP).
    static let maxPendingFrames = 4096

    /// From any thread (the HAL's CPU path, the VRRP thread): a packet for the router to route.
    /// Never blocks; frames wait in a bounded inbox and are handled in batches.
    func routeFrame(_ bytes: [UInt8], vlan: UInt16) {
        let (accepted, first) = routeInbox.withLockedValue { queue -> (Bool, Bool) in
            guard queue.count < Self.maxPendingFrames else { return (false, false) }
            queue.append((bytes, vlan))
            return (true, queue.count == 1)
        }
        guard accepted else {
            routeOverflow.wrappingIncrement(ordering: .relaxed)
            return
        }
        if first { loop.execute { [self] in drainRouteInbox() } }
    }

    /// From the VRRP thread: an ARP sender (request or reply) is a neighbour.
    func learnNeighbor(_ address: IPv4Address, mac: MACAddress, vlan: UInt16) {
        loop.execute { [self] in
            neighbors[address] = Neighbor(mac: mac, vlan: vlan)
            guard let queued = waiting.removeValue(forKey: address) else { return }
            for packet in queued { send(packet, to: mac, vlan: vlan) }
        }
    }

    /// A received packet that needs the NAT: what the HAL is asked, and what to do after.
    private struct Pending {
        var packet: IPv4Packet
        var flow: FlowPacket
        var side: NATRole
        var control: Bool
    }

    /// On the loop: every frame that arrived since the last turn, with one HAL call for all of
    /// them. While that call is out, new frames wait in the (bounded) inbox.
    func drainRouteInbox() {
        guard !routeBatchInFlight, !stopping else { return }
        var frames: [([UInt8], UInt16)] = []
        routeInbox.withLockedValue { swap(&$0, &frames) }
        guard !frames.isEmpty else { return }
        var pending: [Pending] = []
        for (bytes, vlan) in frames {
            if let item = prepare(bytes, vlan: vlan) { pending.append(item) }
        }
        guard !pending.isEmpty else { return drainRouteInbox() }
        let queries = pending.map { (Self.halPacket($0.flow), Self.zone($0.side), $0.packet.payload.count + 20) }
        routeBatchInFlight = true
        hal.callNAT("nat-route", on: loop) { hal, deadline in
            try queries.map { try hal.natTranslate($0.0, zone: $0.1, bytes: $0.2, deadline: deadline) }
        }.assumeIsolated().whenComplete { [self] result in
            routeBatchInFlight = false
            guard !stopping else { return }
            let hits = (try? result.get()) ?? []
            for (index, item) in pending.enumerated() {
                finish(item, hit: index < hits.count ? hits[index] : nil)
            }
            drainRouteInbox()
        }
    }

    /// Checks one frame; forwards (or drops) what needs no NAT at once, returns what does.
    private func prepare(_ bytes: [UInt8], vlan: UInt16) -> Pending? {
        routing.received += 1
        guard let frame = EthernetFrame.parse(bytes), let packet = IPv4Packet.parse(frame.payload) else {
            routing.malformed += 1
            return nil
        }
        let ingress = "vlan\(vlan)"
        // A sender on the ingress subnet is a neighbour (so the reply needs no ARP).
        if environment.subnets[ingress]?.contains(where: { $0.network.value == packet.source.value & $0.mask }) == true {
            neighbors[packet.source] = Neighbor(mac: frame.source, vlan: vlan)
        }
        guard packet.ttl > 1 else {
            routing.ttlExceeded += 1
            return nil
        }
        let proto: L4Protocol? = packet.protocolNumber == Transport.tcp ? .tcp : packet.protocolNumber == Transport.udp ? .udp
            : packet.protocolNumber == Transport.icmp ? .icmp : nil
        guard let side = environment.roles[ingress], engine.isActive, let proto,
            let ports = Transport.ports(packet.payload, protocolNumber: packet.protocolNumber)
        else {
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
        return Pending(packet: packet, flow: flow, side: side, control: proto == .tcp && !flags.subtracting(.ack).isEmpty)
    }

    /// After the HAL's answer: a hit is rewritten as the chip would; a miss (or a TCP
    /// SYN/FIN/RST, which the CPU follows) goes to the engine.
    private func finish(_ item: Pending, hit: NATLookupResult?) {
        if let hit, hit.translated, !item.control {
            routing.translatedByHAL += 1
            engine.countHardwareHits(1)
            return forward(Self.rewrite(item.packet, as: Self.flowPacket(hit.packet, flags: item.flow.flags)))
        }
        let decision = engine.process(item.flow, from: item.side, now: NATService.now, commit: true, explain: false)
        if decision.created, let id = decision.translationID {
            program(groups: [decision.changes]) { [self] errors in
                if let error = errors.first ?? nil {
                    engine.abandon(id, reason: { if case .full = error { return .hardwareFull } else { return .hardwareError } }())
                }
            }
        }
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
            for prefix in prefixes where prefix.network.value == destination.value & prefix.mask && prefix.length > (best?.prefix.length ?? -1) {
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
        let viaStatic = environment.staticRoutes
            .filter { $0.key.network.value == destination.value & $0.key.mask }
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
        // For the router itself (and not translated away): no service here.
        if environment.subnets.values.contains(where: { $0.contains { $0.address == out.destination } }) {
            routing.forRouter += 1
            return
        }
        guard let (_, prefix, vlan, hop) = nextHop(to: out.destination) else {
            routing.noRoute += 1
            return
        }
        if let neighbor = neighbors[hop], neighbor.vlan == vlan {
            return send(out, to: neighbor.mac, vlan: vlan)
        }
        // Ask, and hold the packet (a few per next hop) for a second.
        let first = waiting[hop] == nil
        guard (waiting[hop]?.count ?? 0) < Self.maxWaiting else {
            routing.unresolved += 1
            return
        }
        waiting[hop, default: []].append(out)
        guard first else { return }
        let request = ARPPacket(operation: 1, senderMAC: routerMAC, senderIP: prefix.address, targetMAC: MACAddress(0), targetIP: hop)
        let frame = EthernetFrame(destination: Multicast.broadcast, source: routerMAC, etherType: EtherType.arp, payload: request.bytes[...])
        hal.hal.sendFromCPU(frame.bytes, vlan: vlan)
        let target = hop
        loop.scheduleTask(in: .seconds(1)) { [self] in
            if let dropped = waiting.removeValue(forKey: target) { routing.unresolved += UInt64(dropped.count) }
        }
    }

    private func send(_ packet: IPv4Packet, to mac: MACAddress, vlan: UInt16) {
        let frame = EthernetFrame(destination: mac, source: routerMAC, etherType: EtherType.ipv4, payload: packet.bytes[...])
        hal.hal.sendFromCPU(frame.bytes, vlan: vlan)
        routing.forwarded += 1
    }
}
