import NetTypes
import Testing
import Time

@testable import NAT

func ip(_ text: String) -> IPv4Address { IPv4Address(parsing: text)! }
func ep(_ text: String, _ port: UInt16 = 0) -> Endpoint { Endpoint(ip(text), port) }

/// A switch with vlan10 inside (10.0.0.0/24) and vlan20 outside (203.0.113.1/24).
func environment() -> NATEnvironment {
    var env = NATEnvironment()
    env.setRole(.inside, of: .svi(10))
    env.setRole(.outside, of: .svi(20))
    env.subnets = [.svi(10): [IPv4Prefix(parsing: "10.0.0.1/24")!], .svi(20): [IPv4Prefix(parsing: "203.0.113.1/24")!]]
    return env
}

extension NATEnvironment {
    /// Sets the holders of VRRP group `vrid` (tests).
    mutating func setHolders(_ vrid: VRID, _ names: [InterfaceID]) {
        for name in holders(of: vrid) { setGroup(vrid, on: name, present: false) }
        for name in names { setGroup(vrid, on: name, present: true) }
    }
}

func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16, _ flags: TCPFlags = [.ack]) -> FlowPacket {
    FlowPacket(proto: .tcp, source: ep(src, sport), destination: ep(dst, dport), flags: flags)
}

func udp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> FlowPacket {
    FlowPacket(proto: .udp, source: ep(src, sport), destination: ep(dst, dport))
}

func pool(_ name: String, _ start: String, _ end: String, _ length: Int = 24) -> NATPool {
    NATPool(name: name, start: ip(start), end: ip(end), prefixLength: length, typedAsNetmask: false)
}

/// Dynamic NAT (no overload) for every source from a pool of the one address 203.0.113.10.
func oneAddressPool(_ config: inout NATConfig) {
    config.accessLists[1] = [AccessListEntry(action: .permit, match: .any)]
    config.pools["P"] = pool("P", "203.0.113.10", "203.0.113.10")
    config.rules[1] = DynamicRule(accessList: 1, target: .pool("P"), overload: false)
}

/// An engine configured by `build` in `env`, and the HAL changes of that first configuration.
func makeEngine(_ build: (inout NATConfig) -> Void, env: NATEnvironment = environment()) -> (NATEngine, HardwareChanges) {
    var config = NATConfig()
    build(&config)
    var engine = NATEngine()
    let (changes, _) = engine.configure(config, env, now: ms(0))
    return (engine, changes)
}

@Suite struct AccessListTests {
    @Test func firstMatchWinsAndTheEndDenies() {
        let list = [
            AccessListEntry(action: .deny, match: .host(ip("10.0.0.9"))),
            AccessListEntry(action: .permit, match: .wildcard(ip("10.0.0.0"), ip("0.0.0.255"))),
        ]
        #expect(AccessLists.evaluate(list, ip("10.0.0.9")) == AccessListVerdict(permitted: false, line: 1, entry: list[0]))
        #expect(AccessLists.evaluate(list, ip("10.0.0.5")).permitted)
        #expect(AccessLists.evaluate(list, ip("10.0.0.5")).line == 2)
        let none = AccessLists.evaluate(list, ip("10.0.1.5"))
        #expect(!none.permitted && none.line == nil)
        #expect(none.description == "no line matched: implicit deny")
        #expect(!AccessLists.evaluate(nil, ip("10.0.0.5")).permitted)
    }

    @Test func wildcardsAreNormalised() {
        // Host bits under the wildcard are dropped, as IOS does; 0.0.0.0 is a host, all ones is any.
        #expect(AccessListEntry(action: .permit, match: .wildcard(ip("10.0.0.77"), ip("0.0.0.255"))).sourceText == "10.0.0.0 0.0.0.255")
        #expect(AccessListEntry(action: .permit, match: .wildcard(ip("10.0.0.7"), ip("0.0.0.0"))).match == .host(ip("10.0.0.7")))
        #expect(AccessListEntry(action: .permit, match: .wildcard(ip("1.2.3.4"), ip("255.255.255.255"))).match == .any)
        // Non-contiguous wildcards work as bit masks: even hosts of 10.0.0.0/24.
        let even = AccessListEntry(action: .permit, match: .wildcard(ip("10.0.0.0"), ip("0.0.0.254")))
        #expect(even.matches(ip("10.0.0.4")) && !even.matches(ip("10.0.0.5")))
    }
}

