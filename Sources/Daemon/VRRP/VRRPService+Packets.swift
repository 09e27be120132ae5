import NetTypes
import Packets
import SwitchHAL
import VRRP

/// The router's packets: VRRP advertisements in and out, and the answers a Master gives for its
/// virtual addresses (ARP, neighbour solicitations, ping), plus the SVI's own addresses.
extension VRRPService {
    // MARK: Receive

    /// From the HAL's rx thread: keeps what the router handles (VRRP, ARP, ICMP echo, neighbour
    /// solicitations), copies it, and hands it to the VRRP loop. Never blocks; when the loop is
    /// far behind, frames are dropped and counted.
    func cpuFrame(port: PortID, vlan: UInt16, frame: UnsafeRawBufferPointer) {
        let queue: BoundedInbox<InboundFrame>
        switch VRRPService.classify(frame) {
        case .ignored:
            framesIgnored.wrappingIncrement(ordering: .relaxed)
            return
        case .routed:
            // TCP and UDP to the router go straight to the routing path's own bounded inbox: a
            // flood of them never reaches this thread.
            if let route = router.withLockedValue({ $0 }) { route([UInt8](frame), vlan, port) } else { framesIgnored.wrappingIncrement(ordering: .relaxed) }
            return
        case .advertisement: queue = adverts
        case .other: queue = others
        }
        switch queue.offer(InboundFrame(port: port, vlan: vlan, bytes: [UInt8](frame))) {
        case .refused: framesOverflowed.wrappingIncrement(ordering: .relaxed)
        case .first where accepting.load(ordering: .relaxed): loop.execute { self.drainInbox() }
        default: break
        }
    }

    /// On the loop: everything that arrived since the last wake-up, advertisements first, then
    /// one re-arm.
    func drainInbox() {
        for frame in adverts.take() + others.take() { handle(frame.bytes, port: frame.port, vlan: frame.vlan) }
        rearm()
    }

    enum FrameClass { case advertisement, other, routed, ignored }

    /// One cheap look at the headers: VRRP (IPv4 protocol 112, IPv6 next header 112); ARP, ICMP
    /// and ICMPv6 for this thread; unicast IPv4 TCP or UDP (to the router's MAC or a virtual
    /// MAC) for the routing path; nothing else.
    static func classify(_ frame: UnsafeRawBufferPointer) -> FrameClass {
        guard frame.count >= 14 else { return .ignored }
        var offset = 12
        var type = UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
        if type == EtherType.vlan {
            guard frame.count >= 18 else { return .ignored }
            offset = 16
            type = UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
        }
        let ip = offset + 2
        switch type {
        case EtherType.arp:
            return .other
        case EtherType.ipv4:
            guard frame.count > ip + 9 else { return .ignored }
            switch frame[ip + 9] {
            case Advertisement.ipProtocol: return .advertisement
            case ICMPv4.protocolNumber: return .other
            case Transport.tcp, Transport.udp: return frame[0] & 1 == 0 && frame.count >= ip + 20 ? .routed : .ignored
            default: return .ignored
            }
        case EtherType.ipv6:
            guard frame.count > ip + 6 else { return .ignored }
            switch frame[ip + 6] {
            case Advertisement.ipProtocol: return .advertisement
            case 58: return .other
            default: return .ignored
            }
        default:
            return .ignored
        }
    }

