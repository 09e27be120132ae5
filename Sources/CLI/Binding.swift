/// A typed argument of a command: the name a syntax binds (`(1-255)$vrid`) and the Swift type a
/// handler reads it as (`Binding<Int>`). A command registry checks every syntax's bindings against
/// its catalogue of `Binding`s when the commands are declared (see `BindingCatalogue`), so a handler
/// never meets a value of another type than it asks for.
public struct Binding<T: BindingValue>: NamedArgument {
    public let name: String
    public init(_ name: String) { self.name = name }

    public func cannotBind(_ token: TokenSpec) -> String? {
        T.cannotBind(token.kind).map { "$\(name) reads \(T.self) but \(token.display) \($0)" }
    }
}

/// A keyword whose presence a handler tests (`ip address A.B.C.D/M [secondary]`).
public struct Flag: NamedArgument {
    public let name: String
    public init(_ keyword: String) { self.name = keyword }

    public func cannotBind(_ token: TokenSpec) -> String? {
        token.kind == .keyword(name) ? nil : "\(name) is a keyword, not \(token.display)"
    }
}

/// What a command catalogue holds: bindings and flags, by name.
public protocol NamedArgument: Sendable {
    var name: String { get }
    /// Why `token` cannot give this argument its value, or nil if it can.
    func cannotBind(_ token: TokenSpec) -> String?
}

/// A Swift type a typed word can be read as.
public protocol BindingValue: Sendable {
    /// The value a matched word bound, as this type; nil if it is of another kind.
    init?(bound: Value)
    /// The value to render a configuration line with.
    var bound: Value { get }
    /// Why a token of `kind` does not produce this type, or nil if it does.
    static func cannotBind(_ kind: TokenKind) -> String?
}

extension Int: BindingValue {
    public init?(bound: Value) {
        guard case .int(let n) = bound else { return nil }
        self = n
    }
    public var bound: Value { .int(self) }
    public static func cannotBind(_ kind: TokenKind) -> String? {
        if case .range = kind { return nil }
        return "is not a number range"
    }
}

/// Words, the rest of a line, interface names and chosen keywords read as text.
extension String: BindingValue {
    public init?(bound: Value) {
        switch bound {
        case .word(let s), .line(let s), .keyword(let s), .interface(let s): self = s
        default: return nil
        }
    }
    public var bound: Value { .word(self) }
    public static func cannotBind(_ kind: TokenKind) -> String? {
        switch kind {
        case .word, .line, .keyword, .interfaceName: return nil
        default: return "is not text"
        }
    }
}

/// An IFNAME word read as the interface it names (`eth1`, `vlan10`). The grammar takes any
/// word shaped like an interface name (`lo`, `eth1/0`), so that each command refuses one the
/// switch cannot have in its own words: such a word binds no `InterfaceID`, and the handler
/// quotes it from `Arguments.text(of:)`.
extension InterfaceID: BindingValue {
    public init?(bound: Value) {
        guard case .interface(let name) = bound else { return nil }
        self.init(name)
    }
    public var bound: Value { .interface(description) }
    public static func cannotBind(_ kind: TokenKind) -> String? { kind == .interfaceName ? nil : "is not IFNAME" }
}

/// A number range within 1-255 read as a VRRP group's identifier.
extension VRID: BindingValue {
    public init?(bound: Value) {
        guard case .int(let n) = bound else { return nil }
        self.init(n)
    }
    public var bound: Value { .int(Int(rawValue)) }
    public static func cannotBind(_ kind: TokenKind) -> String? {
        guard case .range(let lo, let hi) = kind, VRID.range.contains(lo), VRID.range.contains(hi) else {
            return "is not a number range within \(VRID.range.lowerBound)-\(VRID.range.upperBound)"
        }
        return nil
    }
}

extension IPv4Address: BindingValue {
    public init?(bound: Value) {
        guard case .ipv4(let a) = bound else { return nil }
        self = a
    }
    public var bound: Value { .ipv4(self) }
    public static func cannotBind(_ kind: TokenKind) -> String? { kind == .ipv4 ? nil : "is not A.B.C.D" }
}

extension IPv4Prefix: BindingValue {
    public init?(bound: Value) {
        guard case .ipv4Prefix(let p) = bound else { return nil }
        self = p
    }
    public var bound: Value { .ipv4Prefix(self) }
    public static func cannotBind(_ kind: TokenKind) -> String? { kind == .ipv4Prefix ? nil : "is not A.B.C.D/M" }
}

extension IPv6Address: BindingValue {
    public init?(bound: Value) {
        guard case .ipv6(let a) = bound else { return nil }
        self = a
    }
    public var bound: Value { .ipv6(self) }
    public static func cannotBind(_ kind: TokenKind) -> String? { kind == .ipv6 ? nil : "is not X:X::X:X" }
}

extension IPv6Prefix: BindingValue {
    public init?(bound: Value) {
        guard case .ipv6Prefix(let p) = bound else { return nil }
        self = p
    }
    public var bound: Value { .ipv6Prefix(self) }
    public static func cannotBind(_ kind: TokenKind) -> String? { kind == .ipv6Prefix ? nil : "is not X:X::X:X/M" }
}

extension MACAddress: BindingValue {
    public init?(bound: Value) {
        guard case .mac(let m) = bound else { return nil }
        self = m
    }
    public var bound: Value { .mac(self) }
    public static func cannotBind(_ kind: TokenKind) -> String? { kind == .mac ? nil : "is not MAC" }
}

/// A type one of a choice of keywords reads as (`<inside|outside>$role` as a NAT zone): every
/// keyword the syntax offers must name a value, which the catalogue check proves.
public protocol KeywordValue: BindingValue {
    init?(keyword: String)
    var keyword: String { get }
}

extension KeywordValue {
    public init?(bound: Value) {
        guard case .keyword(let k) = bound else { return nil }
        self.init(keyword: k)
    }
    public var bound: Value { .keyword(keyword) }
    public static func cannotBind(_ kind: TokenKind) -> String? {
        guard case .keyword(let k) = kind else { return "is not a keyword" }
        return Self(keyword: k) == nil ? "names no \(Self.self)" : nil
    }
}

extension KeywordValue where Self: RawRepresentable, RawValue == String {
    public init?(keyword: String) { self.init(rawValue: keyword) }
    public var keyword: String { rawValue }
}

/// The arguments a set of commands may read, checked against their syntaxes.
public struct BindingCatalogue: Sendable {
    public let arguments: [String: any NamedArgument]

    public init(_ arguments: [any NamedArgument]) throws(SyntaxError) {
        var byName: [String: any NamedArgument] = [:]
        for argument in arguments {
            guard byName.updateValue(argument, forKey: argument.name) == nil else {
                throw SyntaxError(syntax: argument.name, message: "declared twice in the argument catalogue")
            }
        }
        self.arguments = byName
    }

    /// Checks that every value `syntax` binds is in the catalogue with a type its token produces.
    /// Returns the names it binds or tests, to find catalogue entries no command uses.
    public func check(_ syntax: Syntax) throws(SyntaxError) -> Set<String> {
        var used: Set<String> = []
        for token in syntax.tokens {
            if case .keyword(let keyword) = token.kind {
                used.insert(keyword)
                if token.binding == nil { continue }
            }
            guard let name = token.binding else { continue }
            guard let argument = arguments[name] else {
                throw SyntaxError(syntax: syntax.text, message: "$\(name) (\(token.display)) is not in the argument catalogue")
            }
            if let problem = argument.cannotBind(token) { throw SyntaxError(syntax: syntax.text, message: problem) }
            used.insert(name)
        }
        return used
    }
}
