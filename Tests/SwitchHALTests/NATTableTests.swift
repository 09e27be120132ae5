import Glibc
import NetTypes
import Testing
import Time

@testable import SwitchHAL

private func ip(_ text: String) -> IPv4Address { IPv4Address(parsing: text)! }

/// `packet(.tcp, "10.0.0.5", 40000, "198.51.100.1", 443)`.
private func packet(_ proto: L4Protocol, _ source: String, _ sourcePort: UInt16, _ destination: String, _ destinationPort: UInt16)
    -> NATPacket
{
    NATPacket(proto: proto, source: ip(source), sourcePort: sourcePort, destination: ip(destination), destinationPort: destinationPort)
}

/// A translation as the control plane installs it: an SNAT entry matching the inside address
/// (and port) and a DNAT entry matching the outside one, sharing a cookie.
private func translation(
    _ proto: L4Protocol, inside: String, _ insidePort: UInt16 = 0, outside: String, _ outsidePort: UInt16 = 0,
    cookie: UInt64, isStatic: Bool = false
) -> [NATEntry] {
    [
        NATEntry(
            key: NATKey(zone: .inside, type: .source, proto: proto, address: ip(inside), port: insidePort),
            translatedAddress: ip(outside), translatedPort: outsidePort, isStatic: isStatic, cookie: cookie),
        NATEntry(
            key: NATKey(zone: .outside, type: .destination, proto: proto, address: ip(outside), port: outsidePort),
            translatedAddress: ip(inside), translatedPort: insidePort, isStatic: isStatic, cookie: cookie),
    ]
}

/// `count` translations 10.0.x.y:1000 <-> 203.0.113.1:(10000 + n), cookies `firstCookie`...
private func translations(_ count: Int, firstCookie: UInt64 = 1, isStatic: Bool = false) -> [NATEntry] {
    (0..<count).flatMap { n in
        translation(
            .tcp, inside: "10.0.\(n / 250).\(n % 250 + 1)", 1000, outside: "203.0.113.1", UInt16(10000 + n),
            cookie: firstCookie + UInt64(n), isStatic: isStatic)
    }
}

