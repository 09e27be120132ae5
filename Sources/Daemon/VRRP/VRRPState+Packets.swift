import NetTypes
import Packets
import SwitchHAL
import Time
import VRRP

/// VRRP's packets: advertisements in and out, and the announcements (gratuitous ARP, unsolicited
/// neighbour advertisements) a new Master sends. What the router answers on its SVIs (ARP, ping,
/// neighbour solicitations) is the L3 service's.
extension VRRPState {
    // MARK: Receive

    /// One advertisement from the CPU path (IPv4 taken apart in place; IPv6 parsed).
    mutating func handle(_ bytes: [UInt8], vlan: UInt16, now: Instant, wall: Double, into effects: inout [Effect]) {
        if let advert = VRRPState.ipv4Advertisement(bytes) {
            receiveAdvertisement(
                interface: .svi(vlan), ipv6: false, message: advert.message, source: .ipv4(advert.source),
                destination: .ipv4(advert.destination), ttl: advert.ttl, sender: advert.sender, now: now, wall: wall, into: &effects)
            return
        }
        guard let frame = EthernetFrame.parse(bytes) else { return }
        let interface = InterfaceID.svi(vlan)
        switch frame.etherType {
        case EtherType.ipv4:
            guard let packet = IPv4Packet.parse(frame.payload), packet.protocolNumber == Advertisement.ipProtocol else {
                counters.vrrpMalformed += 1
                return
            }
            receiveAdvertisement(
                interface: interface, ipv6: false, message: packet.payload, source: .ipv4(packet.source),
                destination: .ipv4(packet.destination), ttl: packet.ttl, sender: frame.source, now: now, wall: wall, into: &effects)
        case EtherType.ipv6:
            guard let packet = IPv6Packet.parse(frame.payload), packet.nextHeader == Advertisement.ipProtocol else {
                counters.vrrpMalformed += 1
                return
            }
            receiveAdvertisement(
                interface: interface, ipv6: true, message: packet.payload, source: .ipv6(packet.source),
                destination: .ipv6(packet.destination), ttl: packet.hopLimit, sender: frame.source, now: now, wall: wall, into: &effects)
        default:
            break
        }
    }

    private mutating func receiveAdvertisement(
        interface: InterfaceID, ipv6: Bool, message: [UInt8], source: IPAddressPair.Source, destination: IPAddressPair.Destination,
        ttl: UInt8, sender: MACAddress, now: Instant, wall: Double, into effects: inout [Effect]
    ) {
        counters.vrrpReceived += 1
        if debugPackets {
            let vrid = message.count > 1 ? "\(message[1])" : "?"
            let priority = message.count > 2 ? "\(message[2])" : "?"
            effects.append(
                .log(.info, "VRRP rx \(interface): from \(source) (\(sender)) VRID \(vrid) priority \(priority) ttl \(ttl), \(message.count) bytes"))
        }
        let key = message.count > 1 ? VRID(rawValue: message[1]).map { VRRPEngine.Key(interface: interface, vrid: $0, ipv6: ipv6) } : nil
        let discardsBefore = debugPackets ? key.flatMap { engine.routers[$0] }?.statistics.totalDiscards : nil
        perform(
            engine.receive(interface: interface, ipv6: ipv6, message: message, source: source, destination: destination, ttl: ttl, now: now),
            now: now, wall: wall, into: &effects)
        if let before = discardsBefore, let key, let router = engine.routers[key], router.statistics.totalDiscards > before {
            let reasons = router.statistics.discards.filter { $0.value > 0 }.map { "\($0.key)" }.sorted().joined(separator: ", ")
            effects.append(.log(.info, "VRRP \(key): advertisement from \(source) discarded (counters: \(reasons))"))
        }
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
            guard InternetChecksum.of(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b)[ip..<(ip + headerLength)])) == 0 else { return nil }
            func address(_ o: Int) -> IPv4Address { IPv4Address(b[o], b[o + 1], b[o + 2], b[o + 3]) }
            var mac: UInt64 = 0
            for o in 6..<12 { mac = mac << 8 | UInt64(b[o]) }
            return (Array(b[(ip + headerLength)..<(ip + total)]), address(ip + 12), address(ip + 16), b[ip + 8], MACAddress(mac))
        }
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

    func logAdvert(_ ad: Advertisement, key: VRRPEngine.Key, bytes: Int, into effects: inout [Effect]) {
        effects.append(.log(.info, "VRRP tx \(key): priority \(ad.priority) interval \(ad.interval)\(ad.version == 2 ? " s" : " cs"), \(bytes)-byte frame"))
    }

    /// Gratuitous ARPs for `addresses` from `mac`.
    mutating func announce(addresses: [IPv4Address], mac: MACAddress, vlan: UInt16, into effects: inout [Effect]) {
        for address in addresses {
            let arp = ARPPacket.gratuitous(mac: mac, address: address)
            let frame = EthernetFrame(destination: Multicast.broadcast, source: mac, etherType: EtherType.arp, payload: arp.bytes[...])
            effects.append(.send(frame.bytes, vlan: vlan))
            counters.gratuitousARPs += 1
        }
    }

    /// Gratuitous ARPs (unsolicited NAs) for the addresses of the router `key` names.
    mutating func announce(router: VirtualRouter, key: VRRPEngine.Key, vlan: UInt16, into effects: inout [Effect]) {
        switch router.config.addresses {
        case .ipv4(let list):
            // The virtual addresses, then the NAT global addresses that follow this router.
            announce(addresses: list + (desired.natGlobals[key] ?? [:]).keys.sorted(), mac: router.virtualMAC, vlan: vlan, into: &effects)
        case .ipv6(let list):
            guard let source = router.interface.linkLocalIPv6 else { return }
            for address in list {
                let na = NeighborAdvertisement.unsolicited(target: address, mac: router.virtualMAC, source: source)
                let frame = EthernetFrame(destination: Multicast.allNodesIPv6, source: router.virtualMAC, etherType: EtherType.ipv6, payload: na.bytes[...])
                effects.append(.send(frame.bytes, vlan: vlan))
                counters.unsolicitedNAs += 1
            }
        }
    }
}
