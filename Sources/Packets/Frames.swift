import NetTypes

/// Building and parsing the frames a switch control plane sends and receives: Ethernet (with
/// 802.1Q), IPv4 and IPv6 carrying VRRP, ARP, ICMPv6 neighbour advertisements. Pure: bytes in,
/// bytes out.
public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
    public static let ipv6: UInt16 = 0x86dd
    public static let vlan: UInt16 = 0x8100
}

public enum Multicast {
    /// 01:00:5e:00:00:12, the Ethernet address of 224.0.0.18.
    public static let vrrpIPv4 = MACAddress(0x0100_5e00_0012)
    /// 33:33:00:00:00:12, the Ethernet address of ff02::12.
    public static let vrrpIPv6 = MACAddress(0x3333_0000_0012)
    public static let allNodesIPv6 = MACAddress(0x3333_0000_0001)
    public static let broadcast = MACAddress(0xffff_ffff_ffff)
}

/// A parsed Ethernet frame: addresses, the VLAN tag if any, the ethertype and the payload.
public struct EthernetFrame: Equatable, Sendable {
    public var destination: MACAddress
    public var source: MACAddress
    public var vlan: UInt16?
    public var etherType: UInt16
    public var payload: ArraySlice<UInt8>

    public init(destination: MACAddress, source: MACAddress, vlan: UInt16? = nil, etherType: UInt16, payload: ArraySlice<UInt8>) {
        self.destination = destination
        self.source = source
        self.vlan = vlan
        self.etherType = etherType
        self.payload = payload
    }

    public static func parse(_ bytes: [UInt8]) -> EthernetFrame? {
        guard bytes.count >= 14 else { return nil }
        let destination = MACAddress(bytes: Array(bytes[0..<6]))
        let source = MACAddress(bytes: Array(bytes[6..<12]))
        var type = UInt16(bytes[12]) << 8 | UInt16(bytes[13])
        var offset = 14
        var vlan: UInt16?
        if type == EtherType.vlan {
            guard bytes.count >= 18 else { return nil }
            vlan = (UInt16(bytes[14]) << 8 | UInt16(bytes[15])) & 0x0fff
            type = UInt16(bytes[16]) << 8 | UInt16(bytes[17])
            offset = 18
        }
        return EthernetFrame(destination: destination, source: source, vlan: vlan, etherType: type, payload: bytes[offset...])
    }

    /// The frame's bytes (untagged unless `vlan` is set), padded to the 60-byte minimum.
    public var bytes: [UInt8] {
        var out = destination.bytes + source.bytes
        if let vlan {
            out += [0x81, 0x00, UInt8(vlan >> 8 & 0x0f), UInt8(vlan & 0xff)]
        }
        out += [UInt8(etherType >> 8), UInt8(etherType & 0xff)]
        out += payload
        if out.count < 60 { out += [UInt8](repeating: 0, count: 60 - out.count) }
        return out
    }
}

/// An IPv4 packet's header fields that matter here, and the payload.
public struct IPv4Packet: Equatable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var protocolNumber: UInt8
    public var ttl: UInt8
    public var tos: UInt8 = 0
    public var payload: [UInt8]
    /// Identification and the flags/fragment-offset word, as received (built packets: 0, DF).
    public var identification: UInt16 = 0
    public var flagsAndOffset: UInt16 = 0x4000
    /// More fragments follow, or this is not the first: the L4 header is not (all) here.
    public var isFragment: Bool { flagsAndOffset & 0x3fff != 0 }

    public init(source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8, ttl: UInt8, tos: UInt8 = 0, payload: [UInt8]) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.ttl = ttl
        self.tos = tos
        self.payload = payload
    }

    /// Parses an IPv4 header (checking version, length and header checksum).
    public static func parse<C: Collection>(_ data: C) -> IPv4Packet? where C.Element == UInt8 {
        let bytes = Array(data)
        guard bytes.count >= 20, bytes[0] >> 4 == 4 else { return nil }
        let headerLength = Int(bytes[0] & 0x0f) * 4
        let total = Int(bytes[2]) << 8 | Int(bytes[3])
        guard headerLength >= 20, total >= headerLength, bytes.count >= total else { return nil }
        guard internetChecksum(Array(bytes[0..<headerLength])) == 0 else { return nil }
        var packet = IPv4Packet(
            source: IPv4Address(bytes[12], bytes[13], bytes[14], bytes[15]),
            destination: IPv4Address(bytes[16], bytes[17], bytes[18], bytes[19]),
            protocolNumber: bytes[9], ttl: bytes[8], tos: bytes[1], payload: Array(bytes[headerLength..<total]))
        packet.identification = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        packet.flagsAndOffset = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        return packet
    }

    public var bytes: [UInt8] {
        let total = 20 + payload.count
        var header: [UInt8] = [
            0x45, tos, UInt8(total >> 8), UInt8(total & 0xff), UInt8(identification >> 8), UInt8(identification & 0xff),
            UInt8(flagsAndOffset >> 8), UInt8(flagsAndOffset & 0xff), ttl, protocolNumber, 0, 0,
        ] + source.bytes + destination.bytes
        let sum = internetChecksum(header)
        header[10] = UInt8(sum >> 8)
        header[11] = UInt8(sum & 0xff)
        return header + payload
    }
}

