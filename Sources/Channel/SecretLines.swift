/// Which command lines carry a secret (`enable secret 0 ...`), and the same line fit to be seen:
/// the daemon's `show history` and vtysh's history file keep none of them, and no log line
/// (file, stderr, syslog, the buffer `show logging` reads) shows what follows the word. A word
/// is `secret` when it is at least 3 letters of it, as the grammar abbreviates.
public enum SecretLines {
    /// What replaces the words after `secret`.
    public static let hidden = "<redacted>"

    public static func carriesSecret(_ line: some StringProtocol) -> Bool {
        mentionsSec(line.utf8) && line.split(whereSeparator: isBlank).contains { isSecretWord(Substring($0)) }
    }

    /// `line` with whatever follows its first `secret` word replaced by `<redacted>`
    /// (`reload: + enable secret 9 $9$...` reads `reload: + enable secret <redacted>`); a line
    /// without one, or with nothing after it, as it is.
    public static func redacted(_ line: String) -> String {
        guard carriesSecret(line) else { return line }
        var words = line.split(whereSeparator: isBlank)[...]
        var kept: [Substring] = []
        while let word = words.popFirst() {
            kept.append(word)
            if isSecretWord(word) { break }
        }
        return words.isEmpty ? line : (kept + [Substring(hidden)]).joined(separator: " ")
    }

    /// Whether "sec" appears at all, in any case: most lines (every log line goes through
    /// `redacted`) are let through without being split into words.
    private static func mentionsSec(_ bytes: some Sequence<UInt8>) -> Bool {
        let word: (UInt8, UInt8, UInt8) = (UInt8(ascii: "s"), UInt8(ascii: "e"), UInt8(ascii: "c"))
        var matched = 0
        for byte in bytes {
            let lower = byte | 0x20  // ASCII letters in either case; anything else never matches
            let next = matched == 0 ? word.0 : matched == 1 ? word.1 : word.2
            if lower == next {
                matched += 1
                if matched == 3 { return true }
            } else {
                matched = lower == word.0 ? 1 : 0
            }
        }
        return false
    }

    private static func isBlank(_ character: Character) -> Bool { character == " " || character == "\t" }

    private static func isSecretWord(_ word: Substring) -> Bool { word.count >= 3 && "secret".hasPrefix(word.lowercased()) }
}
