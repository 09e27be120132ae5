import NetTypes
import SwitchHAL
import Testing
import Time

@testable import Daemon

/// The neighbour table: what may create, change and evict an entry (Linux's rules), and that a
/// full table costs nothing per refused frame.
@Suite struct NeighborTableTests {
    let a = IPv4Address(10, 0, 0, 5)
    let macA = MACAddress(0x0200_0000_0005)
    let macB = MACAddress(0x0200_0000_00bb)

    @Test func onlyWhatIsAddressedToUsOrAskedForCreatesAnEntry() {
        var table = NeighborTable(capacity: 8)
        #expect(table.learn(a, mac: macA, vlan: 10, port: 1, evidence: .unsolicited, now: ms(1000)).recorded == false)
        #expect(table.count == 0 && table.counters.notLearned == 1)
        #expect(table.learn(a, mac: macA, vlan: 10, port: 1, evidence: .addressedToUs, now: ms(1000)).recorded)
        // Unsolicited ARP refreshes what is there (age and port).
        #expect(table.learn(a, mac: macA, vlan: 10, port: 2, evidence: .unsolicited, now: ms(5000)).recorded)
        #expect(table[a]?.port == 2 && table[a]?.seen == ms(5000))
    }

    @Test func aChangeOfAddressWaitsForTheLockTimeUnlessAskedFor() {
        var table = NeighborTable(capacity: 8)
        _ = table.learn(a, mac: macA, vlan: 10, port: 1, evidence: .addressedToUs, now: ms(10_000))
        let early = table.learn(a, mac: macB, vlan: 10, port: 3, evidence: .unsolicited, now: ms(10_000) + NeighborTable.lockTime - .milliseconds(1))
        #expect(!early.recorded && early.invalidated.isEmpty && table[a]?.mac == macA && table.counters.changesLocked == 1)
        let late = table.learn(a, mac: macB, vlan: 10, port: 3, evidence: .unsolicited, now: ms(10_000) + NeighborTable.lockTime)
        #expect(late.recorded && late.invalidated == [a] && table[a]?.mac == macB)
        // A reply the router asked for changes it at once.
        let asked = table.learn(a, mac: macA, vlan: 10, port: 1, evidence: .solicited, now: ms(10_000) + NeighborTable.lockTime + .milliseconds(1))
        #expect(asked.recorded && asked.invalidated == [a] && table[a]?.mac == macA)
    }

    @Test func aFullTableRefusesNewcomersButMakesRoomForAReplyItAskedFor() {
        var table = NeighborTable(capacity: 4)
        for n in 0..<4 {
            _ = table.learn(IPv4Address(10, 0, 1, UInt8(n)), mac: MACAddress(0x0200_0000_1000 + UInt64(n)), vlan: 10, port: 1,
                            evidence: .addressedToUs, now: ms(1000 + UInt64(n)))
        }
        for n in 0..<100 {
            #expect(!table.learn(IPv4Address(10, 0, 2, UInt8(n)), mac: macB, vlan: 10, port: 1, evidence: .addressedToUs, now: ms(2000)).recorded)
        }
        #expect(table.count == 4 && table.counters.refusedFull == 100)
        let hop = IPv4Address(10, 0, 9, 9)
        let outcome = table.learn(hop, mac: macB, vlan: 10, port: 4, evidence: .solicited, now: ms(2001))
        #expect(outcome.recorded && outcome.invalidated == [IPv4Address(10, 0, 1, 0)], "the entry heard from longest ago made room")
        #expect(table.count == 4 && table[hop]?.mac == macB && table.counters.evicted == 1)
    }

    @Test func expiredEntriesAreSweptAtMostOncePerInterval() {
        var table = NeighborTable(capacity: 2)
        _ = table.learn(IPv4Address(10, 0, 1, 1), mac: macA, vlan: 10, port: 1, evidence: .addressedToUs, now: ms(0))
        _ = table.learn(IPv4Address(10, 0, 1, 2), mac: macA, vlan: 10, port: 1, evidence: .addressedToUs, now: ms(100_000))
        // Before the first entry's lifetime: full, refused (and the sweep found nothing).
        #expect(!table.learn(a, mac: macA, vlan: 10, port: 1, evidence: .addressedToUs, now: .zero + NeighborTable.lifetime - .milliseconds(1)).recorded)
        // Expired now, but the table was swept less than an interval ago: still refused.
        #expect(!table.learn(a, mac: macA, vlan: 10, port: 1, evidence: .addressedToUs, now: .zero + NeighborTable.lifetime).recorded)
        // An interval later the sweep runs and makes room.
        let later = Instant.zero + NeighborTable.lifetime - .milliseconds(1) + NeighborTable.sweepInterval
        let outcome = table.learn(a, mac: macA, vlan: 10, port: 1, evidence: .addressedToUs, now: later)
        #expect(outcome.recorded && outcome.invalidated == [IPv4Address(10, 0, 1, 1)] && table.count == 2)
    }
}

/// The instant `n` milliseconds after the table's clock starts.
private func ms(_ n: UInt64) -> Instant { .zero + .milliseconds(n) }
