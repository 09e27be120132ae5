import NetTypes
import Testing

@testable import SwitchHAL

/// Keys of the small chip's table that all hash to the same bucket in every bank.
func collidingKeys(in table: L2Table, count: Int, vlan: UInt16 = 10) -> [MACAddress] {
    var groups: [[Int]: [MACAddress]] = [:]
    var candidate: UInt64 = 0x0200_0000_0000
    while true {
        candidate += 1
        let mac = MACAddress(candidate)
        let key = L2Key(mac: mac, vlan: vlan).raw
        let buckets = (0..<table.banks).map { table.bucket(of: key, bank: $0) }
        groups[buckets, default: []].append(mac)
        if groups[buckets]!.count == count { return groups[buckets]! }
    }
}

@Suite struct L2TableTests {
    @Test func geometryOfTheProfiles() {
        #expect(ChipProfile.trident2.l2Capacity == 294_912)  // 288K
        #expect(ChipProfile.small.l2Capacity == 128)
        let table = L2Table(chip: .trident2)
        #expect(table.bytesPerEntry <= 64)
    }

    /// Each bank must hash independently: keys that share a bucket in one bank should share one
    /// in another bank no more often than chance (1 in 8192 for trident2). A linear hash (CRC
    /// with different seeds only) fails this completely and fills only half the table.
    @Test func banksHashIndependently() {
        let table = L2Table(chip: .trident2)
        var byBank0: [Int: [UInt64]] = [:]
        for n in 0..<50_000 {
            let key = L2Key(mac: MACAddress(0x0200_0000_0000 + UInt64(n)), vlan: 10).raw
            byBank0[table.bucket(of: key, bank: 0), default: []].append(key)
        }
        var pairs = 0
        var alsoBank1 = 0
        for keys in byBank0.values where keys.count > 1 {
            for i in 0..<keys.count {
                for j in (i + 1)..<keys.count {
                    pairs += 1
                    if table.bucket(of: keys[i], bank: 1) == table.bucket(of: keys[j], bank: 1) { alsoBank1 += 1 }
                }
            }
        }
        #expect(pairs > 10_000)
        #expect(alsoBank1 < 20, "\(alsoBank1) of \(pairs) bank-0 collisions also collide in bank 1")
    }

    @Test func fillsPastNinetyPercentBeforeTheFirstFull() {
        let table = L2Table(chip: .trident2)
        var mac: UInt64 = 0x0200_0000_0000
        while true {
            mac &+= 0x9E37_79B9
            let entry = L2Entry(mac: MACAddress(mac & 0xfeff_ffff_ffff), vlan: 10, port: 1)
            if table.find(entry.key.raw) != nil { continue }
            if case .full = table.insert(entry) { break }
        }
        #expect(Double(table.count) / Double(table.capacity) > 0.9, "first FULL at \(table.count) of \(table.capacity)")
    }

    @Test func fullBucketsRefuseEvenWithRoomElsewhere() throws {
        let table = L2Table(chip: .small)
        let perKey = table.banks * table.entriesPerBucket  // 8 slots a key can use
        let macs = collidingKeys(in: table, count: perKey + 1)
        for mac in macs.prefix(perKey) {
            guard case .inserted = table.insert(L2Entry(mac: mac, vlan: 10, port: 1)) else {
                Issue.record("insert failed early")
                return
            }
        }
        let result = table.insert(L2Entry(mac: macs[perKey], vlan: 10, port: 1))
        guard case .full(let buckets) = result else {
            Issue.record("expected FULL, got \(result)")
            return
        }
        #expect(buckets.count == table.banks)
        #expect(table.count == perKey)
        #expect(table.capacity - table.count == 120)  // room elsewhere
        #expect(table.fullRefusals == 1)
    }

    /// Static entries that fit in one order fit in any other: an insert that finds its buckets
    /// full moves entries to their other buckets first, so a saved configuration's static MACs
    /// (sorted) load back whatever order they were configured in.
    @Test func staticEntriesFitInAnyOrder() {
        var rng = SystemRandomNumberGenerator()
        let candidates = (0..<200).map { n in L2Entry(mac: MACAddress(0x0200_0000_0000 + UInt64(n) * 0x1_0001), vlan: 10, port: 1, flags: .static) }
            .shuffled(using: &rng)
        let first = L2Table(chip: .small)
        let accepted = candidates.filter { entry in
            if case .inserted = first.insert(entry) { return true }
            return false
        }
        #expect(accepted.count >= first.capacity * 9 / 10, "\(accepted.count) of \(first.capacity)")
        #expect(first.moves > 0)
        for order in [accepted.sorted { $0.key.raw < $1.key.raw }, accepted.reversed()] {
            let again = L2Table(chip: .small)
            let refused = order.filter { entry in
                if case .inserted = again.insert(entry) { return false }
                return true
            }
            #expect(refused.isEmpty, "\(refused.count) of \(accepted.count) do not fit in another order")
            #expect(again.count == accepted.count && again.bankFill.reduce(0, +) == again.count)
        }
    }

