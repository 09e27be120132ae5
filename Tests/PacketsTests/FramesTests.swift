import NetTypes
import Packets
import Testing

/// Bytes from a hex string with spaces: "45 00 00 73".
func bytes(_ text: String) -> [UInt8] {
    text.split(separator: " ").map { UInt8($0, radix: 16)! }
}

/// RFC 1071 one's-complement sum, written independently of `Packets.internetChecksum`: 32-bit
/// big-endian words summed into 64 bits, folded at the end. Returns the folded sum (not its
/// complement): 0xffff means "the bytes include a correct checksum".
func onesComplementSum(_ data: [UInt8]) -> UInt16 {
    var padded = data
    while padded.count % 4 != 0 { padded.append(0) }
    var sum: UInt64 = 0
    for index in stride(from: 0, to: padded.count, by: 4) {
        sum += UInt64(padded[index]) << 24 | UInt64(padded[index + 1]) << 16 | UInt64(padded[index + 2]) << 8
            | UInt64(padded[index + 3])
    }
    while sum > 0xffff { sum = (sum >> 16) + (sum & 0xffff) }
    return UInt16(sum)
}

/// The RFC 2460 §8.1 / RFC 4861 pseudo-header for ICMPv6: source, destination, 32-bit
/// upper-layer length, three zero bytes, next header 58.
func icmpv6PseudoHeader(source: IPv6Address, destination: IPv6Address, length: Int) -> [UInt8] {
    source.bytes + destination.bytes
        + [UInt8(length >> 24 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), 0, 0, 0, 58]
}

/// Whether an ICMPv6 message carries the right checksum for these addresses.
func icmpv6ChecksumIsValid(_ message: [UInt8], source: IPv6Address, destination: IPv6Address) -> Bool {
    onesComplementSum(icmpv6PseudoHeader(source: source, destination: destination, length: message.count) + message) == 0xffff
}

/// Writes the right ICMPv6 checksum into bytes 2-3 of `message`.
func withICMPv6Checksum(_ message: [UInt8], source: IPv6Address, destination: IPv6Address) -> [UInt8] {
    var out = message
    out[2] = 0
    out[3] = 0
    let sum = ~onesComplementSum(icmpv6PseudoHeader(source: source, destination: destination, length: out.count) + out)
    out[2] = UInt8(sum >> 8)
    out[3] = UInt8(sum & 0xff)
    return out
}

func ipv6(_ text: String) -> IPv6Address { IPv6Address(parsing: text)! }

@Suite struct EthernetFrameTests {
    let destination = MACAddress(parsing: "01:00:5e:00:00:12")!
    let source = MACAddress(parsing: "00:00:5e:00:01:33")!

    @Test func untaggedFrameIsPaddedTo60BytesAndParsesBack() throws {
        let frame = EthernetFrame(destination: destination, source: source, etherType: EtherType.ipv4, payload: [1, 2, 3, 4, 5][...])
        let wire = frame.bytes
        #expect(wire.count == 60)
        #expect(Array(wire[0..<14]) == bytes("01 00 5e 00 00 12 00 00 5e 00 01 33 08 00"))
        #expect(Array(wire[14..<19]) == [1, 2, 3, 4, 5])
        #expect(wire[19...].allSatisfy { $0 == 0 }, "padding must be zeros")

        let parsed = try #require(EthernetFrame.parse(wire))
        #expect(parsed.destination == destination)
        #expect(parsed.source == source)
        #expect(parsed.vlan == nil)
        #expect(parsed.etherType == EtherType.ipv4)
        // The parser cannot know where the payload ends: the padding comes with it.
        #expect(parsed.payload.count == 46)
        #expect(Array(parsed.payload.prefix(5)) == [1, 2, 3, 4, 5])
        // Re-encoding the parsed frame gives the same bytes.
        #expect(parsed.bytes == wire)
    }

    @Test func framesOfAtLeast60BytesAreNotPadded() throws {
        let payload = (0..<100).map { UInt8($0) }
        let wire = EthernetFrame(destination: destination, source: source, etherType: EtherType.ipv6, payload: payload[...]).bytes
        #expect(wire.count == 114)
        let parsed = try #require(EthernetFrame.parse(wire))
        #expect(Array(parsed.payload) == payload)
        #expect(parsed.bytes == wire)
    }

