import CLI
import NAT
import NetTypes
import SwitchHAL

/// Per-interface configuration (`interface NAME` blocks).
public struct InterfaceConfig: Equatable, Sendable {
    public var description: String?
    public var shutdown = false
    /// SVIs (`vlanN`) only.
    public var addresses: [IPv4Prefix] = []
    /// Physical ports (`ethN`) only.
    public var switchport = SwitchportConfig()
    /// SVIs (`vlanN`) only: `vrrp N ...` lines.
    public var vrrp: [VRID: VRRPInstanceConfig] = [:]
    /// SVIs only: `ip nat inside` / `ip nat outside`.
    public var natRole: NATZone?

    public init() {}
}

/// One `vrrp N` group of an SVI, as FRR's vrrpd configures it (plus the switch extras).
public struct VRRPInstanceConfig: Equatable, Sendable {
    public var version = 3
    /// 1-254; the address owner advertises 255 whatever this says.
    public var priority: UInt8 = 100
    public var advertisementIntervalMs = 1000
    public var preempt = true
    public var preemptDelaySeconds: Int?
    public var acceptMode = false
    public var shutdown = false
    public var checksumWithPseudoHeader = true
    /// Accept either IPv4 v3 checksum form on receive (mixed keepalived/FRR and Cisco/Juniper).
    public var checksumLenient = false
    /// RFC 9568: a Master answers a lower-priority advertisement at once (off: RFC 5798).
    public var answerLowerPriority = true
    public var ipv4: [IPv4Address] = []
    public var ipv6: [IPv6Address] = []
    public var description: String?
    /// Tracked ports and what their being down subtracts from the priority.
    public var tracks: [InterfaceID: Int] = [:]

    public static let defaultTrackDecrement = 10
    /// The count field is 8 bits; 255 IPv4 addresses fit a 1500-byte frame.
    public static let maxIPv4Addresses = 255
    /// (1500 - 40 - 8) / 16: more would not fit a 1500-byte frame.
    public static let maxIPv6Addresses = 90

    public init() {}
}

/// `switchport ...` lines of a physical port.
public struct SwitchportConfig: Equatable, Sendable {
    public var mode = PortMode.access
    public var accessVLAN: UInt16 = 1
    public var nativeVLAN: UInt16 = 1
    public var allowedVLANs = VLANSet.all

    public init() {}
}

public struct VLANConfig: Equatable, Sendable {
    public var name: String?
    public init(name: String? = nil) { self.name = name }
}

public struct StaticMAC: Hashable, Sendable, Comparable {
    public var mac: MACAddress
    public var vlan: UInt16

    public init(mac: MACAddress, vlan: UInt16) {
        self.mac = mac
        self.vlan = vlan
    }

    public static func < (a: StaticMAC, b: StaticMAC) -> Bool { (a.vlan, a.mac) < (b.vlan, b.mac) }
}
