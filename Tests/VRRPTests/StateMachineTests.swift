import NetTypes
import Testing
import Time

@testable import VRRP

let addressA = IPv4Address(10, 0, 0, 1)
let addressB = IPv4Address(10, 0, 0, 2)
let addressC = IPv4Address(10, 0, 0, 3)

/// The numbered conformance checklist of the reference (shared/reference/vrrp.md §5), item by item.
@Suite struct TimerTests {
    @Test func item29to31_timerFormulas() {
        var router = VirtualRouter(config: config(priority: 100), interface: InterfaceAddresses(primaryIPv4: addressA))
        #expect(router.masterAdverInterval == 100)  // 29
        #expect(router.skewTime == .microseconds(609_375))  // 30: 60.9375 cs
        #expect(router.masterDownInterval == .microseconds(3_609_375))  // 31: keepalived's 3609375 usecs
        router.update(config: config(priority: 200), interface: router.interface)
        #expect(router.masterDownInterval == .microseconds(3_218_750))  // 321.875 cs
        router.update(config: config(priority: 254), interface: router.interface)
        #expect(router.skewTime == .microseconds(7_812))  // 0.78 cs
        // v2: skew is (256 - priority)/256 s whatever the interval.
        var v2 = VirtualRouter(config: config(priority: 100, interval: 300, version: 2), interface: InterfaceAddresses(primaryIPv4: addressA))
        #expect(v2.skewTime == .microseconds(609_375))
        #expect(v2.masterDownInterval == .microseconds(9_609_375))
        _ = v2.start(now: .zero)
        #expect(v2.masterDownDeadline == at(.microseconds(9_609_375)))
    }

    @Test func item32_backupLearnsTheMastersInterval() {
        let wire = SimWire()
        wire.add("A", address: addressA, config: config(priority: 200, interval: 50))
        wire.add("B", address: addressB, config: config(priority: 100, interval: 100))
        wire.run(for: 3 * second)
        #expect(wire.state(0) == .master)
        #expect(wire.state(1) == .backup)
        #expect(wire.router(1).masterAdverInterval == 50)
        #expect(wire.router(1).masterDownInterval == .microseconds(3 * 500_000 + 156 * 500_000 / 256))
    }
}

@Suite struct StateMachineTests {
    @Test func items33and35_defaults() {
        let c = VirtualRouterConfig(vrid: 1, addresses: .ipv4([addressA]))
        #expect(c.preempt)  // 33
        #expect(!c.acceptMode)  // 35
        #expect(c.priority == 100)  // 18
    }

    @Test func items34and38_addressOwnerGoesMasterAtOnce() {
        let wire = SimWire()
        let owner = wire.add("owner", address: addressA, config: config(priority: 100, preempt: false, addresses: [addressA]))
        #expect(wire.state(owner) == .master)
        #expect(wire.router(owner).effectivePriority == 255)  // 17
        #expect(wire.nodes[owner].sent.first?.priority == 255)
        #expect(wire.nodes[owner].announcements == [.zero])  // GARP at once
        #expect(wire.router(owner).adverDeadline == at(1 * second))
        // A second router with the highest non-owner priority stays Backup (34: the owner always wins).
        let other = wire.add("other", address: addressB, config: config(priority: 254, addresses: [addressA]))
        wire.run(for: 10 * second)
        #expect(wire.state(other) == .backup)
        #expect(wire.masters() == [owner])
    }

    @Test func item39_startupAsBackup() {
        var router = VirtualRouter(config: config(priority: 100), interface: InterfaceAddresses(primaryIPv4: addressA))
        let actions = router.start(now: at(5 * second))
        #expect(router.state == .backup)
        #expect(router.masterDownDeadline == at(5 * second + .microseconds(3_609_375)))
        #expect(!actions.contains { if case .sendAdvertisement = $0 { true } else { false } })
    }