    @Test func dot1QTagIsWrittenAndParsed() throws {
        let frame = EthernetFrame(
            destination: Multicast.broadcast, source: source, vlan: 100, etherType: EtherType.arp, payload: [0xaa, 0xbb][...])
        let wire = frame.bytes
        #expect(wire.count == 60)
        #expect(Array(wire[0..<18]) == bytes("ff ff ff ff ff ff 00 00 5e 00 01 33 81 00 00 64 08 06"))
        #expect(Array(wire[18..<20]) == [0xaa, 0xbb])
        let parsed = try #require(EthernetFrame.parse(wire))
        #expect(parsed.vlan == 100)
        #expect(parsed.etherType == EtherType.arp)
        #expect(parsed.payload.count == 42)
        #expect(Array(parsed.payload.prefix(2)) == [0xaa, 0xbb])
        #expect(parsed.bytes == wire)

        // The highest VLAN id uses all 12 bits.
        let high = EthernetFrame(destination: destination, source: source, vlan: 4094, etherType: EtherType.ipv4, payload: [][...]).bytes
        #expect(Array(high[12..<16]) == [0x81, 0x00, 0x0f, 0xfe])
    }

    @Test func priorityAndDEIBitsOfAReceivedTagAreNotPartOfTheVLAN() throws {
        // PCP 5, DEI 1, VID 10: TCI 0xb00a.
        let wire = bytes("ff ff ff ff ff ff 00 00 5e 00 01 33 81 00 b0 0a 08 00") + [UInt8](repeating: 0, count: 42)
        let parsed = try #require(EthernetFrame.parse(wire))
        #expect(parsed.vlan == 10)
        #expect(parsed.etherType == EtherType.ipv4)
    }

    @Test func truncatedFramesDoNotParse() {
        #expect(EthernetFrame.parse([]) == nil)
        #expect(EthernetFrame.parse([UInt8](repeating: 0xff, count: 13)) == nil)
        // A tag with no room for the inner ethertype.
        #expect(EthernetFrame.parse(bytes("ff ff ff ff ff ff 00 00 5e 00 01 33 81 00 00 0a 08")) == nil)
        // Exactly a header and nothing else is a frame with an empty payload.
        let bare = EthernetFrame.parse(bytes("ff ff ff ff ff ff 00 00 5e 00 01 33 08 06"))
        #expect(bare?.payload.isEmpty == true)
    }
}

@Suite struct IPv4PacketTests {
    /// The header of the example on Wikipedia's "Internet checksum" / IPv4 header article:
    /// 192.168.0.1 -> 192.168.0.199, UDP, TTL 64, DF, id 0, total length 115, checksum 0xb861.
    let golden = bytes("45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7")

    func goldenPacket() -> IPv4Packet {
        IPv4Packet(
            source: IPv4Address(192, 168, 0, 1), destination: IPv4Address(192, 168, 0, 199), protocolNumber: 17, ttl: 64,
            payload: (0..<95).map { UInt8($0) })
    }

    @Test func headerMatchesAKnownVector() {
        let wire = goldenPacket().bytes
        #expect(wire.count == 115)
        #expect(Array(wire[0..<20]) == golden)
        #expect(Array(wire[20...]) == (0..<95).map { UInt8($0) })
        #expect(onesComplementSum(Array(wire[0..<20])) == 0xffff, "header checksum must verify")
    }

    @Test func bytesThenParseRoundTrips() throws {
        let packet = IPv4Packet(
            source: IPv4Address(10, 99, 0, 11), destination: IPv4Address(224, 0, 0, 18), protocolNumber: 112, ttl: 255, tos: 0xc0,
            payload: [0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0x10, 0xa3, 0x0a, 0x63, 0x00, 0x64])
        let wire = packet.bytes
        #expect(wire[1] == 0xc0)
        #expect(wire[8] == 255)
        #expect(wire[9] == 112)
        #expect(onesComplementSum(Array(wire[0..<20])) == 0xffff)
        #expect(IPv4Packet.parse(wire) == packet)
        #expect(IPv4Packet.parse(goldenPacket().bytes) == goldenPacket())
    }

