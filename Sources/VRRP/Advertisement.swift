import NetTypes

/// A VRRP advertisement (RFC 3768 v2, RFC 5798/9568 v3), the VRRP message only: what follows the
/// IP header. Encoding and decoding are pure; the checksum needs the IP addresses around it.
///
/// ```
/// v3:  ver|type  vrid  priority  count   rsvd|max-adver-int(12 bits, cs)  checksum  addresses...
/// v2:  ver|type  vrid  priority  count   auth-type  adver-int(s)          checksum  addresses... auth(8)
/// ```
public struct Advertisement: Equatable, Sendable {
    public var version: Int
    public var type: Int = 1
    public var vrid: UInt8
    public var priority: UInt8
    /// v3: Max Adver Int in centiseconds (12 bits). v2: Adver Int in seconds (8 bits).
    public var interval: Int
    /// v2 only: 0 = no authentication.
    public var authType: UInt8 = 0
    public var addresses: Addresses
    /// The checksum as it is (or will be) on the wire.
    public var checksum: UInt16 = 0

    public enum Addresses: Equatable, Sendable {
        case ipv4([IPv4Address])
        case ipv6([IPv6Address])

        public var count: Int {
            switch self {
            case .ipv4(let a): return a.count
            case .ipv6(let a): return a.count
            }
        }

        public var isIPv6: Bool {
            if case .ipv6 = self { return true }
            return false
        }
    }

    public init(version: Int, vrid: UInt8, priority: UInt8, interval: Int, addresses: Addresses) {
        self.version = version
        self.vrid = vrid
        self.priority = priority
        self.interval = interval
        self.addresses = addresses
    }

    /// The IP protocol / IPv6 next header of VRRP.
    public static let ipProtocol: UInt8 = 112
    public static let ipv4Group = IPv4Address(224, 0, 0, 18)
    public static let ipv6Group = IPv6Address(parsing: "ff02::12")!

    // MARK: Encoding

    /// The message bytes with the checksum computed for the given IP context.
    public func encoded(source: IPAddressPair.Source, destination: IPAddressPair.Destination, pseudoHeader: Bool) -> [UInt8] {
        var bytes = encodedWithoutChecksum()
        let sum = Self.checksum(bytes, version: version, source: source, destination: destination, pseudoHeader: pseudoHeader)
        bytes[6] = UInt8(sum >> 8)
        bytes[7] = UInt8(sum & 0xff)
        return bytes
    }

    /// The message with a zero checksum field.
    public func encodedWithoutChecksum() -> [UInt8] {
        // The count field is 8 bits: at most 255 addresses are sent (the CLI allows fewer).
        var bytes: [UInt8] = [UInt8(version << 4 | type & 0x0f), vrid, priority, UInt8(min(addresses.count, 255))]
        if version == 2 {
            bytes += [authType, UInt8(clamping: interval), 0, 0]
        } else {
            bytes += [UInt8(interval >> 8 & 0x0f), UInt8(interval & 0xff), 0, 0]
        }
        switch addresses {
        case .ipv4(let list): for address in list.prefix(255) { bytes += address.bytes }
        case .ipv6(let list): for address in list.prefix(255) { bytes += address.bytes }
        }
        if version == 2 { bytes += [UInt8](repeating: 0, count: 8) }
        return bytes
    }

