/// What a command line may contain, and how much of a rejected line a message may repeat.
///
/// A line with a control character (C0 but TAB, DEL, C1) is refused before it is matched: no
/// description, name or password can carry an ESC sequence into `show running-config` or a
/// terminal. A message that repeats a rejected line repeats at most `excerptLimit` characters
/// of it, around the point of the error, so a file fed to `copy` is never printed back whole.
public enum LineSafety {
    /// The first control character of `line` and its column (0-based, in characters).
    public static func controlCharacter(in line: String) -> (scalar: Unicode.Scalar, column: Int)? {
        for (column, character) in line.enumerated() {
            for scalar in character.unicodeScalars where isControl(scalar) { return (scalar, column) }
        }
        return nil
    }

    @inline(__always)
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return (value < 0x20 && value != 0x09) || value == 0x7f || (0x80...0x9f).contains(value)
    }

    /// The message for a line refused for a control character.
    public static func controlCharacterMessage(_ found: (scalar: Unicode.Scalar, column: Int)) -> String {
        let code = String(found.scalar.value, radix: 16, uppercase: true)
        return "% Control characters are not allowed in a command: U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code) at column \(found.column + 1)"
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
