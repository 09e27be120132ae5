import Glibc

/// A calendar time (UTC), for printing only: it can jump (NTP, an operator), so nothing waits on
/// it or measures with it; that is `Instant`'s job.
public struct WallTime: Comparable, Hashable, Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSinceEpoch: Int
    /// Nanoseconds into that second (0..<1_000_000_000).
    public var nanoseconds: Int

    public init(secondsSinceEpoch: Int, nanoseconds: Int = 0) {
        self.secondsSinceEpoch = secondsSinceEpoch
        self.nanoseconds = nanoseconds
    }

    public static func < (a: WallTime, b: WallTime) -> Bool {
        (a.secondsSinceEpoch, a.nanoseconds) < (b.secondsSinceEpoch, b.nanoseconds)
    }

    public static func + (time: WallTime, duration: Duration) -> WallTime {
        let total = Int64(time.nanoseconds) + duration.inNanoseconds % 1_000_000_000
        var seconds = time.secondsSinceEpoch + Int(duration.inNanoseconds / 1_000_000_000)
        var nanos = total
        if nanos >= 1_000_000_000 { seconds += 1; nanos -= 1_000_000_000 }
        if nanos < 0 { seconds -= 1; nanos += 1_000_000_000 }
        return WallTime(secondsSinceEpoch: seconds, nanoseconds: Int(nanos))
    }

    /// Milliseconds into the second.
    public var milliseconds: Int { nanoseconds / 1_000_000 }

    /// The broken-down UTC time (`gmtime_r`).
    public var utc: tm {
        var seconds = secondsSinceEpoch
        var broken = tm()
        gmtime_r(&seconds, &broken)
        return broken
    }

    /// `2026-12-07T20:59:17.123Z`: log lines' timestamps.
    public var iso8601: String {
        let t = utc
        func pad(_ n: Int32, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(t.tm_year + 1900)-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T\(pad(t.tm_hour, 2)):"
            + "\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }
}

extension WallTime {
    /// This time as a `CLOCK_REALTIME` `timespec` (for a timed wait that only takes that clock).
    public var timespec: Glibc.timespec { Glibc.timespec(tv_sec: secondsSinceEpoch, tv_nsec: nanoseconds) }
}

extension WallTime {
    /// Seconds since the epoch with their fraction (for ages printed to a person).
    public var epochSeconds: Double { Double(secondsSinceEpoch) + Double(nanoseconds) / 1e9 }
}
