import Channel

/// The command grammar: every command declared once, compiled into one tree per mode.
///
/// The same tree answers matching (with abbreviation and ambiguity), `?` help and TAB
/// completion, so the three can never disagree.
///
/// ```swift
/// let grammar = Grammar()
/// try grammar.add("show version", help: ["Show running system information", "Version"],
///                 modes: [enable], action: 0)
/// if case .command(let action, _, _) = grammar.match("sh ver", mode: enable) { ... }
/// ```
public final class Grammar {
    /// What a command maps to: an index into the caller's own table of declarations.
    public typealias Action = Int

    public static var negateHelp: String { "Negate a command or set its defaults" }

    final class Node {
        let spec: TokenSpec
        var children: [Node] = []
        var terminal: Terminal?
        init(spec: TokenSpec) { self.spec = spec }

        func child(for spec: TokenSpec) -> Node {
            if let existing = children.first(where: { $0.spec.key == spec.key }) { return existing }
            let node = Node(spec: spec)
            children.append(node)
            return node
        }
    }

    struct Terminal {
        let action: Action
        /// The binding name of the word at each position of the path.
        let bindings: [String?]
        let negated: Bool
        let syntax: String
    }

    private var roots: [Mode: Node] = [:]

    public init() {}

    /// Declares a command in `modes`; with `no`, also declares its `no` form (same action,
    /// `Arguments.negated` set). Returns the parsed syntax, which renders configuration lines.
    @discardableResult
    public func add(
        _ syntax: String, help: [String], modes: [Mode], no noForm: NoForm = .none, action: Action
    ) throws(SyntaxError) -> Syntax {
        let parsed = try Syntax(syntax, help: help)
        for mode in modes { try insert(parsed, mode: mode, negated: false, action: action) }
        let negatedSyntax: Syntax?
        switch noForm {
        case .none: negatedSyntax = nil
        case .sameArguments: negatedSyntax = parsed
        case .optionalValues: negatedSyntax = Syntax(text: parsed.text, root: Grammar.optionalTail(parsed.root))
        case .custom(let text, let help): negatedSyntax = try Syntax(text, help: help)
        }
        if let negatedSyntax {
            let no = TokenSpec(kind: .keyword("no"), display: "no", help: Grammar.negateHelp)
            let full = Syntax(text: "no " + negatedSyntax.text, root: .sequence([.token(no), negatedSyntax.root]))
            for mode in modes { try insert(full, mode: mode, negated: true, action: action) }
            // `no` of a line exactly as it is written (IOS habit: `no switchport mode trunk`,
            // `no vrrp 10 track interface eth1 decrement 50`) is the same `no`, with the values.
            if case .custom = noForm {
                let asWritten = Syntax(text: "no " + parsed.text, root: .sequence([.token(no), parsed.root]))
                for mode in modes { try insert(asWritten, mode: mode, negated: true, action: action, sameActionAllowed: true) }
            }
        }
        return parsed
    }

    /// Declares `keyword` followed by a whole command of `target` mode (`do show version`).
    public func addSubcommand(_ keyword: String, help: [String], modes: [Mode], target: Mode, action: Action)
        throws(SyntaxError)
    {
        guard help.count == 2 else {
            throw SyntaxError(syntax: keyword, message: "a subcommand needs two help strings")
        }
        let head = TokenSpec(kind: .keyword(keyword), display: keyword, help: help[0])
        let rest = TokenSpec(kind: .subcommand(target), display: "LINE", help: help[1], binding: "line")
        let syntax = Syntax(text: keyword + " LINE", root: .sequence([.token(head), .token(rest)]))
        for mode in modes { try insert(syntax, mode: mode, negated: false, action: action) }
    }

    private func insert(_ syntax: Syntax, mode: Mode, negated: Bool, action: Action, sameActionAllowed: Bool = false) throws(SyntaxError) {
        let root = roots[mode] ?? Node(spec: TokenSpec(kind: .word, display: "", help: ""))
        roots[mode] = root
        for path in syntax.paths() {
            var node = root
            for spec in path { node = node.child(for: spec) }
            if let existing = node.terminal {
                if sameActionAllowed && existing.action == action && existing.negated == negated { continue }
                throw SyntaxError(
                    syntax: syntax.text, message: "duplicates \"\(existing.syntax)\" in mode \(mode)")
            }
            node.terminal = Terminal(
                action: action, bindings: path.map(\.binding), negated: negated, syntax: syntax.text)
        }
    }

