import Testing
import Time

@Suite struct InstantTests {
    @Test func arithmeticIsInNanosecondsAndSaturates() {
        let t = Instant(nanoseconds: 5_000)
        #expect((t + .microseconds(3)).nanoseconds == 8_000)
        #expect((t - .microseconds(3)).nanoseconds == 2_000)
        #expect((t - .seconds(1)) == .zero, "an instant does not go below the origin")
        #expect((Instant.distantFuture + .seconds(1)) == .distantFuture, "never plus a margin is never")
        #expect(Instant(nanoseconds: 8_000) - t == .microseconds(3))
        #expect(t - Instant(nanoseconds: 8_000) == .microseconds(-3))
        #expect(t.duration(since: Instant(nanoseconds: 8_000)) == .zero)
        #expect(t.adding(seconds: 2) == t + .seconds(2) && t.adding(seconds: -1) == .zero)
        #expect(Instant.distantFuture.adding(seconds: 1) == .distantFuture)
    }

    @Test func durationsConvertToEveryUnit() {
        #expect(Duration.milliseconds(1_500).inSeconds == 1.5)
        #expect(Duration.seconds(2).inNanoseconds == 2_000_000_000)
        #expect(Duration.nanoseconds(1_999).inMicroseconds == 1)
        #expect(Duration.seconds(0.25).inMilliseconds == 250)
        #expect(Duration.seconds(Int64.max).inNanoseconds == .max)
    }

    @Test func theSystemClockMovesForward() {
        let clock = SystemClock()
        let a = clock.now
        let b = clock.now
        #expect(b >= a)
        #expect(clock.wallNow.secondsSinceEpoch > 1_700_000_000)
    }

    @Test func wallTimesPrintInUTC() {
        #expect(WallTime(secondsSinceEpoch: 0, nanoseconds: 7_000_000).iso8601 == "1970-01-01T00:00:00.007Z")
        #expect((WallTime(secondsSinceEpoch: 10, nanoseconds: 900_000_000) + .milliseconds(200)) == WallTime(secondsSinceEpoch: 11, nanoseconds: 100_000_000))
    }
}

@Suite struct TestClockTests {
    @Test func wakeupsRunInOrderWithTheClockAtTheirInstant() {
        let clock = TestClock(start: .zero)
        let seen = Seen()
        clock.wake(at: Instant(nanoseconds: 2_000)) { seen.add("b@\(clock.now.nanoseconds)") }
        clock.wake(at: Instant(nanoseconds: 1_000)) {
            seen.add("a@\(clock.now.nanoseconds)")
            clock.wake(at: Instant(nanoseconds: 1_500)) { seen.add("a2@\(clock.now.nanoseconds)") }
        }
        let cancelled = clock.wake(at: Instant(nanoseconds: 1_200)) { seen.add("never") }
        clock.cancel(cancelled)
        clock.advance(by: .nanoseconds(1_999))
        #expect(seen.all == ["a@1000", "a2@1500"])
        #expect(clock.now == Instant(nanoseconds: 1_999))
        clock.advance(by: .nanoseconds(1))
        #expect(seen.all == ["a@1000", "a2@1500", "b@2000"])
        #expect(clock.pendingWakeups == 0)
    }

    @Test func theWallClockMovesWithIt() {
        let clock = TestClock()
        let before = clock.wallNow
        clock.advance(by: .milliseconds(1_500))
        #expect(clock.wallNow == before + .milliseconds(1_500))
    }
}

private final class Seen: @unchecked Sendable {
    private(set) var all: [String] = []
    func add(_ s: String) { all.append(s) }
}
