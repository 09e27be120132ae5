import Channel
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import SwitchHAL
import Testing
import TestSupport
import Time

@testable import Daemon

/// The daemon's timers on a `TestClock`: what happens when is the test's to say, not the
/// machine's speed.
@Suite struct ClockDrivenTests {
    /// Waits (on the real clock, at most 5 s) for `condition`, read on `loop`.
    private func eventually(_ loop: EventLoop, _ condition: @escaping @Sendable () -> Bool) throws -> Bool {
        let deadline = SystemClock.deadline(after: .seconds(5))
        while SystemClock.now < deadline {
            if try loop.submit(condition).wait() { return true }
            usleep(1_000)
        }
        return false
    }

    /// Polls `condition` (read off the loops, on the real clock) for at most 5 s.
    private func polled(_ condition: () throws -> Bool) throws -> Bool {
        let deadline = SystemClock.deadline(after: .seconds(5))
        while SystemClock.now < deadline {
            if try condition() { return true }
            usleep(1_000)
        }
        return false
    }

    private func showVersion(_ client: ChannelClient) throws -> Status {
        let reply: EndOfReply = try client.request(FrameType.exec, "show version", timeout: 5) { _ in }
        return reply.status
    }

    /// A HAL that keeps refusing is retried after 1, 2, 4, 8, 16 and then every 16 s; once it
    /// accepts, the problem clears and the next failure starts again at 1 s.
    @Test func theReconcilersBackOffDoublesToItsLimitAndResets() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let hal = try HALService(chip: .small, baseMAC: MACAddress(0x0200_0000_0000), callTimeout: 2, logger: logger)
        defer { hal.shutdown() }
        let clock = TestClock()
        let refusing = NIOLockedValueBox(true)
        let calls = NIOLockedValueBox(0)
        let driver = HALDriver<Int, Int>(operation: "test-op", applyGroup: { _, _, _ in
            calls.withLockedValue { $0 += 1 }
            return refusing.withLockedValue { $0 } ? .refused(.internal("refused on purpose")) : .applied
        })
        let reconciler = try loop.submit {
            NIOLoopBound(HALReconciler<Int, Int>(driver: driver, hal: hal, loop: loop, clock: clock) { _ in 1 }, eventLoop: loop)
        }.wait()

        /// After call `n`: the retry waits `delay` on the test clock.
        func expectWaiting(after n: Int, _ delay: Duration) throws {
            #expect(try eventually(loop) { calls.withLockedValue { $0 } == n && clock.pendingWakeups == 1 }, "call \(n)")
            #expect(clock.nextWakeup.map { $0 - clock.now } == delay, "after call \(n)")
        }
        /// ... and not a nanosecond less.
        func expectRetry(after n: Int, in delay: Duration) throws {
            try expectWaiting(after: n, delay)
            clock.advance(by: delay - .nanoseconds(1))
            try loop.submit {}.wait()
            #expect(calls.withLockedValue { $0 } == n, "no retry before \(delay)")
            clock.advance(by: .nanoseconds(1))
        }

        try loop.submit { reconciler.value.changed(1) }.wait()
        var n = 1
        for seconds in [1, 2, 4, 8, 16, 16] {
            try expectRetry(after: n, in: .seconds(seconds))
            n += 1
        }
        // The call those retries made is refused too (and back-off stays at 16 s); only once it
        // has come back does the HAL accept.
        try expectWaiting(after: n, .seconds(16))
        #expect(try loop.submit { reconciler.value.problem?.contains("refused on purpose") == true }.wait())
        refusing.withLockedValue { $0 = false }
        clock.advance(by: .seconds(16))
        n += 1
        let total = n
        #expect(try eventually(loop) { calls.withLockedValue { $0 } == total && reconciler.value.problem == nil && reconciler.value.inSync })
        #expect(clock.pendingWakeups == 0)