    /// Makes the trailing values of a syntax optional (for `NoForm.optionalValues`).
    static func optionalTail(_ root: Syntax.Node) -> Syntax.Node {
        guard case .sequence(var items) = root else { return root }
        var index = items.count - 1
        while index > 0 {
            if case .token(let spec) = items[index] {
                if spec.kind.isKeyword { break }
                items[index] = .optional(items[index])
            } else if case .optional = items[index] {
                // already optional
            } else {
                break
            }
            index -= 1
        }
        return .sequence(items)
    }

    // MARK: - Walking the tree

    private struct State {
        var nodes: [Node]
        var levels: [MatchLevel]
        var values: [Value]
        /// Set once a LINE or subcommand token has consumed the rest of the line.
        var finished = false
        /// For a subcommand: the index of the first word of the inner command.
        var subcommandStart: Int?

        var node: Node { nodes[nodes.count - 1] }
    }

    private struct Walk {
        var states: [State]
        /// Index of the word no command accepts, if any.
        var deadAt: Int?
    }

    private func walk(_ words: LineWords, count: Int, root: Node) -> Walk {
        var states = [State(nodes: [root], levels: [], values: [])]
        for index in 0..<count {
            let word = words.words[index]
            var next: [State] = []
            for state in states {
                if state.finished {
                    next.append(state)
                    continue
                }
                for child in state.node.children {
                    switch child.spec.kind {
                    case .line:
                        var s = state
                        s.nodes.append(child)
                        s.levels.append(.line)
                        s.values.append(.line(String(words.rest(from: index))))
                        s.finished = true
                        next.append(s)
                    case .subcommand:
                        var s = state
                        s.nodes.append(child)
                        s.levels.append(.line)
                        s.values.append(.line(String(words.rest(from: index))))
                        s.finished = true
                        s.subcommandStart = index
                        next.append(s)
                    default:
                        if let (level, value) = child.spec.match(word.text) {
                            var s = state
                            s.nodes.append(child)
                            s.levels.append(level)
                            s.values.append(value)
                            next.append(s)
                        }
                    }
                }
            }
            if next.isEmpty { return Walk(states: states, deadAt: index) }
            states = next
        }
        return Walk(states: states, deadAt: nil)
    }

    /// Keeps the states whose match levels are best, compared word by word from the left.
    private func best(_ states: [State]) -> [State] {
        guard states.count > 1 else { return states }
        var kept: [State] = []
        for state in states {
            guard let first = kept.first else {
                kept = [state]
                continue
            }
            switch compare(state.levels, first.levels) {
            case .greater: kept = [state]
            case .equal: kept.append(state)
            case .less: break
            }
        }
        return kept
    }

    private enum Ordering { case less, equal, greater }

    private func compare(_ a: [MatchLevel], _ b: [MatchLevel]) -> Ordering {
        for (x, y) in zip(a, b) where x != y { return x > y ? .greater : .less }
        return .equal
    }

    /// The first word position where two states went through different tree nodes.
    private func divergence(_ states: [State]) -> Int? {
        guard let first = states.first else { return nil }
        for other in states.dropFirst() {
            for (index, (a, b)) in zip(first.nodes.dropFirst(), other.nodes.dropFirst()).enumerated() where a !== b {
                return index
            }
        }
        return nil
    }

    // MARK: - Matching

    /// Matches a whole line in `mode`.
    public func match(_ line: String, mode: Mode) -> MatchResult {
        let words = LineWords(line)
        guard !words.words.isEmpty else { return .empty }
        guard let root = roots[mode] else { return .failure(.init(kind: .unknown, column: 0, line: line)) }
        let walked = walk(words, count: words.words.count, root: root)
        if let dead = walked.deadAt {
            var error = MatchError(kind: .unknown, column: words.column(of: dead), line: line)
            error.hint = rangeHint(words.words[dead].text, states: walked.states)
            return .failure(error)
        }
        let complete = best(walked.states.filter { $0.node.terminal != nil })
        if complete.count == 1 {
            let state = complete[0]
            if let start = state.subcommandStart, case .subcommand(let target) = state.node.spec.kind {
                return delegate(words: words, start: start, target: target, state: state)
            }
            return .command(state.node.terminal!.action, arguments(state), mode: nil)
        }
        if complete.count > 1 {
            let at = divergence(complete) ?? 0
            return .failure(.init(kind: .ambiguous, column: words.column(of: min(at, words.words.count - 1)), line: line))
        }
        let alive = best(walked.states)
        if alive.count > 1, let at = divergence(alive), at < words.words.count {
            return .failure(.init(kind: .ambiguous, column: words.column(of: at), line: line))
        }
        return .failure(.init(kind: .incomplete, column: words.endColumn, line: line))
    }

