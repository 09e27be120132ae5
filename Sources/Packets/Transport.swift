import NetTypes

/// What a router doing NAT needs of TCP, UDP and ICMP echo: the ports (or the echo identifier),
/// TCP's flags, and the segment with new ports and a checksum computed for new addresses.
public enum Transport {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17

    /// Source and destination port of a TCP or UDP segment; for an ICMP echo request or reply
    /// the identifier, as both.
    public static func ports(_ payload: [UInt8], protocolNumber: UInt8) -> (source: UInt16, destination: UInt16)? {
        switch protocolNumber {
        case tcp where payload.count >= 20, udp where payload.count >= 8:
            return (UInt16(payload[0]) << 8 | UInt16(payload[1]), UInt16(payload[2]) << 8 | UInt16(payload[3]))
        case icmp where payload.count >= 8 && (payload[0] == 8 || payload[0] == 0):
            let id = UInt16(payload[4]) << 8 | UInt16(payload[5])
            return (id, id)
        default:
            return nil
        }
    }

    /// TCP's flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10).
    public static func tcpFlags(_ payload: [UInt8]) -> UInt8? { payload.count >= 20 ? payload[13] : nil }

    /// The segment with `sourcePort` and `destinationPort` (for ICMP echo: the identifier is the
    /// source port) and its checksum computed anew for `source` -> `destination`. A UDP checksum
    /// of zero (none) stays zero.
    public static func rewritten(
        _ payload: [UInt8], protocolNumber: UInt8, sourcePort: UInt16, destinationPort: UInt16,
        source: IPv4Address, destination: IPv4Address
    ) -> [UInt8]? {
        guard ports(payload, protocolNumber: protocolNumber) != nil else { return nil }
        var out = payload
        switch protocolNumber {
        case icmp:
            out[4] = UInt8(sourcePort >> 8)
            out[5] = UInt8(sourcePort & 0xff)
            out[2] = 0
            out[3] = 0
            let sum = internetChecksum(out)
            out[2] = UInt8(sum >> 8)
            out[3] = UInt8(sum & 0xff)
        default:
            out[0] = UInt8(sourcePort >> 8)
            out[1] = UInt8(sourcePort & 0xff)
            out[2] = UInt8(destinationPort >> 8)
            out[3] = UInt8(destinationPort & 0xff)
            let at = protocolNumber == tcp ? 16 : 6
            if protocolNumber == udp && out[6] == 0 && out[7] == 0 { return out }
            out[at] = 0
            out[at + 1] = 0
            var sum = checksum(out, protocolNumber: protocolNumber, source: source, destination: destination)
            if protocolNumber == udp && sum == 0 { sum = 0xffff }
            out[at] = UInt8(sum >> 8)
            out[at + 1] = UInt8(sum & 0xff)
        }
        return out
    }

    /// The TCP/UDP checksum over the IPv4 pseudo-header and `segment` (whose checksum field is
    /// counted as it stands: zero it to compute, leave it to verify, which then gives 0).
    public static func checksum(_ segment: [UInt8], protocolNumber: UInt8, source: IPv4Address, destination: IPv4Address) -> UInt16 {
        var pseudo = source.bytes + destination.bytes + [0, protocolNumber, UInt8(segment.count >> 8), UInt8(segment.count & 0xff)]
        pseudo += segment
        return internetChecksum(pseudo)
    }
}
