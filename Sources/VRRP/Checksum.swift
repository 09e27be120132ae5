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
        bytes.withUnsafeBytes { InternetChecksum.of($0) }
    }

    /// The VRRP checksum of `message` (its checksum field is taken as zero):
    /// - v2: over the message only (RFC 3768);
    /// - v3 over IPv6: with the IPv6 pseudo-header (RFC 5798, 9568);
    /// - v3 over IPv4: with the IPv4 pseudo-header `src dst 0 112 length` when `pseudoHeader`
    ///   (RFC 5798 as keepalived and FRR read it), over the message only otherwise (RFC 9568,
    ///   Cisco and Juniper).
    ///
    /// No allocation: it runs for every advert sent and received.
    public static func vrrp(
        _ message: [UInt8], version: Int, source: IPAddressPair.Source, destination: IPAddressPair.Destination, pseudoHeader: Bool
    ) -> UInt16 {
        var total: UInt32 = 0
        message.withUnsafeBufferPointer { bytes in
            var index = 0
            while index + 1 < bytes.count {
                if index != 6 { total &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1]) }
                index += 2
            }
            if index < bytes.count { total &+= UInt32(bytes[index]) << 8 }
        }
        if version == 2 { return ~fold(total) }
        let length = UInt32(message.count)
        switch (source, destination) {
        case (.ipv6(let s), .ipv6(let d)):
            total &+= sum(s.bytes) &+ sum(d.bytes) &+ (length >> 16) &+ (length & 0xffff) &+ UInt32(Advertisement.ipProtocol)
        case (.ipv4(let s), .ipv4(let d)):
            guard pseudoHeader else { return ~fold(total) }
            total &+= (s.value >> 16) &+ (s.value & 0xffff) &+ (d.value >> 16) &+ (d.value & 0xffff)
            total &+= UInt32(Advertisement.ipProtocol) &+ length
        default:
            break
        }
        return ~fold(total)
    }
}
