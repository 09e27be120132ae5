import NetTypes
import TestSupport
import Testing
import Time

@testable import NAT

/// The HAL NAT table as the engine's change stream must keep it: removes find what they remove,
/// adds never meet a key that holds a different translation (the HAL would answer EXISTS).
struct ModelHAL {
    struct Key: Hashable { var zone: NATZone; var snat: Bool; var proto: L4Protocol; var match: Endpoint }
    var entries: [Key: HardwareEntry] = [:]
    var problems: [String] = []

    static func key(_ e: HardwareEntry) -> Key { Key(zone: e.zone, snat: e.rewritesSource, proto: e.proto, match: e.match) }

    mutating func apply(_ changes: HardwareChanges, _ what: String) {
        for entry in changes.remove {
            if entries.removeValue(forKey: Self.key(entry)) == nil { problems.append("\(what): removes an absent entry \(entry)") }
        }
        for entry in changes.add {
            if let old = entries[Self.key(entry)], old.translated != entry.translated {
                problems.append("\(what): EXISTS, \(entry) over \(old)")
            }
            entries[Self.key(entry)] = entry
        }
    }
}

/// Random configurations, flows, hits, expiries, clears, refusals and VRRP changes, seeded: after
/// every step the engine's indexes agree with its translations, no two translations want one HAL
/// key, every port and address has one owner, and the HAL built from the engine's changes alone
/// equals what the engine says the HAL should hold. (This is the check that would have caught
/// two extendable statics colliding in the HAL.) A twin engine told each configuration change
/// incrementally (`configure(_:_:changed:)`, `setMasters`) ends every step with the same
/// translations as the one configured from scratch, and the engine answers the reconciler's
/// question (the entry under each HAL key) as its change stream built the HAL.
@Suite struct NATRandomizedTests {
    static let seeds: [UInt64] = Array(1...200)

