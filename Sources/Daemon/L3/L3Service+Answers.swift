import NetTypes
import Packets
import SwitchHAL
import Time
import VRRP

/// What the router answers on its SVIs: ARP for its own addresses (with the router MAC), for a
/// Master's virtual addresses and the NAT global addresses that follow it (with the virtual MAC,
/// never the router MAC, RFC 5798 §8.1.2), and for NAT pools and static globals on outside SVIs;
/// ping for its own addresses and, when the Master owns them or accept mode is on, the virtual
/// ones (RFC 5798 (650)); neighbour solicitations for a Master's IPv6 virtual addresses. An ARP
/// sender on the VLAN's own subnet becomes a neighbour of the routing path when its ARP asks for
/// one of these addresses or answers the router's own request (`NeighborTable`: as Linux).
extension L3Service {
    /// On the loop: everything that arrived since the last wake-up.
    func drainAnswers() {
        for frame in answerInbox.take() { answer(frame.bytes, port: frame.port, vlan: frame.vlan) }
    }

    private func answer(_ bytes: [UInt8], port: PortID, vlan: UInt16) {
        guard let frame = EthernetFrame.parse(bytes) else { return }
        switch frame.etherType {
        case EtherType.arp:
            guard let arp = ARPPacket.parse(frame.payload) else { return }
            let (answer, learned) = state.withValue { $0.heardARP(arp, vlan: vlan, port: port, now: clock.now) }
            carryOut(learned, to: arp.senderMAC, vlan: vlan, port: port)
            if let answer { answerARP(arp, with: answer, frame: frame, vlan: vlan, port: port) }
        case EtherType.ipv4:
            guard let packet = IPv4Packet.parse(frame.payload) else { return }
            if packet.protocolNumber == ICMPv4.protocolNumber, answerPing(packet, frame: frame, vlan: vlan, port: port) { return }
            // Not for the router itself: to the routing (and NAT) path.
            if !frame.destination.isMulticast && (frame.destination == routerMAC || frame.destination.value >> 8 == 0x0000_5e00_01) {
                route(bytes, vlan: vlan, port: port)
            }
        case EtherType.ipv6:
            guard let packet = IPv6Packet.parse(frame.payload), let target = NeighborAdvertisement.solicitationTarget(packet) else { return }
            answerSolicitation(target: target, packet: packet, frame: frame, vlan: vlan, port: port)
        default:
            break
        }
    }

    private func answerARP(_ request: ARPPacket, with mac: MACAddress, frame: EthernetFrame, vlan: UInt16, port: PortID) {
        let reply = ARPPacket(operation: 2, senderMAC: mac, senderIP: request.targetIP, targetMAC: request.senderMAC, targetIP: request.senderIP)
        let out = EthernetFrame(destination: frame.source, source: mac, etherType: EtherType.arp, payload: reply.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        state.value.answered.arpReplies += 1
    }

    /// Answers an echo request to the router's own addresses; false if it is not one.
    private func answerPing(_ packet: IPv4Packet, frame: EthernetFrame, vlan: UInt16, port: PortID) -> Bool {
        let answer = state.withValue { $0.pingAnswer(to: packet.destination, vlan: vlan, frameDestination: frame.destination) }
        guard let mac = answer, let reply = ICMPv4.echoReply(to: packet.payload) else { return false }
        let ip = IPv4Packet(source: packet.destination, destination: packet.source, protocolNumber: ICMPv4.protocolNumber, ttl: 64, payload: reply)
        let out = EthernetFrame(destination: frame.source, source: mac, etherType: EtherType.ipv4, payload: ip.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        state.value.answered.echoReplies += 1
        return true
    }

    /// Neighbour solicitations for a Master's IPv6 virtual addresses get the virtual MAC, whatever
    /// accept mode says (RFC 5798 (635)).
    private func answerSolicitation(target: IPv6Address, packet: IPv6Packet, frame: EthernetFrame, vlan: UInt16, port: PortID) {
        let master = state.withValue { state in
            state.answered.neighborSolicitations += 1
            return state.solicitationAnswer(for: target, vlan: vlan)
        }
        guard let master else { return }
        let answer = NeighborAdvertisement.solicited(target: target, mac: master.mac, source: master.source, to: packet.source)
        let destinationMAC = answer.destination == packet.source ? frame.source : Multicast.allNodesIPv6
        let out = EthernetFrame(destination: destinationMAC, source: master.mac, etherType: EtherType.ipv6, payload: answer.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        state.value.answered.neighborAdvertisements += 1
    }

    // MARK: Neighbours

    /// A sender heard on `vlan` (by ARP or a packet to route) is recorded as `evidence` allows
    /// (`L3State.learnNeighbor`); packets waiting for it on that VLAN go out.
    func learnNeighbor(_ address: IPv4Address, mac: MACAddress, vlan: UInt16, port: PortID, evidence: NeighborTable.Evidence) {
        let learned = state.withValue { $0.learnNeighbor(address, mac: mac, vlan: vlan, port: port, evidence: evidence, now: clock.now) }
        carryOut(learned, to: mac, vlan: vlan, port: port)
    }

    /// What the chip routes through a next hop that went or moved goes back to the CPU; the
    /// packets that waited for the neighbour go to it.
    private func carryOut(_ learned: L3State.Learned, to mac: MACAddress, vlan: UInt16, port: PortID) {
        for hop in learned.invalidated { withdrawOffloads(via: hop) }
        for packet in learned.released { send(packet, to: mac, vlan: vlan, port: port) }
    }
}
