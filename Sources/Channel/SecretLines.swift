/// Which command lines carry a secret (`enable secret 0 ...`): the
/// daemon's `show history` and vtysh's history file keep neither. A word is `secret` when it is
/// at least 3 letters of it, as the grammar abbreviates.
public enum SecretLines {
    public static func carriesSecret(_ line: some StringProtocol) -> Bool {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" }).contains { $0.count >= 3 && "secret".hasPrefix($0.lowercased()) }
    }
}