    @Test func parsesOutOfAPaddedEthernetFrame() throws {
        // 20 + 8 bytes of IPv4 in a 60-byte frame: the Ethernet padding follows the packet and
        // must not become payload.
        let packet = IPv4Packet(
            source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocolNumber: 1, ttl: 64,
            payload: [8, 0, 0xf7, 0xff, 0, 0, 0, 0])
        let frame = EthernetFrame(
            destination: MACAddress(0x0200_0000_0002), source: MACAddress(0x0200_0000_0001), etherType: EtherType.ipv4,
            payload: packet.bytes[...])
        let parsedFrame = try #require(EthernetFrame.parse(frame.bytes))
        #expect(parsedFrame.payload.count == 46)
        #expect(IPv4Packet.parse(parsedFrame.payload) == packet)
    }

    @Test func aCorruptedHeaderByteIsRejected() {
        let wire = goldenPacket().bytes
        for index in [1, 3, 8, 9, 12, 19] {  // tos, length, ttl, protocol, source, destination
            var corrupted = wire
            corrupted[index] ^= 0x01
            #expect(IPv4Packet.parse(corrupted) == nil, "byte \(index) flipped")
        }
        // The header checksum does not cover the payload.
        var payloadChanged = wire
        payloadChanged[30] ^= 0xff
        #expect(IPv4Packet.parse(payloadChanged)?.payload[10] == UInt8(10 ^ 0xff))
    }

    @Test func truncatedOrMalformedInputIsRejected() {
        let wire = goldenPacket().bytes
        #expect(IPv4Packet.parse(wire.dropLast()) == nil, "shorter than the total length")
        #expect(IPv4Packet.parse(wire.prefix(19)) == nil)
        #expect(IPv4Packet.parse([UInt8]()) == nil)
        var version6 = Array(wire[0..<20])
        version6[0] = 0x65
        #expect(IPv4Packet.parse(version6) == nil)
        // IHL 4 (16 bytes) is below the minimum even with a checksum that verifies.
        var shortIHL = Array(wire[0..<20])
        shortIHL[0] = 0x44
        shortIHL[10] = 0
        shortIHL[11] = 0
        let sum = ~onesComplementSum(shortIHL)
        shortIHL[10] = UInt8(sum >> 8)
        shortIHL[11] = UInt8(sum & 0xff)
        #expect(IPv4Packet.parse(shortIHL) == nil)
    }

    @Test func headerOptionsAreSkipped() throws {
        // IHL 6: one 4-byte option (NOP NOP NOP EOL), then 4 bytes of payload; total length 28.
        var header = bytes("46 00 00 1c 00 00 40 00 01 02 00 00 0a 00 00 01 e0 00 00 16 01 01 01 00")
        let sum = ~onesComplementSum(header)
        header[10] = UInt8(sum >> 8)
        header[11] = UInt8(sum & 0xff)
        let packet = try #require(IPv4Packet.parse(header + [0xde, 0xad, 0xbe, 0xef]))
        #expect(packet.payload == [0xde, 0xad, 0xbe, 0xef])
        #expect(packet.protocolNumber == 2)
        #expect(packet.ttl == 1)
        #expect(packet.destination == IPv4Address(224, 0, 0, 22))
    }
}

@Suite struct IPv6PacketTests {
    @Test func bytesThenParseRoundTrips() throws {
        let packet = IPv6Packet(
            source: ipv6("fe80::1"), destination: ipv6("ff02::12"), nextHeader: 112, hopLimit: 255, trafficClass: 0xb8,
            payload: [0x31, 0x01, 0x64, 0x01, 0x00, 0x64, 0x00, 0x00])
        let wire = packet.bytes
        #expect(wire.count == 48)
        // Version 6, traffic class 0xb8 split over the first two bytes, flow label 0, length 8.
        #expect(Array(wire[0..<8]) == bytes("6b 80 00 00 00 08 70 ff"))
        #expect(Array(wire[8..<24]) == ipv6("fe80::1").bytes)
        #expect(Array(wire[24..<40]) == bytes("ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 12"))
        #expect(IPv6Packet.parse(wire) == packet)
        // Trailing bytes (Ethernet padding) are not payload.
        #expect(IPv6Packet.parse(wire + [0, 0, 0, 0]) == packet)
    }

