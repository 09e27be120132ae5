import Channel
import Time

/// The open sessions and who may open one, as a state value (no loop, no clock: the caller
/// passes the instant): the sessions by id, the next id, the admission rule and the counters
/// `show version` prints.
///
/// The last of `maxSessions` slots is kept for the local administrator (a peer that is root or
/// vrrpd's own user), so connections held open by others can never lock them out. When the
/// slots a client may take are all taken, a session that has not greeted yet and can be closed
/// (the longest waiting) makes room: a silent connection never keeps a slot from a client that
/// connects. Only for a client that then gets the slot, and never an administrator's for
/// another's (a flood of others cannot close the administrator's connection before its HELLO
/// arrives).
public struct SessionTable {
    public struct Statistics: Equatable {
        public var opened = 0
        public var refused = 0
        /// Connections closed for not sending HELLO in time, or to make room for another.
        public var silentClosed = 0
    }

    /// What `open` decided.
    enum Admission {
        /// The new session; `displacing`, if any, was a silent session taken out of the table to
        /// make room: the driver closes its connection (`Session.makeRoom`).
        case opened(Session, displacing: Session?)
        /// Every slot this client may take is held by a session that cannot make room.
        case refused
    }

    /// Sessions at most, the administrator's reserved slot included.
    let maxSessions: Int
    private var byID: [Int: Session] = [:]
    private var nextID = 1
    public internal(set) var statistics = Statistics()

    init(maxSessions: Int = ChannelLimits.maxSessions) {
        self.maxSessions = maxSessions
    }

    public var count: Int { byID.count }

    public subscript(id: Int) -> Session? { byID[id] }

    /// Every open session, oldest (lowest id) first.
    public var inOrder: [Session] { byID.values.sorted { $0.id < $1.id } }

    /// Opens a session for a client, connected `now`, if the admission rule lets it.
    mutating func open(client: String, administrator: Bool, identity: ClientIdentity, now: Instant) -> Admission {
        let slots = administrator ? maxSessions : maxSessions - 1
        var displaced: Session?
        if byID.count == slots, let silent = silentToDisplace(administrator: administrator) {
            byID[silent.id] = nil
            displaced = silent
        }
        guard byID.count < slots else {
            statistics.refused += 1
            return .refused
        }
        let session = Session(id: nextID, mode: Modes.view, client: client, identity: identity, administrator: administrator, connectedAt: now)
        nextID += 1
        byID[session.id] = session
        statistics.opened += 1
        return .opened(session, displacing: displaced)
    }

    /// The session that makes room for a client when its slots are all taken: the longest
    /// waiting of those that have not greeted and can be closed, an administrator's only for
    /// another administrator.
    private func silentToDisplace(administrator: Bool) -> Session? {
        byID.values.filter { !$0.greeted && $0.makeRoom != nil && (administrator || !$0.administrator) }
            .min { $0.connectedAt < $1.connectedAt }
    }

    mutating func close(_ session: Session) {
        byID[session.id] = nil
    }
}
