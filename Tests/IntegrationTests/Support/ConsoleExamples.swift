import Foundation

/// The ```console blocks of README.md and docs/*.md, read as examples to replay
/// (DocumentationTests), each with the `<!-- doc-test ... -->` marker written before it.
///
/// A marker is an HTML comment (invisible on the rendered page) of `key: value` lines; a value
/// may go on over indented lines (`config:`). Keys:
///
///     not-replayed: REASON   the block is not replayed, and why (a benchmark's figures, root)
///     daemon: NAME           blocks of one document naming the same daemon share one vrrpd, in
///                            document order (default: a vrrpd of the block's own)
///     vrrpd: ARGS            vrrpd's arguments when the test starts it (e.g. --chip small)
///     config:                its startup configuration, one line per indented line (a
///                            `hostname` is added from the first prompt when there is none)
///     dir: PATH              the directory the example's files are in (/tmp/lab): a temporary
///                            one in the test, written back as PATH in what is compared
///     enter: LINE; LINE      lines run unseen first, after `enable` and `configure terminal`
///                            (which the first prompt implies), to reach the first prompt's mode
///     settle: SECONDS        a `show` line's output may take this long to become what is shown
///                            (a VRRP election): awaited in another session before the line runs
///     mask: REGEX            text matching REGEX (its first capture group, if it has one) is
///                            volatile in this block: a thread id column
///
/// A block without a marker is replayed as it is, on a fresh vrrpd.
struct ConsoleExample: Sendable, CustomStringConvertible {
    /// The document, relative to the repository.
    var file: String
    /// The line of the opening fence (1-based).
    var line: Int
    var lines: [String]
    var marker: DocTestMarker

    var description: String { "\(file):\(line)" }

    /// The repository this test was built from.
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// README.md and docs/*.md, in that order.
    static var documents: [String] {
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: repository.appendingPathComponent("docs").path)) ?? []
        return ["README.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    }

    /// Every console block of `file`; a marker that is malformed or stands before no console
    /// block is an error.
    static func read(_ file: String) throws -> [ConsoleExample] {
        let text = try String(contentsOf: repository.appendingPathComponent(file), encoding: .utf8)
        return try parse(text, file: file)
    }

    static func parse(_ text: String, file: String) throws -> [ConsoleExample] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var examples: [ConsoleExample] = []
        var pending: (marker: DocTestMarker, line: Int)?
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                let fence = index
                var body: [String] = []
                index += 1
                while index < lines.count && !lines[index].trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                    body.append(lines[index])
                    index += 1
                }
                index += 1
                if trimmed == "```console" {
                    examples.append(ConsoleExample(file: file, line: fence + 1, lines: body, marker: pending?.marker ?? DocTestMarker()))
                } else if let pending {
                    throw TestFailure("\(file):\(pending.line): a doc-test marker before a block that is not ```console")
                }
                pending = nil
                continue
            }
            if trimmed.hasPrefix("<!-- doc-test") {
                let start = index
                var comment = trimmed
                while !comment.contains("-->") && index + 1 < lines.count {
                    index += 1
                    comment += "\n" + lines[index]
                }
                guard comment.contains("-->") else { throw TestFailure("\(file):\(start + 1): the doc-test marker is not closed (-->)") }
                do {
                    pending = (try DocTestMarker.parse(comment), start + 1)
                } catch let failure as TestFailure {
                    throw TestFailure("\(file):\(start + 1): \(failure.description)")
                }
            } else if !trimmed.isEmpty, let marker = pending {
                throw TestFailure("\(file):\(marker.line): a doc-test marker must stand right before its ```console block")
            }
            index += 1
        }
        if let pending { throw TestFailure("\(file):\(pending.line): a doc-test marker before no ```console block") }
        return examples
    }
}

/// What a `<!-- doc-test ... -->` marker declares (see ConsoleExample).
struct DocTestMarker: Sendable {
    var notReplayed: String?
    var daemon: String?
    var vrrpd: [String] = []
    var config: [String]?
    var dir: String?
    var enter: [String] = []
    var settle: Double = 0
    var masks: [String] = []

    static let keys = ["not-replayed", "daemon", "vrrpd", "config", "dir", "enter", "settle", "mask"]

