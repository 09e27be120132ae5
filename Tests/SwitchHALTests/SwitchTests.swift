import Atomics
import Glibc
import NetTypes
import Testing
import Time

@testable import SwitchHAL

/// An Ethernet frame from `source` to `destination`, 802.1Q-tagged when `vlan` is given.
func frame(source: UInt64, destination: UInt64 = 0x0200_5eff_fffe, vlan: UInt16? = nil, length: Int = 64) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: length)
    for i in 0..<6 {
        bytes[i] = UInt8(truncatingIfNeeded: destination >> UInt64(40 - 8 * i))
        bytes[6 + i] = UInt8(truncatingIfNeeded: source >> UInt64(40 - 8 * i))
    }
    var offset = 12
    if let vlan {
        bytes[12] = 0x81
        bytes[13] = 0x00
        bytes[14] = UInt8(vlan >> 8)
        bytes[15] = UInt8(vlan & 0xff)
        offset = 16
    }
    bytes[offset] = 0x08
    return bytes
}

extension Switch {
    func inject(port: PortID, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { rx.receive(port: port, frame: $0) }
    }

    /// Waits until the l2x worker has taken everything off the RX queue.
    func drain(timeout: Double = 5) {
        let deadline = SystemClock.deadline(after: .seconds(timeout))
        while SystemClock.now < deadline {
            if rx.toL2.count == 0 && rx.pool.buffersInUse == 0 { return }
            usleep(1000)
        }
    }
}

/// Collects events delivered to a subscriber.
final class EventLog: @unchecked Sendable {
    private let lock = HALLock(name: "test.events", rank: 99, purpose: "test")
    private var events: [HALEvent] = []
    func append(_ event: HALEvent) { lock.withLock("append") { events.append(event) } }
    var all: [HALEvent] { lock.withLock("read") { events } }

    func wait(until predicate: ([HALEvent]) -> Bool, timeout: Double = 5) -> Bool {
        let deadline = SystemClock.deadline(after: .seconds(timeout))
        while SystemClock.now < deadline {
            if predicate(all) { return true }
            usleep(2000)
        }
        return false
    }
}

let soon = Instant.distantFuture  // tests without a competing holder may wait as long as needed