        refusing.withLockedValue { $0 = true }
        try loop.submit { reconciler.value.changed(2) }.wait()
        try expectWaiting(after: n + 1, .seconds(1))
        try loop.submit { reconciler.value.stop {} }.wait()
    }

    /// `exec-timeout 0 10`: a session idle for 10 s on the plane's clock is closed and told why
    /// (checked every 2 s: not at 8 s); one that sent a command meanwhile stays open.
    @Test func anIdleSessionIsClosedAtItsExecTimeout() throws {
        let clock = TestClock()
        let h = try PlaneHarness(chip: .small, clock: clock)
        try h.configure(["enable", "configure terminal", "exec-timeout 0 10", "end"])
        // The plane's own timers (the NAT ager, armed on the NAT thread) wake on the same clock.
        try h.plane.eventLoop.submit { h.plane.value.nat!.loop }.wait().submit {}.wait()
        let own = clock.pendingWakeups
        let listener = try SocketListener(path: h.dir.file("vty"), logger: Logger(label: "test"))
        try listener.bind(group: h.group, plane: h.plane)
        defer { try? listener.channel?.close().wait() }
        let loop = h.plane.eventLoop
        let idle = try ChannelClient(path: h.dir.file("vty"))
        let busy = try ChannelClient(path: h.dir.file("vty"))
        // Both sessions' idle checks are armed (one wake-up each).
        #expect(try eventually(loop) { clock.pendingWakeups == own + 2 })

        func step() throws {
            clock.advance(by: .seconds(2))
            try loop.submit {}.wait()  // the checks that came due ran (and re-armed)
        }
        for _ in 0..<3 { try step() }  // 6 s
        #expect(try showVersion(busy) == .success)
        try step()  // 8 s: not yet
        #expect(try loop.submit { h.plane.value.sessions.count }.wait() == 3, "the harness's, the idle and the busy session")
        clock.advance(by: .seconds(2))  // 10 s
        do {
            let frame = try idle.receive(deadline: SystemClock.deadline(after: .seconds(5)))
            Issue.record("the idle session got \(frame) instead of being closed")
        } catch {
            #expect("\(error)".contains("session idle for 10 s: closed (exec-timeout 0 10)"), "\(error)")
        }
        #expect(try eventually(loop) { h.plane.value.sessions.count == 2 })
        #expect(try showVersion(busy) == .success, "a session in use stays open")
    }

    /// A wrong enable secret's reply waits out the identity's back-off (1 s after the first) on
    /// the plane's clock, not a nanosecond less; then it asks again.
    @Test func aWrongEnableSecretsReplyWaitsOnThePlanesClock() throws {
        let clock = TestClock()
        let h = try PlaneHarness(chip: .small, clock: clock)
        try h.configure(["enable", "configure terminal", "enable secret Sup3r-secret", "end", "disable"])
        try h.plane.eventLoop.submit { h.plane.value.nat!.loop }.wait().submit {}.wait()
        let own = clock.pendingWakeups
        let result = NIOLockedValueBox<ResultBox?>(nil)
        DispatchQueue.global().async {
            let answered = try? h.run("enable", answering: ["a guess"])
            result.withLockedValue { $0 = answered.map { ResultBox(status: $0.0, output: $0.1) } }
        }
        // The wrong answer was checked; its reply is held: one more wake-up.
        #expect(try polled { clock.pendingWakeups == own + 1 })
        clock.advance(by: .seconds(1) - .nanoseconds(1))
        try h.plane.eventLoop.submit {}.wait()
        #expect(clock.pendingWakeups == own + 1, "still held")
        #expect(result.withLockedValue { $0 } == nil)
        clock.advance(by: .nanoseconds(1))
        #expect(try polled { result.withLockedValue { $0 } != nil })
        let answered = result.withLockedValue { $0 }
        #expect(answered?.status == .inputRequired, "\(answered?.output ?? "")")
        #expect(answered?.output.contains("% Access denied") == true)
        #expect(h.mode == "view")
    }

    /// The NAT ager runs on the plane's clock: an idle UDP translation (udp-timeout 2) survives
    /// the pass at 1 s and goes at the pass at 2 s.
    @Test func idleNATTranslationsExpireOnThePlanesClock() throws {
        let clock = TestClock()
        let h = try PlaneHarness(chip: .small, clock: clock)
        try h.configure([
            "enable", "configure terminal", "vlan 10", "vlan 20", "interface eth1", "switchport access vlan 10",
            "interface eth2", "switchport access vlan 20", "interface vlan10", "ip address 10.0.0.1/24", "ip nat inside",
            "interface vlan20", "ip address 203.0.113.1/24", "ip nat outside", "exit", "access-list 1 permit 10.0.0.0 0.0.0.255",
            "ip nat pool PUBLIC 203.0.113.10 203.0.113.11 prefix-length 24", "ip nat inside source list 1 pool PUBLIC overload",
            "ip nat translation udp-timeout 2", "end",
        ])
        let flows = try h.run("test nat flow udp 10.0.0.7 5000 198.51.100.1 123 sessions 4")
        #expect(!flows.0.isFailure, "\(flows.1)")
        let nat = try h.plane.eventLoop.submit { h.plane.value.nat! }.wait()
        func dynamic() throws -> Int { try nat.snapshot().wait().engine.dynamicCount }
        #expect(try dynamic() == 4)
        // No pass before 1 s; the first one reads the hit bits (the figures appear) and keeps all.
        clock.advance(by: .seconds(1) - .nanoseconds(1))
        #expect(try nat.snapshot().wait().halFigures == nil)
        clock.advance(by: .nanoseconds(1))
        #expect(try polled { try nat.snapshot().wait().halFigures != nil })
        #expect(try dynamic() == 4, "idle 1 s of 2")
        clock.advance(by: .seconds(1))
        #expect(try polled { try dynamic() == 0 }, "idle 2 s: expired")
        #expect(try nat.snapshot().wait().engine.counters.expired == 4)
    }
}

