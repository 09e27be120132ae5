/// What a command line may contain, and how a message shows text it repeats: one rule for vrrpd
/// and vtysh.
///
/// A line with a control character (C0 but TAB, DEL, C1) or an invisible one is refused before
/// it is matched: no description, name or password can carry an ESC sequence into `show
/// running-config` or a terminal, nor look like something it is not. Invisible are format
/// characters (U+FEFF, a byte order mark; U+200B, a zero width space; the bidirectional
/// overrides), line and paragraph separators, every space but U+0020 (a no-break space looks like
/// a space and is not one), and the letters that print as nothing (U+3164 HANGUL FILLER). A
/// message never prints such a character: `visible` names it (`<U+FEFF>`). A message that
/// repeats a rejected line repeats at most `excerptLimit` characters of it, around the point of
/// the error, so a file fed to `copy` is never printed back whole.
public enum LineSafety {
    /// Why a character is refused.
    public enum Kind: Sendable, Equatable {
        case control
        case invisible
    }

    /// A character a command line may not contain, and where.
    public struct Refusal: Sendable, Equatable {
        public var scalar: Unicode.Scalar
        /// 0-based, in characters.
        public var column: Int
        public var kind: Kind

        /// Why the line is refused, naming the character (never printing it).
        public var reason: String {
            let name = scalar.properties.name.map { " (\($0))" } ?? ""
            switch kind {
            case .control:
                return "Control characters are not allowed in a command: \(LineSafety.code(scalar)) at column \(column + 1)"
            case .invisible:
                return "Invisible characters are not allowed in a command: \(LineSafety.code(scalar))\(name) at column \(column + 1)"
            }
        }
    }

    /// The first character of `line` a command may not contain, or nil.
    public static func refusal(in line: String) -> Refusal? {
        // Printable ASCII (nearly every line) needs no look at the characters.
        guard line.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7f }) else { return nil }
        for (column, character) in line.enumerated() {
            for scalar in character.unicodeScalars {
                if let kind = kind(of: scalar) { return Refusal(scalar: scalar, column: column, kind: kind) }
            }
        }
        return nil
    }

    /// Whether a command line may not contain `scalar`, and why (nil: it may).
    public static func kind(of scalar: Unicode.Scalar) -> Kind? {
        let value = scalar.value
        if value < 0x80 { return (value < 0x20 && value != 0x09) || value == 0x7f ? .control : nil }
        if value <= 0x9f { return .control }
        let properties = scalar.properties
        switch properties.generalCategory {
        case .format, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return .invisible
        case .otherLetter where properties.isDefaultIgnorableCodePoint:
            return .invisible
        default:
            return nil
        }
    }

    /// `U+FEFF`: how a message names a character.
    public static func code(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// `text` with every character a command may not contain written as `<U+XXXX>`, so that a
    /// message that repeats what it was given (a script's line, a file name) never prints it.
    /// Newlines (between a message's lines) and TABs stay.
    public static func visible(_ text: some StringProtocol) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7f }) else { return String(text) }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\t" || kind(of: scalar) == nil {
                out.append(scalar)
            } else {
                out.append(contentsOf: "<\(code(scalar))>".unicodeScalars)
            }
        }
        return String(out)
    }

    public static let excerptLimit = 60

    /// At most `limit` characters of `line` around `column`, with `...` where it was cut, and
    /// the column's position in the excerpt.
    public static func excerpt(_ line: String, around column: Int, limit: Int = excerptLimit) -> (text: String, column: Int) {
        let characters = Array(line)
        guard characters.count > limit else { return (line, column) }
        let start = max(0, min(column - limit / 2, characters.count - limit))
        let end = min(characters.count, start + limit)
        let head = start > 0 ? "..." : ""
        let tail = end < characters.count ? "..." : ""
        return (head + String(characters[start..<end]) + tail, column - start + head.count)
    }
}