    static func parse(_ comment: String) throws -> DocTestMarker {
        var body = comment.drop { $0 == " " }.dropFirst("<!--".count).drop { $0 == " " }.dropFirst("doc-test".count)
        if body.first == ":" { body = body.dropFirst() }
        body = body[..<(body.range(of: "-->")?.lowerBound ?? body.endIndex)]
        var entries: [(key: String, value: [String])] = []
        for (number, raw) in body.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            // An indented line goes on with the previous key's value (the first line, after
            // `doc-test:`, is never one).
            let indented = number > 0 && raw.first == " "
            if let colon = line.firstIndex(of: ":"), !indented, Self.keys.contains(String(line[..<colon])) {
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                entries.append((String(line[..<colon]), value.isEmpty ? [] : [value]))
            } else if !entries.isEmpty && indented {
                entries[entries.count - 1].value.append(String(raw.dropFirst(2)))
            } else {
                throw TestFailure("doc-test marker: \"\(line)\" is not one of \(Self.keys.map { $0 + ":" }.joined(separator: " "))")
            }
        }
        var marker = DocTestMarker()
        for (key, value) in entries {
            let joined = value.joined(separator: " ")
            switch key {
            case "not-replayed":
                guard !joined.isEmpty else { throw TestFailure("doc-test marker: not-replayed needs its reason") }
                marker.notReplayed = joined
            case "daemon": marker.daemon = joined
            case "vrrpd": marker.vrrpd = joined.split(separator: " ").map(String.init)
            case "config": marker.config = value
            case "dir": marker.dir = joined
            case "enter": marker.enter = joined.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            case "settle":
                guard let seconds = Double(joined), seconds > 0, seconds <= 30 else {
                    throw TestFailure("doc-test marker: settle takes seconds (up to 30), not \"\(joined)\"")
                }
                marker.settle = seconds
            case "mask":
                guard (try? Regex(joined)) != nil else { throw TestFailure("doc-test marker: mask \"\(joined)\" is not a regular expression") }
                marker.masks.append(joined)
            default: break
            }
        }
        if marker.notReplayed != nil && entries.count > 1 {
            throw TestFailure("doc-test marker: a block that is not replayed takes nothing else")
        }
        return marker
    }
}

/// One line of a console example.
enum ConsoleLine: Equatable {
    /// `sw1(config-if)# vrrp 5 priority 200`: a line typed at vtysh's prompt. The space after
    /// the prompt is the documents' convention (vtysh, as IOS, prints none).
    case prompt(hostname: String, mode: String, command: String)
    /// `$ vtysh -c ...`: a line typed at a shell.
    case shell(String)
    case output(String)

