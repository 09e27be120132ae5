import NetTypes

/// The Internet checksum (RFC 1071) and the forms VRRP uses.
public enum Checksum {
    /// One's-complement sum of 16-bit words (not yet complemented).
    static func sum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt32 {
        var total = initial
        var index = 0
        while index + 1 < bytes.count {
            total &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { total &+= UInt32(bytes[index]) << 8 }
        return total
    }

    static func fold(_ value: UInt32) -> UInt16 {
        var total = value
        while total >> 16 != 0 { total = (total & 0xffff) &+ (total >> 16) }
        return UInt16(total)
    }

    /// The checksum of a message over its bytes alone (checksum field zeroed).
    public static func internet(_ bytes: [UInt8]) -> UInt16 {
        ~fold(sum(bytes))
    }

    /// The VRRP checksum of `message` (checksum field zeroed):
    /// - v2: over the message only (RFC 3768);
    /// - v3 over IPv6: with the IPv6 pseudo-header (RFC 5798, 9568);
    /// - v3 over IPv4: with the IPv4 pseudo-header `src dst 0 112 length` when `pseudoHeader`
    ///   (RFC 5798 as keepalived and FRR read it), over the message only otherwise (RFC 9568,
    ///   Cisco and Juniper).
    public static func vrrp(
        _ message: [UInt8], version: Int, source: IPAddressPair.Source, destination: IPAddressPair.Destination, pseudoHeader: Bool
    ) -> UInt16 {
        var zeroed = message
        if zeroed.count >= 8 {
            zeroed[6] = 0
            zeroed[7] = 0
        }
        if version == 2 { return internet(zeroed) }
        switch (source, destination) {
        case (.ipv6(let s), .ipv6(let d)):
            var header = s.bytes + d.bytes
            let length = UInt32(zeroed.count)
            header += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
            header += [0, 0, 0, Advertisement.ipProtocol]
            return ~fold(sum(zeroed, initial: sum(header)))
        case (.ipv4(let s), .ipv4(let d)):
            guard pseudoHeader else { return internet(zeroed) }
            let length = UInt16(zeroed.count)
            let header = s.bytes + d.bytes + [0, Advertisement.ipProtocol, UInt8(length >> 8), UInt8(length & 0xff)]
            return ~fold(sum(zeroed, initial: sum(header)))
        default:
            return internet(zeroed)
        }
    }
}
