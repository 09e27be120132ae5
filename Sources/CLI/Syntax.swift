/// A parsed command syntax such as `vrrp (1-255)$vrid [version (2-3)$version]`.
///
/// One `Syntax` drives matching (through the paths it expands to), `?` help (each token carries
/// its help line) and rendering of a configuration line from bound arguments.
///
/// Notation: words separated by spaces; `[...]` optional; `<a|b>` one of; `[a|b]` optional one
/// of; `$name` after a token or group names the argument it binds. A keyword alternative bound
/// by a group (`<access|trunk>$mode`) binds the keyword itself.
public struct Syntax: Sendable, CustomStringConvertible {
    public indirect enum Node: Sendable {
        case token(TokenSpec)
        case sequence([Node])
        case optional(Node)
        case choice([Node])
    }

    public let text: String
    public let root: Node

    public var description: String { text }

    public init(_ text: String, help: [String]) throws(SyntaxError) {
        self.text = text
        var parser = SyntaxParser(text: Array(text), help: help)
        root = try parser.parseAll()
    }

    init(text: String, root: Node) {
        self.text = text
        self.root = root
    }

    /// Every token in declaration order.
    public var tokens: [TokenSpec] {
        var out: [TokenSpec] = []
        func walk(_ node: Node) {
            switch node {
            case .token(let t): out.append(t)
            case .sequence(let nodes), .choice(let nodes): nodes.forEach(walk)
            case .optional(let inner): walk(inner)
            }
        }
        walk(root)
        return out
    }

    /// All linear token sequences the syntax accepts.
    func paths() -> [[TokenSpec]] { Syntax.expand(root) }

    private static func expand(_ node: Node) -> [[TokenSpec]] {
        switch node {
        case .token(let t): return [[t]]
        case .sequence(let nodes):
            var acc: [[TokenSpec]] = [[]]
            for child in nodes {
                let tails = expand(child)
                acc = acc.flatMap { head in tails.map { head + $0 } }
            }
            return acc
        case .optional(let inner): return [[]] + expand(inner)
        case .choice(let alternatives): return alternatives.flatMap(expand)
        }
    }

    /// Renders the line this syntax produces for `arguments`: keywords as declared, variables
    /// from their bindings, optional groups only when something in them is bound.
    /// Returns nil when a required variable has no (or a wrongly typed) value.
    public func render(_ arguments: Arguments) -> String? {
        guard let (words, _) = Syntax.render(root, arguments) else { return nil }
        return words.joined(separator: " ")
    }

    private static func render(_ node: Node, _ args: Arguments) -> ([String], Bool)? {
        switch node {
        case .token(let spec):
            switch spec.kind {
            case .keyword(let keyword):
                if let binding = spec.binding {
                    let chosen = args[binding].flatMap(String.init(bound:)) == keyword
                    return ([keyword], chosen || args.keywords.contains(keyword))
                }
                return ([keyword], args.keywords.contains(keyword))
            default:
                guard let name = spec.binding, let value = args[name], spec.accepts(value) else { return nil }
                return ([value.description], true)
            }
        case .sequence(let nodes):
            var words: [String] = []
            var satisfied = false
            for child in nodes {
                guard let (w, s) = render(child, args) else { return nil }
                words += w
                satisfied = satisfied || s
            }
            return (words, satisfied)
        case .optional(let inner):
            if let (words, satisfied) = render(inner, args), satisfied { return (words, true) }
            return ([], false)
        case .choice(let alternatives):
            var fallback: [String]?
            for alternative in alternatives {
                guard let (words, satisfied) = render(alternative, args) else { continue }
                if satisfied { return (words, true) }
                if fallback == nil { fallback = words }
            }
            return fallback.map { ($0, false) }
        }
    }
}

extension TokenSpec {
    /// Whether a bound value has the type this token produces (used when rendering).
    func accepts(_ value: Value) -> Bool {
        switch (kind, value) {
        case (.range(let lo, let hi), .int(let n)): return n >= lo && n <= hi
        case (.ipv4, .ipv4), (.ipv4Prefix, .ipv4Prefix), (.ipv6, .ipv6), (.ipv6Prefix, .ipv6Prefix),
            (.mac, .mac), (.interfaceName, .interface), (.word, .word), (.line, .line):
            return true
        case (.word, .interface), (.line, .word), (.interfaceName, .word): return true
        default: return false
        }
    }
}

/// A mistake in a command declaration (found when the grammar is built, never at run time).
public struct SyntaxError: Error, Sendable, CustomStringConvertible {
    public var syntax: String
    public var message: String
    public var description: String { "bad syntax \"\(syntax)\": \(message)" }

    public init(syntax: String, message: String) {
        self.syntax = syntax
        self.message = message
    }
}

private struct SyntaxParser {
    let text: [Character]
    let help: [String]
    var position = 0
    var helpIndex = 0

    init(text: [Character], help: [String]) {
        self.text = text
        self.help = help
    }

