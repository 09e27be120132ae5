import Time

/// The enable secret's defence against guessing, as a state value (no clock, no threads: the
/// caller passes the instant, read from its service's clock): who may have an answer checked now, and how long the others wait.
///
/// Two back-offs, so that opening many sessions buys nothing:
/// - per identity (`ClientIdentity`, the peer's uid): after the n-th wrong answer in a row the
///   next check of that identity waits `wait(afterFailures: n)` (1, 2, 4, 8, 16, then 30 s),
///   whichever session it comes from;
/// - shared by every identity but the local administrator's: after `sharedFreeFailures` wrong
///   answers from them (forgotten after `forgetSeconds` without one), each further one makes
///   every non-administrator check wait as above, counted from the first over the allowance.
///
/// Checks are one at a time: the administrator's, and everybody else's (scrypt runs on one
/// thread anyway), so every answer is counted before the next is let through and a burst of
/// sessions, or of identities, gets no guess for free.
///
/// The local administrator (root or vrrpd's own user, on this machine) is held back only by
/// their own wrong answers: guessers elsewhere never lock them out. A right answer clears the
/// identity's record, not the shared one (a guesser cannot clear it by proxy).
struct EnableSecretGuard {
    /// The longest wait after a wrong answer.
    static let maxWaitSeconds = 30
    /// Wrong answers from non-administrators, across identities, before the shared back-off.
    static let sharedFreeFailures = 10
    /// A record with no wrong answer for this long is forgotten.
    static let forgetSeconds = 300
    /// Identities remembered at most; beyond, the longest quiet is forgotten first.
    static let maxIdentities = 1024

    /// The wait after `failures` wrong answers in a row (none after none).
    static func wait(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        return .seconds(min(maxWaitSeconds, 1 << min(5, failures - 1)))
    }

    struct Record: Equatable {
        /// Wrong answers in a row (per identity) or in the current spell (shared).
        var failures = 0
        var lastFailure = Instant.zero
        /// No check before this time.
        var notBefore = Instant.zero
        /// A check is under way (the administrator's identity, or any other: `shared`).
        var checking = false
    }

    /// Why a check waits.
    enum Hold: Equatable {
        /// This identity's own wrong answers in a row.
        case identity(failures: Int)
        /// Wrong answers from every non-administrator, in this spell.
        case shared(failures: Int)
    }

    enum Admission: Equatable {
        /// Check the answer now (the identity's check is under way until `finished`).
        case check
        /// Another check is under way in the same lane (the administrator's, or everybody
        /// else's): ask again when it ends.
        case busy
        /// Not before `until`.
        case heldBack(until: Instant, why: Hold)
    }

    private(set) var identities: [ClientIdentity: Record] = [:]
    private(set) var shared = Record()

    /// Whether an answer from `who` may be checked at `now`.
    mutating func admit(_ who: ClientIdentity, administrator: Bool, now: Instant) -> Admission {
        forget(now: now)
        var record = identities[who] ?? Record()
        if administrator ? record.checking : shared.checking { return .busy }
        var until = record.notBefore
        var why = Hold.identity(failures: record.failures)
        if !administrator, shared.notBefore > until {
            until = shared.notBefore
            why = .shared(failures: shared.failures)
        }
        if until > now { return .heldBack(until: until, why: why) }
        if administrator {
            record.checking = true
            identities[who] = record
        } else {
            shared.checking = true
        }
        return .check
    }

    /// The check admitted for `who` is over: `right` or not (nil: it could not be made, and
    /// counts for nothing). Returns the identity's wrong answers in a row.
    /// (`administrator` must be what it was at `admit`: it names the lane.)
    @discardableResult
    mutating func finished(_ who: ClientIdentity, administrator: Bool, right: Bool?, now: Instant) -> Int {
        var record = identities[who] ?? Record()
        if administrator { record.checking = false } else { shared.checking = false }
        switch right {
        case true?:
            record.failures = 0
            record.notBefore = .zero
        case false?:
            record.failures += 1
            record.lastFailure = now
            record.notBefore = now + Self.wait(afterFailures: record.failures)
            if !administrator {
                shared.failures += 1
                shared.lastFailure = now
                let over = shared.failures - Self.sharedFreeFailures
                if over > 0 { shared.notBefore = max(shared.notBefore, now + Self.wait(afterFailures: over)) }
            }
        case nil:
            break
        }
        identities[who] = record
        return record.failures
    }

    /// Drops what has been quiet for `forgetSeconds`, and the quietest beyond `maxIdentities`.
    private mutating func forget(now: Instant) {
        let horizon = Duration.seconds(Self.forgetSeconds)
        if shared.failures > 0, now > shared.lastFailure + horizon, now >= shared.notBefore {
            shared = Record(checking: shared.checking)
        }
        guard !identities.isEmpty else { return }
        identities = identities.filter { $0.value.checking || $0.value.failures > 0 && now <= $0.value.lastFailure + horizon || $0.value.notBefore > now }
        if identities.count > Self.maxIdentities {
            let quietest = identities.filter { !$0.value.checking }.sorted { $0.value.lastFailure < $1.value.lastFailure }
            for (who, _) in quietest.prefix(identities.count - Self.maxIdentities) { identities[who] = nil }
        }
    }
}