    /// On the loop.
    func handle(_ bytes: [UInt8], port: PortID, vlan: UInt16) {
        if let advert = VRRPService.ipv4Advertisement(bytes) {
            receiveAdvertisement(
                interface: interfaceName(vlan), ipv6: false, message: advert.message, source: .ipv4(advert.source),
                destination: .ipv4(advert.destination), ttl: advert.ttl, sender: advert.sender)
            return
        }
        guard let frame = EthernetFrame.parse(bytes) else { return }
        let interface = interfaceName(vlan)
        switch frame.etherType {
        case EtherType.ipv4:
            guard let packet = IPv4Packet.parse(frame.payload) else {
                counters.vrrpMalformed += 1
                return
            }
            if packet.protocolNumber == Advertisement.ipProtocol {
                receiveAdvertisement(
                    interface: interface, ipv6: false, message: packet.payload, source: .ipv4(packet.source),
                    destination: .ipv4(packet.destination), ttl: packet.ttl, sender: frame.source)
            } else if packet.protocolNumber == ICMPv4.protocolNumber && answerPing(packet, frame: frame, vlan: vlan, port: port) {
                return
            } else if !frame.destination.isMulticast && (frame.destination == routerMAC || frame.destination.value >> 8 == 0x0000_5e00_01) {
                // Not for the router itself: to the routing (and NAT) path.
                router.withLockedValue { $0 }?(bytes, vlan, port)
            }
        case EtherType.ipv6:
            guard let packet = IPv6Packet.parse(frame.payload) else {
                counters.vrrpMalformed += 1
                return
            }
            if packet.nextHeader == Advertisement.ipProtocol {
                receiveAdvertisement(
                    interface: interface, ipv6: true, message: packet.payload, source: .ipv6(packet.source),
                    destination: .ipv6(packet.destination), ttl: packet.hopLimit, sender: frame.source)
            } else if let target = NeighborAdvertisement.solicitationTarget(packet) {
                answerSolicitation(target: target, packet: packet, frame: frame, vlan: vlan, port: port)
            }
        case EtherType.arp:
            guard let arp = ARPPacket.parse(frame.payload) else { return }
            if arp.senderIP.value != 0 { neighborObserver.withLockedValue { $0 }?(arp.senderIP, arp.senderMAC, vlan, port) }
            guard arp.operation == 1 else { return }
            answerARP(arp, frame: frame, vlan: vlan, port: port)
        default:
            break
        }
    }

    private func receiveAdvertisement(
        interface: String, ipv6: Bool, message: [UInt8], source: IPAddressPair.Source, destination: IPAddressPair.Destination,
        ttl: UInt8, sender: MACAddress
    ) {
        counters.vrrpReceived += 1
        let now = VRRPService.now
        if debugPackets {
            let vrid = message.count > 1 ? "\(message[1])" : "?"
            let priority = message.count > 2 ? "\(message[2])" : "?"
            logger.info("VRRP rx \(interface): from \(source) (\(sender)) VRID \(vrid) priority \(priority) ttl \(ttl), \(message.count) bytes")
        }
        let key = VRRPEngine.Key(interface: interface, vrid: message.count > 1 ? message[1] : 0, ipv6: ipv6)
        let discardsBefore = debugPackets ? engine.routers[key]?.statistics.totalDiscards : nil
        perform(engine.receive(interface: interface, ipv6: ipv6, message: message, source: source, destination: destination, ttl: ttl, now: now), now: now)
        if let before = discardsBefore, let router = engine.routers[key], router.statistics.totalDiscards > before {
            let reasons = router.statistics.discards.filter { $0.value > 0 }.map { "\($0.key)" }.sorted().joined(separator: ", ")
            logger.info("VRRP \(key): advertisement from \(source) discarded (counters: \(reasons))")
        }
    }

    /// `vlanN`, made once per VLAN.
    func interfaceName(_ vlan: UInt16) -> String {
        if let name = interfaceNames[vlan] { return name }
        let name = "vlan\(vlan)"
        interfaceNames[vlan] = name
        return name
    }

    /// The fast path for the frame that arrives 10,000 times a second: an IPv4 VRRP advert,
    /// taken apart in place (header checksum checked), with one allocation for the message.
    static func ipv4Advertisement(_ bytes: [UInt8]) -> (message: [UInt8], source: IPv4Address, destination: IPv4Address, ttl: UInt8, sender: MACAddress)? {
        bytes.withUnsafeBufferPointer { b -> (message: [UInt8], source: IPv4Address, destination: IPv4Address, ttl: UInt8, sender: MACAddress)? in
            guard b.count >= 34 else { return nil }
            var ip = 14
            if b[12] == 0x81 && b[13] == 0x00 {
                ip = 18
                guard b.count >= 38, b[16] == 0x08, b[17] == 0x00 else { return nil }
            } else {
                guard b[12] == 0x08, b[13] == 0x00 else { return nil }
            }
            guard b[ip] >> 4 == 4, b[ip + 9] == Advertisement.ipProtocol else { return nil }
            let headerLength = Int(b[ip] & 0x0f) * 4
            let total = Int(b[ip + 2]) << 8 | Int(b[ip + 3])
            guard headerLength >= 20, total >= headerLength, ip + total <= b.count else { return nil }
            var sum: UInt32 = 0
            var index = ip
            while index < ip + headerLength {
                sum &+= UInt32(b[index]) << 8 | UInt32(b[index + 1])
                index += 2
            }
            while sum >> 16 != 0 { sum = (sum & 0xffff) &+ (sum >> 16) }
            guard sum == 0xffff else { return nil }
            func address(_ o: Int) -> IPv4Address { IPv4Address(b[o], b[o + 1], b[o + 2], b[o + 3]) }
            var mac: UInt64 = 0
            for o in 6..<12 { mac = mac << 8 | UInt64(b[o]) }
            return (Array(b[(ip + headerLength)..<(ip + total)]), address(ip + 12), address(ip + 16), b[ip + 8], MACAddress(mac))
        }
    }

