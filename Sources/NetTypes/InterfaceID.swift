/// An interface of the switch: a port (`ethN`) or the routed interface of a VLAN, its SVI
/// (`vlanN`). The configuration, VRRP, routing, tracking and the HAL key interfaces by this
/// value; its text is parsed here and only here, at the edge (a command's word, a `--port`
/// option), and printed by `description`, the canonical name `show running-config` writes.
///
/// ```swift
/// InterfaceID("vlan10")                 // .svi(10)
/// InterfaceID("eth3", portCount: 2)     // nil: the chip has eth1 and eth2
/// [.svi(10), .port(2), .svi(9)].sorted() // eth2, vlan9, vlan10
/// ```
public enum InterfaceID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `ethN`, N from 1 (how many ports there are is the chip's: see `exists(portCount:)`).
    case port(UInt16)
    /// `vlanN`, N in `InterfaceID.vlans`.
    case svi(UInt16)

    /// The VLAN IDs an SVI may have.
    public static let vlans: ClosedRange<UInt16> = 1...4094

    /// The interface `name` denotes, in its canonical spelling only (lower case, no leading
    /// zeros: `eth1`, `vlan10`); nil for anything else (`eth0`, `vlan4095`, `Eth1`, `lo`).
    public init?(_ name: some StringProtocol) {
        let utf8 = name.utf8
        if utf8.starts(with: "eth".utf8), let n = Self.number(utf8.dropFirst(3)), n >= 1, n <= Int(UInt16.max) {
            self = .port(UInt16(n))
        } else if utf8.starts(with: "vlan".utf8), let n = Self.number(utf8.dropFirst(4)), n >= Int(Self.vlans.lowerBound),
            n <= Int(Self.vlans.upperBound)
        {
            self = .svi(UInt16(n))
        } else {
            return nil
        }
    }

    /// The interface `name` denotes on a switch with `portCount` ports.
    public init?(_ name: some StringProtocol, portCount: Int) {
        guard let id = InterfaceID(name), id.exists(portCount: portCount) else { return nil }
        self = id
    }

    /// Whether a switch with `portCount` ports has this interface (every SVI may exist).
    public func exists(portCount: Int) -> Bool {
        switch self {
        case .port(let n): Int(n) <= portCount
        case .svi: true
        }
    }

    /// The port number of a port, nil for an SVI.
    public var port: UInt16? {
        if case .port(let n) = self { return n }
        return nil
    }

    /// The VLAN of an SVI, nil for a port.
    public var vlan: UInt16? {
        if case .svi(let vlan) = self { return vlan }
        return nil
    }

    /// The number in the name: a port's number, an SVI's VLAN.
    public var number: UInt16 {
        switch self {
        case .port(let n), .svi(let n): n
        }
    }

    /// The interface of the same kind numbered `n` (`eth1` and 5 give `eth5`).
    public func withNumber(_ n: UInt16) -> InterfaceID {
        switch self {
        case .port: .port(n)
        case .svi: .svi(n)
        }
    }

    /// The interface of the same kind numbered `n`, if a switch with `portCount` ports has it
    /// (`eth1` and 5 give `eth5`; `vlan1` and 5000, nothing).
    public func withNumber(_ n: Int, portCount: Int) -> InterfaceID? {
        switch self {
        case .port: n >= 1 && n <= min(portCount, Int(UInt16.max)) ? .port(UInt16(n)) : nil
        case .svi: n >= Int(Self.vlans.lowerBound) && n <= Int(Self.vlans.upperBound) ? .svi(UInt16(n)) : nil
        }
    }

    public var description: String {
        switch self {
        case .port(let n): "eth\(n)"
        case .svi(let vlan): "vlan\(vlan)"
        }
    }

    /// Natural order, as people read the names: every port (`eth2` before `eth10`), then every
    /// SVI by VLAN.
    public static func < (a: InterfaceID, b: InterfaceID) -> Bool {
        switch (a, b) {
        case (.port(let x), .port(let y)), (.svi(let x), .svi(let y)): x < y
        case (.port, .svi): true
        case (.svi, .port): false
        }
    }

    /// Decimal digits without a sign or a leading zero (`String(n)` gives the same text back),
    /// at most five of them.
    private static func number<Digits: Collection<UInt8>>(_ digits: Digits) -> Int? {
        guard let first = digits.first, first != UInt8(ascii: "0") || digits.count == 1, digits.count <= 5 else { return nil }
        var n = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return n
    }
}

extension Sequence<InterfaceID> {
    /// In the order of the names as text (`vlan10` before `vlan9`), not the natural order:
    /// the order NAT's `show` lines and the configuration's refusals have always listed them in.
    public func sortedByName() -> [InterfaceID] {
        map { ($0.description, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
