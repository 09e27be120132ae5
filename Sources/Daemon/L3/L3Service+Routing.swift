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
        guard !driving.value.routeBatchInFlight, !driving.value.stopping else { return checkIdle() }
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
        driving.value.routeBatchInFlight = true
        hal.callNAT("nat-route", on: loop) { hal, deadline in
            try hal.natTranslate(queries.map { (packet: $0.0, zone: $0.1, bytes: $0.2) }, deadline: deadline)
        }.assumeIsolated().whenComplete { [self] result in
            driving.value.routeBatchInFlight = false
            guard !driving.value.stopping else { return checkIdle() }
            let hits = (try? result.get()) ?? []
            for (index, item) in pending.enumerated() {
                finish(item, hit: index < hits.count ? hits[index] : nil)
            }
            loop.execute { [self] in drainRouteInbox() }
        }
    }

    /// Checks one frame; forwards (or drops) what needs no NAT at once, returns what does.
    private func prepare(_ bytes: [UInt8], vlan: UInt16, port: PortID) -> Pending? {
        state.value.routing.received += 1
        guard let frame = EthernetFrame.parse(bytes), let packet = IPv4Packet.parse(frame.payload) else {
            state.value.routing.malformed += 1
            return nil
        }
        // A sender on the ingress subnet is a neighbour (so the reply needs no ARP), while the
        // table has room.
        learnNeighbor(packet.source, mac: frame.source, vlan: vlan, port: port, evidence: .addressedToUs)
        switch state.withValue({ $0.classify(packet, from: vlan, natActive: nat.engine.isActive) }) {
        case .dropped:
            return nil
        case .forward:
            forward(packet)
            return nil
        case .translate(let flow, let side):
            return Pending(packet: packet, flow: flow, side: side)
        }
    }

    /// After the HAL's answer: a hit is rewritten as the chip would; a miss (or a TCP
    /// SYN/FIN/RST, which the CPU follows) goes to the engine.
    private func finish(_ item: Pending, hit: NATLookupResult?) {
        if let hit, hit.translated, !item.flow.isTCPControl {
            state.value.routing.translatedByHAL += 1
            nat.engine.countHardwareHits(1)
            return forward(Self.rewrite(item.packet, as: NATService.flowPacket(hit.packet, flags: item.flow.flags)))
        }
        let decision = nat.engine.process(item.flow, from: item.side, now: clock.now, commit: true, explain: false)
        nat.install([decision])
        switch decision.outcome {
        case .translated:
            state.value.routing.translatedByCPU += 1
            forward(Self.rewrite(item.packet, as: decision.packet))
        case .untranslated:
            forward(item.packet)
        case .dropped:
            state.value.routing.natDropped += 1
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

    /// Routes the packet as the state decides (`L3State.forward`): to a resolved neighbour, or
    /// held while its next hop is asked for.
    private func forward(_ packet: IPv4Packet) {
        var out = packet
        let forwarding = state.withValue { state in
            state.forward(&out, now: clock.now) { nat.engine.config.statics.hasInsideGlobal($0) }
        }
        switch forwarding {
        case .forRouter, .noRoute, .held, .unresolved:
            return
        case .neighbor(let mac, let vlan, let port, let offloaded):
            if offloaded { hostTable.changed(.host(out.destination)) }
            send(out, to: mac, vlan: vlan, port: port)
        case .resolve(let ask):
            let request = ARPPacket(operation: 1, senderMAC: routerMAC, senderIP: ask.source, targetMAC: MACAddress(0), targetIP: ask.hop)
            let frame = EthernetFrame(destination: Multicast.broadcast, source: routerMAC, etherType: EtherType.arp, payload: request.bytes[...])
            hal.hal.sendFromCPU(frame.bytes, vlan: ask.vlan)
            // Weakly: on a test clock never advanced, the wake-up must not keep the service alive.
            _ = loop.scheduleTask(after: .seconds(1), clock: clock) { [weak self] in
                self?.state.value.waitExpired(for: ask.hop, generation: ask.generation)
            }
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
                state.value.routing.fragmentationNeeded += 1
                return answerTooBig(packet, mtu: mtu)
            }
            guard let fragments = packet.fragments(mtu: mtu) else {
                state.value.routing.malformed += 1
                return
            }
            state.value.routing.fragmented += 1
            pieces = fragments
        }
        for piece in pieces {
            let frame = EthernetFrame(destination: mac, source: routerMAC, etherType: EtherType.ipv4, payload: piece.bytes[...])
            hal.hal.sendFromCPU(frame.bytes, vlan: vlan, port: port)
        }
        state.value.routing.forwarded += 1
    }

    /// ICMP "fragmentation needed" to the packet's source, from the router's address on the
    /// subnet toward it (never about an ICMP error).
    private func answerTooBig(_ packet: IPv4Packet, mtu: Int) {
        if packet.protocolNumber == ICMPv4.protocolNumber && ICMPv4.isError(packet.payload) { return }
        guard let back = state.withValue({ $0.routes.lookup(packet.source) }) else { return }
        var error = IPv4Packet(
            source: back.prefix.address, destination: packet.source, protocolNumber: ICMPv4.protocolNumber, ttl: 65,
            payload: ICMPv4.fragmentationNeeded(for: packet, mtu: mtu))
        error.identification = UInt16(truncatingIfNeeded: state.value.routing.fragmentationNeeded)
        forward(error)
    }
}