    /// For a number that only failed because it is out of a range: which range it missed.
    private func rangeHint(_ word: Substring, states: [State]) -> String? {
        guard let n = TokenSpec.parseDecimal(word) else { return nil }
        var ranges: [(Int, Int)] = []
        for state in states where !state.finished {
            for child in state.node.children {
                if case .range(let lo, let hi) = child.spec.kind, !ranges.contains(where: { $0 == (lo, hi) }) { ranges.append((lo, hi)) }
            }
        }
        guard !ranges.isEmpty, !ranges.contains(where: { n >= $0.0 && n <= $0.1 }) else { return nil }
        return "\(word) is out of range: " + ranges.map { "\($0.0)-\($0.1)" }.joined(separator: " or ")
    }

    private func delegate(words: LineWords, start: Int, target: Mode, state: State) -> MatchResult {
        let inner = String(words.rest(from: start))
        let offset = words.column(of: start)
        switch match(inner, mode: target) {
        case .command(let action, let args, _):
            return .command(action, args, mode: target)
        case .empty:
            return .failure(.init(kind: .incomplete, column: words.endColumn, line: words.line))
        case .failure(let error):
            var outer = MatchError(kind: error.kind, column: error.column + offset, line: words.line)
            outer.hint = error.hint
            return .failure(outer)
        }
    }

    private func arguments(_ state: State) -> Arguments {
        let terminal = state.node.terminal!
        var args = Arguments(negated: terminal.negated)
        for (index, value) in state.values.enumerated() {
            let spec = state.nodes[index + 1].spec
            if case .keyword(let keyword) = spec.kind { args.keywords.insert(keyword) }
            if let name = terminal.bindings[index] { args.values[name] = value }
        }
        return args
    }

    // MARK: - Help and completion

    /// What `?` shows at the end of `line`: the possible next words, or the candidates for the
    /// word being typed when the line does not end in a space.
    public func help(_ line: String, mode: Mode) -> HelpResult {
        let words = LineWords(line)
        guard let root = roots[mode] else { return .options([]) }
        let typed = words.endsWithSpace ? words.words.count : words.words.count - 1
        let partial: Substring? = words.endsWithSpace ? nil : words.words.last?.text
        let walked = walk(words, count: typed, root: root)
        if let dead = walked.deadAt {
            return .failure(.init(kind: .unknown, column: words.column(of: dead), line: line))
        }
        let states = best(walked.states)
        if let sub = states.first(where: { $0.subcommandStart != nil }), states.count == 1,
            case .subcommand(let target) = sub.node.spec.kind
        {
            let inner = String(line[words.words[sub.subcommandStart!].text.startIndex...])
            return help(inner, mode: target)
        }
        if states.count > 1, let at = divergence(states), at < typed {
            return .failure(.init(kind: .ambiguous, column: words.column(of: at), line: line))
        }
        if let (inner, target) = subcommandLine(states, words: words, typed: typed) {
            return help(inner, mode: target)
        }
        var items: [HelpItem] = []
        var seen = Set<String>()
        var complete = false
        for state in states {
            if state.finished {
                // Inside a LINE argument: more text or the end.
                if state.node.terminal != nil { complete = true }
                continue
            }
            if state.node.terminal != nil && partial == nil { complete = true }
            for child in state.node.children {
                if let partial, !child.spec.couldMatch(prefix: partial) { continue }
                if case .subcommand = child.spec.kind, partial == nil {
                    if seen.insert("LINE").inserted { items.append(HelpItem(word: "LINE", help: child.spec.help)) }
                    continue
                }
                if seen.insert(child.spec.display).inserted {
                    items.append(HelpItem(word: child.spec.display, help: child.spec.help, isKeyword: child.spec.kind.isKeyword))
                }
            }
        }
        items.sort { a, b in
            if a.isKeyword != b.isKeyword { return a.isKeyword }
            return a.isKeyword ? a.word < b.word : false
        }
        if complete { items.insert(HelpItem(word: "<cr>", help: ""), at: 0) }
        return .options(items)
    }

