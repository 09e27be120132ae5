/// Which command lines carry a secret (`enable secret 0 ...`), and the same line fit to be seen:
/// the daemon's `show history` and vtysh's history file keep none of them, and no log line
/// (file, stderr, syslog, the buffer `show logging` reads) shows what follows the word. A word
/// is `secret` when it is at least 3 letters of it; and, as the grammar takes any unique
/// abbreviation, after an abbreviation of `enable` (2 letters or more) any abbreviation of
/// `secret` is (`en s 0 hunter2`).
public enum SecretLines {
    /// What replaces the words after `secret`.
    public static let hidden = "<redacted>"

    public static func carriesSecret(_ line: some StringProtocol) -> Bool {
        mayCarrySecret(line.utf8) && secretWord(in: line.split(whereSeparator: isBlank).map(Substring.init)) != nil
    }

    /// `line` with whatever follows its first `secret` word replaced by `<redacted>`
    /// (`reload: + enable secret 9 $9$...` reads `reload: + enable secret <redacted>`); a line
    /// without one, or with nothing after it, as it is.
    public static func redacted(_ line: String) -> String {
        guard mayCarrySecret(line.utf8) else { return line }
        let words = line.split(whereSeparator: isBlank).map(Substring.init)
        guard let index = secretWord(in: words), index + 1 < words.count else { return line }
        return (words[...index] + [Substring(hidden)]).joined(separator: " ")
    }

    /// The index of the word after which a secret follows, if any.
    private static func secretWord(in words: [Substring]) -> Int? {
        for (index, word) in words.enumerated() {
            if isSecretWord(word) { return index }
            if index > 0, isEnableWord(words[index - 1]), !word.isEmpty, "secret".hasPrefix(word.lowercased()) { return index }
        }
        return nil
    }

    /// Whether "sec" or "en" appears at all, in any case: most lines (every log line goes
    /// through `redacted`) are let through without being split into words.
    private static func mayCarrySecret(_ bytes: some Sequence<UInt8>) -> Bool {
        var previous: UInt8 = 0
        var run = 0  // letters of "sec" matched so far
        for byte in bytes {
            let lower = byte | 0x20  // ASCII letters in either case; anything else never matches
            if previous == UInt8(ascii: "e") && lower == UInt8(ascii: "n") { return true }
            switch (run, lower) {
            case (_, UInt8(ascii: "s")): run = 1
            case (1, UInt8(ascii: "e")): run = 2
            case (2, UInt8(ascii: "c")): return true
            default: run = 0
            }
            previous = lower
        }
        return false
    }

    private static func isBlank(_ character: Character) -> Bool { character == " " || character == "\t" }

    private static func isSecretWord(_ word: Substring) -> Bool { word.count >= 3 && "secret".hasPrefix(word.lowercased()) }

    /// An abbreviation of `enable` (2 letters or more), quoted or not (a log line quotes commands).
    private static func isEnableWord(_ word: Substring) -> Bool {
        let bare = word.drop { $0 == "\"" || $0 == "'" || $0 == "(" }
        return bare.count >= 2 && "enable".hasPrefix(bare.lowercased())
    }
}