    @Test func items44and54_shutdown() {
        var backup = VirtualRouter(config: config(), interface: InterfaceAddresses(primaryIPv4: addressA))
        _ = backup.start(now: .zero)
        _ = backup.shutdown(now: at(.microseconds(1)))
        #expect(backup.state == .initialize && backup.masterDownDeadline == nil)  // 44

        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 200))
        wire.run(for: 4 * second)
        #expect(wire.state(a) == .master)
        wire.shutdown(a)
        #expect(wire.state(a) == .initialize)  // 54
        #expect(wire.nodes[a].sent.last?.priority == 0)
        #expect(wire.router(a).adverDeadline == nil)
        #expect(wire.router(a).statistics.priorityZeroSent == 1)
    }

    @Test func items45and55_masterDownThenAdvertising() {
        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 100))
        wire.run(for: .microseconds(3_609_374))
        #expect(wire.state(a) == .backup)
        wire.run(for: .microseconds(1))
        #expect(wire.state(a) == .master)  // 45, exactly at Master_Down_Interval
        #expect(wire.nodes[a].announcements == [at(.microseconds(3_609_375))])
        wire.run(for: 5 * second)
        let times = wire.nodes[a].sent.map(\.at)
        #expect(Array(times.prefix(6)) == [3_609_375, 4_609_375, 5_609_375, 6_609_375, 7_609_375, 8_609_375].map { at(.microseconds($0)) })  // 55
    }

    @Test func item46_priorityZeroMeansSkewTime() {
        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 200))
        let b = wire.add("B", address: addressB, config: config(priority: 100))
        wire.run(for: 10 * second)
        #expect(wire.masters() == [a])
        let stopAt = wire.now
        wire.shutdown(a)
        wire.run(for: 2 * second)
        #expect(wire.state(b) == .master)
        let takeover = wire.nodes[b].transitions.last!.at - stopAt
        #expect(takeover == .microseconds(609_375))  // keepalived measured 0.6095 s
    }

    @Test func items47and48_backupResetsOnlyForEqualOrHigher() {
        var router = VirtualRouter(config: config(priority: 150), interface: InterfaceAddresses(primaryIPv4: addressA))
        _ = router.start(now: .zero)
        let initial = router.masterDownDeadline
        let lower = Advertisement(version: 3, vrid: 1, priority: 100, interval: 100, addresses: .ipv4([IPv4Address(10, 0, 0, 254)]))
        _ = router.receive(lower.encoded(source: .ipv4(addressB), destination: group, pseudoHeader: true), source: .ipv4(addressB), destination: group, ttl: 255, now: at(1 * second))
        #expect(router.masterDownDeadline == initial)  // 48: discarded, not reset
        let higher = Advertisement(version: 3, vrid: 1, priority: 200, interval: 100, addresses: .ipv4([IPv4Address(10, 0, 0, 254)]))
        _ = router.receive(higher.encoded(source: .ipv4(addressB), destination: group, pseudoHeader: true), source: .ipv4(addressB), destination: group, ttl: 255, now: at(2 * second))
        #expect(router.masterDownDeadline == at(2 * second) + router.masterDownInterval)  // 47
        // Preempt off: a lower priority resets it too.
        var patient = VirtualRouter(config: config(priority: 150, preempt: false), interface: InterfaceAddresses(primaryIPv4: addressA))
        _ = patient.start(now: .zero)
        _ = patient.receive(lower.encoded(source: .ipv4(addressB), destination: group, pseudoHeader: true), source: .ipv4(addressB), destination: group, ttl: 255, now: at(1 * second))
        #expect(patient.masterDownDeadline == at(1 * second) + patient.masterDownInterval)
    }

    @Test func item56_masterAnswersPriorityZeroAtOnce() {
        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 200))
        wire.run(for: 4 * second)
        let before = wire.nodes[a].sent.count
        let zero = Advertisement(version: 3, vrid: 1, priority: 0, interval: 100, addresses: .ipv4([IPv4Address(10, 0, 0, 254)]))
        wire.deliver(to: a, zero.encoded(source: .ipv4(addressB), destination: group, pseudoHeader: true), from: addressB)
        #expect(wire.nodes[a].sent.count == before + 1)
        #expect(wire.nodes[a].sent.last?.at == wire.now)
        #expect(wire.router(a).adverDeadline == wire.now + second)
    }

    @Test func items57and58_masterYields() {
        // 57: higher priority.
        let wire = SimWire()
        let low = wire.add("low", address: addressC, config: config(priority: 100))
        wire.run(for: 5 * second)
        #expect(wire.state(low) == .master)
        let high = wire.add("high", address: addressA, config: config(priority: 200))
        wire.run(for: 5 * second)
        #expect(wire.state(low) == .backup)
        #expect(wire.state(high) == .master)
        #expect(wire.router(low).masterDownDeadline != nil)
        // 58: equal priority, both Master at once (started together): the higher address wins.
        let tie = SimWire()
        tie.delay = .microseconds(100)  // 0.1 ms on the wire, so both time out before either hears the other
        let first = tie.add("first", address: addressA, config: config(priority: 100))
        let second_ = tie.add("second", address: addressB, config: config(priority: 100))
        tie.run(for: 10 * second)
        #expect(tie.nodes[first].transitions.map(\.to) == [.backup, .master, .backup])
        #expect(tie.masters() == [second_])
        #expect(tie.state(first) == .backup)
    }

    @Test func items59and60_masterKeepsAgainstLowerAndIgnoresPreempt() {
        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 200, preempt: false))
        wire.run(for: 5 * second)
        #expect(wire.state(a) == .master)
        let before = wire.nodes[a].sent.count
        let lower = Advertisement(version: 3, vrid: 1, priority: 100, interval: 100, addresses: .ipv4([IPv4Address(10, 0, 0, 254)]))
        wire.deliver(to: a, lower.encoded(source: .ipv4(addressB), destination: group, pseudoHeader: true), from: addressB)
        #expect(wire.state(a) == .master)  // 59, 60
        #expect(wire.nodes[a].sent.count == before + 1)  // RFC 9568: answered at once
        var quiet = config(priority: 200)
        quiet.answerLowerPriority = false
        let old = SimWire()
        let b = old.add("B", address: addressA, config: quiet)
        old.run(for: 5 * second)
        let count = old.nodes[b].sent.count
        old.deliver(to: b, lower.encoded(source: .ipv4(addressB), destination: group, pseudoHeader: true), from: addressB)
        #expect(old.nodes[b].sent.count == count)  // RFC 5798: just discard
    }

    @Test func crashFailoverTakesMasterDownInterval() {
        for (interval, expected) in [(100, Duration.microseconds(3_609_375)), (10, .microseconds(360_937)), (1, .microseconds(36_093))] {
            let wire = SimWire()
            let a = wire.add("A", address: addressA, config: config(priority: 200, interval: interval))
            let b = wire.add("B", address: addressB, config: config(priority: 100, interval: interval))
            wire.run(for: 10 * second)
            #expect(wire.masters() == [a])
            let lastAdvert = wire.nodes[a].sent.last!.at
            wire.crash(a)
            wire.run(for: 10 * second)
            #expect(wire.masters() == [b])
            #expect(wire.nodes[b].transitions.last!.at - lastAdvert == expected, "interval \(interval) cs")
        }
    }

    @Test func preemptDelayHoldsBackTheTakeover() {
        let wire = SimWire()
        let low = wire.add("low", address: addressB, config: config(priority: 100))
        wire.run(for: 5 * second)
        var delayed = config(priority: 200)
        delayed.preemptDelay = 10
        let high = wire.add("high", address: addressA, config: delayed)
        wire.run(for: 9 * second)
        #expect(wire.state(low) == .master)
        #expect(wire.state(high) == .backup)
        wire.run(for: 5 * second)
        #expect(wire.state(high) == .master)
        #expect(wire.state(low) == .backup)
    }

    @Test func trackingLowersThePriorityAndTheOtherTakesOver() {
        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 200))
        let b = wire.add("B", address: addressB, config: config(priority: 150))
        wire.run(for: 5 * second)
        #expect(wire.masters() == [a])
        wire.change(a) { router in
            router.setTrackingDecrement(100)
            return []
        }
        #expect(wire.router(a).effectivePriority == 100)
        wire.run(for: 5 * second)
        #expect(wire.masters() == [b])
        wire.change(a) { router in
            router.setTrackingDecrement(0)
            return []
        }
        wire.run(for: 5 * second)
        #expect(wire.masters() == [a])
    }

    @Test func v2RoutersElectAndFailOver() {
        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 200, version: 2))
        let b = wire.add("B", address: addressB, config: config(priority: 100, version: 2))
        wire.run(for: 10 * second)
        #expect(wire.masters() == [a])
        let last = wire.nodes[a].sent.last!.at
        wire.crash(a)
        wire.run(for: 10 * second)
        #expect(wire.masters() == [b])
        #expect(wire.nodes[b].transitions.last!.at - last == .microseconds(3_609_375))  // keepalived v2: 3.6095 s
    }
}

