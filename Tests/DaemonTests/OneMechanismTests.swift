import NIOCore
import NIOEmbedded
import NetTypes
import SwitchHAL
import Testing
import Time

@testable import Daemon

/// The mechanisms the control plane has once each: a future raced against a deadline, and the
/// L3 host table's changes as a `HALReconciler` carries them.
@Suite struct OneMechanismTests {
    // MARK: FutureDeadline

    /// The result, when it comes first, is delivered once and the deadline never fires.
    @Test func aResultBeforeTheDeadlineIsDeliveredOnce() {
        let loop = EmbeddedEventLoop()
        let promise = loop.makePromise(of: Int.self)
        var results: [Int] = []
        var timeouts = 0
        let race = promise.futureResult.race(deadline: .seconds(5), on: loop, clock: SystemClock(), onTimeout: { timeouts += 1 }) {
            results.append((try? $0.get()) ?? -1)
        }
        loop.advanceTime(by: .seconds(4))
        promise.succeed(7)
        loop.advanceTime(by: .seconds(10))
        #expect(results == [7])
        #expect(timeouts == 0)
        #expect(race.isSettled)
    }

    /// The deadline, when it comes first, is heard once and the late result is dropped.
    @Test func aLateResultIsDropped() {
        let loop = EmbeddedEventLoop()
        let promise = loop.makePromise(of: Int.self)
        var results: [Int] = []
        var timeouts = 0
        promise.futureResult.race(deadline: .seconds(5), on: loop, clock: SystemClock(), onTimeout: { timeouts += 1 }) {
            results.append((try? $0.get()) ?? -1)
        }
        loop.advanceTime(by: .seconds(5))
        #expect(timeouts == 1)
        promise.succeed(7)
        loop.run()
        #expect(results.isEmpty)
        #expect(timeouts == 1)
    }

    /// A future already complete is delivered at once; a cancelled race delivers nothing.
    @Test func completedAndCancelledRaces() {
        let loop = EmbeddedEventLoop()
        var heard = 0
        loop.makeSucceededFuture(1).race(deadline: .seconds(5), on: loop, clock: SystemClock(), onTimeout: { heard += 100 }) { _ in heard += 1 }
        #expect(heard == 1)
        let promise = loop.makePromise(of: Int.self)
        let race = promise.futureResult.race(deadline: .seconds(5), on: loop, clock: SystemClock(), onTimeout: { heard += 100 }) { _ in heard += 10 }
        race.cancel()
        promise.succeed(2)
        loop.advanceTime(by: .seconds(10))
        #expect(heard == 1)
    }

    /// On a test clock the deadline is the test's time, not the loop's: it fires when the test
    /// moves the clock past it, and only then.
    @Test func theDeadlineRunsOnTheGivenClock() {
        let loop = EmbeddedEventLoop()
        let clock = TestClock()
        let promise = loop.makePromise(of: Int.self)
        var timeouts = 0
        var results = 0
        promise.futureResult.race(deadline: .seconds(5), on: loop, clock: clock, onTimeout: { timeouts += 1 }) { _ in results += 1 }
        loop.advanceTime(by: .seconds(60))
        #expect(timeouts == 0)
        clock.advance(by: .seconds(4))
        loop.run()
        #expect(timeouts == 0)
        clock.advance(by: .seconds(1))
        loop.run()
        #expect(timeouts == 1)
        promise.succeed(1)
        loop.run()
        #expect(results == 0)
    }

    // MARK: The L3 host table's driver

    typealias Change = HALChange<L3Service.HostObject, L3Service.HostState>

    let a = IPv4Address(10, 0, 1, 5)
    let b = IPv4Address(10, 0, 1, 6)
    let mac = MACAddress(0x0200_0000_0a0a)

    /// Zones, deletions and additions go in one call; each change hears how its step went.
    @Test func hostChangesApplyInOneCall() throws {
        let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_dd00))
        let deadline = SystemClock.deadline(after: .seconds(2))
        var results = L3Service.applyHostChanges(hal, deadline, [
            Change(object: .host(a), target: .route(vlan: 10, mac: mac)),
            Change(object: .host(b), target: .route(vlan: 10, mac: mac)),
            Change(object: .natZone(10), target: .natZone(.inside)),
        ])
        #expect(results.allSatisfy { $0.error == nil })
        #expect(Set(try hal.l3Hosts(deadline: deadline).map(\.destination)) == [a, b])
        results = L3Service.applyHostChanges(hal, deadline, [Change(object: .host(a), target: nil), Change(object: .natZone(10), target: nil)])
        #expect(results.allSatisfy { $0.error == nil })
        #expect(try hal.l3Hosts(deadline: deadline).map(\.destination) == [b])
    }

    /// The zones go first: when they are refused, no entry is touched (a NAT VLAN's packet is
    /// never routed untranslated), and the entries' changes are skipped, not failed.
    @Test func refusedZonesSkipTheEntries() throws {
        let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_de00))
        let deadline = SystemClock.deadline(after: .seconds(2))
        let results = L3Service.applyHostChanges(hal, deadline, [
            Change(object: .host(a), target: .route(vlan: 10, mac: mac)),
            Change(object: .natZone(5000), target: .natZone(.outside)),
            Change(object: .host(b), target: nil),
        ])
        guard case .refused = results[1], case .skipped = results[0], case .skipped = results[2] else {
            Issue.record("\(results)")
            return
        }
        #expect(try hal.l3Hosts(deadline: deadline).isEmpty)
    }
}