/// `RepeatedLogLines` on a `TestClock`: a kind's burst per interval, then silence, then one line
/// saying how many were dropped.
@Suite struct RepeatedLogLinesClockTests {
    /// Keeps each line's message and its `suppressed` count.
    struct Capture: LogHandler {
        let lines: NIOLockedValueBox<[(String, String?)]>
        var logLevel = Logger.Level.trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.withLockedValue { $0.append(("\(event.message)", event.metadata?["suppressed"].map { "\($0)" })) }
        }
    }

    @Test func oneLinePerIntervalWithTheCountOfThoseDropped() {
        let clock = TestClock()
        let repeated = RepeatedLogLines(interval: .seconds(10), clock: clock)
        let lines = NIOLockedValueBox<[(String, String?)]>([])
        let logger = Logger(label: "test") { _ in Capture(lines: lines) }
        func log(_ n: Int) { for i in 0..<n { repeated.log(.secretHeldBack, logger, .warning, "held back \(i)") } }

        log(5)
        clock.advance(by: .seconds(10) - .nanoseconds(1))
        log(2)
        #expect(lines.withLockedValue { $0.map(\.0) } == ["held back 0"], "one line per interval")
        clock.advance(by: .nanoseconds(1))
        log(3)
        let seen = lines.withLockedValue { $0 }
        #expect(seen.map(\.0) == ["held back 0", "held back 0"])
        #expect(seen.map(\.1) == [nil, "6"], "the next interval's line counts the 4 + 2 dropped")
        // A kind with a burst of 20 lets 20 through per interval.
        let limiter = LogRateLimiter(burst: 20, interval: .seconds(10), clock: clock)
        #expect((0..<25).map { _ in limiter.admit() }.filter { $0 != nil }.count == 20)
        clock.advance(by: .seconds(10))
        #expect(limiter.admit() == 5)
    }
}