    @Test func truncatedOrWrongVersionIsRejected() {
        let wire = IPv6Packet(source: ipv6("2001:db8::1"), destination: ipv6("2001:db8::2"), nextHeader: 59, hopLimit: 64, payload: [1, 2, 3]).bytes
        #expect(IPv6Packet.parse(wire.dropLast()) == nil)
        #expect(IPv6Packet.parse(wire.prefix(39)) == nil)
        var v4 = wire
        v4[0] = 0x45
        #expect(IPv6Packet.parse(v4) == nil)
    }
}

@Suite struct ARPPacketTests {
    /// Who has 192.168.1.1? Tell 192.168.1.100 (00:11:22:33:44:55), as a host sends it.
    let request = bytes("00 01 08 00 06 04 00 01 00 11 22 33 44 55 c0 a8 01 64 00 00 00 00 00 00 c0 a8 01 01")

    @Test func parsesAHandBuiltRequestAndEncodesItBack() throws {
        let arp = try #require(ARPPacket.parse(request))
        #expect(arp.operation == 1)
        #expect(arp.senderMAC == MACAddress(parsing: "00:11:22:33:44:55")!)
        #expect(arp.senderIP == IPv4Address(192, 168, 1, 100))
        #expect(arp.targetMAC == MACAddress(0))
        #expect(arp.targetIP == IPv4Address(192, 168, 1, 1))
        #expect(arp.bytes == request)
        // Ethernet padding after the 28 bytes is ignored.
        #expect(ARPPacket.parse(request + [UInt8](repeating: 0, count: 18)) == arp)
    }

    @Test func replyRoundTrips() {
        let reply = ARPPacket(
            operation: 2, senderMAC: MACAddress(parsing: "00:00:5e:00:01:33")!, senderIP: IPv4Address(192, 168, 1, 1),
            targetMAC: MACAddress(parsing: "00:11:22:33:44:55")!, targetIP: IPv4Address(192, 168, 1, 100))
        #expect(reply.bytes == bytes("00 01 08 00 06 04 00 02 00 00 5e 00 01 33 c0 a8 01 01 00 11 22 33 44 55 c0 a8 01 64"))
        #expect(ARPPacket.parse(reply.bytes) == reply)
    }

    @Test func gratuitousARPAnnouncesTheAddressToBroadcast() {
        let garp = ARPPacket.gratuitous(mac: MACAddress(parsing: "00:00:5e:00:01:33")!, address: IPv4Address(10, 99, 0, 100))
        #expect(garp.operation == 1)
        #expect(garp.senderIP == garp.targetIP)
        #expect(garp.senderIP == IPv4Address(10, 99, 0, 100))
        #expect(garp.targetMAC == Multicast.broadcast)
        #expect(garp.bytes == bytes("00 01 08 00 06 04 00 01 00 00 5e 00 01 33 0a 63 00 64 ff ff ff ff ff ff 0a 63 00 64"))
    }

    @Test func notEthernetIPv4OrTruncatedIsRejected() {
        #expect(ARPPacket.parse(request.prefix(27)) == nil)
        var tokenRing = request
        tokenRing[1] = 6  // hardware type 6 (IEEE 802)
        #expect(ARPPacket.parse(tokenRing) == nil)
        var ipv6Protocol = request
        ipv6Protocol[2] = 0x86
        ipv6Protocol[3] = 0xdd
        #expect(ARPPacket.parse(ipv6Protocol) == nil)
        var longAddresses = request
        longAddresses[4] = 8
        #expect(ARPPacket.parse(longAddresses) == nil)
    }
}

@Suite struct NeighborDiscoveryTests {
    let target = ipv6("2001:db8::1")
    let mac = MACAddress(parsing: "00:00:5e:00:02:01")!
    let routerSource = ipv6("fe80::1")