    mutating func parseAll() throws(SyntaxError) -> Syntax.Node {
        let node = try parseSequence()
        skipSpaces()
        guard position == text.count else { throw error("unexpected '\(text[position])'") }
        guard helpIndex == help.count else {
            throw error("\(help.count) help strings for \(helpIndex) tokens")
        }
        try checkLineIsLast(node)
        return node
    }

    func error(_ message: String) -> SyntaxError {
        SyntaxError(syntax: String(text), message: message)
    }

    mutating func skipSpaces() {
        while position < text.count, text[position] == " " { position += 1 }
    }

    mutating func parseSequence() throws(SyntaxError) -> Syntax.Node {
        var items: [Syntax.Node] = []
        while true {
            skipSpaces()
            guard position < text.count else { break }
            let c = text[position]
            if c == "]" || c == ">" || c == "|" { break }
            items.append(try parseItem())
        }
        guard !items.isEmpty else { throw error("empty sequence at column \(position)") }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func parseItem() throws(SyntaxError) -> Syntax.Node {
        let c = text[position]
        if c == "[" || c == "<" {
            let close: Character = c == "[" ? "]" : ">"
            position += 1
            var alternatives = [try parseSequence()]
            while position < text.count, text[position] == "|" {
                position += 1
                alternatives.append(try parseSequence())
            }
            guard position < text.count, text[position] == close else { throw error("missing '\(close)'") }
            position += 1
            let binding = parseBinding()
            var group: Syntax.Node = alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
            if let binding { group = bind(group, binding) }
            return c == "[" ? .optional(group) : group
        }
        var word = ""
        while position < text.count, !" []<>|$".contains(text[position]) {
            word.append(text[position])
            position += 1
        }
        guard !word.isEmpty else { throw error("unexpected '\(c)'") }
        let binding = parseBinding()
        return .token(try makeToken(word, binding: binding))
    }

    mutating func parseBinding() -> String? {
        guard position < text.count, text[position] == "$" else { return nil }
        position += 1
        var name = ""
        while position < text.count, text[position].isLetter || text[position].isNumber || text[position] == "_" {
            name.append(text[position])
            position += 1
        }
        return name
    }

    /// A group binding applies to every alternative's tokens that have no binding of their own.
    func bind(_ node: Syntax.Node, _ binding: String) -> Syntax.Node {
        switch node {
        case .token(var spec):
            if !spec.hasExplicitBinding { spec.binding = binding }
            return .token(spec)
        case .sequence(let nodes):
            // Only the leading keyword of an alternative names the choice.
            guard let first = nodes.first else { return node }
            return .sequence([bind(first, binding)] + nodes.dropFirst())
        case .optional(let inner): return .optional(bind(inner, binding))
        case .choice(let nodes): return .choice(nodes.map { bind($0, binding) })
        }
    }

    mutating func makeToken(_ word: String, binding: String?) throws(SyntaxError) -> TokenSpec {
        guard helpIndex < help.count else { throw error("no help string for '\(word)'") }
        let helpText = help[helpIndex]
        helpIndex += 1
        let kind: TokenKind
        var defaultBinding: String?
        switch word {
        case "A.B.C.D": kind = .ipv4; defaultBinding = "address"
        case "A.B.C.D/M": kind = .ipv4Prefix; defaultBinding = "prefix"
        case "X:X::X:X": kind = .ipv6; defaultBinding = "address6"
        case "X:X::X:X/M": kind = .ipv6Prefix; defaultBinding = "prefix6"
        case "MAC": kind = .mac; defaultBinding = "mac"
        case "IFNAME": kind = .interfaceName; defaultBinding = "ifname"
        case "LINE": kind = .line; defaultBinding = "line"
        default:
            if word.hasPrefix("(") {
                guard word.hasSuffix(")"), let dash = word.dropFirst().firstIndex(of: "-"),
                    let lo = Int(word[word.index(after: word.startIndex)..<dash]),
                    let hi = Int(word[word.index(after: dash)..<word.index(before: word.endIndex)]), lo <= hi
                else { throw error("bad range '\(word)'") }
                kind = .range(lo, hi)
                defaultBinding = "number"
            } else if word.hasSuffix("..."), word.dropLast(3).allSatisfy({ $0.isUppercase || $0 == "_" }) {
                kind = .line
                defaultBinding = word.dropLast(3).lowercased()
            } else if word.first!.isUppercase,
                word.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" || $0 == "-" })
            {
                kind = .word
                defaultBinding = word.lowercased()
            } else if word == "*" || word.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
                kind = .keyword(word)
            } else {
                throw error("cannot classify token '\(word)'")
            }
        }
        var spec = TokenSpec(kind: kind, display: word, help: helpText, binding: binding ?? defaultBinding)
        spec.hasExplicitBinding = binding != nil
        return spec
    }

    func checkLineIsLast(_ node: Syntax.Node) throws(SyntaxError) {
        for path in Syntax(text: String(text), root: node).paths() {
            for (index, token) in path.enumerated() where token.kind == .line && index != path.count - 1 {
                throw error("LINE must be the last token")
            }
        }
    }
}
