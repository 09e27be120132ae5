import Glibc

/// The monotonic clock, in nanoseconds. Every HAL time (deadlines, hold times, aging) uses it.
public enum HALClock {
    @inline(__always)
    public static var now: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    public static func deadline(after seconds: Double) -> UInt64 {
        now &+ UInt64(max(0, seconds) * 1e9)
    }

    public static func seconds(since start: UInt64) -> Double {
        Double(now &- start) / 1e9
    }
}