    @Test func replaceDynamicEvictsAnUnhitDynamicEntry() throws {
        let table = L2Table(chip: .small)
        let perKey = table.banks * table.entriesPerBucket
        let macs = collidingKeys(in: table, count: perKey + 1)
        for (index, mac) in macs.prefix(perKey).enumerated() {
            // One static, six hit dynamic, one un-hit dynamic (index 5).
            let flags: L2Flags = index == 0 ? .static : (index == 5 ? [] : .hitSource)
            _ = table.insert(L2Entry(mac: mac, vlan: 10, port: 2, flags: flags))
        }
        let result = table.insert(L2Entry(mac: macs[perKey], vlan: 10, port: 3), replaceDynamic: true)
        guard case .replaced(_, let evicted) = result else {
            Issue.record("expected an eviction, got \(result)")
            return
        }
        #expect(evicted.mac == macs[5])
        #expect(table.get(L2Key(mac: macs[perKey], vlan: 10))?.port == 3)
        #expect(table.get(L2Key(mac: macs[0], vlan: 10)) != nil)
    }

    @Test func agingTakesTwoPassesAndSparesStatic() {
        let table = L2Table(chip: .small)
        let hit = L2Entry(mac: MACAddress(0x0200_0000_0001), vlan: 1, port: 1, flags: .hitSource)
        let idle = L2Entry(mac: MACAddress(0x0200_0000_0002), vlan: 1, port: 1)
        let fixed = L2Entry(mac: MACAddress(0x0200_0000_0003), vlan: 1, port: 1, flags: .static)
        for entry in [hit, idle, fixed] { _ = table.insert(entry) }
        var aged: [L2Entry] = []
        #expect(table.agePass { aged.append($0) } == 1)
        #expect(aged == [idle])
        #expect(table.get(hit.key)?.flags == [])  // hit bit cleared
        #expect(table.agePass { aged.append($0) } == 1)
        #expect(table.get(hit.key) == nil)
        #expect(table.get(fixed.key) != nil)
        #expect(table.agePass() == 0)
    }

    @Test func flushFiltersKeepStaticUnlessAsked() {
        let table = L2Table(chip: .trident2)
        for n in 0..<100 {
            let port = PortID(n % 4 + 1)
            let vlan = UInt16(n % 2 == 0 ? 10 : 20)
            _ = table.insert(L2Entry(mac: MACAddress(0x0200_0000_1000 + UInt64(n)), vlan: vlan, port: port, flags: n % 10 == 0 ? .static : []))
        }
        #expect(table.staticCount == 10)
        // By port, dynamic only.
        let port1 = table.removeAll(matching: L2Filter(port: 1))
        // Port 1 has n = 0, 4, ..., 96 (25 entries), of which 0, 20, 40, 60, 80 are static.
        #expect(port1 == 20)
        #expect(table.count == 100 - port1)
        // By VLAN + port.
        let before = table.count
        let vlanPort = table.removeAll(matching: L2Filter(vlan: 20, port: 2))
        #expect(vlanPort > 0)
        #expect(table.count == before - vlanPort)
        // By MAC.
        #expect(table.removeAll(matching: L2Filter(mac: MACAddress(0x0200_0000_1003))) == 1)
        // Everything including static.
        #expect(table.removeAll(matching: L2Filter(vlan: 10, includeStatic: true)) > 0)
        #expect(table.count(vlan: 10) == (0, 0))
        let remaining = table.count
        #expect(table.removeAll(matching: .all) == remaining)
        #expect(table.count == 0 && table.staticCount == 0)
    }

