import Atomics
import Glibc
import NetTypes
import Testing
import Time

@testable import SwitchHAL

/// Witness reports except the ones the inversion test provokes on purpose.
func unexpectedWitnessReports() -> [WitnessReport] {
    Witness.shared.reports.filter { !$0.thread.hasPrefix("fault-") }
}

/// Collects strings from a sink.
final class Lines: @unchecked Sendable {
    private let lock = HALLock(name: "test.lines", rank: 99, purpose: "test")
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock("append") { lines.append(line) } }
    var all: [String] { lock.withLock("read") { lines } }
}

@Suite struct DiagnosticsTests {
    func makeSwitch() -> Switch {
        let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_cc00))
        hal.start()
        return hal
    }

    /// The witness is on in debug builds, and ordinary work (learning, flushes, port and VLAN
    /// changes, subscribers calling back) breaks no lock order.
    @Test func ordinaryWorkIsWitnessClean() throws {
        #expect(Witness.shared.isEnabled)
        let hal = makeSwitch()
        defer { hal.stop() }
        let subscription = hal.subscribe(name: "witness") { event in
            if case .learned(let entry) = event { _ = try? hal.l2Get(mac: entry.mac, vlan: entry.vlan, deadline: SystemClock.deadline(after: .seconds(1))) }
        }
        defer { subscription.cancel() }
        try hal.createVLAN(10, deadline: .distantFuture)
        var settings = PortSettings()
        settings.accessVLAN = 10
        for n in 0..<40 { _ = hal.inject(port: 1, frame(source: 0x0200_0000_e000 + UInt64(n))) }
        hal.drain()
        try hal.setPortSettings(1, settings, deadline: .distantFuture)
        try hal.setLink(2, up: false, deadline: .distantFuture)
        try hal.setSVI(10, addresses: [], deadline: .distantFuture)
        try hal.deleteVLAN(10, deadline: .distantFuture)
        try hal.setAgeTime(1, deadline: .distantFuture)
        _ = try hal.l2Flush(.all, deadline: .distantFuture)
        #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())")
    }

    /// An injected inversion is reported on its first occurrence, with both orders, threads and
    /// call sites, and nothing deadlocks.
    @Test func injectedInversionIsReportedWithBothSites() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        let seen = Lines()
        Witness.shared.setSink { seen.append($0.message) }
        defer { Witness.shared.setSink(nil) }
        let started = SystemClock.now
        hal.injectInversion()
        #expect(SystemClock.elapsed(since: started).inSeconds < 3.0, "the inversion did not deadlock")
        let reports = Witness.shared.reports.filter { $0.thread == "fault-inversion" }
        let reversal = try #require(reports.first { $0.kind == .orderReversal })
        #expect(reversal.message.contains("lock order reversal: l2.table (rank 20) then hal.ports (rank 10) by thread fault-inversion"))
        #expect(reversal.message.contains("established order hal.ports (rank 10) then l2.table (rank 20)"))
        #expect(reversal.message.contains("Switch.swift:"))
        #expect(reversal.otherThread != "fault-inversion")
        #expect(reports.contains { $0.kind == .rankViolation })
        #expect(seen.all.contains { $0.hasPrefix("lock order reversal") })
        // The switch still works.
        try hal.createVLAN(77, deadline: SystemClock.deadline(after: .seconds(1)))
    }

    /// The field bug, contained: l2x stalls holding the table lock; a delete-by-port with a
    /// deadline fails in time, naming the lock, the holder thread and its call site; after the
    /// stall everything works again.
    @Test func stalledL2XTimesCallsOutAndNamesIt() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        hal.faults.stall(.l2x, milliseconds: nil)
        let deadline = SystemClock.deadline(after: .seconds(5))
        while hal.lockSnapshots.first(where: { $0.name == "l2.table" })?.holder?.thread != "l2x" && SystemClock.now < deadline { usleep(2000) }
        let started = SystemClock.now
        do {
            try hal.l2Flush(L2Filter(port: 3), operation: "delete-by-port", deadline: SystemClock.deadline(after: .milliseconds(300)))
            Issue.record("expected a timeout")
        } catch let error as HALError {
            guard case .timeout(let info) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(info.lock == "l2.table")
            #expect(info.holderThread == "l2x")
            #expect(info.holderSite?.hasPrefix("L2Worker.swift:") == true)
            #expect(error.description.hasPrefix("HAL timeout: delete-by-port waited 0.3 s for lock l2.table held by thread l2x for"))
        }
        // The stall has no end: only the 0.3 s deadline can have ended the call.
        #expect(SystemClock.elapsed(since: started).inSeconds < 2.0)
        #expect(hal.threadStates.contains { $0.name == "l2x" && $0.activity == .stalled })
        hal.faults.clearStalls()
        try hal.l2Flush(L2Filter(port: 3), deadline: SystemClock.deadline(after: .seconds(1)))
    }

    @Test func watchdogNamesTheHolderOnceAndTheRelease() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        let alerts = Lines()
        let late = ManagedAtomic<Int>(0)
        hal.watchdog.threshold = 0.2
        hal.watchdog.setSink { alert in
            alerts.append(alert.message)
            if alert.kind == .heldTooLong { late.store(Int(alert.lateBy * 1000), ordering: .relaxed) }
        }
        hal.faults.stall(.l2x, milliseconds: 700)
        usleep(1_200_000)
        let messages = alerts.all
        let held = messages.filter { $0.hasPrefix("lock l2.table held by thread l2x") }
        #expect(held.count == 1, "\(messages)")
        #expect(held.first?.contains("at L2Worker.swift:") == true)
        #expect(messages.contains { $0.hasPrefix("lock l2.table released by thread l2x after 0.") })
        #expect(late.load(ordering: .relaxed) < 150, "reported \(late.load(ordering: .relaxed)) ms after the threshold")
    }

    @Test func traceRecordsCallsArgumentsResultsAndDurations() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        let lines = Lines()
        hal.trace.setSink { lines.append($0) }
        hal.trace.isEnabled = true
        try hal.l2Add(L2Entry(mac: MACAddress(0x0200_0000_0777), vlan: 1, port: 2, flags: .static), deadline: .distantFuture)
        _ = try? hal.deleteVLAN(55, deadline: .distantFuture)
        hal.trace.isEnabled = false
        _ = try hal.l2Get(mac: MACAddress(0x0200_0000_0777), vlan: 1, deadline: .distantFuture)
        let all = lines.all
        #expect(all.count == 2, "\(all)")
        #expect(all[0].contains("l2_addr_add(mac=02:00:00:00:07:77, vlan=1, port=2, flags=static) = 0 <0.0"))
        #expect(all[1].contains("vlan_destroy(vlan=55) = -7 NOT_FOUND (VLAN 55 does not exist) <"))
    }

    @Test func injectedFailuresRxExhaustionAndLinkDelay() throws {
        let hal = makeSwitch()
        defer { hal.stop() }
        hal.faults.fail("l2_addr_add", count: 2, with: .full("injected"))
        let entry = L2Entry(mac: MACAddress(0x0200_0000_0888), vlan: 1, port: 2, flags: .static)
        #expect(throws: HALError.full("injected")) { try hal.l2Add(entry, deadline: .distantFuture) }
        #expect(throws: HALError.full("injected")) { try hal.l2Add(entry, deadline: .distantFuture) }
        try hal.l2Add(entry, deadline: .distantFuture)

        hal.rx.exhausted.store(true, ordering: .relaxed)
        #expect(!hal.inject(port: 1, frame(source: 0x0200_0000_0999)))
        #expect(hal.rx.statistics.droppedNoBuffer == 1)
        hal.rx.exhausted.store(false, ordering: .relaxed)
        #expect(hal.inject(port: 1, frame(source: 0x0200_0000_0999)))

        hal.faults.setLinkDelay(milliseconds: 300)
        let started = SystemClock.now
        try hal.setLink(3, up: false, deadline: .distantFuture)
        #expect(SystemClock.elapsed(since: started).inSeconds >= 0.29)
        #expect(hal.faults.summary.contains("link changes delayed by 300 ms"))
        hal.faults.clearAll()
        #expect(hal.faults.summary.isEmpty)
    }
}