    /// ARP: a Master answers for its virtual addresses with the virtual MAC (never the router
    /// MAC, RFC 5798 §8.1.2); the SVI answers for its own addresses with the router MAC.
    private func answerARP(_ request: ARPPacket, frame: EthernetFrame, vlan: UInt16, port: PortID) {
        counters.arpRequests += 1
        let mac: MACAddress
        if let router = master(owning: .ipv4(request.targetIP), vlan: vlan) {
            mac = router.virtualMAC
        } else if let router = masterForNATGlobal(request.targetIP, vlan: vlan) {
            mac = router.virtualMAC
        } else if ownIPv4(vlan).contains(request.targetIP) {
            mac = routerMAC
        } else if desired.natProxy.answers(request.targetIP, vlan: vlan) {
            // A NAT global address (pool or static without redundancy) on an outside SVI.
            mac = routerMAC
        } else {
            return
        }
        let reply = ARPPacket(operation: 2, senderMAC: mac, senderIP: request.targetIP, targetMAC: request.senderMAC, targetIP: request.senderIP)
        let out = EthernetFrame(destination: frame.source, source: mac, etherType: EtherType.arp, payload: reply.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        counters.arpReplies += 1
    }

    /// Neighbour solicitations for a Master's IPv6 virtual addresses get the virtual MAC, whatever
    /// accept mode says (RFC 5798 (635)).
    private func answerSolicitation(target: IPv6Address, packet: IPv6Packet, frame: EthernetFrame, vlan: UInt16, port: PortID) {
        counters.neighborSolicitations += 1
        guard let router = master(owning: .ipv6(target), vlan: vlan), let source = router.interface.linkLocalIPv6 else { return }
        let answer = NeighborAdvertisement.solicited(target: target, mac: router.virtualMAC, source: source, to: packet.source)
        let destinationMAC = answer.destination == packet.source ? frame.source : Multicast.allNodesIPv6
        let out = EthernetFrame(destination: destinationMAC, source: router.virtualMAC, etherType: EtherType.ipv6, payload: answer.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        counters.neighborAdvertisements += 1
    }

    /// Ping: the SVI's own addresses always answer; a virtual address answers on the Master if it
    /// is the owner or accept mode is on (RFC 5798 (650)), from the virtual MAC.
    /// Answers an echo request to the router's own addresses; false if it is not one.
    private func answerPing(_ packet: IPv4Packet, frame: EthernetFrame, vlan: UInt16, port: PortID) -> Bool {
        let mac: MACAddress
        if let router = master(owning: .ipv4(packet.destination), vlan: vlan),
            router.isAddressOwner || router.config.acceptMode, frame.destination == router.virtualMAC
        {
            mac = router.virtualMAC
        } else if ownIPv4(vlan).contains(packet.destination), frame.destination == routerMAC {
            mac = routerMAC
        } else {
            return false
        }
        guard let reply = ICMPv4.echoReply(to: packet.payload) else { return false }
        let ip = IPv4Packet(source: packet.destination, destination: packet.source, protocolNumber: ICMPv4.protocolNumber, ttl: 64, payload: reply)
        let out = EthernetFrame(destination: frame.source, source: mac, etherType: EtherType.ipv4, payload: ip.bytes[...])
        hal.hal.sendFromCPU(out.bytes, vlan: vlan, port: port)
        counters.echoReplies += 1
        return true
    }

    /// The Master router of `vlan` that has `address` among its virtual addresses.
    private func master(owning address: IPAddressPair.Source, vlan: UInt16) -> VirtualRouter? {
        for (key, router) in engine.routers where router.state == .master && specs[key]?.vlan == vlan {
            switch (router.config.addresses, address) {
            case (.ipv4(let list), .ipv4(let a)) where list.contains(a): return router
            case (.ipv6(let list), .ipv6(let a)) where list.contains(a): return router
            default: continue
            }
        }
        return nil
    }

    /// The SVI's own IPv4 addresses (from any of its routers' specs, else none).
    private func ownIPv4(_ vlan: UInt16) -> [IPv4Address] {
        desired.sviAddresses[vlan] ?? []
    }

    // MARK: Send

    /// An advertisement as a whole frame: from the virtual MAC to the VRRP group, TTL 255,
    /// DSCP CS6, from the primary (IPv4) or link-local (IPv6) address.
    func advertisementFrame(_ ad: Advertisement, router: VirtualRouter) -> [UInt8]? {
        guard let source = router.sourceAddress else { return nil }
        let message = ad.encoded(source: source, destination: router.destination, pseudoHeader: router.config.checksumWithPseudoHeader)
        switch source {
        case .ipv4(let address):
            let ip = IPv4Packet(
                source: address, destination: Advertisement.ipv4Group, protocolNumber: Advertisement.ipProtocol, ttl: 255, tos: 0xc0,
                payload: message)
            return EthernetFrame(destination: Multicast.vrrpIPv4, source: router.virtualMAC, etherType: EtherType.ipv4, payload: ip.bytes[...]).bytes
        case .ipv6(let address):
            let ip = IPv6Packet(
                source: address, destination: Advertisement.ipv6Group, nextHeader: Advertisement.ipProtocol, hopLimit: 255, trafficClass: 0xc0,
                payload: message)
            return EthernetFrame(destination: Multicast.vrrpIPv6, source: router.virtualMAC, etherType: EtherType.ipv6, payload: ip.bytes[...]).bytes
        }
    }

    func logAdvert(_ ad: Advertisement, key: VRRPEngine.Key, bytes: Int) {
        logger.info("VRRP tx \(key): priority \(ad.priority) interval \(ad.interval)\(ad.version == 2 ? " s" : " cs"), \(bytes)-byte frame")
    }

    /// A gratuitous ARP (IPv4) or unsolicited NA (IPv6) per virtual address, from the virtual MAC.
    /// A Master router of `vlan` that NAT global address `address` follows.
    private func masterForNATGlobal(_ address: IPv4Address, vlan: UInt16) -> VirtualRouter? {
        for (key, addresses) in desired.natGlobals where addresses[address] != nil {
            if let router = engine.routers[key], router.state == .master, specs[key]?.vlan == vlan { return router }
        }
        return nil
    }

    /// The NAT global addresses that follow `router`.
    private func extraAddresses(of router: VirtualRouter, vlan: UInt16) -> [IPv4Address] {
        let key = VRRPEngine.Key(interface: interfaceName(vlan), vrid: router.config.vrid, ipv6: false)
        return (desired.natGlobals[key] ?? [:]).keys.sorted()
    }

    /// Gratuitous ARPs for `addresses` from `mac`.
    func announce(addresses: [IPv4Address], mac: MACAddress, vlan: UInt16) {
        for address in addresses {
            let arp = ARPPacket.gratuitous(mac: mac, address: address)
            let frame = EthernetFrame(destination: Multicast.broadcast, source: mac, etherType: EtherType.arp, payload: arp.bytes[...])
            hal.hal.sendFromCPU(frame.bytes, vlan: vlan)
            counters.gratuitousARPs += 1
        }
    }

    func announce(router: VirtualRouter, vlan: UInt16) {
        switch router.config.addresses {
        case .ipv4(let list):
            // The virtual addresses, then the NAT global addresses that follow this router.
            announce(addresses: list + extraAddresses(of: router, vlan: vlan), mac: router.virtualMAC, vlan: vlan)
        case .ipv6(let list):
            guard let source = router.interface.linkLocalIPv6 else { return }
            for address in list {
                let na = NeighborAdvertisement.unsolicited(target: address, mac: router.virtualMAC, source: source)
                let frame = EthernetFrame(destination: Multicast.allNodesIPv6, source: router.virtualMAC, etherType: EtherType.ipv6, payload: na.bytes[...])
                hal.hal.sendFromCPU(frame.bytes, vlan: vlan)
                counters.unsolicitedNAs += 1
            }
        }
    }
}
