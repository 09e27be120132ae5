import Testing

@testable import Daemon

/// The enable secret's back-off as a state value, on a clock the test turns.
@Suite struct EnableSecretGuardTests {
    static let second: UInt64 = 1_000_000_000
    let guesser = ClientIdentity(uid: 1001)
    let admin = ClientIdentity(uid: 0)

    /// Checks one answer of `who` at `now`, wrong unless `right`; returns what `admit` said.
    @discardableResult
    func answer(_ state: inout EnableSecretGuard, _ who: ClientIdentity, administrator: Bool = false, right: Bool = false, at now: UInt64)
        -> EnableSecretGuard.Admission
    {
        let admission = state.admit(who, administrator: administrator, now: now)
        if admission == .check { state.finished(who, administrator: administrator, right: right, now: now) }
        return admission
    }

    @Test func eachWrongAnswerInARowDoublesTheIdentitysWaitUpTo30Seconds() {
        var state = EnableSecretGuard()
        var now: UInt64 = 1000 * Self.second
        var waits: [UInt64] = []
        for _ in 0..<8 {
            #expect(answer(&state, guesser, at: now) == .check)
            guard case .heldBack(let until, .identity(_)) = state.admit(guesser, administrator: false, now: now) else {
                Issue.record("not held back after a wrong answer")
                return
            }
            waits.append((until - now) / Self.second)
            now = until
        }
        #expect(waits == [1, 2, 4, 8, 16, 30, 30, 30])
        // The right answer clears the identity's record.
        #expect(answer(&state, guesser, right: true, at: now) == .check)
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
    }

    @Test func oneCheckAtATimeSoABurstOfSessionsGetsNoFreeGuess() {
        var state = EnableSecretGuard()
        let now: UInt64 = 1000 * Self.second
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
        // Another session of the same identity, and another non-administrator identity, wait.
        #expect(state.admit(guesser, administrator: false, now: now) == .busy)
        #expect(state.admit(ClientIdentity(uid: 1002), administrator: false, now: now) == .busy)
        // The administrator's lane is their own.
        #expect(state.admit(admin, administrator: true, now: now) == .check)
        state.finished(admin, administrator: true, right: true, now: now)
        state.finished(guesser, administrator: false, right: false, now: now)
        #expect(state.admit(guesser, administrator: false, now: now) == .heldBack(until: now + Self.second, why: .identity(failures: 1)))
        #expect(state.admit(ClientIdentity(uid: 1002), administrator: false, now: now) == .check)
    }

    /// Many identities guessing: once their wrong answers pass the allowance, every
    /// non-administrator waits, even one that never guessed; the administrator does not.
    @Test func theSharedBackOffHoldsEveryoneButTheAdministrator() {
        var state = EnableSecretGuard()
        let now: UInt64 = 1000 * Self.second
        for uid in 0..<UInt32(EnableSecretGuard.sharedFreeFailures) {
            #expect(answer(&state, ClientIdentity(uid: 2000 + uid), at: now) == .check)
        }
        // Within the allowance: a newcomer is checked at once.
        #expect(answer(&state, ClientIdentity(uid: 3000), at: now) == .check)
        // One over: a newcomer waits 1 s, for the shared reason; then 2 s after the next.
        #expect(state.admit(ClientIdentity(uid: 3001), administrator: false, now: now) == .heldBack(until: now + Self.second, why: .shared(failures: 11)))
        #expect(answer(&state, ClientIdentity(uid: 3001), at: now + Self.second) == .check)
        #expect(state.admit(ClientIdentity(uid: 3002), administrator: false, now: now + Self.second)
            == .heldBack(until: now + 3 * Self.second, why: .shared(failures: 12)))
        // The administrator, even after a typo of their own, is held back by that alone.
        #expect(answer(&state, admin, administrator: true, at: now + Self.second) == .check)
        #expect(state.admit(admin, administrator: true, now: now + 2 * Self.second) == .check)
        state.finished(admin, administrator: true, right: true, now: now + 2 * Self.second)
        // A right answer somewhere does not clear the shared record.
        #expect(answer(&state, ClientIdentity(uid: 3003), right: true, at: now + 3 * Self.second) == .check)
        #expect(state.shared.failures == 12)
    }

    @Test func quietRecordsAreForgotten() {
        var state = EnableSecretGuard()
        var now: UInt64 = 1000 * Self.second
        for _ in 0..<3 {
            answer(&state, guesser, at: now)
            now += 30 * Self.second
        }
        #expect(state.identities[guesser]?.failures == 3)
        now += UInt64(EnableSecretGuard.forgetSeconds + 1) * Self.second
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
        state.finished(guesser, administrator: false, right: nil, now: now)
        #expect(state.identities[guesser]?.failures ?? 0 == 0)
        #expect(state.shared.failures == 0)
    }

    /// A check that could not be made (vrrpd stopping) counts for nothing.
    @Test func aCheckNotMadeCountsForNothing() {
        var state = EnableSecretGuard()
        let now: UInt64 = 1000 * Self.second
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
        #expect(state.finished(guesser, administrator: false, right: nil, now: now) == 0)
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
    }
}