@Suite struct PoolAndMappingTests {
    @Test func poolProblems() {
        #expect(pool("P", "203.0.113.10", "203.0.113.20").problem == nil)
        #expect(pool("P", "203.0.113.20", "203.0.113.10").problem?.contains("below its start") == true)
        #expect(pool("P", "203.0.113.10", "203.0.114.20").problem == "203.0.113.10 and 203.0.114.20 are not in the same /24 network")
        #expect(NATPool.prefixLength(ofNetmask: ip("255.255.255.0")) == 24)
        #expect(NATPool.prefixLength(ofNetmask: ip("255.0.255.0")) == nil)
        #expect(pool("P", "203.0.113.10", "203.0.113.20").size == 11)
    }

    @Test func staticConflicts() {
        let a = StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.5"))
        let sameGlobal = StaticMapping(direction: .inside, local: ep("10.0.0.6"), global: ep("203.0.113.5"))
        let sameLocal = StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.6"))
        #expect(a.conflict(with: a) == nil)
        #expect(sameGlobal.conflict(with: a) == "203.0.113.5 is already a global address of 10.0.0.5 (ip nat inside source static 10.0.0.5 203.0.113.5)")
        #expect(sameLocal.conflict(with: a)?.contains("add extendable to both") == true)
        var ea = a
        ea.extendable = true
        var eb = sameLocal
        eb.extendable = true
        #expect(eb.conflict(with: ea) == nil)
        let web = StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.0.5", 80), global: ep("203.0.113.7", 8080))
        let web2 = StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.0.6", 80), global: ep("203.0.113.7", 8080))
        let udpSame = StaticMapping(direction: .inside, proto: .udp, local: ep("10.0.0.6", 80), global: ep("203.0.113.7", 8080))
        #expect(web2.conflict(with: web)?.hasPrefix("tcp 203.0.113.7:8080 is already the global side of 10.0.0.5:80") == true)
        #expect(udpSame.conflict(with: web) == nil)
        #expect(web.line == "ip nat inside source static tcp 10.0.0.5 80 203.0.113.7 8080")
        let outside = StaticMapping(direction: .outside, local: ep("10.0.0.9"), global: ep("198.51.100.9"))
        #expect(outside.line == "ip nat outside source static 198.51.100.9 10.0.0.9")
        #expect(outside.conflict(with: a) == nil)
    }

    @Test func timeoutsHaveIOSDefaults() {
        var t = NATTimeouts()
        #expect(t[.timeout] == 86400 && t[.udpTimeout] == 300 && t[.dnsTimeout] == 60 && t[.tcpTimeout] == 86400)
        #expect(t[.finrstTimeout] == 60 && t[.icmpTimeout] == 60 && t[.synTimeout] == 60)
        t[.udpTimeout] = nil
        #expect(t[.udpTimeout] == nil && !t.isDefault(.udpTimeout))
        t.reset(.udpTimeout)
        #expect(t == NATTimeouts())
    }
}

@Suite struct NATEngineTests {
    func engine(_ build: (inout NATConfig) -> Void, env: NATEnvironment = environment()) -> (NATEngine, HardwareChanges) {
        makeEngine(build, env: env)
    }

    static func patConfig(_ config: inout NATConfig) {
        config.accessLists[1] = [AccessListEntry(action: .permit, match: .wildcard(ip("10.0.0.0"), ip("0.0.0.255")))]
        config.pools["PUBLIC"] = pool("PUBLIC", "203.0.113.10", "203.0.113.11")
        config.rules[1] = DynamicRule(accessList: 1, target: .pool("PUBLIC"), overload: true)
    }

    @Test func staticNATInstallsBothDirections() {
        let (engine, changes) = engine {
            $0.statics = [StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.5"))]
        }
        #expect(changes.remove.isEmpty)
        #expect(Set(changes.add.map { "\($0.zone) \($0.rewritesSource ? "snat" : "dnat") \($0.match) -> \($0.translated)" })
                == ["inside snat 10.0.0.5 -> 203.0.113.5", "outside dnat 203.0.113.5 -> 10.0.0.5"])
        #expect(changes.add.allSatisfy { $0.isStatic && $0.proto == .any })
        #expect(engine.translations.count == 1)
        #expect(engine.sortedTranslations.first?.kind == .staticSimple)
    }