@Suite struct SwitchTests {
    func makeSwitch(_ chip: ChipProfile = .small) -> Switch {
        let hal = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_aa00))
        hal.start()
        return hal
    }

    @Test func learningFromTrafficAndMoves() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        let log = EventLog()
        let subscription = hal.subscribe(name: "test") { log.append($0) }
        defer { subscription.cancel() }
        #expect(hal.inject(port: 1, frame(source: 0x0200_0000_0001)))
        hal.drain()
        #expect(log.wait { $0.contains(.learned(L2Entry(mac: MACAddress(0x0200_0000_0001), vlan: 1, port: 1, flags: .hitSource))) })
        // The same station on port 2: one move event with the old and new port.
        #expect(hal.inject(port: 2, frame(source: 0x0200_0000_0001)))
        hal.drain()
        #expect(log.wait { events in
            events.contains { if case .moved(let entry, let from) = $0 { return entry.port == 2 && from == 1 } else { return false } }
        })
        let entry = try hal.l2Get(mac: MACAddress(0x0200_0000_0001), vlan: 1, deadline: soon)
        #expect(entry.port == 2)
        let ports = try hal.portStatus(deadline: soon)
        #expect(ports[0].counters.learned == 1)
        #expect(ports[1].counters.moves == 1)
    }

    @Test func staticEntriesDoNotMove() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        try hal.l2Add(L2Entry(mac: MACAddress(0x0200_0000_0009), vlan: 1, port: 3, flags: .static), deadline: soon)
        _ = hal.inject(port: 4, frame(source: 0x0200_0000_0009))
        hal.drain()
        #expect(try hal.l2Get(mac: MACAddress(0x0200_0000_0009), vlan: 1, deadline: soon).port == 3)
        #expect(try hal.l2Summary(deadline: soon).counters.staticMoveDenied == 1)
    }

    @Test func vlanClassificationAndMembershipFlush() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        try hal.createVLAN(10, deadline: soon)
        try hal.createVLAN(20, deadline: soon)
        var trunk = PortSettings()
        trunk.mode = .trunk
        trunk.allowedVLANs = VLANSet([10, 20])
        try hal.setPortSettings(5, trunk, deadline: soon)
        _ = hal.inject(port: 5, frame(source: 0x0200_0000_0a01, vlan: 10))
        _ = hal.inject(port: 5, frame(source: 0x0200_0000_0a02, vlan: 20))
        _ = hal.inject(port: 5, frame(source: 0x0200_0000_0a03, vlan: 30))  // not allowed
        _ = hal.inject(port: 5, frame(source: 0x0200_0000_0a04))  // native VLAN 1, not allowed
        hal.drain()
        #expect(try hal.l2Count(vlan: 10, deadline: soon).dynamic == 1)
        #expect(try hal.l2Count(vlan: 20, deadline: soon).dynamic == 1)
        #expect(try hal.portStatus(deadline: soon)[4].counters.droppedVLAN == 2)
        // Removing VLAN 20 from the trunk flushes (port 5, VLAN 20) only.
        trunk.allowedVLANs = VLANSet([10])
        try hal.setPortSettings(5, trunk, deadline: soon)
        #expect(try hal.l2Count(vlan: 20, deadline: soon).dynamic == 0)
        #expect(try hal.l2Count(vlan: 10, deadline: soon).dynamic == 1)
    }

    @Test func linkDownFlushesThePortsDynamicEntries() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        let log = EventLog()
        let subscription = hal.subscribe(name: "link") { log.append($0) }
        defer { subscription.cancel() }
        for n in 0..<5 { _ = hal.inject(port: 2, frame(source: 0x0200_0000_0b00 + UInt64(n))) }
        _ = hal.inject(port: 3, frame(source: 0x0200_0000_0c00))
        try hal.l2Add(L2Entry(mac: MACAddress(0x0200_0000_0d00), vlan: 1, port: 2, flags: .static), deadline: soon)
        hal.drain()
        try hal.setLink(2, up: false, deadline: soon)
        #expect(try hal.l2Traverse(L2Filter(port: 2, includeStatic: true), deadline: soon).map(\.isStatic) == [true])
        #expect(try hal.l2Count(deadline: soon).dynamic == 1)
        #expect(log.wait { $0.contains(.link(port: 2, up: false)) && $0.contains { if case .flushed(_, 5, .linkDown) = $0 { true } else { false } } })
        // Frames on a down port are dropped and not learned.
        _ = hal.inject(port: 2, frame(source: 0x0200_0000_0e00))
        hal.drain()
        #expect(try hal.portStatus(deadline: soon)[1].counters.droppedPortDown == 1)
    }

    @Test func learnLimits() throws {
        let hal = makeSwitch(.trident2)
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        try hal.setLearnLimit(.port(1), 3, deadline: soon)
        try hal.setLearnLimit(.vlan(1), 5, deadline: soon)
        for n in 0..<10 { _ = hal.inject(port: 1, frame(source: 0x0200_0000_1000 + UInt64(n))) }
        hal.drain()
        #expect(try hal.l2Count(deadline: soon).dynamic == 3)
        for n in 0..<10 { _ = hal.inject(port: 2, frame(source: 0x0200_0000_2000 + UInt64(n))) }
        hal.drain()
        #expect(try hal.l2Count(deadline: soon).dynamic == 5)  // the VLAN limit
        let summary = try hal.l2Summary(deadline: soon)
        #expect(summary.counters.learnLimitedPort == 7)
        #expect(summary.counters.learnLimitedVLAN == 8)
        try hal.setLearnLimit(.system, 5, deadline: soon)
        try hal.setLearnLimit(.vlan(1), nil, deadline: soon)
        _ = hal.inject(port: 3, frame(source: 0x0200_0000_3000))
        hal.drain()
        #expect(try hal.l2Summary(deadline: soon).counters.learnLimitedSystem == 1)
    }

    @Test func agingRemovesIdleEntriesWithinTwoAgeTimes() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        try hal.setAgeTime(1, deadline: soon)
        _ = hal.inject(port: 1, frame(source: 0x0200_0000_4001))
        hal.drain()
        #expect(try hal.l2Count(deadline: soon).dynamic == 1)
        let started = SystemClock.now
        while try hal.l2Count(deadline: soon).dynamic > 0 && SystemClock.elapsed(since: started).inSeconds < 3 { usleep(50_000) }
        let gone = SystemClock.elapsed(since: started).inSeconds
        #expect(try hal.l2Count(deadline: soon).dynamic == 0)
        #expect(gone <= 2.2)
        try hal.setAgeTime(0, deadline: soon)
        _ = hal.inject(port: 1, frame(source: 0x0200_0000_4002))
        hal.drain()
        usleep(1_500_000)
        #expect(try hal.l2Count(deadline: soon).dynamic == 1)  // aging off
    }

    /// A subscriber that calls back into the HAL from its handler must not deadlock: events are
    /// delivered with no HAL lock held.
    @Test func subscriberMayCallBackIntoTheHAL() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        let seen = ManagedAtomic<Int>(0)
        let subscription = hal.subscribe(name: "reentrant") { event in
            if case .learned(let entry) = event {
                // Calls that take l2.table and hal.ports from the delivery thread.
                _ = try? hal.l2Get(mac: entry.mac, vlan: entry.vlan, deadline: SystemClock.deadline(after: .seconds(1)))
                _ = try? hal.l2Flush(L2Filter(mac: entry.mac), deadline: SystemClock.deadline(after: .seconds(1)))
                _ = try? hal.portStatus(deadline: SystemClock.deadline(after: .seconds(1)))
                seen.wrappingIncrement(ordering: .relaxed)
            }
        }
        defer { subscription.cancel() }
        for n in 0..<50 { _ = hal.inject(port: 1, frame(source: 0x0200_0000_5000 + UInt64(n))) }
        let deadline = SystemClock.deadline(after: .seconds(5))
        while seen.load(ordering: .relaxed) < 50 && SystemClock.now < deadline { usleep(2000) }
        #expect(seen.load(ordering: .relaxed) == 50)
        #expect(try hal.l2Count(deadline: soon).dynamic == 0)
    }

    /// A subscriber that never returns from its handler loses events (counted); learning goes on.
    @Test func slowSubscriberCannotBlockLearning() throws {
        let hal = makeSwitch(.trident2)
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        let release = ManagedFlag()
        let subscription = hal.subscribe(name: "stuck", capacity: 100) { _ in
            while !release.isSet { usleep(1000) }
        }
        for n in 0..<2000 {
            while !hal.inject(port: 1, frame(source: 0x0200_0001_0000 + UInt64(n))) { usleep(100) }
        }
        hal.drain()
        #expect(try hal.l2Count(deadline: soon).dynamic == 2000)
        // The events are posted after the table is written: on a loaded machine the last ones
        // may still be on their way when the count above is read.
        let posted = SystemClock.deadline(after: .seconds(5))
        while subscription.statistics.overflowed < 1800 && SystemClock.now < posted { usleep(2000) }
        let stats = subscription.statistics
        #expect(stats.overflowed >= 1800)
        #expect(stats.queued <= 100)
        release.set()
        subscription.cancel()
    }

    @Test func apiErrors() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        #expect(throws: HALError.self) { try hal.l2Get(mac: MACAddress(1), vlan: 1, deadline: soon) }
        #expect(throws: HALError.self) { try hal.l2Delete(mac: MACAddress(1), vlan: 1, deadline: soon) }
        #expect(throws: HALError.self) { try hal.l2Add(L2Entry(mac: MACAddress(1), vlan: 1, port: 99), deadline: soon) }
        #expect(throws: HALError.self) { try hal.createVLAN(1, deadline: soon) }
        #expect(throws: HALError.self) { try hal.deleteVLAN(1, deadline: soon) }
        do {
            try hal.deleteVLAN(77, deadline: soon)
        } catch let error as HALError {
            #expect(error.code == -7)
            #expect(error.description == "HAL error NOT_FOUND (-7): VLAN 77 does not exist")
        }
    }

    @Test func addFullNamesTheBuckets() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        let macs = collidingKeys(in: hal.state.table, count: 9, vlan: 1)
        for mac in macs.prefix(8) { try hal.l2Add(L2Entry(mac: mac, vlan: 1, port: 1), deadline: soon) }
        do {
            try hal.l2Add(L2Entry(mac: macs[8], vlan: 1, port: 1), deadline: soon)
            Issue.record("expected FULL")
        } catch let error as HALError {
            #expect(error.code == -6)
            #expect(error.message.contains("bank 0 bucket"))
            #expect(error.message.contains("bank 1 bucket"))
            #expect(error.message.contains("120 entries free elsewhere"))
        }
        let result = try hal.l2Add(L2Entry(mac: macs[8], vlan: 1, port: 1), replaceDynamic: true, deadline: soon)
        guard case .evicted = result else {
            Issue.record("expected an eviction")
            return
        }
    }

    @Test func routerMACFollowsSVIAndVLAN() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        try hal.setSVI(10, addresses: [], deadline: soon)
        #expect(throws: HALError.self) { try hal.l2Get(mac: hal.routerMAC, vlan: 10, deadline: soon) }  // no VLAN yet
        try hal.createVLAN(10, deadline: soon)
        let entry = try hal.l2Get(mac: hal.routerMAC, vlan: 10, deadline: soon)
        #expect(entry.flags.contains(.l3) && entry.port == cpuPort)
        try hal.deleteSVI(10, deadline: soon)
        #expect(throws: HALError.self) { try hal.l2Get(mac: hal.routerMAC, vlan: 10, deadline: soon) }
    }

    @Test func framesForTheCPUReachThePacketHandler() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        let got = ManagedAtomic<Int>(0)
        hal.setPacketHandler { port, _, bytes in
            if port == 3 && bytes.count == 64 { got.wrappingIncrement(ordering: .relaxed) }
        }
        _ = hal.inject(port: 3, frame(source: 0x0200_0000_7001, destination: 0xffff_ffff_ffff))
        _ = hal.inject(port: 3, frame(source: 0x0200_0000_7001, destination: 0x0100_5e00_0012))
        _ = hal.inject(port: 3, frame(source: 0x0200_0000_7001, destination: 0x0200_0000_9999))
        let deadline = SystemClock.deadline(after: .seconds(2))
        while got.load(ordering: .relaxed) < 2 && SystemClock.now < deadline { usleep(1000) }
        hal.drain()
        #expect(got.load(ordering: .relaxed) == 2)
        #expect(hal.rx.pool.buffersInUse == 0)
    }
}