    @Test func unsolicitedAdvertisement() {
        let packet = NeighborAdvertisement.unsolicited(target: target, mac: mac, source: routerSource)
        #expect(packet.source == routerSource)
        #expect(packet.destination == ipv6("ff02::1"))
        #expect(packet.nextHeader == 58)
        #expect(packet.hopLimit == 255)
        let icmp = packet.payload
        #expect(icmp.count == 32)
        #expect(icmp[0] == 136)
        #expect(icmp[1] == 0)
        #expect(icmp[4] == 0xa0, "R=1 S=0 O=1")
        #expect(Array(icmp[5..<8]) == [0, 0, 0])
        #expect(Array(icmp[8..<24]) == target.bytes)
        #expect(Array(icmp[24..<32]) == [2, 1] + mac.bytes, "target link-layer address option")
        // Checksum: golden value (computed offline) and verified here from the pseudo-header.
        #expect(UInt16(icmp[2]) << 8 | UInt16(icmp[3]) == 0x4a62)
        #expect(icmpv6ChecksumIsValid(icmp, source: routerSource, destination: ipv6("ff02::1")))
        // The checksum covers the addresses: the same message from another source fails.
        #expect(!icmpv6ChecksumIsValid(icmp, source: ipv6("fe80::2"), destination: ipv6("ff02::1")))
        // And the whole thing survives the wire.
        #expect(IPv6Packet.parse(packet.bytes) == packet)
    }

    /// A neighbour solicitation for `target` from `source` (with a source link-layer option).
    func solicitation(
        for target: IPv6Address, from source: IPv6Address, to destination: IPv6Address, hopLimit: UInt8 = 255, type: UInt8 = 135,
        code: UInt8 = 0
    ) -> IPv6Packet {
        let message = [type, code, 0, 0, 0, 0, 0, 0] + target.bytes + [1, 1, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02]
        return IPv6Packet(
            source: source, destination: destination, nextHeader: 58, hopLimit: hopLimit,
            payload: withICMPv6Checksum(message, source: source, destination: destination))
    }

    @Test func solicitationTargetAcceptsAValidSolicitation() {
        let solicitedNode = ipv6("ff02::1:ff00:1")
        let ns = solicitation(for: target, from: ipv6("fe80::2"), to: solicitedNode)
        #expect(NeighborAdvertisement.solicitationTarget(ns) == target)
        // Duplicate address detection solicits from the unspecified address.
        let dad = solicitation(for: target, from: ipv6("::"), to: solicitedNode)
        #expect(NeighborAdvertisement.solicitationTarget(dad) == target)
        // Parsed off the wire, with padding.
        #expect(IPv6Packet.parse(ns.bytes + [0, 0]).flatMap(NeighborAdvertisement.solicitationTarget) == target)
    }

    @Test func solicitationTargetRejectsInvalidSolicitations() {
        let from = ipv6("fe80::2")
        let to = ipv6("ff02::1:ff00:1")
        // Forwarded by a router (hop limit below 255).
        #expect(NeighborAdvertisement.solicitationTarget(solicitation(for: target, from: from, to: to, hopLimit: 254)) == nil)
        #expect(NeighborAdvertisement.solicitationTarget(solicitation(for: target, from: from, to: to, hopLimit: 64)) == nil)
        // An advertisement, or an NS with a non-zero code, each with a correct checksum.
        #expect(NeighborAdvertisement.solicitationTarget(solicitation(for: target, from: from, to: to, type: 136)) == nil)
        #expect(NeighborAdvertisement.solicitationTarget(solicitation(for: target, from: from, to: to, code: 1)) == nil)
        // A bad checksum: one target byte changed after the checksum was computed.
        var corrupted = solicitation(for: target, from: from, to: to)
        corrupted.payload[23] ^= 0x01
        #expect(NeighborAdvertisement.solicitationTarget(corrupted) == nil)
        // A checksum computed for other addresses.
        var otherAddresses = solicitation(for: target, from: from, to: to)
        otherAddresses.source = ipv6("fe80::3")
        #expect(NeighborAdvertisement.solicitationTarget(otherAddresses) == nil)
        // Not ICMPv6, or too short to hold a target.
        var udp = solicitation(for: target, from: from, to: to)
        udp.nextHeader = 17
        #expect(NeighborAdvertisement.solicitationTarget(udp) == nil)
        let short = IPv6Packet(
            source: from, destination: to, nextHeader: 58, hopLimit: 255,
            payload: withICMPv6Checksum([135, 0, 0, 0, 0, 0, 0, 0] + Array(target.bytes.prefix(8)), source: from, destination: to))
        #expect(NeighborAdvertisement.solicitationTarget(short) == nil)
    }