    @Test func patPreservesPortsThenTakesTheNextFree() {
        var (engine, _) = engine(Self.patConfig)
        let first = engine.process(tcp("10.0.0.5", 40000, "198.51.100.1", 80, [.syn]), from: .inside, now: ms(0), commit: true)
        #expect(first.outcome == .translated)
        #expect(first.packet.source == ep("203.0.113.10", 40000))
        #expect(first.created)
        #expect(first.changes.add.count == 2)
        // Another host, same source port: the port is kept on the pool's next address.
        let second = engine.process(tcp("10.0.0.6", 40000, "198.51.100.1", 80), from: .inside, now: ms(0), commit: true)
        #expect(second.packet.source == ep("203.0.113.11", 40000))
        // A third: both addresses have 40000 taken, so the next free port.
        let third = engine.process(tcp("10.0.0.7", 40000, "198.51.100.1", 80), from: .inside, now: ms(0), commit: true)
        #expect(third.packet.source.address == ip("203.0.113.10"))
        #expect(third.packet.source.port >= 1024 && third.packet.source.port != 40000)
        // Low source ports are never kept.
        let low = engine.process(udp("10.0.0.8", 53, "198.51.100.1", 53), from: .inside, now: ms(0), commit: true)
        #expect(low.packet.source.port >= 1024)
        // The same flow again finds its translation.
        let again = engine.process(tcp("10.0.0.5", 40000, "198.51.100.1", 80), from: .inside, now: ms(5), commit: true)
        #expect(again.packet.source == ep("203.0.113.10", 40000))
        #expect(!again.created)
        // The reply from outside maps back.
        let reply = engine.process(tcp("198.51.100.1", 80, "203.0.113.10", 40000), from: .outside, now: ms(5), commit: true)
        #expect(reply.packet.destination == ep("10.0.0.5", 40000))
        #expect(engine.counters.misses == 4)
        #expect(engine.counters.hits == 2)
        #expect(engine.usage(ofPool: "PUBLIC") == NATEngine.PoolUsage(total: 2, allocated: 2, ports: 4, misses: 0))
    }

    @Test func deniedOrUnmatchedSourcesPassUntranslated() {
        var (engine, _) = engine { config in
            Self.patConfig(&config)
            config.accessLists[1]!.prepend(AccessListEntry(action: .deny, match: .host(ip("10.0.0.66"))))
        }
        let denied = engine.process(tcp("10.0.0.66", 1234, "198.51.100.1", 80), from: .inside, now: ms(0), commit: true)
        #expect(denied.outcome == .untranslated)
        #expect(denied.steps.contains("access-list 1 line 1 \"deny 10.0.0.66\": deny"))
        let other = engine.process(tcp("192.168.1.1", 1234, "198.51.100.1", 80), from: .inside, now: ms(0), commit: true)
        #expect(other.outcome == .untranslated)
        #expect(engine.counters.untranslated == 2)
        #expect(engine.translations.isEmpty)
    }

    @Test func dynamicNATTakesAnAddressPerHostAndRunsOut() {
        var (engine, _) = engine { config in
            config.accessLists[1] = [AccessListEntry(action: .permit, match: .any)]
            config.pools["TWO"] = pool("TWO", "203.0.113.10", "203.0.113.11")
            config.rules[1] = DynamicRule(accessList: 1, target: .pool("TWO"), overload: false)
        }
        let a = engine.process(tcp("10.0.0.5", 1000, "198.51.100.1", 80), from: .inside, now: ms(0), commit: true)
        let a2 = engine.process(udp("10.0.0.5", 5000, "198.51.100.1", 53), from: .inside, now: ms(0), commit: true)
        let b = engine.process(tcp("10.0.0.6", 1000, "198.51.100.1", 80), from: .inside, now: ms(0), commit: true)
        let c = engine.process(tcp("10.0.0.7", 1000, "198.51.100.1", 80), from: .inside, now: ms(0), commit: true)
        #expect(a.packet.source == ep("203.0.113.10", 1000))
        #expect(a2.packet.source == ep("203.0.113.10", 5000))
        #expect(!a2.created)
        #expect(b.packet.source == ep("203.0.113.11", 1000))
        #expect(c.outcome == .dropped(.poolExhausted))
        #expect(engine.counters.drops[.poolExhausted] == 1)
        #expect(engine.counters.poolMisses["TWO"] == 1)
        #expect(engine.translations.values.allSatisfy { $0.kind == .dynamicSimple })
    }

