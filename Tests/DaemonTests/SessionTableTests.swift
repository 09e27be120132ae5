import Channel
import Testing
import Time

@testable import Daemon

/// Who may open a session, on the session table alone (no loop, no connections).
@Suite struct SessionTableTests {
    /// Opens a session at `now` (seconds); nil if refused. A silent one (not greeted) can be
    /// closed to make room: `closed` hears its client.
    static func open(
        _ table: inout SessionTable, _ client: String, administrator: Bool, greeted: Bool = true, at seconds: Int = 0,
        closed: ((String) -> Void)? = nil
    ) -> (session: Session, displaced: Session?)? {
        let now = Instant.zero.adding(seconds: seconds)
        guard case .opened(let session, let displaced) = table.open(client: client, administrator: administrator, identity: .unidentified, now: now)
        else { return nil }
        session.greeted = greeted
        if !greeted, let closed { session.makeRoom = { closed(client) } }
        return (session, displaced)
    }

    @Test func theSlotsAreChannelLimitsMaxSessions() {
        #expect(SessionTable().maxSessions == ChannelLimits.maxSessions)
    }

    /// The administrator may take every slot; the one after the last is refused and counted.
    @Test func theSessionAfterTheLastSlotIsRefused() {
        var table = SessionTable(maxSessions: 4)
        for index in 1...4 { #expect(Self.open(&table, "root-\(index)", administrator: true) != nil) }
        #expect(Self.open(&table, "root-5", administrator: true) == nil)
        #expect(table.count == 4)
        #expect(table.statistics == SessionTable.Statistics(opened: 4, refused: 1, silentClosed: 0))
    }

    /// Others are refused one slot earlier: the last is the administrator's.
    @Test func theLastSlotIsTheAdministrators() {
        var table = SessionTable(maxSessions: 4)
        for index in 1...3 { #expect(Self.open(&table, "other-\(index)", administrator: false) != nil) }
        #expect(Self.open(&table, "other-4", administrator: false) == nil)
        #expect(Self.open(&table, "root", administrator: true) != nil)
        #expect(Self.open(&table, "root-2", administrator: true) == nil)
        #expect(table.statistics.refused == 2)
    }

    /// When the slots are taken, the longest-waiting silent session that can be closed makes
    /// room, and leaves the table.
    @Test func theLongestWaitingSilentSessionMakesRoom() {
        var table = SessionTable(maxSessions: 4)
        var closed: [String] = []
        _ = Self.open(&table, "busy", administrator: false, at: 1)
        _ = Self.open(&table, "silent-late", administrator: false, greeted: false, at: 3) { closed.append($0) }
        _ = Self.open(&table, "silent-early", administrator: false, greeted: false, at: 2) { closed.append($0) }
        let opened = Self.open(&table, "new", administrator: false, at: 4)
        #expect(opened?.displaced?.client == "silent-early")
        #expect(table.count == 3)
        #expect(table.inOrder.map(\.client) == ["busy", "silent-late", "new"])
        // The table only decides: closing the connection is the driver's (`makeRoom`).
        #expect(closed.isEmpty)
        opened?.displaced?.makeRoom?()
        #expect(closed == ["silent-early"])
    }

    /// A silent session that cannot be closed (no connection to close) keeps its slot.
    @Test func aSilentSessionWithoutAConnectionKeepsItsSlot() {
        var table = SessionTable(maxSessions: 3)
        _ = Self.open(&table, "busy", administrator: false)
        _ = Self.open(&table, "silent", administrator: false, greeted: false)
        #expect(Self.open(&table, "new", administrator: false) == nil)
        #expect(table.count == 2)
    }

    /// A silent administrator's session makes room for another administrator only, and a
    /// silent session makes room only for a client that then gets the slot.
    @Test func aSilentAdministratorMakesRoomOnlyForAnAdministrator() {
        var table = SessionTable(maxSessions: 3)
        let ignore: (String) -> Void = { _ in }
        _ = Self.open(&table, "busy", administrator: false)
        _ = Self.open(&table, "silent-other", administrator: false, greeted: false, at: 1, closed: ignore)
        // Others' slots are full; the reserved one is free: a silent administrator takes it.
        _ = Self.open(&table, "silent-admin", administrator: true, greeted: false, at: 2, closed: ignore)
        // Another client: "silent-other" could make room, but the table is full for them too.
        #expect(Self.open(&table, "other", administrator: false) == nil)
        #expect(table.count == 3)
        // An administrator: the longest-waiting silent one, anybody's, makes room.
        #expect(Self.open(&table, "root", administrator: true)?.displaced?.client == "silent-other")
        #expect(Self.open(&table, "root-2", administrator: true)?.displaced?.client == "silent-admin")
        #expect(table.inOrder.map(\.client) == ["busy", "root", "root-2"])
    }

    /// Ids count up and are never reused; a closed session frees its slot.
    @Test func closingFreesTheSlotAndIdsAreNotReused() {
        var table = SessionTable(maxSessions: 2)
        let first = Self.open(&table, "a", administrator: true)!.session
        let second = Self.open(&table, "b", administrator: true)!.session
        #expect([first.id, second.id] == [1, 2])
        table.close(first)
        #expect(table[1] == nil && table[2] === second)
        let third = Self.open(&table, "c", administrator: true)!.session
        #expect(third.id == 3)
        #expect(table.inOrder.map(\.id) == [2, 3])
        #expect(table.statistics.opened == 3)
    }
}