    @Test func solicitedAdvertisementToAUnicastSolicitor() {
        let solicitor = ipv6("fe80::2")
        let na = NeighborAdvertisement.solicited(target: target, mac: mac, source: routerSource, to: solicitor)
        #expect(na.destination == solicitor)
        #expect(na.source == routerSource)
        #expect(na.hopLimit == 255)
        #expect(na.nextHeader == 58)
        #expect(na.payload[0] == 136)
        #expect(na.payload[1] == 0)
        #expect(na.payload[4] == 0xe0, "R=1 S=1 O=1")
        #expect(Array(na.payload[8..<24]) == target.bytes)
        #expect(Array(na.payload[24..<32]) == [2, 1] + mac.bytes)
        #expect(icmpv6ChecksumIsValid(na.payload, source: routerSource, destination: solicitor))
    }

    @Test func solicitedAdvertisementToAnUnspecifiedSolicitorGoesToAllNodes() {
        let na = NeighborAdvertisement.solicited(target: target, mac: mac, source: routerSource, to: ipv6("::"))
        #expect(na.destination == ipv6("ff02::1"))
        #expect(na.payload[4] == 0xa0, "R=1 S=0 O=1: RFC 4861 §7.2.4 clears S when answering ::")
        #expect(Array(na.payload[8..<24]) == target.bytes)
        #expect(icmpv6ChecksumIsValid(na.payload, source: routerSource, destination: ipv6("ff02::1")))
        #expect(!icmpv6ChecksumIsValid(na.payload, source: routerSource, destination: ipv6("::")))
    }
}

@Suite struct ICMPv4Tests {
    /// Echo request, id 0x1234, sequence 1, payload "abcdefgh"; checksum 0x5435 (computed offline).
    let request = bytes("08 00 54 35 12 34 00 01 61 62 63 64 65 66 67 68")

    @Test func echoReplyAnswersARequest() throws {
        #expect(onesComplementSum(request) == 0xffff, "the test vector itself must be valid")
        let reply = try #require(ICMPv4.echoReply(to: request))
        #expect(reply.count == request.count)
        #expect(reply[0] == 0)
        #expect(reply[1] == 0)
        #expect(Array(reply[4...]) == Array(request[4...]), "same id, sequence and payload")
        #expect(Array(reply[2..<4]) == [0x5c, 0x35])
        #expect(onesComplementSum(reply) == 0xffff)
    }

    @Test func echoReplyWithAnOddLengthPayload() throws {
        var odd: [UInt8] = [8, 0, 0, 0, 0xbe, 0xef, 0x00, 0x07, 0x01, 0x02, 0x03]
        let sum = ~onesComplementSum(odd)
        odd[2] = UInt8(sum >> 8)
        odd[3] = UInt8(sum & 0xff)
        let reply = try #require(ICMPv4.echoReply(to: odd))
        #expect(Array(reply[4...]) == Array(odd[4...]))
        #expect(onesComplementSum(reply) == 0xffff)
    }

    @Test func nonEchoOrBadChecksumGivesNil() {
        var corrupted = request
        corrupted[9] ^= 0x40
        #expect(ICMPv4.echoReply(to: corrupted) == nil)
        // A reply (type 0), correctly summed, is not answered.
        var reply = request
        reply[0] = 0
        reply[2] = 0x5c
        #expect(onesComplementSum(reply) == 0xffff)
        #expect(ICMPv4.echoReply(to: reply) == nil)
        // Destination unreachable (type 3), correctly summed.
        var unreachable: [UInt8] = [3, 3, 0, 0, 0, 0, 0, 0]
        let sum = ~onesComplementSum(unreachable)
        unreachable[2] = UInt8(sum >> 8)
        unreachable[3] = UInt8(sum & 0xff)
        #expect(ICMPv4.echoReply(to: unreachable) == nil)
        #expect(ICMPv4.echoReply(to: Array(request.prefix(7))) == nil)
    }
}

@Suite struct LinkLocalTests {
    @Test func eui64FlipsTheUniversalLocalBit() {
        let mac = MACAddress(parsing: "02:00:00:00:0a:00")!
        // 02 ^ 02 = 00; ff:fe goes in the middle: interface id 0000:00ff:fe00:0a00.
        let address = IPv6Address.linkLocal(for: mac)
        #expect(address == ipv6("fe80::ff:fe00:a00"))
        #expect(address.description == "fe80::ff:fe00:a00")
        #expect(address.isLinkLocal)
    }