/// The RX path under pressure: the pool runs dry again and again; nothing leaks, nothing blocks.
@Suite struct RxSoakTests {
    /// Takers and givers at once on a pool that is nearly all free (as under TCP traffic): a
    /// give must never find the free list "full" because a take is half done (the free list
    /// had room for each buffer exactly once, and `give` trapped: the crash of the traffic
    /// soak). A trap ends the test process; the counts prove the buffers all came back.
    @Test func takingAndGivingAtOnceNeverOverflowsTheFreeList() throws {
        let pool = PacketPool(count: 8, size: 64, jumboCount: 2)
        let rounds = 400_000
        let threads = (0..<4).map { n in
            HALThread.spawn(name: "pool-\(n)") { _ in
                for round in 0..<rounds {
                    guard let buffer = pool.take(length: round % 97 == 0 ? 1000 : 60) else { continue }
                    pool.give(buffer)
                }
            }
        }
        for thread in threads { thread.join() }
        #expect(pool.buffersInUse == 0)
        var taken: [UInt32] = []
        while let buffer = pool.take() { taken.append(buffer) }
        #expect(Set(taken).count == 8, "every small buffer back, once")
        for buffer in taken { pool.give(buffer) }
    }

    @Test func tenMillionFramesThroughAnExhaustedPool() throws {
        let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_bb00))
        hal.start()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        let frames = 10_000_000
        var bytes = frame(source: 0x0200_0000_0001)
        var accepted = 0
        bytes.withUnsafeMutableBytes { raw in
            for n in 0..<frames {
                // 16 stations, so the small table never fills.
                raw[11] = UInt8(truncatingIfNeeded: n & 15)
                if hal.rx.receive(port: 1, frame: UnsafeRawBufferPointer(raw)) { accepted += 1 }
            }
        }
        hal.drain(timeout: 30)
        let stats = hal.rx.statistics
        #expect(stats.offered == UInt64(frames))
        #expect(stats.accepted == UInt64(accepted))
        #expect(stats.droppedNoBuffer == UInt64(frames - accepted))
        #expect(stats.droppedNoBuffer > 0, "the pool was never exhausted; the test proves nothing")
        #expect(stats.inUse == 0)
        #expect(stats.highWater == hal.chip.rxPoolBuffers)
        #expect(hal.rx.toL2.count == 0)
        // Every buffer is back on the free list: the pool can hand out all of them again.
        var taken: [UInt32] = []
        while let buffer = hal.rx.pool.take() { taken.append(buffer) }
        #expect(taken.count == hal.chip.rxPoolBuffers)
        for buffer in taken { hal.rx.pool.give(buffer) }
        // (Memory staying flat is checked on a process of its own: HALProcessTests.)
        let ports = try hal.portStatus(deadline: soon)
        #expect(ports[0].counters.frames == UInt64(accepted))
    }
}
