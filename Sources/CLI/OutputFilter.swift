/// Output filters after a `|`: `include REGEX`, `exclude REGEX`, `begin REGEX`,
/// `section REGEX`, `count`.
/// Several can be chained (`show running-config | include vrrp | exclude priority`).
///
/// The filter is a stream transformer: text goes in in arbitrary chunks, whole matching lines
/// come out, so long command output never has to be held in memory at once.
public struct OutputFilter {
    public enum Stage {
        case include(Regex<AnyRegexOutput>)
        case exclude(Regex<AnyRegexOutput>)
        case begin(Regex<AnyRegexOutput>)
        /// IOS's `section`: each line that matches, with the lines indented under it.
        case section(Regex<AnyRegexOutput>)
        case count
    }

    public private(set) var stages: [Stage]
    private var pending = ""
    private var begun: [Bool]
    /// Per `section` stage: the indentation of the matching line whose section is being shown.
    private var sectionIndent: [Int?]
    private var counted = 0

    /// Splits `line` at the first word that is `|`: the command, and the filter text after it.
    public static func split(_ line: String) -> (command: String, filter: String?) {
        let words = LineWords(line)
        guard let bar = words.words.firstIndex(where: { $0.text == "|" }) else { return (line, nil) }
        let command = String(line[..<words.words[bar].text.startIndex])
        let filter = String(line[words.words[bar].text.endIndex...])
        return (command, filter)
    }

    static let regex = Binding<String>("regex")

    /// The grammar of one filter stage, for `?` and TAB after a `|`.
    nonisolated(unsafe) public static let grammar: Grammar = {
        let grammar = Grammar()
        let mode = OutputFilter.mode
        try! grammar.add("include REGEX...", help: ["Show only lines that match", "Regular expression"], modes: [mode], action: 0)
        try! grammar.add("exclude REGEX...", help: ["Hide lines that match", "Regular expression"], modes: [mode], action: 1)
        try! grammar.add("begin REGEX...", help: ["Start at the first line that matches", "Regular expression"], modes: [mode], action: 2)
        try! grammar.add("count", help: ["Print the number of lines"], modes: [mode], action: 3)
        try! grammar.add("section REGEX...", help: ["Show the sections (a line and those indented under it) that match", "Regular expression"],
                         modes: [mode], action: 4)
        return grammar
    }()

    public static let mode = Mode("output-filter")

    /// Parses the text after the first `|` (which may hold further `|` stages).
    public init(parsing text: String) throws(FilterError) {
        var stages: [Stage] = []
        var remaining: String? = text
        while let current = remaining {
            let (stageText, next) = OutputFilter.split(current)
            remaining = next
            switch OutputFilter.grammar.match(stageText, mode: OutputFilter.mode) {
            case .empty:
                throw FilterError(message: "% Incomplete filter after '|'")
            case .failure(let error):
                throw FilterError(message: error.message)
            case .command(let action, let args, _):
                if action == 3 {
                    stages.append(.count)
                    continue
                }
                let pattern = args[OutputFilter.regex] ?? ""
                let regex: Regex<AnyRegexOutput>
                do {
                    regex = try Regex(pattern)
                } catch {
                    throw FilterError(message: "% Invalid regular expression: \(pattern)")
                }
                switch action {
                case 0: stages.append(.include(regex))
                case 1: stages.append(.exclude(regex))
                case 4: stages.append(.section(regex))
                default: stages.append(.begin(regex))
                }
            }
        }
        self.stages = stages
        begun = Array(repeating: false, count: stages.count)
        sectionIndent = Array(repeating: nil, count: stages.count)
    }

    /// Feeds a chunk of output; returns the text that passes.
    public mutating func feed(_ chunk: String) -> String {
        pending += chunk
        guard let lastNewline = pending.lastIndex(of: "\n") else { return "" }
        let complete = pending[...lastNewline]
        pending = String(pending[pending.index(after: lastNewline)...])
        var out = ""
        for line in complete.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if passes(line) { out += line + "\n" }
        }
        return out
    }

    /// Flushes the last partial line and, for `count`, the count.
    public mutating func finish() -> String {
        var out = ""
        if !pending.isEmpty {
            let line = Substring(pending)
            pending = ""
            if passes(line) { out += line + "\n" }
        }
        if stages.contains(where: { if case .count = $0 { return true } else { return false } }) {
            out = "Count: \(counted) lines\n"
        }
        return out
    }

    private mutating func passes(_ line: Substring) -> Bool {
        for (index, stage) in stages.enumerated() {
            switch stage {
            case .include(let regex):
                if (try? regex.firstMatch(in: line)) == nil { return false }
            case .exclude(let regex):
                if (try? regex.firstMatch(in: line)) != nil { return false }
            case .begin(let regex):
                if !begun[index] {
                    if (try? regex.firstMatch(in: line)) == nil { return false }
                    begun[index] = true
                }
            case .section(let regex):
                let indent = line.prefix { $0 == " " }.count
                if let open = sectionIndent[index], indent > open { continue }
                sectionIndent[index] = nil
                if (try? regex.firstMatch(in: line)) == nil { return false }
                sectionIndent[index] = indent
            case .count:
                counted += 1
                return false
            }
        }
        return true
    }
}

public struct FilterError: Error, Sendable {
    public var message: String
}
