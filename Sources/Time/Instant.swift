import Glibc

/// A point on a monotonic clock, in nanoseconds since the clock's origin (boot, for
/// `SystemClock`; zero, for a `TestClock` unless told otherwise). Only instants of the same
/// clock compare; the difference of two is a `Duration`.
///
/// `Swift.Duration` is the one duration type: its constructors name their unit
/// (`.milliseconds(1)`, `.seconds(2)`), which the raw `UInt64`s of nanoseconds, microseconds and
/// milliseconds it replaced did not. Its cost: an instant plus a duration converts the duration
/// to nanoseconds (a 128-bit division by a constant, about 10 ns; a clock read is about 25 ns),
/// which a HAL call or a batch of frames pays once and no packet pays; a loop over every entry of
/// a table (NAT ageing) adds whole seconds with `adding(seconds:)` instead.
///
/// ```swift
/// let deadline = clock.now + .seconds(2)
/// if clock.now >= deadline { ... }
/// let waited = (clock.now - started).inSeconds
/// ```
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's origin.
    public var nanoseconds: UInt64

    @inline(__always)
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The clock's origin.
    public static let zero = Instant(nanoseconds: 0)
    /// Later than any instant a clock will read: a wait until it has no deadline.
    public static let distantFuture = Instant(nanoseconds: .max)

    @inline(__always)
    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Saturates at `zero` and `distantFuture`: a deadline "never" plus a margin stays never.
    @inline(__always)
    public static func + (instant: Instant, duration: Duration) -> Instant {
        let delta = duration.inNanoseconds
        if delta >= 0 {
            let (sum, overflow) = instant.nanoseconds.addingReportingOverflow(UInt64(delta))
            return Instant(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = delta.magnitude
        return Instant(nanoseconds: instant.nanoseconds > magnitude ? instant.nanoseconds - magnitude : 0)
    }

    @inline(__always)
    public static func - (instant: Instant, duration: Duration) -> Instant { instant + (Duration.zero - duration) }

    @inline(__always)
    public static func += (instant: inout Instant, duration: Duration) { instant = instant + duration }

    /// `self` plus whole seconds, saturating: what `+ .seconds(n)` gives, without building a
    /// `Duration` (a loop over every NAT translation asks it once each).
    @inline(__always)
    public func adding(seconds: Int) -> Instant {
        // Up to 2^32 s (136 years) the product fits in 63 bits; an addition that wraps saturates.
        guard seconds >= 0, seconds < 1 << 32 else { return self + .seconds(seconds) }
        let sum = nanoseconds &+ UInt64(seconds) &* 1_000_000_000
        return Instant(nanoseconds: sum >= nanoseconds ? sum : .max)
    }

    /// How long from `b` to `a` (negative if `a` is earlier).
    @inline(__always)
    public static func - (a: Instant, b: Instant) -> Duration {
        a >= b ? .nanoseconds(Int64(clamping: a.nanoseconds - b.nanoseconds))
            : .zero - .nanoseconds(Int64(clamping: b.nanoseconds - a.nanoseconds))
    }

    /// How long since `earlier`, never negative (an `earlier` read on another thread a moment
    /// after this instant counts as no time).
    @inline(__always)
    public func duration(since earlier: Instant) -> Duration {
        self > earlier ? .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds)) : .zero
    }

    /// This instant as a `timespec` of the clock it was read from (for a `pthread` or `sem`
    /// timed wait on that clock).
    public var timespec: Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    public var description: String { "\(Duration.nanoseconds(Int64(clamping: nanoseconds)).inSeconds) s" }
}

extension Duration {
    /// The duration in nanoseconds, clamped to what an `Int64` holds (about 292 years).
    @inline(__always)
    public var inNanoseconds: Int64 {
        // One 128-bit division by a constant: `components` would divide by 10^18 first, several
        // times slower, and this runs once per translation in a NAT ageing pass.
        Int64(clamping: attoseconds / 1_000_000_000)
    }

    /// The duration in seconds, for printing and for comparing with a limit given in seconds.
    @inline(__always)
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole microseconds (rounded towards zero): VRRP's unit on the wire and
    /// in the RFC's formulas.
    @inline(__always)
    public var inMicroseconds: Int64 { inNanoseconds / 1_000 }

    /// The duration in whole milliseconds (rounded towards zero).
    @inline(__always)
    public var inMilliseconds: Int64 { inNanoseconds / 1_000_000 }
}

extension Duration {
    /// `n` times a duration, written as the formulas of the RFCs write it (`3 * interval`).
    @inline(__always)
    public static func * (count: Int, duration: Duration) -> Duration { duration * count }
}