    init(_ line: String) {
        if line.hasPrefix("$ ") {
            self = .shell(String(line.dropFirst(2)))
        } else if let match = line.wholeMatch(of: /([A-Za-z][A-Za-z0-9_.-]*)(?:\(([a-z0-9-]+)\))?([>#]) (.*)/) {
            let (_, hostname, mode, terminator, command) = match.output
            self = .prompt(hostname: String(hostname), mode: terminator == "#" ? String(mode ?? "enable") : "view", command: String(command))
        } else {
            self = .output(line)
        }
    }
}

/// A typed line of an example and the output shown under it.
struct ExampleStep {
    var line: ConsoleLine
    /// The line as shown (prompt and all).
    var text: String
    /// Its number in the document.
    var number: Int
    var expected: [String]

    /// The steps of a block; output before the first typed line is an error.
    static func steps(_ example: ConsoleExample) throws -> [ExampleStep] {
        var steps: [ExampleStep] = []
        for (offset, text) in example.lines.enumerated() {
            let line = ConsoleLine(text)
            if case .output(let output) = line {
                guard !steps.isEmpty else { throw TestFailure("\(example): output before any typed line: \(output)") }
                steps[steps.count - 1].expected.append(output)
            } else {
                steps.append(ExampleStep(line: line, text: text, number: example.line + 1 + offset, expected: []))
            }
        }
        return steps
    }

    /// What vtysh -E echoes for the line: the prompt and the line, no space between.
    var echo: String {
        guard case .prompt(_, _, let command) = line else { return text }
        return String(text.dropLast(command.count + 1)) + command
    }

    /// The `show` command a settle poll runs for this line in another session (`do` dropped),
    /// or nil for a line that is not one.
    var showCommand: String? {
        guard case .prompt(_, _, let command) = line else { return nil }
        let shown = command.hasPrefix("do ") ? String(command.dropFirst(3)) : command
        return shown.hasPrefix("show ") ? shown : nil
    }
}

/// How an example's output is compared with what was printed.
///
/// Both sides are normalised first: runs of spaces are one space (tables are aligned by hand in
/// the documents) and trailing space goes; volatile fields become placeholders (timestamps,
/// durations with a decimal point, process, thread and session numbers, MAC addresses, a
/// temporary file's random suffix, and a block's own masks). Then a line that is just `...`
/// stands for any number of lines, and `...` within a line for any text.
struct OutputMatcher {
    var masks: [Regex<AnyRegexOutput>] = []
    private let volatile: [(Regex<AnyRegexOutput>, String)]

    init(masks: [String] = []) {
        self.masks = masks.compactMap { try? Regex($0) }
        volatile = Self.volatilePatterns.map { (try! Regex($0.0), $0.1) }
    }

    static let volatilePatterns: [(String, String)] = [
        (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"#, "<time>"),
        (#"\b\d+\.\d+ (s|ms)\b"#, "<duration>"),
        (#"\[\d+\]"#, "[<pid>]"),
        (#"\b(pid|tid|session)([ =])\d+"#, "$1$2<n>"),
        (#"\b[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}\b"#, "<mac>"),
        (#"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b"#, "<mac>"),
        (#"\.tmp\.[A-Za-z0-9]{6}\b"#, ".tmp.<random>"),
        // Where in our sources a lock was taken: moves with every edit of the file.
        (#"\.swift:\d+"#, ".swift:<line>"),
    ]

    func normalise(_ line: String) -> String {
        var text = line
        // A mask with a capture group masks the group only (the TID column, not the thread's name).
        for mask in masks {
            text = text.replacing(mask) { match in
                guard match.output.count > 1, let group = match.output[1].range else { return "<masked>" }
                return text[match.range.lowerBound..<group.lowerBound] + "<masked>" + text[group.upperBound..<match.range.upperBound]
            }
        }
        for (pattern, placeholder) in volatile {
            text = text.replacing(pattern) { match in
                // $1 and $2: the captures kept around a number.
                var out = placeholder
                for index in [1, 2] where out.contains("$\(index)") {
                    let capture = index < match.output.count ? match.output[index].substring.map(String.init) ?? "" : ""
                    out = out.replacingOccurrences(of: "$\(index)", with: capture)
                }
                return out
            }
        }
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        let leading = text.hasPrefix(" ") && !words.isEmpty ? " " : ""
        return leading + words.joined(separator: " ")
    }

    /// Whether `actual` is what `expected` shows.
    func matches(_ expected: [String], _ actual: [String]) -> Bool {
        let patterns = expected.map { line -> LinePattern in
            let normal = normalise(line)
            if normal.trimmingCharacters(in: .whitespaces) == "..." { return .anyLines }
            return .line(normal.components(separatedBy: "..."))
        }
        let lines = actual.map(normalise)
        var memo: [Int: Bool] = [:]
        func match(_ i: Int, _ j: Int) -> Bool {
            let key = i * (lines.count + 1) + j
            if let known = memo[key] { return known }
            let result: Bool
            if i == patterns.count {
                result = j == lines.count
            } else {
                switch patterns[i] {
                case .anyLines: result = match(i + 1, j) || (j < lines.count && match(i, j + 1))
                case .line(let pieces): result = j < lines.count && Self.fits(pieces, lines[j]) && match(i + 1, j + 1)
                }
            }
            memo[key] = result
            return result
        }
        return match(0, 0)
    }

    private enum LinePattern {
        case anyLines
        /// The line's text around its `...` wildcards.
        case line([String])
    }

    /// Whether `line` is `pieces` joined by any text.
    private static func fits(_ pieces: [String], _ line: String) -> Bool {
        guard pieces.count > 1 else { return pieces[0] == line }
        guard line.hasPrefix(pieces[0]) else { return false }
        var rest = line.dropFirst(pieces[0].count)
        for piece in pieces.dropFirst().dropLast() {
            guard let found = rest.range(of: piece) else { return false }
            rest = rest[found.upperBound...]
        }
        let last = pieces[pieces.count - 1]
        return rest.count >= last.count && rest.hasSuffix(last)
    }
}