@Suite struct ReceiveValidationTests {
    /// A Backup and the message a Master at 10.0.0.2 would send; each test spoils one field.
    func backup(_ c: VirtualRouterConfig = config(priority: 100)) -> VirtualRouter {
        var router = VirtualRouter(config: c, interface: InterfaceAddresses(primaryIPv4: addressA))
        _ = router.start(now: .zero)
        return router
    }

    func message(version: Int = 3, priority: UInt8 = 200, interval: Int = 100, addresses: [IPv4Address] = [IPv4Address(10, 0, 0, 254)], pseudo: Bool = true) -> [UInt8] {
        Advertisement(version: version, vrid: 1, priority: priority, interval: interval, addresses: .ipv4(addresses))
            .encoded(source: .ipv4(addressB), destination: group, pseudoHeader: pseudo)
    }

    func expectDiscarded(_ router: inout VirtualRouter, _ bytes: [UInt8], ttl: UInt8 = 255, reason: DiscardReason) {
        let before = router.masterDownDeadline
        let state = router.state
        let actions = router.receive(bytes, source: .ipv4(addressB), destination: group, ttl: ttl, now: at(2 * second))
        #expect(actions.isEmpty)
        #expect(router.masterDownDeadline == before)  // 71: nothing but the counter changes
        #expect(router.state == state)
        #expect(router.statistics.discards[reason] == 1, "\(reason)")
        #expect(router.statistics.advertisementsReceived == 0)
    }