    @Test func aUniversalMACGetsTheBitSet() {
        // 00:11:22 is universally administered: bit 0x02 of the first byte goes from 0 to 1.
        let address = IPv6Address.linkLocal(for: MACAddress(parsing: "00:11:22:33:44:55")!)
        #expect(address.bytes == bytes("fe 80 00 00 00 00 00 00 02 11 22 ff fe 33 44 55"))
        #expect(address.description == "fe80::211:22ff:fe33:4455")
        // The VRRP IPv6 virtual MAC of VRID 1.
        #expect(IPv6Address.linkLocal(for: MACAddress(parsing: "00:00:5e:00:02:01")!) == ipv6("fe80::200:5eff:fe00:201"))
    }
}

@Suite struct TransportTests {
    let a = IPv4Address(10, 0, 0, 5)
    let b = IPv4Address(198, 51, 100, 1)
    let g = IPv4Address(203, 0, 113, 10)

    func segment(_ proto: UInt8, checksum: Bool = true) -> [UInt8] {
        var s: [UInt8]
        if proto == Transport.tcp {
            s = [0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0] + Array("syn".utf8)
        } else {
            s = [0x9c, 0x40, 0, 53, 0, 11, 0, 0] + Array("dns".utf8)
        }
        if checksum {
            let at = proto == Transport.tcp ? 16 : 6
            let sum = Transport.checksum(s, protocolNumber: proto, source: a, destination: b)
            s[at] = UInt8(sum >> 8)
            s[at + 1] = UInt8(sum & 0xff)
        }
        return s
    }

    @Test(arguments: [Transport.tcp, Transport.udp]) func rewrittenSegmentsCarryAValidChecksum(proto: UInt8) throws {
        let original = segment(proto)
        #expect(Transport.checksum(original, protocolNumber: proto, source: a, destination: b) == 0)
        #expect(Transport.ports(original, protocolNumber: proto).map { [$0.source, $0.destination] } == [40000, proto == Transport.tcp ? 80 : 53])
        let out = try #require(Transport.rewritten(original, protocolNumber: proto, sourcePort: 1024, destinationPort: 8080, source: g, destination: b))
        #expect(Transport.ports(out, protocolNumber: proto).map { [$0.source, $0.destination] } == [1024, 8080])
        #expect(Transport.checksum(out, protocolNumber: proto, source: g, destination: b) == 0)
        #expect(out.suffix(3) == original.suffix(3))
        if proto == Transport.tcp { #expect(Transport.tcpFlags(out) == 0x02) }
    }

    @Test func aUDPDatagramWithoutChecksumStaysWithout() throws {
        let out = try #require(Transport.rewritten(segment(Transport.udp, checksum: false), protocolNumber: Transport.udp,
                                                   sourcePort: 2000, destinationPort: 53, source: g, destination: b))
        #expect(out[6] == 0 && out[7] == 0)
    }

    @Test func echoIdentifiersAreRewrittenWithTheirChecksum() throws {
        var echo: [UInt8] = [8, 0, 0, 0, 0, 7, 0, 1, 1, 2, 3]
        let sum = internetChecksum(echo)
        echo[2] = UInt8(sum >> 8)
        echo[3] = UInt8(sum & 0xff)
        #expect(Transport.ports(echo, protocolNumber: Transport.icmp).map { [$0.source, $0.destination] } == [7, 7])
        let out = try #require(Transport.rewritten(echo, protocolNumber: Transport.icmp, sourcePort: 1500, destinationPort: 1500, source: g, destination: b))
        #expect(Transport.ports(out, protocolNumber: Transport.icmp)?.source == 1500)
        #expect(internetChecksum(out) == 0)
        // Not an echo (a destination unreachable): no ports, nothing rewritten.
        #expect(Transport.ports([3, 1, 0, 0, 0, 0, 0, 0], protocolNumber: Transport.icmp) == nil)
        #expect(Transport.rewritten([1, 2, 3], protocolNumber: Transport.udp, sourcePort: 1, destinationPort: 2, source: g, destination: b) == nil)
    }
}
