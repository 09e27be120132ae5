/// What one word of a command's syntax accepts.
///
/// The syntax strings use FRR's notation: `keyword`, `(1-255)`, `A.B.C.D`, `A.B.C.D/M`,
/// `X:X::X:X`, `X:X::X:X/M`, `MAC`, `IFNAME`, `WORD` (or any other all-caps name), and `LINE`
/// (or `NAME...`) for the rest of the line.
public enum TokenKind: Hashable, Sendable {
    case keyword(String)
    case range(Int, Int)
    case ipv4
    case ipv4Prefix
    case ipv6
    case ipv6Prefix
    case mac
    case interfaceName
    case word
    /// The rest of the line, spaces included.
    case line
    /// The rest of the line is a command of another mode (`do CMD`).
    case subcommand(Mode)

    public var isKeyword: Bool {
        if case .keyword = self { return true }
        return false
    }
}

/// How well one typed word matched a token. Higher wins when several commands compete:
/// an exact keyword beats a typed value of a specific type (number, address), which beats an
/// abbreviated keyword, which beats a free word.
public enum MatchLevel: UInt8, Comparable, Sendable {
    case line = 1
    case word = 2
    case partialKeyword = 3
    case specificValue = 4
    case exactKeyword = 5

    public static func < (lhs: MatchLevel, rhs: MatchLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A value bound from a typed word.
public enum Value: Hashable, Sendable, CustomStringConvertible {
    case keyword(String)
    case int(Int)
    case ipv4(IPv4Address)
    case ipv4Prefix(IPv4Prefix)
    case ipv6(IPv6Address)
    case ipv6Prefix(IPv6Prefix)
    case mac(MACAddress)
    case interface(String)
    case word(String)
    case line(String)

    /// The canonical text of the value, as `show running-config` prints it.
    public var description: String {
        switch self {
        case .keyword(let s), .word(let s), .line(let s), .interface(let s): return s
        case .int(let n): return String(n)
        case .ipv4(let a): return a.description
        case .ipv4Prefix(let p): return p.description
        case .ipv6(let a): return a.description
        case .ipv6Prefix(let p): return p.description
        case .mac(let m): return m.description
        }
    }
}

/// One token of a declared syntax: its kind, the name its value binds to, and its help line.
public struct TokenSpec: Sendable {
    public var kind: TokenKind
    /// What `?` shows in the left column: the keyword itself or the variable's name.
    public var display: String
    public var help: String
    /// The argument name the typed value is stored under (`$name` in the syntax).
    public var binding: String?
    /// Set when the syntax named the binding with `$name`; a group's binding does not override it.
    var hasExplicitBinding = false

    public init(kind: TokenKind, display: String, help: String, binding: String? = nil) {
        self.kind = kind
        self.display = display
        self.help = help
        self.binding = binding
    }

    /// Two tokens with the same key share one node of the command tree.
    var key: String {
        switch kind {
        case .keyword(let k): return "k:" + k
        case .range(let lo, let hi): return "r:\(lo)-\(hi)"
        case .subcommand(let mode): return "s:" + mode.name
        default: return "v:" + display
        }
    }

    /// Matches one typed word; returns the level and the parsed value, or nil.
    func match(_ word: Substring) -> (MatchLevel, Value)? {
        switch kind {
        case .keyword(let keyword):
            switch TokenSpec.compareKeyword(word, keyword) {
            case .exact: return (.exactKeyword, .keyword(keyword))
            case .prefix: return (.partialKeyword, .keyword(keyword))
            case .none: return nil
            }
        case .range(let lo, let hi):
            guard let n = TokenSpec.parseDecimal(word), n >= lo, n <= hi else { return nil }
            return (.specificValue, .int(n))
        case .ipv4:
            return IPv4Address(parsing: word).map { (.specificValue, .ipv4($0)) }
        case .ipv4Prefix:
            return IPv4Prefix(parsing: word).map { (.specificValue, .ipv4Prefix($0)) }
        case .ipv6:
            return IPv6Address(parsing: word).map { (.specificValue, .ipv6($0)) }
        case .ipv6Prefix:
            return IPv6Prefix(parsing: word).map { (.specificValue, .ipv6Prefix($0)) }
        case .mac:
            return MACAddress(parsing: word).map { (.specificValue, .mac($0)) }
        case .interfaceName:
            return TokenSpec.interfaceName(word).map { (.specificValue, .interface($0)) }
        case .word:
            return (.word, .word(String(word)))
        case .line, .subcommand:
            return (.line, .line(String(word)))
        }
    }

    /// Whether a partly typed word could still become a match (used by completion and `?`).
    func couldMatch(prefix: Substring) -> Bool {
        switch kind {
        case .keyword(let keyword): return TokenSpec.compareKeyword(prefix, keyword) != .none
        case .range(let lo, let hi):
            guard !prefix.isEmpty else { return true }
            guard let typed = TokenSpec.parseDecimal(prefix), typed >= 0 else { return prefix == "-" && lo < 0 }
            if typed == 0 { return lo <= 0 && hi >= 0 }
            // Some in-range number starts with the typed digits: "2" of "25" for (1-255).
            var low = typed
            var high = typed
            while low <= hi {
                if high >= lo { return true }
                low *= 10
                high = high * 10 + 9
            }
            return false
        case .ipv4, .ipv4Prefix:
            return prefix.allSatisfy { $0.isNumber || $0 == "." || $0 == "/" }
        case .ipv6, .ipv6Prefix:
            return prefix.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "/" }
        case .mac:
            return prefix.count <= 17 && prefix.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "-" }
        case .interfaceName:
            return prefix.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "/" }
        case .word, .line, .subcommand:
            return true
        }
    }

    enum KeywordMatch { case exact, prefix, none }

    /// Compares a typed word with a (lower-case) keyword, ignoring the case of the typed word,
    /// on UTF-8 bytes: this runs for every word of every line against every candidate keyword.
    static func compareKeyword(_ word: Substring, _ keyword: String) -> KeywordMatch {
        var typed = word.utf8.makeIterator()
        var declared = keyword.utf8.makeIterator()
        while true {
            switch (typed.next(), declared.next()) {
            case (nil, nil): return .exact
            case (nil, _): return .prefix
            case (_, nil): return .none
            case (let a?, let b?):
                let lowered = a >= 0x41 && a <= 0x5a ? a | 0x20 : a
                if lowered != b { return .none }
            }
        }
    }

    static func parseDecimal(_ word: Substring) -> Int? {
        guard !word.isEmpty, word.count <= 18 else { return nil }
        var utf8 = word.utf8[...]
        var negative = false
        if utf8.first == UInt8(ascii: "-") {
            negative = true
            utf8 = utf8.dropFirst()
            guard !utf8.isEmpty else { return nil }
        }
        var n = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -n : n
    }

    /// Interface names: a letter-started name with a number (`eth1`, `vlan10`, `Eth1/0`,
    /// `vlan10.5`) or `lo`. Case-insensitive; the canonical form is lower case.
    static func interfaceName(_ word: Substring) -> String? {
        guard word.count <= 15 else { return nil }  // IFNAMSIZ - 1
        let lower = word.lowercased()
        if lower == "lo" { return lower }
        guard let first = lower.first, first.isLetter, first.isASCII else { return nil }
        guard let digitIndex = lower.firstIndex(where: { $0.isNumber }) else { return nil }
        guard lower[..<digitIndex].allSatisfy({ $0.isLetter && $0.isASCII || $0 == "-" }) else { return nil }
        guard lower[digitIndex...].allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "/" || $0 == ".") }),
            lower.last?.isNumber == true
        else { return nil }
        return lower
    }
}