    @Test func item61_ttl() {
        var router = backup()
        expectDiscarded(&router, message(), ttl: 254, reason: .ttl)
    }

    @Test func item63_version() {
        var router = backup()
        expectDiscarded(&router, message(version: 2, interval: 1), reason: .version)
    }

    /// Max Adver Int is 1-4095 cs (§5.2.7). Learning 0 would make Master_Down_Interval 0 and
    /// flip a Backup to Master on every such advert.
    @Test func aZeroIntervalIsDiscarded() {
        var router = backup()
        expectDiscarded(&router, message(interval: 0), reason: .interval)
        #expect(router.masterDownInterval == .microseconds(3 * 100 * 10_000) + router.skewTime)
    }

    /// More than 255 addresses cannot be counted in 8 bits: the advert carries the first 255
    /// rather than trapping (the CLI allows 90 IPv6 or 255 IPv4 addresses).
    @Test func anOversizedAddressListIsCutNotATrap() {
        let list = (0..<300).map { IPv6Address(bytes: [0xfe, 0x80] + [UInt8](repeating: 0, count: 12) + [UInt8($0 >> 8), UInt8($0 & 0xff)])! }
        var router = VirtualRouter(config: VirtualRouterConfig(vrid: 1, addresses: .ipv6(list)),
                                   interface: InterfaceAddresses(linkLocalIPv6: IPv6Address(parsing: "fe80::99")!))
        _ = router.start(now: .zero)
        let actions = router.advance(to: at(10 * second))
        guard case .sendAdvertisement(let ad)? = actions.first else {
            Issue.record("no advert: \(actions)")
            return
        }
        let bytes = ad.encoded(source: .ipv6(IPv6Address(parsing: "fe80::99")!), destination: .ipv6(Advertisement.ipv6Group), pseudoHeader: true)
        #expect(bytes[3] == 255 && bytes.count == 8 + 255 * 16)
    }

    @Test func item64_length() {
        var router = backup()
        expectDiscarded(&router, Array(message().prefix(10)), reason: .length)
    }

    @Test func item65_checksum() {
        var router = backup()
        var bytes = message()
        bytes[7] ^= 0x01
        expectDiscarded(&router, bytes, reason: .checksum)
        // The other form is refused unless the router is told to accept either.
        var strict = backup()
        expectDiscarded(&strict, message(pseudo: false), reason: .checksum)
        var c = config(priority: 100)
        c.acceptEitherChecksum = true
        var lenient = backup(c)
        _ = lenient.receive(message(pseudo: false), source: .ipv4(addressB), destination: group, ttl: 255, now: at(second))
        #expect(lenient.statistics.advertisementsReceived == 1)
    }

