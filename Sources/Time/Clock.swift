import Glibc

/// Where a service reads the time: the one source of time, passed in at construction so that a
/// test can drive the service on a `TestClock` (TigerBeetle's `time.zig` is the model).
///
/// Named after what it is; the standard library's `Clock` (for `Task.sleep`) is not used in
/// this project, and this one shadows it in every module that imports `Time`.
public protocol Clock: Sendable {
    /// The monotonic time: for deadlines, timers and how long something took.
    var now: Instant { get }
    /// The calendar time: only for times printed to a person (log lines, `show clock`).
    var wallNow: WallTime { get }
}

extension Clock {
    /// `now` plus `duration`: a deadline.
    @inline(__always)
    public func deadline(after duration: Duration) -> Instant { now + duration }

    /// How long since `start` (never negative).
    @inline(__always)
    public func elapsed(since start: Instant) -> Duration { now.duration(since: start) }
}

/// The machine's clocks: `CLOCK_MONOTONIC` for `now`, `CLOCK_REALTIME` for `wallNow`.
///
/// The HAL reads it directly (`SystemClock.now`): its waits are the operating system's
/// (`pthread_cond_timedwait` on `CLOCK_MONOTONIC`, semaphores), so its deadlines can only be on
/// this clock. A stored `SystemClock` costs nothing (no state; its reads inline).
public struct SystemClock: Clock {
    public init() {}

    @inline(__always)
    public var now: Instant { Self.now }

    public var wallNow: WallTime { Self.wallNow }

    @inline(__always)
    public static var now: Instant {
        var ts = Glibc.timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    public static var wallNow: WallTime {
        var ts = Glibc.timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallTime(secondsSinceEpoch: ts.tv_sec, nanoseconds: Int(ts.tv_nsec))
    }

    /// `now` plus `duration`, on the system clock.
    @inline(__always)
    public static func deadline(after duration: Duration) -> Instant { now + duration }
}

extension SystemClock {
    /// How long since `start` on the system clock (never negative).
    @inline(__always)
    public static func elapsed(since start: Instant) -> Duration { now.duration(since: start) }
}
