/// A CLI mode (FRR calls it a node): which commands are available and what the prompt says.
public struct Mode: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
}

/// The values a matched command line bound, by name, plus the keywords it contained.
///
/// Handlers read them through typed `Binding`s (`args[vrid]`); configuration renderers build
/// them to print a line.
public struct Arguments: Sendable, Equatable, CustomStringConvertible {
    var values: [String: Value]
    var keywords: Set<String>
    /// True when the line was the `no` form of the command.
    public var negated: Bool

    public init(negated: Bool = false) {
        self.init([:], negated: negated)
    }

    init(_ values: [String: Value], keywords: Set<String> = [], negated: Bool = false) {
        self.values = values
        self.keywords = keywords
        self.negated = negated
    }

    subscript(name: String) -> Value? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// The typed value of `binding`, nil when the line did not bind it. Setting it builds the
    /// arguments a configuration line is rendered from.
    public subscript<T>(_ binding: Binding<T>) -> T? {
        get { values[binding.name].flatMap(T.init(bound:)) }
        set { values[binding.name] = newValue?.bound }
    }

    /// Whether the line contained `flag`'s keyword. Setting it renders the keyword.
    public subscript(_ flag: Flag) -> Bool {
        get { keywords.contains(flag.name) }
        set {
            if newValue { keywords.insert(flag.name) } else { keywords.remove(flag.name) }
        }
    }

    /// The bound value of any catalogued argument, as rendered (a sub-mode block's key).
    public func text(of argument: any NamedArgument) -> String? { values[argument.name]?.description }

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
