import Synchronization

/// A clock that moves only when told: a test constructs a service with it and advances it, so
/// timers (back-off, exec-timeout, VRRP, NAT ageing) fire when the test says, not when the
/// machine is slow or fast.
///
/// Wake-ups registered with `wake(at:_:)` run, in order of their instants, on the thread that
/// calls `advance`; a service's timer that must run on its loop hops there itself (the daemon's
/// `EventLoop.schedule(after:clock:_:)` does).
///
/// ```swift
/// let clock = TestClock()
/// let service = Service(clock: clock)
/// clock.advance(by: .seconds(1))
/// ```
public final class TestClock: Clock {
    private struct State {
        var now: Instant
        var wall: WallTime
        var wakeups: [Wakeup] = []
        var nextID = 0
    }

    private struct Wakeup {
        var at: Instant
        var id: Int
        var body: @Sendable () -> Void
    }

    /// A wake-up that may still be called off.
    public struct Token: Hashable, Sendable {
        fileprivate var id: Int
    }

    private let state: Mutex<State>

    /// `now` starts at `start`, the wall clock at `wall` (2026-01-01T00:00:00Z by default); both
    /// move together.
    public init(start: Instant = Instant(nanoseconds: 1_000_000_000), wall: WallTime = WallTime(secondsSinceEpoch: 1_767_225_600)) {
        state = Mutex(State(now: start, wall: wall))
    }

    public var now: Instant { state.withLock { $0.now } }

    public var wallNow: WallTime { state.withLock { $0.wall } }

    /// Wake-ups not yet due.
    public var pendingWakeups: Int { state.withLock { $0.wakeups.count } }

    /// The earliest wake-up's instant, if any.
    public var nextWakeup: Instant? { state.withLock { $0.wakeups.map(\.at).min() } }

    /// Runs `body` once the clock reaches `instant` (on the next `advance` if it already has).
    @discardableResult
    public func wake(at instant: Instant, _ body: @escaping @Sendable () -> Void) -> Token {
        state.withLock { s in
            s.nextID += 1
            s.wakeups.append(Wakeup(at: instant, id: s.nextID, body: body))
            return Token(id: s.nextID)
        }
    }

    /// Calls off a wake-up (nothing if it ran already).
    public func cancel(_ token: Token) {
        state.withLock { s in s.wakeups.removeAll { $0.id == token.id } }
    }

    /// Moves the clock forward by `duration`, running each wake-up due on the way with the clock
    /// at its instant (a wake-up that registers another within the span sees it run too).
    public func advance(by duration: Duration) {
        let target = now + duration
        while let next = takeNext(upTo: target) { next() }
        state.withLock { s in
            if s.now < target {
                s.wall = s.wall + (target - s.now)
                s.now = target
            }
        }
    }

    /// Moves the clock to `instant` (if later).
    public func advance(to instant: Instant) {
        let current = now
        if instant > current { advance(by: instant - current) }
    }

    private func takeNext(upTo target: Instant) -> (@Sendable () -> Void)? {
        state.withLock { s in
            guard let index = s.wakeups.indices.min(by: { (s.wakeups[$0].at, s.wakeups[$0].id) < (s.wakeups[$1].at, s.wakeups[$1].id) }),
                s.wakeups[index].at <= target
            else { return nil }
            let wakeup = s.wakeups.remove(at: index)
            if wakeup.at > s.now {
                s.wall = s.wall + (wakeup.at - s.now)
                s.now = wakeup.at
            }
            return wakeup.body
        }
    }
}