    /// The VRRP checksum of `message` (its checksum field is taken as zero), as a number (the
    /// first byte its high half):
    /// - v2: over the message only (RFC 3768);
    /// - v3 over IPv6: with the IPv6 pseudo-header (RFC 5798, 9568);
    /// - v3 over IPv4: with the IPv4 pseudo-header `src dst 0 112 length` when `pseudoHeader`
    ///   (RFC 5798 as keepalived and FRR read it), over the message only otherwise (RFC 9568,
    ///   Cisco and Juniper).
    ///
    /// The Internet checksum is `InternetChecksum`'s (native-order words, so each part is added
    /// as its big-endian bytes stand in memory). No allocation: it runs for every advert sent
    /// and received.
    public static func checksum(
        _ message: [UInt8], version: Int, source: IPAddressPair.Source, destination: IPAddressPair.Destination, pseudoHeader: Bool
    ) -> UInt16 {
        // The message around its checksum field (bytes 6 and 7); both parts start on a word.
        var total = message.withUnsafeBytes { bytes -> UInt64 in
            guard let base = bytes.baseAddress else { return 0 }
            let head = InternetChecksum.sum(base, min(bytes.count, 6))
            guard bytes.count > 8 else { return head }
            return InternetChecksum.add(head, InternetChecksum.sum(base + 8, bytes.count - 8))
        }
        // The pseudo-header's last word (IPv6: the 32-bit length, then zeros and the next
        // header; IPv4: zero and the protocol, then the 16-bit length) sums to protocol + length.
        let tail = UInt64((UInt32(ipProtocol) + UInt32(message.count)).bigEndian)
        if version != 2 {
            switch (source, destination) {
            case (.ipv6(let s), .ipv6(let d)):
                total = InternetChecksum.add(total, s.bytes.withUnsafeBytes { InternetChecksum.sum($0.baseAddress!, $0.count) })
                total = InternetChecksum.add(total, d.bytes.withUnsafeBytes { InternetChecksum.sum($0.baseAddress!, $0.count) })
                total = InternetChecksum.add(total, tail)
            case (.ipv4(let s), .ipv4(let d)) where pseudoHeader:
                total = InternetChecksum.add(total, UInt64(s.value.bigEndian))
                total = InternetChecksum.add(total, UInt64(d.value.bigEndian))
                total = InternetChecksum.add(total, tail)
            default:
                break
            }
        }
        return UInt16(bigEndian: ~InternetChecksum.fold(total))
    }

    // MARK: Decoding

    /// Decodes a message; the checks of RFC 5798 §7.1 that need no instance (version field,
    /// type, length) are made here and name the discard reason.
    public static func decode(_ bytes: [UInt8], ipv6: Bool) -> Result<Advertisement, DiscardReason> {
        guard bytes.count >= 8 else { return .failure(.length) }
        let version = Int(bytes[0] >> 4)
        guard version == 2 || version == 3 else { return .failure(.version) }
        guard bytes[0] & 0x0f == 1 else { return .failure(.type) }
        let count = Int(bytes[3])
        let size = ipv6 ? 16 : 4
        guard !(ipv6 && version == 2) else { return .failure(.version) }
        let needed = 8 + count * size + (version == 2 ? 8 : 0)
        guard count >= 1, bytes.count >= needed else { return .failure(.length) }
        var addresses: Addresses
        if ipv6 {
            var list: [IPv6Address] = []
            for index in 0..<count { list.append(IPv6Address(bytes: Array(bytes[(8 + index * 16)..<(24 + index * 16)]))!) }
            addresses = .ipv6(list)
        } else {
            var list: [IPv4Address] = []
            for index in 0..<count {
                let o = 8 + index * 4
                list.append(IPv4Address(bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]))
            }
            addresses = .ipv4(list)
        }
        let interval = version == 2 ? Int(bytes[5]) : Int(bytes[4] & 0x0f) << 8 | Int(bytes[5])
        var ad = Advertisement(version: version, vrid: bytes[1], priority: bytes[2], interval: interval, addresses: addresses)
        ad.type = Int(bytes[0] & 0x0f)
        if version == 2 { ad.authType = bytes[4] }
        ad.checksum = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        return .success(ad)
    }
}

/// The IP addresses around a VRRP message (for the checksum's pseudo-header).
public enum IPAddressPair {
    public enum Source: Equatable, Sendable, CustomStringConvertible {
        case ipv4(IPv4Address)
        case ipv6(IPv6Address)

        public var description: String {
            switch self {
            case .ipv4(let address): address.description
            case .ipv6(let address): address.description
            }
        }
    }

    public enum Destination: Equatable, Sendable {
        case ipv4(IPv4Address)
        case ipv6(IPv6Address)
    }
}

/// Why a received advertisement was discarded (RFC 5798 §7.1, RFC 3768 §7.1). Each has its
/// own counter; a discarded packet changes nothing else.
public enum DiscardReason: String, Error, Sendable, CaseIterable, CustomStringConvertible {
    case ttl = "TTL not 255"
    case version = "wrong version"
    case type = "unknown type"
    case length = "too short"
    case checksum = "bad checksum"
    case vrid = "VRID not configured"
    case owner = "received by the address owner"
    case authType = "authentication type mismatch"
    case interval = "advertisement interval mismatch"
    case addressList = "address list mismatch"

    public var description: String { rawValue }

    /// A short name for machine-readable output (JSON keys).
    public var key: String {
        switch self {
        case .ttl: "ttl"
        case .version: "version"
        case .type: "type"
        case .length: "length"
        case .checksum: "checksum"
        case .vrid: "vrid"
        case .owner: "owner"
        case .authType: "authType"
        case .interval: "interval"
        case .addressList: "addressList"
        }
    }
}