    /// The words TAB may complete the last word of `line` to. `values` supplies the names a
    /// variable of a kind can take (e.g. existing interfaces), since the grammar cannot know them.
    public func complete(_ line: String, mode: Mode, values: (TokenKind) -> [String] = { _ in [] }) -> [String] {
        let words = LineWords(line)
        guard let root = roots[mode] else { return [] }
        let typed = words.endsWithSpace ? words.words.count : words.words.count - 1
        let partial = words.endsWithSpace ? Substring("") : words.words.last!.text
        let walked = walk(words, count: typed, root: root)
        guard walked.deadAt == nil else { return [] }
        let states = best(walked.states)
        if states.count == 1, let start = states[0].subcommandStart, case .subcommand(let target) = states[0].node.spec.kind {
            let inner = String(line[words.words[start].text.startIndex...])
            return complete(inner, mode: target, values: values)
        }
        if let (inner, target) = subcommandLine(states, words: words, typed: typed) {
            return complete(inner, mode: target, values: values)
        }
        var out = Set<String>()
        for state in states where !state.finished {
            for child in state.node.children {
                switch child.spec.kind {
                case .keyword(let keyword):
                    if keyword.hasPrefix(partial.lowercased()) { out.insert(keyword) }
                case .subcommand, .line:
                    break
                default:
                    for candidate in values(child.spec.kind) where candidate.hasPrefix(partial) {
                        out.insert(candidate)
                    }
                }
            }
        }
        return out.sorted()
    }

    /// When the words typed so far end right before a subcommand (`do` and nothing, or `do` and
    /// a partial word), the text of the inner command typed so far and its mode.
    private func subcommandLine(_ states: [State], words: LineWords, typed: Int) -> (String, Mode)? {
        guard states.count == 1, !states[0].finished,
            let sub = states[0].node.children.first(where: { if case .subcommand = $0.spec.kind { true } else { false } }),
            case .subcommand(let target) = sub.spec.kind
        else { return nil }
        let inner = typed < words.words.count ? String(words.line[words.words[typed].text.startIndex...]) : ""
        return (inner, target)
    }

    /// The modes that have commands.
    public var modes: [Mode] { Array(roots.keys) }
}

/// The outcome of matching a line.
public enum MatchResult: Sendable {
    /// `mode` is set when the command was reached through a subcommand (`do`) and must run as
    /// a command of that mode.
    case command(Int, Arguments, mode: Mode?)
    case empty
    case failure(MatchError)
}

/// Why a line did not match, and the column the `^` marker goes under.
public struct MatchError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case unknown, ambiguous, incomplete
    }

    public var kind: Kind
    public var column: Int
    public var line: String
    /// A third line saying what was wrong, when the matcher can tell (a number out of range).
    public var hint: String?

    public init(kind: Kind, column: Int, line: String) {
        self.kind = kind
        self.column = column
        self.line = line
    }

    /// What the switch answers, in IOS's words, which the tools that drive a switch look for
    /// (Ansible's `invalid input` / `incomplete command` / `ambiguous command`, netmiko's and
    /// NAPALM's `% Invalid`, scrapli's `% Invalid input detected`): an unknown word is the line
    /// with a marker under it and `% Invalid input detected at '^' marker.` (and, for a number
    /// out of range, which range), as IOS prints it under the echoed line.
    public var message: String {
        switch kind {
        case .unknown:
            // A long line (a file fed to `copy`) is repeated only in part, around the error.
            let shown = LineSafety.excerpt(line, around: column)
            let marker = String(repeating: " ", count: shown.column) + "^"
            return shown.text + "\n" + marker + "\n" + FailureText.invalidInputAtMarker + (hint.map { "\n% " + $0 } ?? "")
        case .incomplete:
            return FailureText.incomplete
        case .ambiguous:
            return FailureText.ambiguous(LineSafety.excerpt(line, around: column).text)
        }
    }
}

/// One line of `?` output.
public struct HelpItem: Sendable, Equatable {
    public var word: String
    public var help: String
    public var isKeyword: Bool

    public init(word: String, help: String, isKeyword: Bool = false) {
        self.word = word
        self.help = help
        self.isKeyword = isKeyword
    }
}

public enum HelpResult: Sendable, Equatable {
    case options([HelpItem])
    case failure(MatchError)
}
