import CLI
import Channel
import Time

/// One client's session: its mode, its configuration context and who it is.
///
/// Every connection has its own; nothing here is shared, so one client's `configure terminal`
/// never changes another's prompt.
public final class Session {
    public let id: Int
    public var mode: Mode
    /// The interface being configured in `config-if` mode.
    public var interface: InterfaceID?
    /// `interface range ...`: every interface the sub-mode's lines apply to, in order.
    public var interfaceRange: [InterfaceID]?
    /// The VLAN being configured in `config-vlan` mode.
    public var vlan: UInt16?

    /// Leaves any sub-mode context (back to plain configuration or above).
    public func clearContext() {
        interface = nil
        interfaceRange = nil
        vlan = nil
    }
    /// What the client said it is (`vtysh pid 4711`), or the peer credentials.
    public var client: String
    /// Who the kernel says the peer is (for the enable secret's back-off).
    public let identity: ClientIdentity
    /// The peer is the local administrator (root or vrrpd's own user): the last session slot
    /// is theirs, and other clients' wrong secrets never hold them back.
    public let administrator: Bool
    public let connectedAt: Instant
    public var lastActivity: Instant
    public var commandCount = 0
    /// The client said HELLO (a session opens with it; docs/channel.md).
    public var greeted = false
    /// Closes this session's connection to free its slot for a new one (set by the connection
    /// while the client has not greeted).
    var makeRoom: (() -> Void)?
    /// `terminal length` / `terminal width` (0: no paging; what automation sets on connect).
    public var terminalLength = 24
    public var terminalWidth = 80
    /// `terminal monitor`: log lines for this session (kept; vtysh shows the daemon's log with `show logging`).
    public var terminalMonitor = false
    /// The last lines typed (`show history`), oldest first; lines with a secret are not kept.
    public private(set) var history: [String] = []
    public static let historySize = 20
    /// Set while the session waits for input (a password) for a command.
    var pendingInput: ((CommandContext, String) -> CommandOutcome)?
    var pendingInputContext: CommandContext?

    public init(id: Int, mode: Mode, client: String, identity: ClientIdentity = .unidentified, administrator: Bool = true,
        connectedAt: Instant
    ) {
        self.id = id
        self.mode = mode
        self.client = client
        self.identity = identity
        self.administrator = administrator
        self.connectedAt = connectedAt
        lastActivity = connectedAt
    }

    public var name: String { "session \(id) (\(client))" }

    /// Keeps `line` in the history (the last `historySize`), unless it carries a secret.
    func remember(_ line: String) {
        let typed = line.drop { $0 == " " || $0 == "\t" }
        guard !typed.isEmpty, !SecretLines.carriesSecret(typed) else { return }
        history.append(String(typed))
        if history.count > Session.historySize { history.removeFirst(history.count - Session.historySize) }
    }
}