/// An IPv6 packet's fixed header fields and payload (no extension headers).
public struct IPv6Packet: Equatable, Sendable {
    public var source: IPv6Address
    public var destination: IPv6Address
    public var nextHeader: UInt8
    public var hopLimit: UInt8
    public var trafficClass: UInt8 = 0
    public var payload: [UInt8]

    public init(source: IPv6Address, destination: IPv6Address, nextHeader: UInt8, hopLimit: UInt8, trafficClass: UInt8 = 0, payload: [UInt8]) {
        self.source = source
        self.destination = destination
        self.nextHeader = nextHeader
        self.hopLimit = hopLimit
        self.trafficClass = trafficClass
        self.payload = payload
    }

    public static func parse<C: Collection>(_ data: C) -> IPv6Packet? where C.Element == UInt8 {
        let bytes = Array(data)
        guard bytes.count >= 40, bytes[0] >> 4 == 6 else { return nil }
        let length = Int(bytes[4]) << 8 | Int(bytes[5])
        guard bytes.count >= 40 + length else { return nil }
        return IPv6Packet(
            source: IPv6Address(bytes: Array(bytes[8..<24]))!, destination: IPv6Address(bytes: Array(bytes[24..<40]))!,
            nextHeader: bytes[6], hopLimit: bytes[7], trafficClass: (bytes[0] & 0x0f) << 4 | bytes[1] >> 4,
            payload: Array(bytes[40..<(40 + length)]))
    }

    public var bytes: [UInt8] {
        let length = payload.count
        return [0x60 | trafficClass >> 4, trafficClass << 4, 0, 0, UInt8(length >> 8), UInt8(length & 0xff), nextHeader, hopLimit]
            + source.bytes + destination.bytes + payload
    }
}

/// An ARP packet for IPv4 over Ethernet.
public struct ARPPacket: Equatable, Sendable {
    public var operation: UInt16  // 1 request, 2 reply
    public var senderMAC: MACAddress
    public var senderIP: IPv4Address
    public var targetMAC: MACAddress
    public var targetIP: IPv4Address

    public init(operation: UInt16, senderMAC: MACAddress, senderIP: IPv4Address, targetMAC: MACAddress, targetIP: IPv4Address) {
        self.operation = operation
        self.senderMAC = senderMAC
        self.senderIP = senderIP
        self.targetMAC = targetMAC
        self.targetIP = targetIP
    }

    public static func parse<C: Collection>(_ data: C) -> ARPPacket? where C.Element == UInt8 {
        let b = Array(data)
        guard b.count >= 28, b[0] == 0, b[1] == 1, b[2] == 0x08, b[3] == 0, b[4] == 6, b[5] == 4 else { return nil }
        return ARPPacket(
            operation: UInt16(b[6]) << 8 | UInt16(b[7]), senderMAC: MACAddress(bytes: Array(b[8..<14])),
            senderIP: IPv4Address(b[14], b[15], b[16], b[17]), targetMAC: MACAddress(bytes: Array(b[18..<24])),
            targetIP: IPv4Address(b[24], b[25], b[26], b[27]))
    }

    public var bytes: [UInt8] {
        [0, 1, 0x08, 0, 6, 4, UInt8(operation >> 8), UInt8(operation & 0xff)] + senderMAC.bytes + senderIP.bytes
            + targetMAC.bytes + targetIP.bytes
    }

    /// A gratuitous ARP: a request for `address` from `address`, to broadcast (as keepalived
    /// and RFC 5798 §6.4.1 send them).
    public static func gratuitous(mac: MACAddress, address: IPv4Address) -> ARPPacket {
        ARPPacket(operation: 1, senderMAC: mac, senderIP: address, targetMAC: Multicast.broadcast, targetIP: address)
    }
}

/// ICMPv6 neighbour advertisement (RFC 4861) with a target link-layer address option.
public enum NeighborAdvertisement {
    /// An unsolicited NA for `target` from `mac` (R=1, S=0, O=1, RFC 5798 (130)).
    public static func unsolicited(target: IPv6Address, mac: MACAddress, source: IPv6Address) -> IPv6Packet {
        var icmp: [UInt8] = [136, 0, 0, 0, 0xa0, 0, 0, 0]  // type 136, flags R and O
        icmp += target.bytes
        icmp += [2, 1] + mac.bytes  // option: target link-layer address
        let destination = IPv6Address(parsing: "ff02::1")!
        let sum = icmpv6Checksum(icmp, source: source, destination: destination)
        icmp[2] = UInt8(sum >> 8)
        icmp[3] = UInt8(sum & 0xff)
        return IPv6Packet(source: source, destination: destination, nextHeader: 58, hopLimit: 255, payload: icmp)
    }

    static func icmpv6Checksum(_ message: [UInt8], source: IPv6Address, destination: IPv6Address) -> UInt16 {
        let length = UInt32(message.count)
        let header = source.bytes + destination.bytes
            + [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), 0, 0, 0, 58]
        return internetChecksum(header + message)
    }
}

