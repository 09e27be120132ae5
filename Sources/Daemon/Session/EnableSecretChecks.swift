import Logging
import NIOCore
import Time

/// Checks answers to `Password:` on the control-plane loop, as `EnableSecretGuard` allows: an
/// answer whose turn comes within its share of the command deadline waits for it (without
/// blocking the loop); one that would wait longer is refused at once, unchecked, with how long
/// to wait, so a held-back guess costs the guesser a refusal and the switch nothing (scrypt
/// runs only for admitted answers, on the auth thread).
final class EnableSecretChecks {
    /// What became of one answer.
    enum Verdict: Equatable {
        case right
        /// Wrong: the identity's wrong answers in a row, and how long to hold the reply (the
        /// wait the next answer of this identity faces, as far as the deadline allows).
        case wrong(failures: Int, holdReply: Duration)
        /// Not checked: the message says why and for how long.
        case refused(String)
    }

    /// The share of the command deadline an answer may wait for its turn; the check itself
    /// (tens of milliseconds) comes after, within the rest.
    static let deadlineShare = 0.8

    private var state = EnableSecretGuard()
    /// Answers waiting for the check under way in their lane to end.
    private var waiting: [() -> Void] = []

    /// Checks `password` for `ctx`'s session against `secret`.
    func check(_ password: String, against secret: String, _ ctx: CommandContext) -> EventLoopFuture<Verdict> {
        let plane = ctx.plane
        let loop = plane.loop
        let promise = loop.makePromise(of: Verdict.self)
        let who = ctx.session.identity
        let administrator = ctx.session.administrator
        let latest = plane.clock.now + plane.options.commandTimeout * Self.deadlineShare

        func attempt() {
            let now = plane.clock.now
            // A request that timed out or was cancelled is not checked: it would spend a guess.
            guard !ctx.abandoned else { return promise.succeed(.refused("Interrupted")) }
            switch state.admit(who, administrator: administrator, now: now) {
            case .check:
                let verified = plane.authPool.runIfActive(eventLoop: loop) { EnableSecret.verify(password, against: secret) }
                verified.hop(to: loop).assumeIsolated().whenComplete { [self] result in
                    let right = try? result.get()
                    let now = plane.clock.now
                    let failures = state.finished(who, administrator: administrator, right: right, now: now)
                    wake()
                    switch right {
                    case true?:
                        promise.succeed(.right)
                    case false?:
                        let hold = min(EnableSecretGuard.wait(afterFailures: failures), max(.zero, latest.duration(since: now)))
                        promise.succeed(.wrong(failures: failures, holdReply: hold))
                    case nil:
                        promise.succeed(.refused("The enable secret could not be checked: vrrpd is stopping"))
                    }
                }
            case .busy:
                guard now < latest else {
                    return refuse("Other enable secret checks are under way: try again", who: who, why: "busy")
                }
                waiting.append(attempt)
            case .heldBack(let until, let why):
                guard until <= latest else {
                    let seconds = (UInt64(until.duration(since: now).inNanoseconds) + 999_999_999) / 1_000_000_000
                    switch why {
                    case .identity(let failures):
                        return refuse(
                            "Too many wrong enable secrets from \(who) (\(failures) in a row): try again in \(seconds) s", who: who,
                            why: "\(failures) wrong in a row from \(who)", retry: seconds)
                    case .shared(let failures):
                        return refuse(
                            "Too many wrong enable secrets on this switch (\(failures) from its clients lately): try again in \(seconds) s",
                            who: who, why: "\(failures) wrong from all clients lately", retry: seconds)
                    }
                }
                _ = loop.scheduleTask(after: until.duration(since: now), clock: plane.clock) { attempt() }
            }
        }

        func refuse(_ message: String, who: ClientIdentity, why: String, retry: UInt64? = nil) {
            var metadata: Logger.Metadata = ["from": "\(who)", "why": "\(why)", "session": "\(ctx.session.id)"]
            if let retry { metadata["retry-in-s"] = "\(retry)" }
            plane.repeatedLines.log(.secretHeldBack, plane.logger, .warning, "answers refused unchecked by the back-off of the enable secret", metadata: metadata)
            promise.succeed(.refused(message))
        }

        attempt()
        return promise.futureResult
    }

    /// A check ended: the answers waiting try again, in order (in each lane one is admitted,
    /// the others wait for it in turn).
    private func wake() {
        let queued = waiting
        waiting.removeAll()
        for attempt in queued { attempt() }
    }
}