    @Test func interfaceOverloadNeedsAnAddress() {
        var env = environment()
        var (engine, _) = engine({ config in
            config.accessLists[1] = [AccessListEntry(action: .permit, match: .any)]
            config.rules[1] = DynamicRule(accessList: 1, target: .interface(.svi(20)), overload: true)
        }, env: env)
        let ok = engine.process(udp("10.0.0.5", 5000, "198.51.100.1", 123), from: .inside, now: ms(0), commit: true)
        #expect(ok.packet.source == ep("203.0.113.1", 5000))
        // The interface loses its address: the translations on it go, and new flows are dropped.
        env.subnets[.svi(20)] = nil
        let (changes, notes) = engine.configure(engine.config, env, now: ms(1))
        #expect(changes.remove.count == 2)
        #expect(notes.first?.contains("removed 1 dynamic translation") == true)
        let dropped = engine.process(udp("10.0.0.5", 5000, "198.51.100.1", 123), from: .inside, now: ms(1), commit: true)
        #expect(dropped.outcome == .dropped(.noAddress))
    }

    @Test func maxEntriesLimitsDynamicTranslations() {
        var (engine, _) = engine { config in
            Self.patConfig(&config)
            config.maxEntries = 2
            config.statics = [StaticMapping(direction: .inside, local: ep("10.0.0.200"), global: ep("203.0.113.200"))]
        }
        for port in UInt16(2000)..<2003 {
            _ = engine.process(udp("10.0.0.5", port, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
        }
        #expect(engine.dynamicCount == 2)
        #expect(engine.translations.count == 3)
        #expect(engine.counters.drops[.maxEntries] == 1)
    }

    @Test func portsRunOutAndComeBackOnlyAfterExpiry() {
        var (engine, _) = engine { config in
            config.accessLists[1] = [AccessListEntry(action: .permit, match: .any)]
            config.rules[1] = DynamicRule(accessList: 1, target: .interface(.svi(20)), overload: true)
            config.timeouts[.udpTimeout] = 10
        }
        var seen = Set<UInt16>()
        for i in 0..<PortSpace.capacity {
            let d = engine.process(udp("\(IPv4Address(0x0A00_0000 + UInt32(i) + 2))", 999, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
            #expect(d.outcome == .translated)
            seen.insert(d.packet.source.port)
        }
        #expect(seen.count == PortSpace.capacity)
        #expect(seen.min() == 1024 && seen.max() == 65535)
        let full = engine.process(udp("10.1.0.1", 999, "198.51.100.1", 9), from: .inside, now: ms(1000), commit: true)
        #expect(full.outcome == .dropped(.portsExhausted))
        // Idle for the udp-timeout: every translation expires and the ports are free again.
        #expect(engine.expire(now: ms(9_999)).expired == 0)
        let (changes, expired) = engine.expire(now: ms(10_000))
        #expect(expired == PortSpace.capacity)
        #expect(changes.remove.count == 2 * PortSpace.capacity)
        let after = engine.process(udp("10.1.0.1", 999, "198.51.100.1", 9), from: .inside, now: ms(10_001), commit: true)
        #expect(after.outcome == .translated)
    }

    @Test func timeoutsFollowProtocolAndTCPState() {
        var (engine, _) = engine { config in
            Self.patConfig(&config)
            config.timeouts[.synTimeout] = 5
            config.timeouts[.finrstTimeout] = 7
            config.timeouts[.tcpTimeout] = 100
            config.timeouts[.dnsTimeout] = 3
            config.timeouts[.udpTimeout] = 30
            config.timeouts[.icmpTimeout] = nil
        }
        let syn = engine.process(tcp("10.0.0.5", 3000, "198.51.100.1", 80, [.syn]), from: .inside, now: ms(0), commit: true)
        let est = engine.process(tcp("10.0.0.5", 3001, "198.51.100.1", 80, [.syn]), from: .inside, now: ms(0), commit: true)
        let dns = engine.process(udp("10.0.0.5", 3002, "198.51.100.53", 53), from: .inside, now: ms(0), commit: true)
        let ntp = engine.process(udp("10.0.0.5", 3003, "198.51.100.1", 123), from: .inside, now: ms(0), commit: true)
        let ping = engine.process(FlowPacket(proto: .icmp, source: ep("10.0.0.5", 7), destination: ep("198.51.100.1")), from: .inside, now: ms(0), commit: true)
        // The reply of the second connection comes back through the HAL: its hit bit.
        let estID = est.translationID!
        engine.recordHits([estID << 1 | 1: (packets: 1, bytes: 60)], now: ms(0))
        #expect(engine.translations[estID]?.tcpState == .established)
        #expect(engine.timeout(of: engine.translations[syn.translationID!]!) == 5)
        #expect(engine.timeout(of: engine.translations[estID]!) == 100)
        #expect(engine.timeout(of: engine.translations[dns.translationID!]!) == 3)
        #expect(engine.timeout(of: engine.translations[ntp.translationID!]!) == 30)
        #expect(engine.timeout(of: engine.translations[ping.translationID!]!) == nil)
        // A FIN shortens the established one to finrst-timeout.
        engine.use(estID, now: ms(10_000), flags: [.fin, .ack], fromOutside: false)
        #expect(engine.timeout(of: engine.translations[estID]!) == 7)
        #expect(engine.expire(now: ms(5_000)).expired == 2)  // syn (5 s) and dns (3 s)
        #expect(engine.expire(now: ms(17_000)).expired == 1)  // the closed connection, 7 s after its FIN
        #expect(engine.expire(now: ms(1_000_000)).expired == 1)  // ntp; ping never expires
        #expect(engine.translations.count == 1)
        #expect(engine.counters.expired == 4)
    }

    @Test func hitBitsKeepTranslationsAlive() {
        var (engine, _) = engine { config in
            Self.patConfig(&config)
            config.timeouts[.udpTimeout] = 10
        }
        let d = engine.process(udp("10.0.0.5", 3000, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
        let id = d.translationID!
        engine.recordHits([id << 1: (packets: 50, bytes: 5000)], now: ms(8_000))
        #expect(engine.expire(now: ms(12_000)).expired == 0)
        #expect(engine.translations[id]?.packets == 51)
        #expect(engine.expire(now: ms(18_000)).expired == 1)
    }

    @Test func theTracerChangesNothing() {
        var (engine, _) = engine(Self.patConfig)
        let before = engine.translations
        let trace = engine.process(tcp("10.0.0.5", 40000, "198.51.100.1", 80), from: .inside, now: ms(0), commit: false)
        #expect(trace.outcome == .translated)
        #expect(trace.steps == [
            "ingress: from inside (vlan10)",
            "destination 198.51.100.1: no outside mapping",
            "access-list 1 line 1 \"permit 10.0.0.0 0.0.0.255\": permit",
            "rule: ip nat inside source list 1 pool PUBLIC overload",
            "would allocate tcp 203.0.113.10:40000 from pool PUBLIC (port preserved)",
            "result: tcp 10.0.0.5:40000 -> 198.51.100.1:80  =>  tcp 203.0.113.10:40000 -> 198.51.100.1:80",
        ])
        #expect(engine.translations == before)
        #expect(engine.counters == NATCounters())
        #expect(trace.changes.isEmpty)
    }

    @Test func outsideStaticRewritesBothWays() {
        var (engine, changes) = engine {
            $0.statics = [StaticMapping(direction: .outside, local: ep("10.0.0.99"), global: ep("198.51.100.9"))]
        }
        #expect(Set(changes.add.map { "\($0.zone) \($0.rewritesSource ? "snat" : "dnat") \($0.match) -> \($0.translated)" })
                == ["outside snat 198.51.100.9 -> 10.0.0.99", "inside dnat 10.0.0.99 -> 198.51.100.9"])
        let toInside = engine.process(udp("198.51.100.9", 53, "10.0.0.5", 3000), from: .outside, now: ms(0), commit: true)
        #expect(toInside.packet.source == ep("10.0.0.99", 53))
        let toOutside = engine.process(udp("10.0.0.5", 3000, "10.0.0.99", 53), from: .inside, now: ms(0), commit: true)
        #expect(toOutside.packet.destination == ep("198.51.100.9", 53))
    }

    @Test func redundancyFollowsVRRPMastership() {
        var env = environment()
        env.setHolders(VRID(5)!, [.svi(20)])
        let mapping = StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.5"),
                                    redundancy: .init(vrid: VRID(5)!, interface: nil))
        var (engine, changes) = engine({ $0.statics = [mapping] }, env: env)
        #expect(changes.isEmpty)
        #expect(engine.isActive(mapping) == (false, "vlan20 VRRP 5 is not Master here"))
        let trace = engine.process(tcp("198.51.100.1", 80, "203.0.113.5", 80), from: .outside, now: ms(0), commit: false)
        #expect(trace.steps.contains("static mapping \"ip nat inside source static 10.0.0.5 203.0.113.5 redundancy vrrp 5\" is inactive: vlan20 VRRP 5 is not Master here"))
        env.masterGroups = [GroupRef(interface: .svi(20), vrid: VRID(5)!)]
        let (up, notes) = engine.configure(engine.config, env, now: ms(1))
        #expect(up.add.count == 2)
        #expect(notes == ["ip nat inside source static 10.0.0.5 203.0.113.5 redundancy vrrp 5: active (vlan20 VRRP 5 is Master here)"])
        env.masterGroups = []
        let (down, _) = engine.configure(engine.config, env, now: ms(2))
        #expect(down.remove.count == 2)
        #expect(engine.translations.isEmpty)
        // Ambiguous without an interface.
        // Ambiguous without an interface, unless just one of the SVIs is a NAT outside one.
        env.setHolders(VRID(5)!, [.svi(10), .svi(30)])
        _ = engine.configure(engine.config, env, now: ms(3))
        #expect(engine.isActive(mapping).reason == "VRRP group 5 is on vlan10, vlan30, not one NAT outside interface: name the interface")
        env.setHolders(VRID(5)!, [.svi(10), .svi(20)])
        _ = engine.configure(engine.config, env, now: ms(4))
        #expect(engine.resolve(mapping.redundancy!) == GroupRef(interface: .svi(20), vrid: VRID(5)!))
    }

    @Test func aStaticMappingDisplacesDynamicTranslations() {
        var (engine, _) = engine(oneAddressPool)
        _ = engine.process(udp("10.0.0.5", 3000, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
        var config = engine.config
        config.statics = [StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.50"))]
        let (changes, _) = engine.configure(config, environment(), now: ms(1))
        #expect(changes.remove.count == 2 && changes.add.count == 2)
        #expect(engine.translations.values.map(\.kind) == [.staticSimple])
    }

    @Test func removingARuleRemovesItsTranslations() {
        var (engine, _) = engine(Self.patConfig)
        _ = engine.process(udp("10.0.0.5", 3000, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
        var config = engine.config
        config.rules = [:]
        let (changes, _) = engine.configure(config, environment(), now: ms(1))
        #expect(changes.remove.count == 2)
        #expect(engine.translations.isEmpty)
        #expect(engine.usage(ofPool: "PUBLIC")?.ports == 0)
    }

    @Test func clearingKeepsStatics() {
        var (engine, _) = engine { config in
            Self.patConfig(&config)
            config.statics = [StaticMapping(direction: .inside, local: ep("10.0.0.200"), global: ep("203.0.113.200"))]
        }
        for port in UInt16(2000)..<2010 {
            _ = engine.process(udp("10.0.0.5", port, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
        }
        let one = engine.clear { $0.insideLocal == ep("10.0.0.5", 2003) }
        #expect(one.count == 1)
        let all = engine.clear { _ in true }
        #expect(all.count == 9)
        #expect(engine.translations.count == 1)
        #expect(engine.counters.cleared == 10)
    }

    @Test func noInsideOrOutsideInterfaceMeansNoNAT() {
        var env = NATEnvironment()
        env.setRole(.inside, of: .svi(10))
        var (engine, _) = engine(Self.patConfig, env: env)
        let d = engine.process(udp("10.0.0.5", 3000, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
        #expect(d.outcome == .untranslated)
        #expect(d.steps.contains("no interface has ip nat outside: NAT does nothing"))
    }
}

@Suite struct ReviewedCasesTests {
    func engine(_ build: (inout NATConfig) -> Void, env: NATEnvironment = environment()) -> (NATEngine, HardwareChanges) {
        makeEngine(build, env: env)
    }

    /// Two extendable statics share a local: the HAL gets one SNAT entry (the first mapping's),
    /// both DNAT entries; when the first goes, the second's SNAT entry takes its place.
    @Test func extendableStaticsShareOneOutgoingEntry() {
        let first = StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.5"), extendable: true)
        let second = StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.6"), extendable: true)
        var (engine, changes) = engine { $0.statics = [first, second] }
        let snats = changes.add.filter(\.rewritesSource)
        #expect(snats.count == 1 && snats.first?.translated == ep("203.0.113.5"))
        #expect(changes.add.filter { !$0.rewritesSource }.count == 2)
        #expect(Set(changes.add.map { "\($0.zone)\($0.rewritesSource)\($0.match)" }).count == 3, "no key twice")
        let out = engine.process(udp("10.0.0.5", 3000, "198.51.100.1", 53), from: .inside, now: ms(0), commit: false)
        #expect(out.packet.source == ep("203.0.113.5", 3000))
        let back = engine.process(udp("198.51.100.1", 53, "203.0.113.6", 3000), from: .outside, now: ms(0), commit: false)
        #expect(back.packet.destination == ep("10.0.0.5", 3000))
        var config = engine.config
        config.statics = [second]
        let (after, _) = engine.configure(config, environment(), now: ms(1))
        #expect(after.remove.count == 2)
        #expect(after.add.count == 1 && after.add.first?.rewritesSource == true && after.add.first?.translated == ep("203.0.113.6"))
        #expect(engine.process(udp("10.0.0.5", 3000, "198.51.100.1", 53), from: .inside, now: ms(1), commit: false).packet.source == ep("203.0.113.6", 3000))
        #expect(engine.hardwareEntries.count == 2)
    }

    /// Both extendable mappings go in one change (their VRRP group is lost): the heir's entry
    /// that the first removal brings in must not outlive the second removal.
    @Test func extendableStaticsLeaveTogether() {
        var env = environment()
        env.setHolders(VRID(5)!, [.svi(20)])
        env.masterGroups = [GroupRef(interface: .svi(20), vrid: VRID(5)!)]
        let r = StaticMapping.Redundancy(vrid: VRID(5)!, interface: nil)
        var (engine, up) = engine({
            $0.statics = [StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.5"), extendable: true, redundancy: r),
                          StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.6"), extendable: true, redundancy: r)]
        }, env: env)
        #expect(up.add.count == 3)
        env.masterGroups = []
        let (down, _) = engine.configure(engine.config, env, now: ms(1))
        #expect(down.add.isEmpty, "\(down.add)")
        #expect(Set(down.remove) == Set(up.add))
    }

    /// A static PAT on the overload address with a port below 1024 does not pull dynamic
    /// ports below 1024.
    @Test func dynamicPortsStayAbove1023BesideALowStaticPort() {
        var (engine, _) = engine { config in
            config.accessLists[1] = [AccessListEntry(action: .permit, match: .any)]
            config.rules[1] = DynamicRule(accessList: 1, target: .interface(.svi(20)), overload: true)
            config.statics = [StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.0.80", 80), global: ep("203.0.113.1", 80))]
        }
        for sport in [UInt16(100), 200, 300] {
            let d = engine.process(tcp("10.0.0.9", sport, "198.51.100.1", 443), from: .inside, now: ms(0), commit: true)
            #expect(d.packet.source.port >= 1024, "got \(d.packet.source.port)")
        }
        // And the static port itself is never handed out.
        let d = engine.process(tcp("10.0.0.9", 80, "198.51.100.1", 443), from: .inside, now: ms(0), commit: true)
        #expect(d.packet.source.port != 80)
    }

    @Test func aStaticPATDisplacesADynamicOwnerOfItsAddress() {
        var (engine, _) = engine(oneAddressPool)
        _ = engine.process(udp("10.0.0.2", 3000, "198.51.100.1", 9), from: .inside, now: ms(0), commit: true)
        var config = engine.config
        config.statics = [StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.0.80", 80), global: ep("203.0.113.10", 80))]
        _ = engine.configure(config, environment(), now: ms(1))
        #expect(engine.translations.values.map(\.kind) == [.staticExtended])
    }

    @Test func oneGlobalAddressFollowsOneGroup() {
        let a = StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.0.1", 80), global: ep("203.0.113.7", 80), redundancy: .init(vrid: VRID(5)!, interface: nil))
        let b = StaticMapping(direction: .inside, proto: .tcp, local: ep("10.0.0.2", 443), global: ep("203.0.113.7", 443), redundancy: .init(vrid: VRID(6)!, interface: nil))
        var c = b
        c.redundancy = a.redundancy
        #expect(b.conflict(with: a)?.hasPrefix("203.0.113.7 follows vrrp 5 (") == true)
        #expect(c.conflict(with: a) == nil)
        // A one-to-one mapping's global address is its own, whatever the groups: that is what is
        // named (naming the group would only send the user to a second refusal).
        let oneToOne = StaticMapping(direction: .inside, local: ep("10.0.0.5"), global: ep("203.0.113.5"), redundancy: .init(vrid: VRID(5)!, interface: nil))
        let again = StaticMapping(direction: .inside, local: ep("10.0.0.6"), global: ep("203.0.113.5"))
        #expect(again.conflict(with: oneToOne) == "203.0.113.5 is already a global address of 10.0.0.5 (\(oneToOne.line))")
        #expect(b.conflict(with: StaticMapping(direction: .inside, local: ep("10.0.0.9"), global: ep("203.0.113.7")))?
            .hasPrefix("203.0.113.7 is already a global address of 10.0.0.9") == true)
    }

    /// As `show ip nat statistics` and the refusals have always listed them: by name as text.
    @Test func theEnvironmentListsInterfacesByName() {
        var env = NATEnvironment()
        for vlan: UInt16 in [9, 100, 10] { env.setRole(.outside, of: .svi(vlan)) }
        env.setRole(.inside, of: .svi(8))
        env.setHolders(VRID(5)!, [.svi(9), .svi(10)])
        #expect(env.interfaces(.outside) == [.svi(10), .svi(100), .svi(9)])
        #expect(env.interfaces(.inside) == [.svi(8)])
        #expect(env.holders(of: VRID(5)!) == [.svi(10), .svi(9)])
    }

    @Test func redundancyPrefersTheOneOutsideInterface() {
        let r = StaticMapping.Redundancy(vrid: VRID(5)!, interface: nil)
        #expect(r.resolve(holders: [.svi(10)], outsideHolders: []) == .svi(10))
        #expect(r.resolve(holders: [.svi(10), .svi(20)], outsideHolders: [.svi(20)]) == .svi(20))
        #expect(r.resolve(holders: [.svi(10), .svi(20)], outsideHolders: [.svi(10), .svi(20)]) == nil)
        #expect(StaticMapping.Redundancy(vrid: VRID(5)!, interface: .svi(30)).resolve(holders: [.svi(10)], outsideHolders: [.svi(10)]) == nil)
        // The environment keeps the outside holders as roles and groups change.
        var env = NATEnvironment()
        env.setHolders(VRID(5)!, [.svi(10), .svi(20)])
        #expect(env.resolve(r) == nil)
        env.setRole(.outside, of: .svi(20))
        #expect(env.resolve(r) == GroupRef(interface: .svi(20), vrid: VRID(5)!))
        env.setRole(.outside, of: .svi(10))
        #expect(env.resolve(r) == nil)
        env.setGroup(VRID(5)!, on: .svi(10), present: false)
        #expect(env.resolve(r) == GroupRef(interface: .svi(20), vrid: VRID(5)!))
        env.setRole(nil, of: .svi(20))
        #expect(env.resolve(r) == GroupRef(interface: .svi(20), vrid: VRID(5)!))
        #expect(env.has(.outside) && !env.has(.inside))
        env.setRole(.inside, of: .svi(10))
        #expect(!env.has(.outside) && env.has(.inside))
    }

    /// PAT beside an outside static: the outside local column is the address the inside host
    /// used, the outside global the real one.
    @Test func patRecordsBothOutsideAddresses() {
        var (engine, _) = engine { config in
            NATEngineTests.patConfig(&config)
            config.statics = [StaticMapping(direction: .outside, local: ep("10.0.0.99"), global: ep("198.51.100.9"))]
        }
        let d = engine.process(udp("10.0.0.5", 3000, "10.0.0.99", 53), from: .inside, now: ms(0), commit: true)
        let t = engine.translations[d.translationID!]
        #expect(d.packet.destination == ep("198.51.100.9", 53))
        #expect(t?.outsideLocal == ep("10.0.0.99", 53) && t?.outsideGlobal == ep("198.51.100.9", 53))
    }
}

@Suite struct PortSpaceTests {
    @Test func wrapsAndSkipsUsedWords() {
        var space = PortSpace()
        #expect(space.nextFree() == 1024)
        for port in UInt16(1024)..<1200 { space.allocate(port) }
        #expect(space.nextFree() == 1200)
        space.release(1100)
        // The cursor moves on: a freed port is not reused while others are free.
        #expect(space.nextFree() == 1200)
        // Past the top it wraps to the lowest free port.
        space.allocate(65535)
        #expect(space.nextFree() == 1100)
        #expect(space.used == 176)
        #expect(space.isUsed(65535) && !space.isUsed(1100))
    }
}

/// The instant `n` milliseconds after the engine's clock starts (the tests' times).
func ms(_ n: UInt64) -> Instant { .zero + .milliseconds(n) }
