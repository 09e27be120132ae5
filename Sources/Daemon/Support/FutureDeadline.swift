import NIOCore
import Time

/// A future raced against a deadline on the control-plane loop: whichever comes first wins and
/// the other is ignored, so the waiter hears exactly once (the result, or that time ran out), and
/// a result that arrives late is dropped. `cancel()` (an interrupt) silences both.
///
/// The one way the control plane waits for work done elsewhere: a command's reply
/// (`Connection`) and a line of a configuration file (`ConfigLoader`) both wait through it, so
/// "every wait has a deadline" is one mechanism, not one per caller.
///
/// ```swift
/// item.deadline = future.race(deadline: timeout, on: loop, clock: clock, onTimeout: { timedOut(item) }) { result in ... }
/// ```
///
/// Loop-bound: made, settled and cancelled on `loop` only (`assumeIsolated` checks it).
final class FutureDeadline {
    fileprivate var timer: ClockTimer?
    /// The result, the deadline or a cancellation came: nothing more is delivered.
    private(set) var isSettled = false

    fileprivate init() {}

    /// Neither the result nor the deadline is delivered any more.
    func cancel() {
        isSettled = true
        timer?.cancel()
        timer = nil
    }

    /// Settles the race for the caller; false if it was settled already.
    fileprivate func settle() -> Bool {
        guard !isSettled else { return false }
        cancel()
        return true
    }
}

extension EventLoopFuture {
    /// Delivers this future's result to `onResult`, or calls `onTimeout` once `deadline` has
    /// passed on `clock` without one, whichever comes first and never both, on `loop` (the
    /// caller's loop). The deadline is armed before the result is looked at, so a future that has
    /// already completed is delivered at once.
    @discardableResult
    func race(
        deadline: Duration, on loop: EventLoop, clock: any Clock, onTimeout: @escaping () -> Void,
        onResult: @escaping (Result<Value, Error>) -> Void
    ) -> FutureDeadline {
        let race = FutureDeadline()
        race.timer = loop.scheduleTask(after: deadline, clock: clock) {
            guard race.settle() else { return }
            onTimeout()
        }
        hop(to: loop).assumeIsolated().whenComplete { result in
            guard race.settle() else { return }
            onResult(result)
        }
        return race
    }
}
