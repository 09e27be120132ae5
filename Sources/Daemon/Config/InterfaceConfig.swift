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
    public var vrrp: [UInt8: VRRPInstanceConfig] = [:]
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
    /// Tracked interfaces and what their being down subtracts from the priority.
    public var tracks: [String: Int] = [:]

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

/// The kind of interface a name denotes.
public enum InterfaceKind: Equatable {
    case port(PortID)
    case svi(UInt16)

    /// `ethN` within the chip's ports, or `vlanN` with N in 1-4094.
    public static func parse(_ name: String, portCount: Int) -> InterfaceKind? {
        if name.hasPrefix("eth"), let n = Int(name.dropFirst(3)), n >= 1, n <= portCount, String(n) == name.dropFirst(3) {
            return .port(PortID(n))
        }
        if name.hasPrefix("vlan"), let n = Int(name.dropFirst(4)), n >= 1, n <= 4094, String(n) == name.dropFirst(4) {
            return .svi(UInt16(n))
        }
        return nil
    }

    /// Why `name` is not an interface of a switch with `portCount` ports, or nil if it is one.
    public static func problem(_ name: String, portCount: Int) -> String? {
        parse(name, portCount: portCount) == nil ? "No such interface \(name): ports are eth1-eth\(portCount), SVIs are vlan1-vlan4094" : nil
    }
}

public enum InterfaceName {
    /// Natural order: by the alphabetic stem, then numerically by each number in the name.
    public static func precedes(_ a: String, _ b: String) -> Bool { SortKey(a) < SortKey(b) }

    /// Names in natural order, each name's key worked out once (4,000 SVIs sort in a few ms).
    public static func sorted<S: Sequence>(_ names: S) -> [String] where S.Element == String {
        names.map { (SortKey($0), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// `vlan10` is (`vlan`, [10]), `eth1/2` (`eth`, [1, 2]); read from the bytes (names are
    /// ASCII).
    public struct SortKey: Comparable, Sendable {
        let stem: Substring.UTF8View.SubSequence
        let numbers: [Int]
        let name: String

        public init(_ name: String) {
            self.name = name
            let bytes = name.utf8
            let digit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
            let firstDigit = bytes.firstIndex(where: digit) ?? bytes.endIndex
            stem = bytes[..<firstDigit]
            var numbers: [Int] = []
            var current: Int?
            for byte in bytes[firstDigit...] {
                if digit(byte) {
                    current = (current ?? 0) &* 10 &+ Int(byte - 0x30)
                } else if let n = current {
                    numbers.append(n)
                    current = nil
                }
            }
            if let current { numbers.append(current) }
            self.numbers = numbers
        }

        public static func < (a: SortKey, b: SortKey) -> Bool {
            if !a.stem.elementsEqual(b.stem) { return a.stem.lexicographicallyPrecedes(b.stem) }
            if a.numbers != b.numbers { return a.numbers.lexicographicallyPrecedes(b.numbers) }
            return a.name < b.name
        }

        public static func == (a: SortKey, b: SortKey) -> Bool { a.name == b.name }
    }
}

