import NAT
import NIOCore
import NetTypes
import Packets
import SwitchHAL
import Time

/// The routing path: IPv4 packets a host sends to the router (its MAC or a virtual MAC) meet the
/// HAL NAT table (a hit is translated as the chip would; a miss goes to the NAT engine, as on a
/// switch's CPU), and are routed to the SVI whose subnet holds the destination (or the next hop
/// of the longest static route), with the next hop's MAC from ARP.
extension L3Service {
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
        for frame in frames {
            if let item = prepare(frame.bytes, vlan: frame.vlan, port: frame.port) { pending.append(item) }
        }
        // Nothing for the HAL: come back on the next turn of the loop (never a recursion, and
        // never a turn that keeps everything else waiting under a flood).
        guard !pending.isEmpty else {
            loop.execute { [self] in drainRouteInbox() }
            return
        }
        let queries = pending.map { (NATService.halPacket($0.flow), $0.side, $0.packet.payload.count + 20) }
        routeBatchInFlight = true
        hal.callNAT("nat-route", on: loop) { hal, deadline in
            try hal.natTranslate(queries.map { (packet: $0.0, zone: $0.1, bytes: $0.2) }, deadline: deadline)
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
        let ingress = InterfaceID.svi(vlan)
        // A sender on the ingress subnet is a neighbour (so the reply needs no ARP), while the
        // table has room.
        learnNeighbor(packet.source, mac: frame.source, vlan: vlan, port: port, evidence: .addressedToUs)
        guard packet.ttl > 1 else {
            routing.ttlExceeded += 1
            return nil
        }
        let side = nat.engine.isActive ? environment.roles[ingress] : nil
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
            guard let egress = routes.lookup(packet.destination) else {
                routing.noRoute += 1
                return nil
            }
            if environment.roles[egress.interface] != .outside {
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
            nat.engine.countHardwareHits(1)
            return forward(Self.rewrite(item.packet, as: NATService.flowPacket(hit.packet, flags: item.flow.flags)))
        }
        let decision = nat.engine.process(item.flow, from: item.side, now: clock.now, commit: true, explain: false)
        nat.install([decision])
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

    /// Routes to the SVI whose subnet holds the destination; the next hop is the destination.
    private func forward(_ packet: IPv4Packet) {
        var out = packet
        out.ttl -= 1
        // For the router itself (its SVI addresses, virtual addresses, NAT globals) and not
        // translated away: no service here.
        if isForRouter(out.destination) {
            routing.forRouter += 1
            return
        }
        guard let route = routes.lookup(out.destination) else {
            routing.noRoute += 1
            return
        }
        let (prefix, vlan, hop) = (route.prefix, route.vlan, route.nextHop)
        if let neighbor = neighbors[hop], neighbor.vlan == vlan, clock.now.duration(since: neighbor.seen) < NeighborTable.lifetime {
            offload(out.destination, hop: hop, vlan: vlan, mac: neighbor.mac)
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

    /// To the neighbour's port only (as the chip's L3 egress would), never flooded. A packet
    /// larger than the egress port's MTU is fragmented, or with DF set answered with ICMP
    /// "fragmentation needed" and the MTU (path MTU discovery, RFC 1191).
    func send(_ packet: IPv4Packet, to mac: MACAddress, vlan: UInt16, port: PortID) {
        let mtu = hal.hal.mtu(port)
        var pieces = [packet]
        if 20 + packet.payload.count > mtu {
            if packet.dontFragment {
                routing.fragmentationNeeded += 1
                return answerTooBig(packet, mtu: mtu)
            }
            guard let fragments = packet.fragments(mtu: mtu) else {
                routing.malformed += 1
                return
            }
            routing.fragmented += 1
            pieces = fragments
        }
        for piece in pieces {
            let frame = EthernetFrame(destination: mac, source: routerMAC, etherType: EtherType.ipv4, payload: piece.bytes[...])
            hal.hal.sendFromCPU(frame.bytes, vlan: vlan, port: port)
        }
        routing.forwarded += 1
    }

    /// ICMP "fragmentation needed" to the packet's source, from the router's address on the
    /// subnet toward it (never about an ICMP error).
    private func answerTooBig(_ packet: IPv4Packet, mtu: Int) {
        if packet.protocolNumber == ICMPv4.protocolNumber && ICMPv4.isError(packet.payload) { return }
        guard let back = routes.lookup(packet.source) else { return }
        var error = IPv4Packet(
            source: back.prefix.address, destination: packet.source, protocolNumber: ICMPv4.protocolNumber, ttl: 65,
            payload: ICMPv4.fragmentationNeeded(for: packet, mtu: mtu))
        error.identification = UInt16(truncatingIfNeeded: routing.fragmentationNeeded)
        forward(error)
    }
}
