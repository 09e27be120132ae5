/// The IP protocols NAT and the HAL tell apart: TCP, UDP, ICMP, or any (address-only: one-to-one
/// mappings, and packets of other protocols such as GRE or ESP).
public enum L4Protocol: UInt8, Sendable, Hashable, Comparable, CustomStringConvertible, CaseIterable {
    case any = 0
    case icmp = 1
    case tcp = 6
    case udp = 17

    public var description: String {
        switch self {
        case .any: return "any"
        case .icmp: return "icmp"
        case .tcp: return "tcp"
        case .udp: return "udp"
        }
    }

    /// `tcp`, `udp` or `icmp` as typed in a command.
    public init?(name: String) {
        switch name {
        case "tcp": self = .tcp
        case "udp": self = .udp
        case "icmp": self = .icmp
        default: return nil
        }
    }

    public static func < (a: L4Protocol, b: L4Protocol) -> Bool { a.rawValue < b.rawValue }
}

/// The side of the NAT an interface (`ip nat inside|outside`), a packet's ingress, or a HAL NAT
/// entry (SONiC's `nat_zone`) is on: `inside` the private network, `outside` the public one.
public enum NATZone: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case inside
    case outside

    public var description: String { self == .inside ? "inside" : "outside" }

    public init?(name: String) {
        switch name {
        case "inside": self = .inside
        case "outside": self = .outside
        default: return nil
        }
    }
}
