import NIOCore
import Time

/// A timer on a service's clock whose body runs on the service's loop: the loop's own timer on
/// the system clock; on a `TestClock`, a wake-up that fires when the test advances the clock
/// past it (and then hops to the loop). One way for every daemon timer that a test drives.
struct ClockTimer {
    fileprivate enum Kind {
        case loop(Scheduled<Void>)
        case test(TestClock, TestClock.Token)
    }

    private let kind: Kind

    fileprivate init(_ kind: Kind) { self.kind = kind }

    func cancel() {
        switch kind {
        case .loop(let scheduled): scheduled.cancel()
        case .test(let clock, let token): clock.cancel(token)
        }
    }
}

extension EventLoop {
    /// Runs `body` on this loop once `delay` has passed on `clock`. Called on this loop.
    func scheduleTask(after delay: Duration, clock: any Clock, _ body: @escaping () -> Void) -> ClockTimer {
        guard let test = clock as? TestClock else {
            return ClockTimer(.loop(assumeIsolated().scheduleTask(in: .nanoseconds(delay.inNanoseconds)) { body() }))
        }
        let bound = NIOLoopBound(body, eventLoop: self)
        let loop = self
        return ClockTimer(.test(test, test.wake(at: test.now + delay) { loop.execute { bound.value() } }))
    }

    /// `body`'s result once `delay` has passed on `clock` (run on this loop; called on it). On
    /// the system clock it is the loop's own timer, whose future fails if the loop stops first.
    func scheduleFuture<T: Sendable>(after delay: Duration, clock: any Clock, _ body: @escaping () -> T) -> EventLoopFuture<T> {
        guard clock is TestClock else {
            return assumeIsolated().scheduleTask(in: .nanoseconds(delay.inNanoseconds)) { body() }.futureResult
        }
        let promise = makePromise(of: T.self)
        _ = scheduleTask(after: delay, clock: clock) { promise.succeed(body()) }
        return promise.futureResult
    }
}