@Suite struct NATTableTests {
    /// NAT needs no thread: calls work on a switch that was never started.
    func makeSwitch(_ chip: ChipProfile = .small) -> Switch {
        Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_dd00))
    }

    @Test func keysPackEveryField() {
        let key = NATKey(zone: .outside, type: .destination, proto: .udp, address: ip("255.254.253.252"), port: 65535)
        #expect(key.zone == .outside)
        #expect(key.type == .destination)
        #expect(key.proto == .udp)
        #expect(key.address == ip("255.254.253.252"))
        #expect(key.port == 65535)
        var other = key
        other.zone = .inside
        other.type = .source
        other.proto = .icmp
        other.address = ip("0.0.0.1")
        other.port = 7
        #expect(other == NATKey(zone: .inside, type: .source, proto: .icmp, address: ip("0.0.0.1"), port: 7))
        #expect(other != key)
        #expect(NATKey.basic(zone: .inside, type: .source, address: ip("10.0.0.5")).description == "inside snat any 10.0.0.5")
        #expect(key.description == "outside dnat udp 255.254.253.252:65535")
        #expect(L4Protocol.allCases.map(\.description) == ["any", "icmp", "tcp", "udp"])
        #expect(L4Protocol.tcp.rawValue == 6 && L4Protocol.udp.rawValue == 17)
    }

    @Test func profilesSizeTheTable() throws {
        #expect(ChipProfile.trident2.natEntries == 262_144)
        #expect(ChipProfile.tomahawk.natEntries == 131_072)
        #expect(ChipProfile.small.natEntries == 64)
        let count = try makeSwitch().natCount(deadline: soon)
        #expect(count == (0, 64, 0))
    }

    @Test func addGetDelete() throws {
        let hal = makeSwitch()
        let pair = translation(.tcp, inside: "10.0.0.5", 40000, outside: "203.0.113.9", 61000, cookie: 7)
        try hal.natAdd(pair, deadline: soon)
        let snat = try hal.natGet(pair[0].key, deadline: soon)
        #expect(snat == pair[0])
        #expect(!snat.hit && snat.packets == 0 && snat.bytes == 0)
        #expect(try hal.natGet(pair[1].key, deadline: soon).translatedAddress == ip("10.0.0.5"))
        #expect(try hal.natEntries(deadline: soon) == pair.sorted { $0.key < $1.key })
        #expect(try hal.natCount(deadline: soon) == (2, 64, 0))

        // An entry handed in with counters starts from zero anyway.
        var used = NATEntry(
            key: .basic(zone: .inside, type: .source, address: ip("10.0.0.6")), translatedAddress: ip("203.0.113.10"), cookie: 8)
        used.hit = true
        used.packets = 5
        try hal.natAdd([used], deadline: soon)
        let stored = try hal.natGet(used.key, deadline: soon)
        #expect(!stored.hit && stored.packets == 0)

        let missing = NATKey.basic(zone: .outside, type: .destination, address: ip("198.51.100.1"))
        #expect(try hal.natDelete([pair[0].key, missing, pair[0].key], deadline: soon) == 1)
        #expect(throws: HALError.notFound("no NAT entry inside snat tcp 10.0.0.5:40000")) {
            try hal.natGet(pair[0].key, deadline: soon)
        }
        let counters = try hal.natCounters(deadline: soon)
        #expect(counters.adds == 3 && counters.deletes == 1 && counters.entries == 2 && counters.capacity == 64)
    }

    @Test func malformedEntriesAreRefused() throws {
        let hal = makeSwitch()
        let basicWithPort = NATEntry(
            key: NATKey(zone: .inside, type: .source, proto: .any, address: ip("10.0.0.1"), port: 80),
            translatedAddress: ip("203.0.113.1"), cookie: 1)
        let basicTranslatingPort = NATEntry(
            key: .basic(zone: .inside, type: .source, address: ip("10.0.0.1")), translatedAddress: ip("203.0.113.1"),
            translatedPort: 80, cookie: 1)
        let tcpWithoutPort = NATEntry(
            key: NATKey(zone: .inside, type: .source, proto: .tcp, address: ip("10.0.0.1"), port: 0),
            translatedAddress: ip("203.0.113.1"), cookie: 1)
        let toNowhere = NATEntry(
            key: .basic(zone: .inside, type: .source, address: ip("10.0.0.1")), translatedAddress: IPv4Address(0), cookie: 1)
        let fine = translation(.udp, inside: "10.0.0.2", 53, outside: "203.0.113.2", 5353, cookie: 2)
        for bad in [basicWithPort, basicTranslatingPort, tcpWithoutPort, toNowhere] {
            do {
                try hal.natAdd(fine + [bad], deadline: soon)
                Issue.record("\(bad) was accepted")
            } catch let error as HALError {
                #expect(error.code == -4, "\(error)")
            }
        }
        #expect(try hal.natCount(deadline: soon).used == 0)
        // ICMP identifier 0 is a real identifier.
        try hal.natAdd(translation(.icmp, inside: "10.0.0.3", 0, outside: "203.0.113.3", 0, cookie: 3), deadline: soon)
    }

    /// On the 64-entry chip (2 banks of 8 buckets of 4): a key whose every bucket is full is
    /// FULL though the table has room elsewhere, as on a chip; a batch with one such key adds
    /// nothing (the slices before it taken back), says which key, and is counted.
    @Test func fullIsPerBucketAndAllOrNothing() throws {
        let hal = makeSwitch(.small)
        #expect(hal.nat.capacity == 64 && hal.nat.banks == 2 && hal.nat.entriesPerBucket == 4)
        // Translations one at a time until one does not fit.
        var fitted: [NATEntry] = []
        var refused: [NATEntry]?
        for n in 0..<64 {
            let pair = translation(.tcp, inside: "10.0.\(n / 250).\(n % 250 + 1)", 1000, outside: "203.0.113.1", UInt16(10000 + n), cookie: UInt64(n + 1))
            do {
                try hal.natAdd(pair, deadline: soon)
                fitted += pair
            } catch let error as HALError {
                #expect(error.code == -6 && error.message.contains("every bucket it hashes to is full"), "\(error)")
                refused = pair
                break
            }
        }
        let refusedPair = try #require(refused, "64 translations (128 entries) cannot fit 64 entries")
        let used = try hal.natCount(deadline: soon).used
        #expect(used == fitted.count || used == fitted.count + 1, "a refused pair leaves nothing behind (or its first half was the one that fit)")
        #expect(used >= 32, "half full at least before a collision on this geometry (\(used))")

        // A batch of what is there (no room needed) and the refused pair: nothing changes.
        let before = try hal.natEntries(deadline: soon)
        #expect(throws: HALError.self) { try hal.natAdd(fitted + refusedPair, deadline: soon) }
        #expect(try hal.natEntries(deadline: soon) == before)
        #expect(try hal.natCounters(deadline: soon).fullErrors >= 2)
        // What is there re-adds without room.
        try hal.natAdd(fitted, deadline: soon)
        #expect(try hal.natCount(deadline: soon).used == used)
        // Room again once the table is emptied.
        #expect(try hal.natDeleteAll(cookies: nil, includeStatic: true, deadline: soon) == used)
        try hal.natAdd(refusedPair, deadline: soon)
        #expect(try hal.natCount(deadline: soon).used == 2)
    }

    /// A bulk add larger than one slice is all or nothing too: the slices applied before a
    /// refused one are taken back, and the lock is never held for the whole add.
    @Test func aBulkAddIsAppliedInSlicesAndTakenBackWhole() throws {
        let hal = makeSwitch(.trident2)
        let many = translations(3000)  // 6,000 entries: 6 slices
        hal.locks.natTable.resetLongestHold()
        try hal.natAdd(many, deadline: soon)
        #expect(try hal.natCount(deadline: soon).used == 6000)
        let conflicting = translations(3000, firstCookie: 90_000).map { entry -> NATEntry in
            var entry = entry
            entry.key.address = IPv4Address(entry.key.address.value + 0x0100_0000)
            entry.translatedAddress = IPv4Address(entry.translatedAddress.value + 0x0100_0000)
            return entry
        }
        // 5,999 new entries, then one that conflicts with what is there.
        var bad = many[0]
        bad.translatedPort = 1
        #expect(throws: HALError.self) { try hal.natAdd(Array(conflicting.prefix(5999)) + [bad], deadline: soon) }
        #expect(try hal.natCount(deadline: soon).used == 6000, "the slices applied before the refusal were taken back")
        for entry in conflicting.prefix(10) { #expect(throws: HALError.self) { try hal.natGet(entry.key, deadline: soon) } }
        let lock = hal.lockSnapshots.first { $0.name == "nat.table" }
        #expect(lock.map { $0.acquisitions >= 12 } == true, "each slice took the lock on its own")
    }

    @Test func anotherTranslationForAKeyIsExists() throws {
        let hal = makeSwitch()
        let pair = translation(.tcp, inside: "10.0.0.5", 40000, outside: "203.0.113.9", 61000, cookie: 7)
        try hal.natAdd(pair, deadline: soon)
        var other = pair[0]
        other.translatedPort = 61001
        other.cookie = 8
        let fresh = translation(.udp, inside: "10.0.0.6", 53, outside: "203.0.113.9", 1053, cookie: 9)
        #expect(
            throws: HALError.exists(
                "NAT entry inside snat tcp 10.0.0.5:40000 exists translating to 203.0.113.9:61000 (cookie 7); "
                    + "refused 203.0.113.9:61001 (cookie 8)")
        ) { try hal.natAdd(fresh + [other], deadline: soon) }
        // All or nothing: the fresh pair before the conflict was not added either.
        #expect(try hal.natCount(deadline: soon).used == 2)
        #expect(try hal.natGet(pair[0].key, deadline: soon) == pair[0])
        // Two different translations of one key in one batch.
        var twin = fresh[0]
        twin.translatedAddress = ip("203.0.113.10")
        #expect(
            throws: HALError.exists(
                "NAT entry inside snat udp 10.0.0.6:53 given twice in one add, translating to 203.0.113.9:1053 (cookie 9) "
                    + "and to 203.0.113.10:1053 (cookie 9)")
        ) { try hal.natAdd([fresh[0], twin], deadline: soon) }
        #expect(try hal.natCount(deadline: soon).used == 2)

        // The same translation again: a replace (new cookie, now static) keeping the counters.
        _ = try hal.natTranslate(packet(.tcp, "10.0.0.5", 40000, "198.51.100.1", 443), zone: .inside, bytes: 100, deadline: soon)
        var again = pair[0]
        again.cookie = 70
        again.isStatic = true
        try hal.natAdd([again], deadline: soon)
        let stored = try hal.natGet(pair[0].key, deadline: soon)
        #expect(stored.cookie == 70 && stored.isStatic && stored.hit && stored.packets == 1 && stored.bytes == 100)
        #expect(try hal.natCount(deadline: soon) == (2, 64, 1))
        #expect(try hal.natCounters(deadline: soon).adds == 2)
    }

    /// The NAPT key (protocol and port) wins over the basic key (address only) of the same
    /// address; the basic key catches the rest, of any protocol.
    @Test func naptBeforeBasic() throws {
        let hal = makeSwitch()
        try hal.natAdd(translation(.any, inside: "10.0.0.5", outside: "203.0.113.1", cookie: 1), deadline: soon)
        try hal.natAdd(translation(.tcp, inside: "10.0.0.5", 40000, outside: "203.0.113.9", 61000, cookie: 2), deadline: soon)
        let server = ip("198.51.100.1")

        func out(_ proto: L4Protocol, _ port: UInt16) throws -> NATLookupResult {
            try hal.natTranslate(
                NATPacket(proto: proto, source: ip("10.0.0.5"), sourcePort: port, destination: server, destinationPort: 443),
                zone: .inside, bytes: 60, deadline: soon)
        }
        var result = try out(.tcp, 40000)
        #expect(result.sourceEntry?.proto == .tcp)
        #expect(result.packet == packet(.tcp, "203.0.113.9", 61000, "198.51.100.1", 443))
        #expect(result.destinationEntry == nil)
        result = try out(.tcp, 40001)
        #expect(result.sourceEntry == .basic(zone: .inside, type: .source, address: ip("10.0.0.5")))
        #expect(result.packet.source == ip("203.0.113.1") && result.packet.sourcePort == 40001)
        result = try out(.udp, 40000)
        #expect(result.sourceEntry?.isBasic == true && result.packet.sourcePort == 40000)
        result = try out(.any, 0)  // GRE, say
        #expect(result.packet.source == ip("203.0.113.1"))
        // A host with no entry is not translated.
        result = try hal.natTranslate(
            NATPacket(proto: .tcp, source: ip("10.0.0.6"), sourcePort: 40000, destination: server, destinationPort: 443), zone: .inside,
            bytes: 60, deadline: soon)
        #expect(!result.translated && result.packet.source == ip("10.0.0.6"))
    }

    /// A connection through one translation: the inside SNAT entry rewrites the request's
    /// source, the outside DNAT entry the reply's destination; each only in its zone.
    @Test func bothDirectionsRewrite() throws {
        let hal = makeSwitch()
        try hal.natAdd(translation(.tcp, inside: "10.0.0.5", 40000, outside: "203.0.113.9", 61000, cookie: 3), deadline: soon)
        let server = ip("198.51.100.1")
        let request = NATPacket(proto: .tcp, source: ip("10.0.0.5"), sourcePort: 40000, destination: server, destinationPort: 443)
        let sent = try hal.natTranslate(request, zone: .inside, bytes: 1500, deadline: soon)
        #expect(sent.translated && sent.destinationEntry == nil)
        #expect(sent.packet == packet(.tcp, "203.0.113.9", 61000, "198.51.100.1", 443))

        let reply = NATPacket(proto: .tcp, source: server, sourcePort: 443, destination: ip("203.0.113.9"), destinationPort: 61000)
        let received = try hal.natTranslate(reply, zone: .outside, bytes: 40, deadline: soon)
        #expect(received.sourceEntry == nil)
        #expect(
            received.destinationEntry == NATKey(zone: .outside, type: .destination, proto: .tcp, address: ip("203.0.113.9"), port: 61000))
        #expect(received.packet == packet(.tcp, "198.51.100.1", 443, "10.0.0.5", 40000))

        // Zones matter: the request arriving on the outside, the reply on the inside, match nothing.
        #expect(try !hal.natTranslate(request, zone: .outside, bytes: 1500, deadline: soon).translated)
        #expect(try !hal.natTranslate(reply, zone: .inside, bytes: 40, deadline: soon).translated)

        // Double NAT: one packet matching an SNAT and a DNAT entry of its zone gets both rewrites.
        try hal.natAdd(
            [
                NATEntry(
                    key: .basic(zone: .inside, type: .destination, address: server), translatedAddress: ip("10.9.9.9"), cookie: 4)
            ], deadline: soon)
        let both = try hal.natTranslate(request, zone: .inside, bytes: 1500, deadline: soon)
        #expect(both.sourceEntry != nil && both.destinationEntry != nil)
        #expect(both.packet == packet(.tcp, "203.0.113.9", 61000, "10.9.9.9", 443))

        // ICMP: the query identifier is the port, and a rewrite changes it in both fields.
        try hal.natAdd(translation(.icmp, inside: "10.0.0.7", 33, outside: "203.0.113.9", 5001, cookie: 5), deadline: soon)
        let ping = packet(.icmp, "10.0.0.7", 33, "198.51.100.2", 33)
        let pinged = try hal.natTranslate(ping, zone: .inside, bytes: 84, deadline: soon)
        #expect(pinged.packet == packet(.icmp, "203.0.113.9", 5001, "198.51.100.2", 5001))
        let pong = packet(.icmp, "198.51.100.2", 5001, "203.0.113.9", 5001)
        let ponged = try hal.natTranslate(pong, zone: .outside, bytes: 84, deadline: soon)
        #expect(ponged.packet == packet(.icmp, "198.51.100.2", 33, "10.0.0.7", 33))
    }

    /// Translation sets hit bits and counts; the poll reports each hit cookie once with the
    /// totals of all its entries and clears the bits, not the counters.
    @Test func hitBitsAreSetByTrafficAndClearedByCollection() throws {
        let hal = makeSwitch()
        try hal.natAdd(translation(.udp, inside: "10.0.0.5", 5000, outside: "203.0.113.9", 6000, cookie: 1), deadline: soon)
        try hal.natAdd(translation(.udp, inside: "10.0.0.6", 5000, outside: "203.0.113.9", 6001, cookie: 2), deadline: soon)
        try hal.natAdd(translation(.any, inside: "10.0.0.7", outside: "203.0.113.7", cookie: 3, isStatic: true), deadline: soon)
        #expect(try hal.natCollectHits(deadline: soon).isEmpty)

        let server = ip("198.51.100.1")
        for _ in 0..<3 {
            _ = try hal.natTranslate(
                NATPacket(proto: .udp, source: ip("10.0.0.5"), sourcePort: 5000, destination: server, destinationPort: 53), zone: .inside,
                bytes: 100, deadline: soon)
        }
        _ = try hal.natTranslate(
            NATPacket(proto: .udp, source: server, sourcePort: 53, destination: ip("203.0.113.9"), destinationPort: 6000), zone: .outside,
            bytes: 300, deadline: soon)
        _ = try hal.natTranslate(
            NATPacket(proto: .tcp, source: server, sourcePort: 80, destination: ip("203.0.113.7"), destinationPort: 8080), zone: .outside,
            bytes: 1000, deadline: soon)

        let snat = try hal.natGet(NATKey(zone: .inside, type: .source, proto: .udp, address: ip("10.0.0.5"), port: 5000), deadline: soon)
        #expect(snat.hit && snat.packets == 3 && snat.bytes == 300)
        #expect(try !hal.natGet(NATKey(zone: .inside, type: .source, proto: .udp, address: ip("10.0.0.6"), port: 5000), deadline: soon).hit)

        let hits = try hal.natCollectHits(deadline: soon)
        #expect(Set(hits.keys) == [1, 3])
        #expect(hits[1]?.packets == 4 && hits[1]?.bytes == 600)  // both of cookie 1's entries
        #expect(hits[3]?.packets == 1 && hits[3]?.bytes == 1000)
        // Clear-on-read: nothing until new traffic; counters stay.
        #expect(try hal.natCollectHits(deadline: soon).isEmpty)
        let after = try hal.natGet(snat.key, deadline: soon)
        #expect(!after.hit && after.packets == 3 && after.bytes == 300)
        #expect(try hal.natEntries(deadline: soon).allSatisfy { !$0.hit })

        // Only the inside entry sees traffic now: the cookie's totals still include both.
        _ = try hal.natTranslate(
            NATPacket(proto: .udp, source: ip("10.0.0.5"), sourcePort: 5000, destination: server, destinationPort: 53), zone: .inside,
            bytes: 100, deadline: soon)
        let next = try hal.natCollectHits(deadline: soon)
        #expect(next.count == 1 && next[1]?.packets == 5 && next[1]?.bytes == 700)
    }

    @Test func countersCountLookupsHitsAndMisses() throws {
        let hal = makeSwitch()
        try hal.natAdd(translation(.any, inside: "10.0.0.5", outside: "203.0.113.1", cookie: 1), deadline: soon)
        let server = ip("198.51.100.1")
        for n in 0..<10 {
            let source = n < 7 ? ip("10.0.0.5") : ip("10.0.0.99")
            _ = try hal.natTranslate(NATPacket(proto: .any, source: source, destination: server), zone: .inside, bytes: 64, deadline: soon)
        }
        #expect(throws: HALError.param("a packet cannot have -1 bytes")) {
            try hal.natTranslate(NATPacket(proto: .any, source: server, destination: server), zone: .inside, bytes: -1, deadline: soon)
        }
        let counters = try hal.natCounters(deadline: soon)
        #expect(counters.lookups == 10 && counters.hits == 7 && counters.misses == 3)
        #expect(counters.entries == 2 && counters.capacity == 64 && counters.adds == 2 && counters.deletes == 0 && counters.fullErrors == 0)
        #expect(try hal.natDeleteAll(cookies: nil, includeStatic: false, deadline: soon) == 2)
        #expect(try hal.natCounters(deadline: soon).deletes == 2)
    }

    @Test func deleteAllByCookieSparesStaticUnlessAsked() throws {
        let hal = makeSwitch()
        try hal.natAdd(translations(3, firstCookie: 1), deadline: soon)  // cookies 1-3, dynamic
        let statics = translations(2, firstCookie: 10, isStatic: true).map { entry in
            var entry = entry
            entry.key.port = entry.key.type == .source ? 2000 : entry.key.port + 100
            entry.translatedPort = entry.key.type == .source ? entry.translatedPort + 100 : 2000
            return entry
        }
        try hal.natAdd(statics, deadline: soon)  // cookies 10-11, static
        // Cookie 1 and a static cookie: only the dynamic ones go without includeStatic.
        #expect(try hal.natDeleteAll(cookies: [1, 10], includeStatic: false, deadline: soon) == 2)
        #expect(try hal.natCount(deadline: soon) == (8, 64, 4))
        #expect(try hal.natDeleteAll(cookies: [10], includeStatic: true, deadline: soon) == 2)
        #expect(try hal.natDeleteAll(cookies: [], includeStatic: true, deadline: soon) == 0)
        #expect(try hal.natDeleteAll(cookies: [999], includeStatic: true, deadline: soon) == 0)
        // Every cookie, dynamic only; then everything.
        #expect(try hal.natDeleteAll(cookies: nil, includeStatic: false, deadline: soon) == 4)
        #expect(try hal.natEntries(deadline: soon).map(\.cookie) == [11, 11])
        #expect(try hal.natDeleteAll(cookies: nil, includeStatic: true, deadline: soon) == 2)
        #expect(try hal.natCount(deadline: soon) == (0, 64, 0))
        #expect(try hal.natCounters(deadline: soon).deletes == 10)
    }

    /// Every NAT call gives up at its deadline when another thread holds nat.table, naming the
    /// lock, the holder and the operation; afterwards the table works.
    @Test func callsTimeOutNamingNatTable() throws {
        let hal = makeSwitch()
        try hal.natAdd(translation(.any, inside: "10.0.0.5", outside: "203.0.113.1", cookie: 1), deadline: soon)
        let key = NATKey.basic(zone: .inside, type: .source, address: ip("10.0.0.5"))
        let packet = NATPacket(proto: .any, source: ip("10.0.0.5"), destination: ip("198.51.100.1"))
        let held = DispatchHolder()
        held.hold(hal.locks.natTable, seconds: 3.0)
        let calls: [(String, (Instant) throws -> Void)] = [
            ("nat-add", { try hal.natAdd(translation(.any, inside: "10.0.0.6", outside: "203.0.113.2", cookie: 2), deadline: $0) }),
            ("nat-delete", { _ = try hal.natDelete([key], deadline: $0) }),
            ("nat-delete-all", { _ = try hal.natDeleteAll(cookies: nil, includeStatic: true, deadline: $0) }),
            ("nat-get", { _ = try hal.natGet(key, deadline: $0) }),
            ("nat-traverse", { _ = try hal.natEntries(deadline: $0) }),
            ("nat-count", { _ = try hal.natCount(deadline: $0) }),
            ("nat-collect-hits", { _ = try hal.natCollectHits(deadline: $0) }),
            ("nat-translate", { _ = try hal.natTranslate(packet, zone: .inside, bytes: 64, deadline: $0) }),
            ("nat-counters", { _ = try hal.natCounters(deadline: $0) }),
        ]
        let started = SystemClock.now
        for (operation, call) in calls {
            do {
                try call(SystemClock.deadline(after: .milliseconds(100)))
                Issue.record("\(operation) did not time out")
            } catch let error as HALError {
                guard case .timeout(let info) = error else {
                    Issue.record("\(operation): wrong error \(error)")
                    continue
                }
                #expect(info.lock == "nat.table")
                #expect(info.operation == operation)
                #expect(info.holderThread == "holder")
                #expect(info.waitedSeconds >= 0.09)
                #expect(error.description.hasPrefix("HAL timeout: \(operation) waited 0.1 s for lock nat.table held by thread holder for"))
            }
        }
        // Nine 0.1 s deadlines, well before the holder lets go: the deadlines ended the waits.
        #expect(SystemClock.elapsed(since: started).inSeconds < 2.5)
        #expect(hal.lockSnapshots.first { $0.name == "nat.table" }?.timeouts == 9)
        held.join()
        #expect(try hal.natCount(deadline: SystemClock.deadline(after: .milliseconds(500))) == (2, 64, 0))
        #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())")
    }

    @Test func lockIsRankedAndListed() {
        let hal = makeSwitch()
        #expect(HALLocks.Rank.l2Table < HALLocks.Rank.natTable && HALLocks.Rank.natTable < HALLocks.Rank.generator)
        let snapshot = hal.lockSnapshots.first { $0.name == "nat.table" }
        #expect(snapshot?.rank == 25)
        #expect(hal.locks.all.map(\.name) == ["hal.ports", "l2.table", "nat.table", "hal.generator", "hal.subscribers"])
    }

    @Test func callsAreTracedAndFaultsApply() throws {
        let hal = makeSwitch()
        let lines = Lines()
        hal.trace.setSink { lines.append($0) }
        hal.trace.isEnabled = true
        try hal.natAdd(translation(.tcp, inside: "10.0.0.5", 40000, outside: "203.0.113.9", 61000, cookie: 7), deadline: soon)
        _ = try? hal.natGet(.basic(zone: .outside, type: .destination, address: ip("198.51.100.1")), deadline: soon)
        _ = try hal.natDeleteAll(cookies: [7], includeStatic: false, deadline: soon)
        hal.trace.isEnabled = false
        let all = lines.all
        #expect(all.count == 3, "\(all)")
        #expect(
            all.first?.contains("nat_entry_add(count=2, first=inside snat tcp 10.0.0.5:40000 -> 203.0.113.9:61000 cookie 7) = 0 <")
                == true)
        #expect(all.dropFirst().first?.contains("nat_entry_get(key=outside dnat any 198.51.100.1) = -7 NOT_FOUND") == true)
        #expect(all.last?.contains("nat_entry_delete_all(cookies={7}, static=no) = 0 <") == true)

        hal.faults.fail("nat_entry_add", count: 1, with: .resource("injected"))
        let pair = translation(.any, inside: "10.0.0.6", outside: "203.0.113.6", cookie: 8)
        #expect(throws: HALError.resource("injected")) { try hal.natAdd(pair, deadline: soon) }
        try hal.natAdd(pair, deadline: soon)
    }

    /// The control plane's scale: 100,000 translations (200,000 entries) on trident2. Single
    /// calls stay O(1) at that size; only the walks (snapshot, poll, delete-all) are O(n).
    @Test func holdsAHundredThousandTranslations() throws {
        let hal = makeSwitch(.trident2)
        let count = 100_000
        var batch: [NATEntry] = []
        batch.reserveCapacity(2000)
        for n in 0..<count {
            let inside = IPv4Address(0x0a00_0000 + UInt32(n / 8))  // 10.x.y.z, 8 ports each
            let port = UInt16(1024 + n % 8)
            let outside = IPv4Address(0xcb00_7100 + UInt32(n / 60000))  // 203.0.113.0, .1
            let outsidePort = UInt16(1024 + n % 60000)
            batch.append(
                NATEntry(
                    key: NATKey(zone: .inside, type: .source, proto: .tcp, address: inside, port: port), translatedAddress: outside,
                    translatedPort: outsidePort, cookie: UInt64(n)))
            batch.append(
                NATEntry(
                    key: NATKey(zone: .outside, type: .destination, proto: .tcp, address: outside, port: outsidePort),
                    translatedAddress: inside, translatedPort: port, cookie: UInt64(n)))
            if batch.count == 2000 {
                try hal.natAdd(batch, deadline: soon)
                batch.removeAll(keepingCapacity: true)
            }
        }
        #expect(try hal.natCount(deadline: soon) == (200_000, 262_144, 0))

        // Single calls at full size: a thousand adds, translations and deletes (their speed is
        // measured by the NAT benchmark, not here).
        for n in 0..<1000 {
            let extra = translation(
                .udp, inside: "10.200.\(n / 250).\(n % 250 + 1)", 53, outside: "203.0.113.200", UInt16(2000 + n),
                cookie: 1_000_000 + UInt64(n))
            try hal.natAdd(extra, deadline: soon)
            let result = try hal.natTranslate(
                NATPacket(proto: .tcp, source: IPv4Address(0x0a00_0000 + UInt32(n)), sourcePort: UInt16(1024 + n % 8),
                    destination: ip("198.51.100.1"), destinationPort: 443), zone: .inside, bytes: 64, deadline: soon)
            #expect(result.translated)
            #expect(try hal.natDelete(extra.map(\.key), deadline: soon) == 2)
        }

        let hits = try hal.natCollectHits(deadline: soon)
        #expect(hits.count == 1000)
        #expect(try hal.natEntries(deadline: soon).count == 200_000)
        #expect(try hal.natDeleteAll(cookies: Set((0..<50_000).map(UInt64.init)), includeStatic: false, deadline: soon) == 100_000)
        #expect(try hal.natDeleteAll(cookies: nil, includeStatic: false, deadline: soon) == 100_000)
        #expect(try hal.natCount(deadline: soon) == (0, 262_144, 0))
    }

    // MARK: Reservations (static mappings)

    /// A reservation holds a slot without matching; the entry added under its key takes that
    /// slot; deleted, the entry gives the slot back to the reservation; unreserved, the slot is
    /// free (or the entry stays as an ordinary one).
    @Test func aReservationHoldsItsSlotWithoutMatching() throws {
        let hal = makeSwitch()
        let pair = translation(.any, inside: "10.0.0.5", outside: "203.0.113.5", cookie: 2, isStatic: true)
        try hal.natReserve(pair.map(\.key), deadline: soon)
        var counters = try hal.natCounters(deadline: soon)
        #expect(counters.entries == 0 && counters.reserved == 2 && counters.idleReserved == 2)
        #expect(try hal.natReservations(pair.map(\.key), deadline: soon) == Set(pair.map(\.key)))
        // Nothing matches a reservation.
        let outbound = packet(.tcp, "10.0.0.5", 4000, "198.51.100.1", 80)
        #expect(!(try hal.natTranslate(outbound, zone: .inside, bytes: 60, deadline: soon)).translated)
        #expect(try hal.natEntries(deadline: soon).isEmpty)
        // Reserving again changes nothing.
        try hal.natReserve(pair.map(\.key), deadline: soon)
        #expect(try hal.natCounters(deadline: soon).reserved == 2)

        try hal.natAdd(pair, deadline: soon)
        counters = try hal.natCounters(deadline: soon)
        #expect(counters.entries == 2 && counters.reserved == 2 && counters.idleReserved == 0)
        #expect(try hal.natTranslate(outbound, zone: .inside, bytes: 60, deadline: soon).packet.source == ip("203.0.113.5"))
        // Deleted (the mapping went inactive): the slots stay held.
        #expect(try hal.natDelete(pair.map(\.key), deadline: soon) == 2)
        counters = try hal.natCounters(deadline: soon)
        #expect(counters.entries == 0 && counters.idleReserved == 2)
        // Even by a walk that deletes every entry.
        try hal.natAdd(pair, deadline: soon)
        #expect(try hal.natDeleteAll(cookies: nil, includeStatic: true, deadline: soon) == 2)
        #expect(try hal.natCounters(deadline: soon).idleReserved == 2)

        // Unreserved with its entry present: the entry stays, as an ordinary one.
        try hal.natAdd(pair, deadline: soon)
        #expect(try hal.natUnreserve([pair[0].key], deadline: soon) == 1)
        #expect(try hal.natDelete([pair[0].key], deadline: soon) == 1)
        counters = try hal.natCounters(deadline: soon)
        #expect(counters.entries == 1 && counters.reserved == 1 && counters.idleReserved == 0)
        // Unreserved without: the slot is free.
        #expect(try hal.natDelete([pair[1].key], deadline: soon) == 1)
        #expect(try hal.natUnreserve(pair.map(\.key), deadline: soon) == 1)
        counters = try hal.natCounters(deadline: soon)
        #expect(counters.entries == 0 && counters.reserved == 0 && counters.idleReserved == 0)
        #expect(try hal.natReservations(pair.map(\.key), deadline: soon).isEmpty)
    }

    /// Reservations fill the table like entries: once a key's buckets hold only reservations
    /// and static entries it is FULL (counted), all or nothing; an ordinary add cannot take a
    /// reserved slot.
    @Test func reservationsAreRefusedWhenTheirBucketsAreFull() throws {
        let hal = makeSwitch(.small)
        var reserved: [NATKey] = []
        var refusal: HALError?
        for n in 0..<64 {
            let keys = translation(.any, inside: "10.0.0.\(n + 1)", outside: "203.0.113.\(n + 1)", cookie: UInt64(n + 1), isStatic: true).map(\.key)
            do {
                try hal.natReserve(keys, deadline: soon)
                reserved += keys
            } catch let error as HALError {
                refusal = error
                break
            }
        }
        let error = try #require(refusal, "64 mappings (128 slots) cannot fit 64")
        #expect(error.code == -6 && error.message.contains("60 entries are reserved for static mappings, as many as this chip sets aside"), "\(error)")
        let counters = try hal.natCounters(deadline: soon)
        #expect(counters.reserved == reserved.count, "the refused mapping's first key was taken back")
        #expect(counters.fullErrors == 1)
        // A dynamic translation finds no room in reserved slots either, once their buckets are full.
        var refusedDynamic = false
        for n in 0..<64 where !refusedDynamic {
            do {
                try hal.natAdd(translation(.tcp, inside: "10.1.0.\(n + 1)", 1000, outside: "198.51.100.1", UInt16(2000 + n), cookie: UInt64(100 + n)), deadline: soon)
            } catch HALError.full(_) {
                refusedDynamic = true
            }
        }
        #expect(refusedDynamic)
        #expect(try hal.natCounters(deadline: soon).reserved == reserved.count)
    }

    /// With a key's buckets full of dynamic entries, a reservation takes a dynamic entry's slot:
    /// that translation's two entries go, and its cookie is reported once.
    @Test func aReservationEvictsADynamicTranslation() throws {
        let hal = makeSwitch(.small)
        // Fill the table with dynamic translations until one does not fit.
        var cookie: UInt64 = 1
        while true {
            let pair = translation(.tcp, inside: "10.0.\(cookie / 250).\(cookie % 250 + 1)", 1000, outside: "203.0.113.1", UInt16(10000 + cookie), cookie: cookie << 1)
            do { try hal.natAdd(pair, deadline: soon) } catch { break }
            cookie += 1
        }
        let before = try hal.natCounters(deadline: soon).entries
        // Reservations until one of them has to evict.
        var n = 0
        while try hal.natCounters(deadline: soon).evictions == 0, n < 64 {
            try hal.natReserve(translation(.any, inside: "10.9.0.\(n + 1)", outside: "192.0.2.\(n + 1)", cookie: 1, isStatic: true).map(\.key), deadline: soon)
            n += 1
        }
        let evicted = try hal.natTakeEvicted(deadline: soon)
        let counters = try hal.natCounters(deadline: soon)
        #expect(!evicted.isEmpty && UInt64(evicted.count) == counters.evictions)
        // Each evicted translation lost both of its entries (cookie and partner cookie alike).
        #expect(counters.entries == before - 2 * evicted.count, "entries \(before) -> \(counters.entries), evicted \(evicted)")
        for victim in evicted {
            #expect(!(try hal.natEntries(deadline: soon)).contains { $0.cookie >> 1 == victim >> 1 })
        }
        #expect(try hal.natTakeEvicted(deadline: soon).isEmpty, "reported once")
    }

    /// Which static mappings fit does not depend on the order they are configured in: a set
    /// accepted one at a time (in a random order, up to the first refusal and past it) fits a
    /// new table in its saved, sorted order, and reversed. Entries move to their other buckets
    /// to make room, as an SDK's insert with moves does; without that the saved configuration
    /// of a nearly full table would not load back.
    @Test func whatFitsDoesNotDependOnTheOrder() throws {
        var rng = SystemRandomNumberGenerator()
        for chip in [ChipProfile.small, .tomahawk] {
            let mappings = (0..<(chip.natEntries / 2 + 64)).map { n in
                translation(.any, inside: "10.\(n / 65536).\(n / 256 % 256).\(n % 256)", outside: "100.\(n / 65536).\(n / 256 % 256).\(n % 256)", cookie: UInt64(n + 1), isStatic: true).map(\.key)
            }.shuffled(using: &rng)
            let first = makeSwitch(chip)
            var accepted: [[NATKey]] = []
            for keys in mappings {
                if (try? first.natReserve(keys, deadline: soon)) != nil { accepted.append(keys) }
            }
            // Up to the static limit (15/16 of the table) every mapping fits, in whatever order.
            let used = try first.natCounters(deadline: soon).idleReserved
            #expect(used == first.nat.staticLimit, "\(chip.name): \(used) of \(chip.natEntries) slots held")
            for order in [accepted.sorted { $0[0] < $1[0] }, accepted.reversed()] {
                let again = makeSwitch(chip)
                var refused = 0
                for keys in order where (try? again.natReserve(keys, deadline: soon)) == nil { refused += 1 }
                #expect(refused == 0, "\(chip.name): \(refused) of \(accepted.count) accepted mappings do not fit in another order")
            }
            #expect(try first.natCounters(deadline: soon).moves > 0)
        }
    }
}