/// RFC 1071 over `bytes` (0 when the bytes include a correct checksum), as a number (the first
/// byte its high half).
public func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
    bytes.withUnsafeBytes { InternetChecksum.of($0) }
}

extension IPv6Address {
    /// The EUI-64 link-local address of a MAC (fe80::/64 with the universal bit flipped).
    public static func linkLocal(for mac: MACAddress) -> IPv6Address {
        let m = mac.bytes
        return IPv6Address(bytes: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])!
    }
}

extension NeighborAdvertisement {
    /// The target of a neighbour solicitation (ICMPv6 type 135, code 0, hop limit 255, correct
    /// checksum), or nil if `packet` is not one.
    public static func solicitationTarget(_ packet: IPv6Packet) -> IPv6Address? {
        let icmp = packet.payload
        guard packet.nextHeader == 58, packet.hopLimit == 255, icmp.count >= 24, icmp[0] == 135, icmp[1] == 0 else { return nil }
        guard icmpv6Checksum(icmp, source: packet.source, destination: packet.destination) == 0 else { return nil }
        return IPv6Address(bytes: Array(icmp[8..<24]))
    }

    /// The answer to a solicitation: an NA for `target` with `mac` (R=1, S=1, O=1), to the
    /// solicitor, or to all nodes when it solicited from the unspecified address (RFC 4861 §7.2.4).
    public static func solicited(target: IPv6Address, mac: MACAddress, source: IPv6Address, to solicitor: IPv6Address) -> IPv6Packet {
        let destination = solicitor == IPv6Address(bytes: [UInt8](repeating: 0, count: 16))!
            ? IPv6Address(parsing: "ff02::1")! : solicitor
        var icmp: [UInt8] = [136, 0, 0, 0, destination == solicitor ? 0xe0 : 0xa0, 0, 0, 0]
        icmp += target.bytes
        icmp += [2, 1] + mac.bytes
        let sum = icmpv6Checksum(icmp, source: source, destination: destination)
        icmp[2] = UInt8(sum >> 8)
        icmp[3] = UInt8(sum & 0xff)
        return IPv6Packet(source: source, destination: destination, nextHeader: 58, hopLimit: 255, payload: icmp)
    }
}

/// ICMP for IPv4: the echo reply (what makes a virtual address answer `ping`).
public enum ICMPv4 {
    public static let protocolNumber: UInt8 = 1

    /// The reply to an echo request message (type 8 with a correct checksum), or nil.
    public static func echoReply(to message: [UInt8]) -> [UInt8]? {
        guard message.count >= 8, message[0] == 8, message[1] == 0, internetChecksum(message) == 0 else { return nil }
        var reply = message
        reply[0] = 0
        reply[2] = 0
        reply[3] = 0
        let sum = internetChecksum(reply)
        reply[2] = UInt8(sum >> 8)
        reply[3] = UInt8(sum & 0xff)
        return reply
    }

    /// Destination unreachable, fragmentation needed and DF set (type 3 code 4, RFC 1191):
    /// the next hop's MTU, and the offending packet's header with the first 8 bytes of its
    /// payload.
    public static func fragmentationNeeded(for packet: IPv4Packet, mtu: Int) -> [UInt8] {
        let quoted = Array(packet.bytes.prefix(28))
        var message: [UInt8] = [3, 4, 0, 0, 0, 0, UInt8(mtu >> 8 & 0xff), UInt8(mtu & 0xff)] + quoted
        let sum = internetChecksum(message)
        message[2] = UInt8(sum >> 8)
        message[3] = UInt8(sum & 0xff)
        return message
    }

    /// Whether an ICMP message is an error (which never gets an ICMP error back, RFC 1122).
    public static func isError(_ message: [UInt8]) -> Bool {
        guard let type = message.first else { return false }
        return [3, 4, 5, 11, 12].contains(type)
    }
}

extension IPv4Packet {
    /// Don't Fragment.
    public var dontFragment: Bool { flagsAndOffset & 0x4000 != 0 }

    /// The packet cut into fragments of at most `mtu` bytes each (RFC 791): payload in
    /// multiples of 8 bytes, the identification kept, More Fragments on all but the last (and
    /// on the last too if the packet was itself a fragment with more to come). Nil when `mtu`
    /// leaves no room for 8 bytes of payload.
    public func fragments(mtu: Int) -> [IPv4Packet]? {
        let room = (mtu - 20) / 8 * 8
        guard room >= 8 else { return nil }
        guard 20 + payload.count > mtu else { return [self] }
        let baseOffset = Int(flagsAndOffset & 0x1fff) * 8
        let moreAfter = flagsAndOffset & 0x2000 != 0
        var pieces: [IPv4Packet] = []
        var start = 0
        while start < payload.count {
            let end = min(payload.count, start + room)
            var piece = self
            piece.payload = Array(payload[start..<end])
            let more = end < payload.count || moreAfter
            piece.flagsAndOffset = (more ? 0x2000 : 0) | UInt16((baseOffset + start) / 8)
            pieces.append(piece)
            start = end
        }
        return pieces
    }
}
