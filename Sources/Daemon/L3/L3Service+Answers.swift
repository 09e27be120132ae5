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
            let answer = arp.operation == 1 ? arpAnswer(arp.targetIP, vlan: vlan) : nil
            if arp.senderIP.value != 0 {
                let evidence: NeighborTable.Evidence =
                    waiting[arp.senderIP]?.vlan == vlan ? .solicited : answer != nil ? .addressedToUs : .unsolicited
                learnNeighbor(arp.senderIP, mac: arp.senderMAC, vlan: vlan, port: port, evidence: evidence)
            }
            guard arp.operation == 1 else { return }
            answered.arpRequests += 1
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

    /// A Master's virtual addresses and accept mode as configured now. They come from the
    /// configuration pushed to this thread by the control plane, not from the VRRP thread's
    /// Master notices: a packet sent after a command's reply meets the command's effect.
    private func configured(_ key: VRRPEngine.Key) -> VirtualRouterConfig? { desired.specs[key]?.config }

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

    private func answerARP(_ request: ARPPacket, with mac: MACAddress, frame: EthernetFrame, vlan: UInt16, port: PortID) {
        let reply = ARPPacket(operation: 2, senderMAC: mac, senderIP: request.targetIP, targetMAC: request.senderMAC, targetIP: request.senderIP)
        let out = EthernetFrame(destination: frame.source, source: mac, etherType: EtherType.arp, payload: reply.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        answered.arpReplies += 1
    }

    /// Answers an echo request to the router's own addresses; false if it is not one.
    private func answerPing(_ packet: IPv4Packet, frame: EthernetFrame, vlan: UInt16, port: PortID) -> Bool {
        var mac: MACAddress?
        for key in mastersOfVLAN[vlan] ?? [] {
            guard let master = masters[key], let config = configured(key), case .ipv4(let list) = config.addresses,
                list.contains(packet.destination)
            else { continue }
            if (master.isAddressOwner || config.acceptMode) && frame.destination == master.virtualMAC { mac = master.virtualMAC }
            break
        }
        if mac == nil, desired.sviAddresses[vlan]?.contains(packet.destination) == true, frame.destination == routerMAC { mac = routerMAC }
        guard let mac, let reply = ICMPv4.echoReply(to: packet.payload) else { return false }
        let ip = IPv4Packet(source: packet.destination, destination: packet.source, protocolNumber: ICMPv4.protocolNumber, ttl: 64, payload: reply)
        let out = EthernetFrame(destination: frame.source, source: mac, etherType: EtherType.ipv4, payload: ip.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        answered.echoReplies += 1
        return true
    }

    /// Neighbour solicitations for a Master's IPv6 virtual addresses get the virtual MAC, whatever
    /// accept mode says (RFC 5798 (635)).
    private func answerSolicitation(target: IPv6Address, packet: IPv6Packet, frame: EthernetFrame, vlan: UInt16, port: PortID) {
        answered.neighborSolicitations += 1
        for key in mastersOfVLAN[vlan] ?? [] where key.ipv6 {
            guard let master = masters[key], case .ipv6(let list) = configured(key)?.addresses, list.contains(target),
                let source = master.linkLocal
            else { continue }
            let answer = NeighborAdvertisement.solicited(target: target, mac: master.virtualMAC, source: source, to: packet.source)
            let destinationMAC = answer.destination == packet.source ? frame.source : Multicast.allNodesIPv6
            let out = EthernetFrame(destination: destinationMAC, source: master.virtualMAC, etherType: EtherType.ipv6, payload: answer.bytes[...])
            hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
            answered.neighborAdvertisements += 1
            return
        }
    }

    /// Whether a packet addressed to `address` is for the router itself: one of its SVI
    /// addresses, a virtual address, a static NAT global.
    func isForRouter(_ address: IPv4Address) -> Bool {
        desired.sviAddressSet[address] != nil || environment.isVirtualAddress(address) || nat.engine.config.statics.hasInsideGlobal(address)
    }

    // MARK: Neighbours

    /// How many packets may wait for one next hop's ARP reply, and how many next hops may be
    /// waiting at once (a scan of a connected /16 asks for at most this many per second).
    static let maxWaiting = 8
    static let maxUnresolvedHops = 256

    /// A sender heard on `vlan` (by ARP or a packet to route) is recorded as `evidence` allows
    /// (`NeighborTable`), if `address` is on that SVI's subnet (nobody can plant an entry for
    /// another VLAN's addresses); packets waiting for it on that VLAN go out.
    func learnNeighbor(_ address: IPv4Address, mac: MACAddress, vlan: UInt16, port: PortID, evidence: NeighborTable.Evidence) {
        guard routes.isOnSubnet(address, vlan: vlan), !mac.isMulticast else { return }
        let outcome = neighbors.learn(address, mac: mac, vlan: vlan, port: port, evidence: evidence, now: clock.now)
        for hop in outcome.invalidated { withdrawOffloads(via: hop) }
        guard outcome.recorded, let queued = waiting[address], queued.vlan == vlan else { return }
        waiting[address] = nil
        for packet in queued.packets { send(packet, to: mac, vlan: vlan, port: port) }
    }
}