    @Test func item66_unknownVRID() {
        var engine = VRRPEngine()
        _ = engine.add(VRRPEngine.Key(interface: .svi(10), vrid: VRID(1)!, ipv6: false), config: config(), interface: InterfaceAddresses(primaryIPv4: addressA), start: true, now: .zero)
        var other = message()
        other[1] = 9
        let actions = engine.receive(interface: .svi(10), ipv6: false, message: other, source: .ipv4(addressB), destination: group, ttl: 255, now: at(second))
        #expect(actions.isEmpty)
        #expect(engine.unknownVRID[.svi(10)] == 1)
    }

    @Test func item67_ownerDiscardsEverything() {
        var owner = VirtualRouter(config: config(addresses: [addressA]), interface: InterfaceAddresses(primaryIPv4: addressA, ownIPv4: [addressA]))
        _ = owner.start(now: .zero)
        #expect(owner.state == .master)
        let deadline = owner.adverDeadline
        _ = owner.receive(message(priority: 255, addresses: [addressA]), source: .ipv4(addressB), destination: group, ttl: 255, now: at(second / 2))
        #expect(owner.statistics.discards[.owner] == 1)
        #expect(owner.adverDeadline == deadline)
    }

    @Test func items68to70_v2Checks() {
        var v2 = backup(config(priority: 100, version: 2))
        var auth = message(version: 2, interval: 1)
        auth[4] = 1
        // Re-checksum so that only the auth type is wrong.
        auth[6] = 0
        auth[7] = 0
        let sum = auth.withUnsafeBytes { InternetChecksum.of($0) }
        auth[6] = UInt8(sum >> 8)
        auth[7] = UInt8(sum & 0xff)
        expectDiscarded(&v2, auth, reason: .authType)  // 68
        var interval = backup(config(priority: 100, version: 2))
        expectDiscarded(&interval, message(version: 2, interval: 2), reason: .interval)  // 69
        var list = backup(config(priority: 100, version: 2))
        expectDiscarded(&list, message(version: 2, interval: 1, addresses: [IPv4Address(10, 0, 0, 253)]), reason: .addressList)  // 70
        // v3 only counts a mismatching list.
        var v3 = backup()
        _ = v3.receive(message(addresses: [IPv4Address(10, 0, 0, 253)]), source: .ipv4(addressB), destination: group, ttl: 255, now: at(second))
        #expect(v3.statistics.addressListMismatches == 1)
        #expect(v3.statistics.advertisementsReceived == 1)
    }

    /// keepalived 2.2.7 lets invalid packets for its VRID reset the Master's advert timer, so a
    /// flood silences it. Here a discarded packet changes nothing: the Master's adverts keep
    /// their pace and the Backup never takes over.
    @Test func item71_invalidFloodDoesNotSilenceTheMaster() {
        let wire = SimWire()
        let a = wire.add("A", address: addressA, config: config(priority: 200))
        let b = wire.add("B", address: addressB, config: config(priority: 100))
        wire.run(for: 5 * second)
        let flooder = wire.add("flooder", address: addressC, config: config(priority: 1, vrid: 99))
        var bad = Advertisement(version: 3, vrid: 1, priority: 250, interval: 100, addresses: .ipv4([IPv4Address(10, 0, 0, 254)]))
            .encoded(source: .ipv4(addressC), destination: group, pseudoHeader: true)
        bad[7] ^= 0xff
        let start = wire.now
        for _ in 0..<200 {
            wire.inject(from: flooder, bad)
            wire.inject(from: flooder, Advertisement(version: 3, vrid: 1, priority: 250, interval: 100, addresses: .ipv4([IPv4Address(10, 0, 0, 254)]))
                .encoded(source: .ipv4(addressC), destination: group, pseudoHeader: true), ttl: 254)
            wire.run(for: 50 * millisecond)
        }
        #expect(wire.masters() == [a])
        #expect(wire.state(b) == .backup)
        let adverts = wire.nodes[a].sent.filter { $0.at > start }.map(\.at)
        let gaps = zip(adverts.dropFirst(), adverts).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 == second }, "\(gaps)")
        #expect(wire.router(a).statistics.discards[.checksum] == 200)
        #expect(wire.router(a).statistics.discards[.ttl] == 200)
    }
}
