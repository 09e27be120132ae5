/// A CLI mode (FRR calls it a node): which commands are available and what the prompt says.
public struct Mode: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
}

/// The values a matched command line bound, by name, plus the keywords it contained.
///
/// Handlers read them (`args.int("vrid")`); configuration renderers build them to print a line.
public struct Arguments: Sendable, Equatable, CustomStringConvertible {
    public var values: [String: Value]
    public var keywords: Set<String>
    /// True when the line was the `no` form of the command.
    public var negated: Bool

    public init(_ values: [String: Value] = [:], keywords: Set<String> = [], negated: Bool = false) {
        self.values = values
        self.keywords = keywords
        self.negated = negated
    }

    public subscript(name: String) -> Value? {
        get { values[name] }
        set { values[name] = newValue }
    }

    public func has(_ keyword: String) -> Bool { keywords.contains(keyword) }

    public func int(_ name: String) -> Int? {
        if case .int(let n) = values[name] { return n }
        return nil
    }

    /// The text of a word, line, keyword or interface-name argument.
    public func string(_ name: String) -> String? {
        switch values[name] {
        case .word(let s), .line(let s), .keyword(let s), .interface(let s): return s
        default: return nil
        }
    }

    public func ipv4(_ name: String) -> IPv4Address? {
        if case .ipv4(let a) = values[name] { return a }
        return nil
    }

    public func ipv4Prefix(_ name: String) -> IPv4Prefix? {
        if case .ipv4Prefix(let p) = values[name] { return p }
        return nil
    }

    public func ipv6(_ name: String) -> IPv6Address? {
        if case .ipv6(let a) = values[name] { return a }
        return nil
    }

    public func mac(_ name: String) -> MACAddress? {
        if case .mac(let m) = values[name] { return m }
        return nil
    }

    public var description: String {
        let parts = values.keys.sorted().map { "\($0)=\(values[$0]!)" } + keywords.sorted()
        return (negated ? "no " : "") + parts.joined(separator: " ")
    }
}

/// How a configuration command's `no` form is derived from its one declaration.
public enum NoForm: Sendable {
    /// The command has no `no` form.
    case none
    /// `no` followed by the same syntax (`no shutdown`, `no vrrp 5 ip 10.0.0.1`).
    case sameArguments
    /// `no` followed by the syntax with its trailing values optional
    /// (`hostname WORD` gives `no hostname [WORD]`).
    case optionalValues
    /// `no` followed by a syntax of its own (with its own help strings).
    case custom(String, help: [String])
}