    @Test func countsFollowEveryChange() {
        let table = L2Table(chip: .small)
        _ = table.insert(L2Entry(mac: MACAddress(0x0200_0000_0001), vlan: 5, port: 3))
        _ = table.insert(L2Entry(mac: MACAddress(0x0200_0000_0002), vlan: 5, port: 3, flags: .static))
        #expect(table.count(vlan: 5) == (1, 1))
        #expect(table.dynamicCount(port: 3) == 1)
        let slot = table.find(L2Key(mac: MACAddress(0x0200_0000_0001), vlan: 5).raw)!
        table.update(slot: slot, port: 4, flags: [])
        #expect(table.dynamicCount(port: 3) == 0)
        #expect(table.dynamicCount(port: 4) == 1)
        #expect(table.bankFill.reduce(0, +) == 2)
    }

    @Test func conflictListsTheKeysBuckets() {
        let table = L2Table(chip: .small)
        let macs = collidingKeys(in: table, count: 3)
        for mac in macs { _ = table.insert(L2Entry(mac: mac, vlan: 10, port: 1)) }
        let buckets = table.conflicts(of: L2Key(mac: macs[0], vlan: 10))
        #expect(buckets.count == 2)
        #expect(buckets.flatMap(\.entries).count == 3)
    }
}

@Suite struct VLANSetTests {
    @Test func parseAndPrint() throws {
        let set = try #require(VLANSet(parsing: "1,10-12, 20,4094"))
        #expect(set.members == [1, 10, 11, 12, 20, 4094])
        #expect(set.description == "1,10-12,20,4094")
        #expect(VLANSet(parsing: "0") == nil)
        #expect(VLANSet(parsing: "4095") == nil)
        #expect(VLANSet(parsing: "20-10") == nil)
        #expect(VLANSet(parsing: "1,,2") == nil)
        #expect(VLANSet(parsing: "a") == nil)
        #expect(VLANSet.all.description == "1-4094")
        #expect(VLANSet.none.description == "none")
        #expect(VLANSet.all.subtracting(VLANSet([5])).contains(5) == false)
    }
}

@Suite struct LockTests {
    @Test func timeoutNamesTheHolder() throws {
        let lock = HALLock(name: "test.lock", rank: 1, purpose: "a test")
        let held = DispatchHolder()
        held.hold(lock, seconds: 3.0)
        let started = SystemClock.now
        do {
            try lock.withLock("test-op", deadline: SystemClock.deadline(after: .milliseconds(200))) {}
            Issue.record("expected a timeout")
        } catch let error as HALError {
            guard case .timeout(let info) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(info.lock == "test.lock")
            #expect(info.operation == "test-op")
            #expect(info.holderThread == "holder")
            #expect(info.holderSite?.hasPrefix("L2TableTests.swift:") == true)
            #expect(info.waitedSeconds >= 0.19)
            #expect(error.description.contains("HAL timeout: test-op waited 0.2 s for lock test.lock held by thread holder"))
        }
        // Well before the holder lets go (3 s): the deadline, not the release, ended the wait.
        #expect(SystemClock.elapsed(since: started).inSeconds < 2.5)
        held.join()
        // Free again: taken at once.
        try lock.withLock("after", deadline: SystemClock.deadline(after: .milliseconds(100))) {}
        #expect(lock.snapshot().timeouts == 1)
    }

    @Test func snapshotShowsHolderAndWaiters() throws {
        let lock = HALLock(name: "test.lock2", rank: 1, purpose: "a test")
        let held = DispatchHolder()
        held.hold(lock, seconds: 0.6)
        let waiter = DispatchHolder(name: "waiter")
        usleep(100_000)
        waiter.hold(lock, seconds: 0)
        usleep(100_000)
        let snapshot = lock.snapshot()
        #expect(snapshot.holder?.thread == "holder")
        #expect(snapshot.holder?.operation == "hold")
        #expect(snapshot.waiters.map(\.thread) == ["waiter"])
        held.join()
        waiter.join()
        #expect(lock.snapshot().holder == nil)
    }
}

/// A named thread that holds a lock for a while.
final class DispatchHolder: @unchecked Sendable {
    let name: String
    var thread: HALThread?
    init(name: String = "holder") { self.name = name }

    func hold(_ lock: HALLock, seconds: Double) {
        let ready = ManagedFlag()
        thread = HALThread.spawn(name: name) { _ in
            lock.withLock("hold") {
                ready.set()
                usleep(useconds_t(seconds * 1_000_000))
            }
        }
        if name == "holder" { while !ready.isSet { usleep(1000) } }
    }

    func join() { thread?.join() }
}

import Atomics
import Glibc
import Time

final class ManagedFlag: @unchecked Sendable {
    private let value = ManagedAtomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
