import Testing
import Time

@testable import Daemon

/// The enable secret's back-off as a state value, on a clock the test turns.
@Suite struct EnableSecretGuardTests {
    static let second = Duration.seconds(1)
    let guesser = ClientIdentity(uid: 1001)
    let admin = ClientIdentity(uid: 0)

    /// Checks one answer of `who` at `now`, wrong unless `right`; returns what `admit` said.
    @discardableResult
    func answer(_ state: inout EnableSecretGuard, _ who: ClientIdentity, administrator: Bool = false, right: Bool = false, at now: Instant)
        -> EnableSecretGuard.Admission
    {
        let admission = state.admit(who, administrator: administrator, now: now)
        if admission == .check { state.finished(who, administrator: administrator, right: right, now: now) }
        return admission
    }

    @Test func eachWrongAnswerInARowDoublesTheIdentitysWaitUpTo30Seconds() {
        var state = EnableSecretGuard()
        var now = Instant.zero.adding(seconds: 1000)
        var waits: [Duration] = []
        for _ in 0..<8 {
            #expect(answer(&state, guesser, at: now) == .check)
            guard case .heldBack(let until, .identity(_)) = state.admit(guesser, administrator: false, now: now) else {
                Issue.record("not held back after a wrong answer")
                return
            }
            waits.append(until - now)
            now = until
        }
        #expect(waits == [1, 2, 4, 8, 16, 30, 30, 30].map { .seconds($0) })
        // The right answer clears the identity's record.
        #expect(answer(&state, guesser, right: true, at: now) == .check)
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
    }

    @Test func oneCheckAtATimeSoABurstOfSessionsGetsNoFreeGuess() {
        var state = EnableSecretGuard()
        let now = Instant.zero.adding(seconds: 1000)
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
        let now = Instant.zero.adding(seconds: 1000)
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
        var now = Instant.zero.adding(seconds: 1000)
        for _ in 0..<3 {
            answer(&state, guesser, at: now)
            now += 30 * Self.second
        }
        #expect(state.identities[guesser]?.failures == 3)
        now += .seconds(EnableSecretGuard.forgetSeconds + 1)
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
        state.finished(guesser, administrator: false, right: nil, now: now)
        #expect(state.identities[guesser]?.failures ?? 0 == 0)
        #expect(state.shared.failures == 0)
    }

    /// A check that could not be made (vrrpd stopping) counts for nothing.
    @Test func aCheckNotMadeCountsForNothing() {
        var state = EnableSecretGuard()
        let now = Instant.zero.adding(seconds: 1000)
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
        #expect(state.finished(guesser, administrator: false, right: nil, now: now) == 0)
        #expect(state.admit(guesser, administrator: false, now: now) == .check)
    }
}

/// The back-off on a `TestClock`, as `EnableSecretChecks` reads it: the waits end when the
/// clock says, to the nanosecond.
@Suite struct EnableSecretGuardClockTests {
    let clock = TestClock()

    /// Checks one answer of `who` now on the clock, wrong unless `right`.
    @discardableResult
    func answer(_ state: inout EnableSecretGuard, _ who: ClientIdentity, administrator: Bool = false, right: Bool = false)
        -> EnableSecretGuard.Admission
    {
        let admission = state.admit(who, administrator: administrator, now: clock.now)
        if admission == .check { state.finished(who, administrator: administrator, right: right, now: clock.now) }
        return admission
    }

    @Test func wrongAnswersBackOffUntilTheClockSaysSo() {
        var state = EnableSecretGuard()
        let guesser = ClientIdentity(uid: 1001)
        for (failures, wait) in [(1, 1), (2, 2), (3, 4)] {
            #expect(answer(&state, guesser) == .check)
            clock.advance(by: .seconds(wait) - .nanoseconds(1))
            #expect(state.admit(guesser, administrator: false, now: clock.now)
                == .heldBack(until: clock.now + .nanoseconds(1), why: .identity(failures: failures)), "after \(failures) wrong")
            clock.advance(by: .nanoseconds(1))
        }
        #expect(answer(&state, guesser, right: true) == .check)
        #expect(state.admit(guesser, administrator: false, now: clock.now) == .check, "a right answer clears the wait")
    }

    /// Past the shared allowance every non-administrator waits; the local administrator does not
    /// (only their own wrong answers hold them back).
    @Test func othersWrongAnswersDoNotHoldTheAdministratorBack() {
        var state = EnableSecretGuard()
        let admin = ClientIdentity(uid: 0)
        for uid in 0...UInt32(EnableSecretGuard.sharedFreeFailures) {
            #expect(answer(&state, ClientIdentity(uid: 2000 + uid)) == .check)
        }
        let newcomer = ClientIdentity(uid: 3000)
        #expect(state.admit(newcomer, administrator: false, now: clock.now)
            == .heldBack(until: clock.now + .seconds(1), why: .shared(failures: EnableSecretGuard.sharedFreeFailures + 1)))
        #expect(answer(&state, admin, administrator: true) == .check, "not held back by the others")
        #expect(state.admit(admin, administrator: true, now: clock.now)
            == .heldBack(until: clock.now + .seconds(1), why: .identity(failures: 1)), "held back by their own typo")
        clock.advance(by: .seconds(1))
        #expect(answer(&state, admin, administrator: true, right: true) == .check)
        #expect(answer(&state, newcomer, right: true) == .check)
    }
}
