// Address types shared by the CLI, the HAL and the protocol engines.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 address as the CLI parses and prints it (`A.B.C.D`).
///
/// Stored as a host-order `UInt32` so that comparisons (VRRP's primary-address tie-break) and
/// masks are plain integer operations.
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses strict dotted-quad notation: four decimal octets, no leading `+`, no empty parts.
    public init?<S: StringProtocol>(parsing text: S) {
        var result: UInt32 = 0
        var octets = 0
        var current: UInt32 = 0
        var digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                result = result << 8 | current
                octets += 1
                current = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits += 1
                guard digits <= 3 else { return nil }
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
                guard current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, octets == 3 else { return nil }
        value = result << 8 | current
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    public var bytes: [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }
}

/// An IPv4 address with a prefix length (`A.B.C.D/M`); host bits are kept, as on an interface.
public struct IPv4Prefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var length: Int

    public init(address: IPv4Address, length: Int) {
        self.address = address
        self.length = length
    }

    public init?<S: StringProtocol>(parsing text: S) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        guard let address = IPv4Address(parsing: text[..<slash]) else { return nil }
        let lengthText = text[text.index(after: slash)...]
        guard !lengthText.isEmpty, lengthText.count <= 2, let length = Int(lengthText), (0...32).contains(length)
        else { return nil }
        self.init(address: address, length: length)
    }

    public var mask: UInt32 { length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(length)) }
    public var network: IPv4Address { IPv4Address(address.value & mask) }
    public func contains(_ other: IPv4Address) -> Bool { other.value & mask == address.value & mask }
    public var description: String { "\(address)/\(length)" }
}

/// An IPv6 address (`X:X::X:X`), parsed and printed by the C library so that every textual form
/// (compressed, mixed with dotted quad) is accepted and the output is canonical (RFC 5952).
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public init?<S: StringProtocol>(parsing text: S) {
        guard text.utf8.count <= 45, text.contains(":") else { return nil }
        var storage = in6_addr()
        let ok = String(text).withCString { inet_pton(AF_INET6, $0, &storage) }
        guard ok == 1 else { return nil }
        bytes = withUnsafeBytes(of: &storage) { Array($0) }
    }

    public var isLinkLocal: Bool { bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 }

    public var description: String {
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

/// An IPv6 address with a prefix length (`X:X::X:X/M`).
public struct IPv6Prefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv6Address
    public var length: Int

    public init?<S: StringProtocol>(parsing text: S) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        guard let address = IPv6Address(parsing: text[..<slash]) else { return nil }
        let lengthText = text[text.index(after: slash)...]
        guard !lengthText.isEmpty, lengthText.count <= 3, let length = Int(lengthText), (0...128).contains(length)
        else { return nil }
        self.address = address
        self.length = length
    }

    public var description: String { "\(address)/\(length)" }
}

/// A 48-bit MAC address. Accepts `aa:bb:cc:dd:ee:ff` and Cisco's `aabb.ccdd.eeff`; prints the
/// colon form, which is what `show` output and the VRRP reference use.
public struct MACAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value & 0xffff_ffff_ffff }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 6)
        value = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public init?<S: StringProtocol>(parsing text: S) {
        let utf8 = Array(text.utf8)
        func hex(_ byte: UInt8) -> UInt64? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        var result: UInt64 = 0
        if utf8.count == 17 {
            // aa:bb:cc:dd:ee:ff (also accepts '-' as the separator, as Windows and IEEE print it)
            for (index, byte) in utf8.enumerated() {
                if index % 3 == 2 {
                    guard byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-") else { return nil }
                    guard byte == utf8[2] else { return nil }
                } else {
                    guard let nibble = hex(byte) else { return nil }
                    result = result << 4 | nibble
                }
            }
        } else if utf8.count == 14 {
            // aabb.ccdd.eeff
            for (index, byte) in utf8.enumerated() {
                if index == 4 || index == 9 {
                    guard byte == UInt8(ascii: ".") else { return nil }
                } else {
                    guard let nibble = hex(byte) else { return nil }
                    result = result << 4 | nibble
                }
            }
        } else {
            return nil
        }
        value = result
    }

    public var bytes: [UInt8] { (0..<6).map { UInt8(value >> UInt64(40 - 8 * $0) & 0xff) } }

    public var isMulticast: Bool { value >> 40 & 1 == 1 }

    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(17)
        for (index, byte) in bytes.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ":")) }
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Cisco's dotted form, `aabb.ccdd.eeff`.
    public var dottedDescription: String {
        let hex = description.split(separator: ":").joined()
        let chars = Array(hex)
        return String(chars[0..<4]) + "." + String(chars[4..<8]) + "." + String(chars[8..<12])
    }

    public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.value < rhs.value }
}

extension IPv4Address {
    /// Why this address cannot be a host's (an interface's, a virtual router's, a static NAT
    /// translation's), as IOS and FRR refuse it, or nil.
    public var hostAddressProblem: String? {
        let first = value >> 24
        if value == 0 { return "0.0.0.0 is not a host address" }
        if value == 0xffff_ffff { return "255.255.255.255 is the broadcast address, not a host address" }
        if first == 127 { return "\(self) is a loopback address" }
        if first >= 224 && first < 240 { return "\(self) is a multicast address" }
        if first >= 240 { return "\(self) is a reserved (class E) address" }
        if first == 0 { return "\(self) is in 0.0.0.0/8 (this network), not a host address" }
        return nil
    }
}
