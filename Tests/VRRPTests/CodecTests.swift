import NetTypes
import Testing

@testable import VRRP

let source = IPAddressPair.Source.ipv4(IPv4Address(10, 99, 0, 11))
let group = IPAddressPair.Destination.ipv4(Advertisement.ipv4Group)
let vip = IPv4Address(10, 99, 0, 100)

func hex(_ text: String) -> [UInt8] {
    text.split(separator: " ").map { UInt8($0, radix: 16)! }
}

/// The golden vectors of the reference: keepalived 2.2.7 on the wire, VRID 51, priority 200,
/// VIP 10.99.0.100, from 10.99.0.11 to 224.0.0.18.
@Suite struct CodecTests {
    @Test func v3PseudoHeaderChecksum() {
        let ad = Advertisement(version: 3, vrid: 51, priority: 200, interval: 100, addresses: .ipv4([vip]))
        #expect(ad.encoded(source: source, destination: group, pseudoHeader: true) == hex("31 33 c8 01 00 64 10 a3 0a 63 00 64"))
    }

    @Test func v3MessageOnlyChecksum() {
        let ad = Advertisement(version: 3, vrid: 51, priority: 200, interval: 100, addresses: .ipv4([vip]))
        let bytes = ad.encoded(source: source, destination: group, pseudoHeader: false)
        #expect(UInt16(bytes[6]) << 8 | UInt16(bytes[7]) == 0xfb9f)
    }

    @Test func v2Checksum() {
        let ad = Advertisement(version: 2, vrid: 51, priority: 200, interval: 1, addresses: .ipv4([vip]))
        #expect(ad.encoded(source: source, destination: group, pseudoHeader: true) == hex("21 33 c8 01 00 01 0c 03 0a 63 00 64 00 00 00 00 00 00 00 00"))
    }

    @Test func v3PriorityZero() {
        let ad = Advertisement(version: 3, vrid: 51, priority: 0, interval: 100, addresses: .ipv4([vip]))
        #expect(ad.encoded(source: source, destination: group, pseudoHeader: true) == hex("31 33 00 01 00 64 d8 a3 0a 63 00 64"))
    }

    @Test func decodeTheGoldenVectorsExactly() throws {
        guard case .success(let v3) = Advertisement.decode(hex("31 33 c8 01 00 64 10 a3 0a 63 00 64"), ipv6: false) else {
            Issue.record("v3 did not decode")
            return
        }
        #expect(v3.version == 3 && v3.type == 1 && v3.vrid == 51 && v3.priority == 200 && v3.interval == 100)
        #expect(v3.addresses == .ipv4([vip]) && v3.checksum == 0x10a3)
        guard case .success(let v2) = Advertisement.decode(hex("21 33 c8 01 00 01 0c 03 0a 63 00 64 00 00 00 00 00 00 00 00"), ipv6: false) else {
            Issue.record("v2 did not decode")
            return
        }
        #expect(v2.version == 2 && v2.interval == 1 && v2.authType == 0 && v2.checksum == 0x0c03)
        // The v3 reserved nibble is ignored on receive (checklist 21).
        guard case .success(let reserved) = Advertisement.decode(hex("31 33 c8 01 f0 64 10 a3 0a 63 00 64"), ipv6: false) else {
            Issue.record("reserved bits rejected")
            return
        }
        #expect(reserved.interval == 100)
    }

    @Test func malformedMessages() {
        #expect(Advertisement.decode(hex("31 33 c8"), ipv6: false) == .failure(.length))
        #expect(Advertisement.decode(hex("31 33 c8 02 00 64 10 a3 0a 63 00 64"), ipv6: false) == .failure(.length))  // count 2, one address
        #expect(Advertisement.decode(hex("31 33 c8 00 00 64 10 a3"), ipv6: false) == .failure(.length))  // count 0
        #expect(Advertisement.decode(hex("32 33 c8 01 00 64 10 a3 0a 63 00 64"), ipv6: false) == .failure(.type))
        #expect(Advertisement.decode(hex("41 33 c8 01 00 64 10 a3 0a 63 00 64"), ipv6: false) == .failure(.version))
        #expect(Advertisement.decode(hex("21 33 c8 01 00 01 0c 03 0a 63 00 64"), ipv6: false) == .failure(.length))  // v2 without auth data
    }

    @Test func ipv6ChecksumIncludesThePseudoHeader() {
        let linkLocal = IPv6Address(parsing: "fe80::1")!
        let virtual = IPv6Address(parsing: "fe80::100")!
        let ad = Advertisement(version: 3, vrid: 7, priority: 100, interval: 100, addresses: .ipv6([virtual]))
        let bytes = ad.encoded(source: .ipv6(linkLocal), destination: .ipv6(Advertisement.ipv6Group), pseudoHeader: false)
        #expect(bytes.count == 24)
        // Verifying: the sum over pseudo-header and message, checksum included, is all ones (its checksum 0).
        let header = linkLocal.bytes + Advertisement.ipv6Group.bytes + [0, 0, 0, 24, 0, 0, 0, 112]
        #expect((header + bytes).withUnsafeBytes { InternetChecksum.of($0) } == 0)
        // And the pseudoHeader flag does not change IPv6 (it always has one).
        #expect(ad.encoded(source: .ipv6(linkLocal), destination: .ipv6(Advertisement.ipv6Group), pseudoHeader: true) == bytes)
    }
}
