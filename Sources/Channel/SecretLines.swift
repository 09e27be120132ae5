/// Which command lines carry a secret (`enable secret 0 ...`): the
/// daemon's `show history` and vtysh's history file keep neither. A word is `secret` when it is
/// at least 3 letters of it, as the grammar abbreviates.
public enum SecretLines {
    public static func carriesSecret(_ line: some StringProtocol) -> Bool {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" }).contains { isSecretWord($0) }
    }

    /// The line up to its `secret` word, the value left out (`enable secret <not shown>`): how a
    /// log names a line that carries a secret. A line without one comes back as it is.
    public static func withoutSecret(_ line: String) -> String {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let index = words.firstIndex(where: { isSecretWord($0) }) else { return line }
        return words[...index].joined(separator: " ") + " <not shown>"
    }

    private static func isSecretWord(_ word: some StringProtocol) -> Bool {
        word.count >= 3 && "secret".hasPrefix(word.lowercased())
    }
}
