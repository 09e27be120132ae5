import NetTypes

/// Flags of an L2 entry, as the SDK names them.
public struct L2Flags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Never aged, kept by dynamic flushes.
    public static let `static` = L2Flags(rawValue: 1 << 0)
    /// The router's own MAC (an SVI or a VRRP virtual MAC): frames to it go to L3.
    public static let l3 = L2Flags(rawValue: 1 << 1)
    public static let discardSource = L2Flags(rawValue: 1 << 2)
    public static let discardDestination = L2Flags(rawValue: 1 << 3)
    public static let copyToCPU = L2Flags(rawValue: 1 << 4)
    /// Set by traffic from this MAC; cleared by aging.
    public static let hitSource = L2Flags(rawValue: 1 << 5)
    /// Set by traffic to this MAC; cleared by aging.
    public static let hitDestination = L2Flags(rawValue: 1 << 6)

    public static let hits: L2Flags = [.hitSource, .hitDestination]

    public var description: String {
        var names: [String] = []
        if contains(.static) { names.append("static") }
        if contains(.l3) { names.append("l3") }
        if contains(.discardSource) { names.append("discard-src") }
        if contains(.discardDestination) { names.append("discard-dst") }
        if contains(.copyToCPU) { names.append("copy-to-cpu") }
        if contains(.hitSource) { names.append("hit-src") }
        if contains(.hitDestination) { names.append("hit-dst") }
        return names.joined(separator: ",")
    }
}

/// Port number 0 is the CPU: where router MACs (L3 entries) point.
public typealias PortID = UInt16
public let cpuPort: PortID = 0

/// One entry of the L2 table: (MAC, VLAN) → port, with flags.
public struct L2Entry: Equatable, Hashable, Sendable {
    public var mac: MACAddress
    public var vlan: UInt16
    public var port: PortID
    public var flags: L2Flags

    public init(mac: MACAddress, vlan: UInt16, port: PortID, flags: L2Flags = []) {
        self.mac = mac
        self.vlan = vlan
        self.port = port
        self.flags = flags
    }

    public var isStatic: Bool { flags.contains(.static) }
    public var key: L2Key { L2Key(mac: mac, vlan: vlan) }
}

/// The hardware key: 48-bit MAC and 12-bit VLAN packed in one word (never 0: VLANs are 1-4094).
public struct L2Key: Hashable, Sendable {
    public let raw: UInt64

    public init(mac: MACAddress, vlan: UInt16) {
        raw = mac.value << 12 | UInt64(vlan & 0xfff)
    }

    init(raw: UInt64) { self.raw = raw }

    public var mac: MACAddress { MACAddress(raw >> 12) }
    public var vlan: UInt16 { UInt16(raw & 0xfff) }
}

/// Which entries a flush, traverse or replace applies to. The conditions are ANDed (as in
/// SAI); `includeStatic` must be set for static entries to be touched.
public struct L2Filter: Sendable, Equatable, CustomStringConvertible {
    public var vlan: UInt16?
    public var port: PortID?
    public var mac: MACAddress?
    public var includeStatic: Bool
    public var includeDynamic: Bool

    public init(vlan: UInt16? = nil, port: PortID? = nil, mac: MACAddress? = nil, includeStatic: Bool = false, includeDynamic: Bool = true) {
        self.vlan = vlan
        self.port = port
        self.mac = mac
        self.includeStatic = includeStatic
        self.includeDynamic = includeDynamic
    }

    /// Everything, static and dynamic.
    public static let all = L2Filter(includeStatic: true)

    @inline(__always)
    func matches(key: UInt64, port entryPort: UInt16, flags: UInt16) -> Bool {
        let isStatic = flags & L2Flags.static.rawValue != 0
        if isStatic ? !includeStatic : !includeDynamic { return false }
        if let vlan, UInt16(key & 0xfff) != vlan { return false }
        if let port, entryPort != port { return false }
        if let mac, key >> 12 != mac.value { return false }
        return true
    }

    public var description: String {
        var parts: [String] = []
        if let vlan { parts.append("vlan \(vlan)") }
        if let port { parts.append("port \(port)") }
        if let mac { parts.append("mac \(mac)") }
        parts.append(includeStatic ? (includeDynamic ? "static and dynamic" : "static") : "dynamic")
        return parts.joined(separator: ", ")
    }
}
