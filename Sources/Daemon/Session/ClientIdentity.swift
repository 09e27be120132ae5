/// Who a client is, as far as guessing the enable secret is concerned: the peer's user id as the
/// kernel reports it for the socket (SO_PEERCRED), never what the client says of itself in its
/// HELLO (anyone can write anything there). An SSH login runs vtysh as the login's account, so
/// each account is one identity; root and vrrpd's own user are the local administrator.
public struct ClientIdentity: Hashable, Sendable, CustomStringConvertible {
    /// nil: the credentials could not be read (every such client is the same identity).
    public let uid: UInt32?

    public init(uid: UInt32?) { self.uid = uid }

    /// In-process sessions (tests, `--check-config`) and clients whose credentials are unknown.
    public static let unidentified = ClientIdentity(uid: nil)

    public var description: String { uid.map { "uid \($0)" } ?? "an unidentified client" }
}