    @Test(arguments: seeds) func theChangeStreamKeepsTheHALExact(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var engine = NATEngine()
        var twin = NATEngine()
        var hal = ModelHAL()
        var config = NATConfig()
        var env = environment()
        env.setHolders(VRID(5)!, [.svi(20)])
        var now = Instant.zero
        config.accessLists[1] = [AccessListEntry(action: .deny, match: .host(ip("10.0.0.9"))),
                                 AccessListEntry(action: .permit, match: .wildcard(ip("10.0.0.0"), ip("0.0.0.255")))]
        config.accessLists[2] = [AccessListEntry(action: .permit, match: .wildcard(ip("10.0.1.0"), ip("0.0.0.255")))]
        config.timeouts[.udpTimeout] = 5
        config.timeouts[.synTimeout] = 3
        config.timeouts[.timeout] = 20

        // The mappings the run picks from: conflicting ones are refused as the CLI would.
        let candidates: [StaticMapping] = [
            StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.5"), extendable: true),
            StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.6"), extendable: true),
            StaticMapping(direction: .inside, local: ep("10.0.0.7"), global: ep("203.0.113.10")),
            StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.0.8", 80), global: ep("203.0.113.1", 80)),
            StaticMapping(direction: .inside, proto: .udp, local: ep("10.0.0.8", 53), global: ep("203.0.113.11", 53)),
            StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.1.4", 22), global: ep("203.0.113.12", 2222), extendable: true,
                          redundancy: .init(vrid: VRID(5)!, interface: nil)),
            StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.1.4", 22), global: ep("203.0.113.12", 2223), extendable: true,
                          redundancy: .init(vrid: VRID(5)!, interface: nil)),
            StaticMapping(direction: .outside, local: ep("10.0.0.99"), global: ep("198.51.100.9")),
        ]
        let rules: [DynamicRule?] = [
            nil, DynamicRule(accessList: 1, target: .pool("P"), overload: true), DynamicRule(accessList: 1, target: .pool("P"), overload: false),
            DynamicRule(accessList: 1, target: .interface(.svi(20)), overload: true),
        ]
        func configure(_ what: String, _ changed: NATChange? = nil) {
            let (changes, _) = engine.configure(config, env, now: now)
            hal.apply(changes, what)
            if let changed { _ = twin.configure(config, env, changed: changed, now: now) } else { _ = twin.configure(config, env, now: now) }
        }
        func change(_ edit: (inout NATChange) -> Void) -> NATChange {
            var c = NATChange()
            edit(&c)
            return c
        }
        config.pools["P"] = pool("P", "203.0.113.10", "203.0.113.12")
        config.rules[2] = DynamicRule(accessList: 2, target: .pool("Q"), overload: true)
        config.pools["Q"] = pool("Q", "203.0.113.20", "203.0.113.20")
        configure("start")

        for step in 0..<250 {
            let what = "seed \(seed) step \(step)"
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<10:
                // A static mapping in or out (refused when it conflicts, as the CLI does).
                let mapping = candidates.randomElement(using: &rng)!
                if config.statics[mapping.identity] != nil {
                    config.statics.remove(mapping.identity)
                } else if config.statics.conflict(for: mapping) == nil {
                    // The index's conflict check agrees with the pairwise one.
                    #expect(!config.statics.contains { mapping.conflict(with: $0) != nil }, "\(what): a conflict the index missed")
                    config.statics.insert(mapping)
                } else {
                    #expect(config.statics.contains { mapping.conflict(with: $0) != nil }, "\(what): a conflict the index invented")
                }
                configure(what, change { $0.statics = [mapping.identity] })
            case 10..<15:
                config.rules[1] = rules.randomElement(using: &rng)!
                configure(what, change { $0.rules = [1] })
            case 15..<19:
                // VRRP: this switch becomes Master of group 5, or stops being it.
                env.masterGroups = Bool.random(using: &rng) ? [GroupRef(interface: .svi(20), vrid: VRID(5)!)] : []
                let (changes, _) = engine.configure(config, env, now: now)
                hal.apply(changes, what)
                _ = twin.setMasters(Set(env.masterGroups), now: now)
            case 19..<21:
                env.subnets[.svi(20)] = [IPv4Prefix(parsing: Bool.random(using: &rng) ? "203.0.113.1/24" : "203.0.113.2/24")!]
                configure(what, change { $0.interfaces = [.svi(20)] })
            case 21..<70:
                // A packet from inside or outside; sometimes the HAL refuses the new entries.
                let proto: L4Protocol = [.tcp, .udp, .icmp].randomElement(using: &rng)!
                let inside = Int.random(in: 0..<4, using: &rng) > 0
                let insideHost = ep(["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9", "10.0.1.4", "10.0.1.5"].randomElement(using: &rng)!,
                                    UInt16.random(in: 1020...1030, using: &rng))
                let far = ep(["198.51.100.1", "198.51.100.9", "10.0.0.99"].randomElement(using: &rng)!, [53, 80, 443].randomElement(using: &rng)!)
                let flags: TCPFlags = [[.ack], [.syn], [.fin, .ack], [.rst]].randomElement(using: &rng)!
                var packet: FlowPacket
                if inside {
                    packet = FlowPacket(proto: proto, source: insideHost, destination: far, flags: flags)
                } else {
                    let global = ep(["203.0.113.1", "203.0.113.5", "203.0.113.10", "203.0.113.11", "203.0.113.20"].randomElement(using: &rng)!,
                                    UInt16.random(in: 1020...1030, using: &rng))
                    packet = FlowPacket(proto: proto, source: far, destination: global, flags: flags)
                }
                if proto == .icmp { packet.destination.port = packet.source.port }
                let d = engine.process(packet, from: inside ? .inside : .outside, now: now, commit: true, explain: false)
                _ = twin.process(packet, from: inside ? .inside : .outside, now: now, commit: true, explain: false)
                if d.created, let id = d.translationID, Int.random(in: 0..<10, using: &rng) == 0 {
                    engine.abandon(id, reason: .hardwareFull)
                    twin.abandon(id, reason: .hardwareFull)
                } else {
                    hal.apply(d.changes, what)
                }
            case 70..<80:
                // The HAL's hit bits for a random half of the entries.
                var hits: [UInt64: (packets: UInt64, bytes: UInt64)] = [:]
                for entry in hal.entries.values where Bool.random(using: &rng) { hits[entry.cookie] = (1, 64) }
                engine.recordHits(hits, now: now)
                twin.recordHits(hits, now: now)
            case 80..<92:
                now += .milliseconds(UInt64.random(in: 100...4000, using: &rng))
                let (changes, _) = engine.expire(now: now)
                _ = twin.expire(now: now)
                hal.apply(changes, what)
            case 92..<96:
                let victim = engine.translations.values.filter { !$0.isStatic }.randomElement(using: &rng)
                let (changes, _) = engine.clear { $0.id == victim?.id }
                _ = twin.clear { $0.id == victim?.id }
                hal.apply(changes, what)
            default:
                let (changes, _) = engine.clear { _ in true }
                _ = twin.clear { _ in true }
                hal.apply(changes, what)
            }
            check(engine, hal, what)
            #expect(twin.translations == engine.translations, "\(what): the incrementally configured engine differs")
            if twin.translations != engine.translations { break }
            if !hal.problems.isEmpty { break }
        }
        #expect(hal.problems.isEmpty, "\(hal.problems.prefix(3))")
    }

    func check(_ engine: NATEngine, _ hal: ModelHAL, _ what: String) {
        // The HAL built from the changes is the HAL the engine wants, and no key is wanted twice.
        let wanted = engine.hardwareEntries
        let keys = wanted.map(ModelHAL.key)
        #expect(Set(keys).count == keys.count, "\(what): two translations want one HAL key")
        var expected: [ModelHAL.Key: HardwareEntry] = [:]
        for entry in wanted { expected[ModelHAL.key(entry)] = entry }
        #expect(expected.count == hal.entries.count, "\(what): HAL has \(hal.entries.count) entries, the engine wants \(expected.count)")
        for (key, entry) in expected where hal.entries[key]?.translated != entry.translated || hal.entries[key]?.cookie != entry.cookie {
            Issue.record("\(what): HAL entry \(String(describing: hal.entries[key])) but the engine wants \(entry)")
            break
        }
        // The entry under each HAL key, as the reconciler asks for it.
        for (key, entry) in hal.entries {
            let lookup = engine.hardwareEntry(zone: key.zone, rewritesSource: key.snat, proto: key.proto, match: key.match)
            if lookup != entry {
                Issue.record("\(what): the engine's entry under \(key) is \(String(describing: lookup)), the HAL holds \(entry)")
                break
            }
        }
        // Counts and owners.
        let dynamic = engine.translations.values.filter { !$0.isStatic }
        #expect(engine.dynamicCount == dynamic.count, "\(what): dynamicCount")
        var portOwners = Set<String>()
        var simpleGlobals = Set<IPv4Address>()
        for t in engine.translations.values where t.direction == .inside {
            guard let global = t.insideGlobal else { continue }
            if t.isExtended {
                #expect(portOwners.insert("\(t.proto) \(global)").inserted, "\(what): two translations on \(t.proto) \(global)")
                if !t.isStatic { #expect(global.port >= 1024, "\(what): dynamic port \(global.port)") }
            } else {
                #expect(simpleGlobals.insert(global.address).inserted, "\(what): two one-to-one translations on \(global.address)")
            }
        }
        // An address owned one-to-one carries no port translations.
        for t in engine.translations.values where t.isExtended && t.direction == .inside {
            #expect(!simpleGlobals.contains(t.insideGlobal!.address), "\(what): a port translation on \(t.insideGlobal!.address), which a one-to-one translation owns")
        }
    }
}
