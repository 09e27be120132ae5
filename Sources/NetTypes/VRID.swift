/// A virtual router's identifier, 1-255 (RFC 5798 §5.2.3): a VRRP group of an SVI. Checked
/// once where it enters (a command's `(1-255)`, an advert's byte), so the configuration and the
/// VRRP engine never hold 0.
public struct VRID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    /// The identifiers there are.
    public static let range: ClosedRange<Int> = 1...255

    /// nil for 0.
    public init?(rawValue: UInt8) {
        guard rawValue != 0 else { return nil }
        self.rawValue = rawValue
    }

    /// nil outside 1-255.
    public init?(_ n: Int) {
        guard VRID.range.contains(n) else { return nil }
        self.rawValue = UInt8(n)
    }

    public var description: String { String(rawValue) }

    public static func < (a: VRID, b: VRID) -> Bool { a.rawValue < b.rawValue }
}
