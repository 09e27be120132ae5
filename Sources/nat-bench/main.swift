// nat-bench: the NAT engine and the HAL NAT table at 100,000 active translations (run the
// release build: scripts/bench-nat; figures go to BENCHMARKS.md).
//
//   nat-bench all    [--rounds N] [--flows N]    every measurement below, as one table
//   nat-bench create [--rounds N] [--flows N]    translations created per second: the whole slow path, engine, HAL
//   nat-bench lookup [--rounds N] [--flows N]    HAL lookups and engine lookups with the translations active
//   nat-bench aging  [--rounds N] [--flows N]    one ager pass (hit poll, recordHits, expire) at that size
//   nat-bench memory [--rounds N] [--flows N]    RSS per translation, each figure from a fresh child process
//   nat-bench memory-child --part both|engine|hal [--flows N]   one RSS measurement (what `memory` runs)
//
// The flows are PAT (overload) on one pool of 4 addresses: TCP SYNs from 5,000 inside hosts
// with ephemeral source ports to 256 servers on port 443, every (host, port) distinct. The HAL is
// the trident2 profile (262,144 NAT entries = 131,072 translations); its threads are not started
// (the NAT table needs none) and the call trace and lock witness are off, as in a release vrrpd.
// The engine's entries are mapped onto the HAL's types as the daemon does it
// (NATService.halKey/halEntry/halPacket, replicated below: nat-bench does not link the daemon).
import Foundation
import Daemon
import Glibc
import NAT
import NetTypes
import SwitchHAL
import Time

func argument(_ name: String, default value: String) -> String {
    let args = CommandLine.arguments
    if let index = args.firstIndex(of: name), index + 1 < args.count { return args[index + 1] }
    return value
}

let command = CommandLine.arguments.dropFirst().first ?? "all"
let flowCount = Int(argument("--flows", default: "100000"))!
let rounds = Int(argument("--rounds", default: "5"))!
let chip = ChipProfile.trident2

// MARK: Time, memory and statistics

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let started = SystemClock.now
    try body()
    return SystemClock.elapsed(since: started).inSeconds
}

func residentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("nat-bench: \(message)\n".utf8))
    exit(1)
}

/// Samples of one measure; the table shows median, min and max.
struct Samples {
    var values: [Double] = []
    mutating func add(_ value: Double) { values.append(value) }
    var sorted: [Double] { values.sorted() }
    var median: Double {
        let s = sorted
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    var min: Double { sorted.first ?? 0 }
    var max: Double { sorted.last ?? 0 }
}

/// How a figure prints: a rate in thousands or millions per second, a duration per item, ...
enum Unit {
    case kiloPerSecond, megaPerSecond, microseconds, milliseconds, bytes

    var name: String {
        switch self {
        case .kiloPerSecond: return "thousand/s"
        case .megaPerSecond: return "million/s"
        case .microseconds: return "µs"
        case .milliseconds: return "ms"
        case .bytes: return "bytes"
        }
    }

    func format(_ value: Double) -> String {
        switch self {
        case .kiloPerSecond: return String(format: value / 1e3 >= 100 ? "%.0f" : "%.1f", value / 1e3)
        case .megaPerSecond: return String(format: "%.2f", value / 1e6)
        case .microseconds: return String(format: value * 1e6 >= 100 ? "%.0f" : "%.2f", value * 1e6)
        case .milliseconds: return String(format: value * 1e3 >= 100 ? "%.0f" : "%.2f", value * 1e3)
        case .bytes: return String(format: "%.0f", value)
        }
    }
}

/// The one-line summaries (`bench-nat: case=... key=value ...`), printed after the table.
nonisolated(unsafe) var summaries: [String] = []
func summary(_ name: String, _ fields: [(String, String)]) {
    summaries.append("bench-nat: case=\(name) " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
}
func figure(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

/// The longest hold of `nat.table` of `hal` (ms) since the last reset, and by whom.
func longestNATHold(_ hal: Switch) -> (ms: Double, operation: String) {
    let lock = hal.lockSnapshots.first { $0.name == "nat.table" }
    return ((lock?.longestHoldSeconds ?? 0) * 1000, lock?.longestHolder ?? "?")
}

/// The table, printed at the end; each section's title goes to stderr as it starts (progress).
final class Table {
    private var rows: [String] = []

    func section(_ title: String) {
        rows.append("| **\(title)** | | | | |")
        FileHandle.standardError.write(Data("nat-bench: \(title)\n".utf8))
    }

    func row(_ label: String, _ samples: Samples, _ unit: Unit) {
        rows.append("| \(label) | \(unit.format(samples.median)) | \(unit.format(samples.min)) | \(unit.format(samples.max)) | \(unit.name) |")
    }

    func note(_ text: String) {
        rows.append("| \(text) | | | | |")
    }

    func print() {
        Swift.print("| measure (\(rounds) runs each) | median | min | max | unit |")
        Swift.print("|---|---|---|---|---|")
        for row in rows { Swift.print(row) }
    }
}

// MARK: Flows, the engine's configuration, the daemon's mapping

let insideBase = IPv4Address(10, 0, 0, 1).value
let serverBase = IPv4Address(198, 51, 100, 1).value
let insideHosts = 5000
let ephemeralFirst = 32768
let ephemeralCount = 61000 - 32768

/// The first packet (a SYN) of flow `n`: host n mod 5,000, an ephemeral source port that
/// differs for every flow of a host (1409 is prime to the range's size), one of 256 servers.
@inline(__always)
func flow(_ n: Int) -> FlowPacket {
    let host = n % insideHosts
    let port = ephemeralFirst + (n / insideHosts * 1409 + host * 7919) % ephemeralCount
    return FlowPacket(
        proto: .tcp, source: Endpoint(IPv4Address(insideBase + UInt32(host)), UInt16(port)),
        destination: Endpoint(IPv4Address(serverBase + UInt32(n & 255)), 443), flags: [.syn])
}

/// `access-list 1 permit 10.0.0.0 0.255.255.255`, `ip nat pool PUBLIC 203.0.113.10
/// 203.0.113.13 prefix-length 24`, `ip nat inside source list 1 pool PUBLIC overload`;
/// vlan10 inside, vlan20 outside.
func makeEngine() -> NATEngine {
    var config = NATConfig()
    config.accessLists[1] = [AccessListEntry(action: .permit, match: .wildcard(IPv4Address(10, 0, 0, 0), IPv4Address(0, 255, 255, 255)))]
    config.pools["PUBLIC"] = NATPool(
        name: "PUBLIC", start: IPv4Address(203, 0, 113, 10), end: IPv4Address(203, 0, 113, 13), prefixLength: 24, typedAsNetmask: false)
    config.rules[1] = DynamicRule(accessList: 1, target: .pool("PUBLIC"), overload: true)
    var environment = NATEnvironment()
    environment.setRole(.inside, of: .svi(10))
    environment.setRole(.outside, of: .svi(20))
    environment.subnets = [.svi(10): [IPv4Prefix(parsing: "10.0.0.254/24")!], .svi(20): [IPv4Prefix(parsing: "203.0.113.1/24")!]]
    var engine = NATEngine()
    let (changes, _) = engine.configure(config, environment, now: .zero)
    if !changes.isEmpty { fail("the configuration made HAL changes") }
    return engine
}

func makeSwitch() -> Switch { Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_cc00)) }

/// The engine's clock (milliseconds) while translations are made.
let createdAt = Instant(nanoseconds: 1_000_000_000)

func farDeadline() -> Instant { SystemClock.deadline(after: .seconds(600)) }

// MARK: The slow path, as the daemon runs it

/// Flows `flows` one at a time: natTranslate misses, the engine makes the translation, natAdd
/// of its 2 entries (what `test nat translate ... commit` does per packet).
func slowPathOneByOne(_ engine: inout NATEngine, _ hal: Switch, _ flows: Range<Int>) throws -> Int {
    let deadline = farDeadline()
    var created = 0
    for n in flows {
        let packet = flow(n)
        let result = try hal.natTranslate(NATService.halPacket(packet), zone: .inside, bytes: 64, deadline: deadline)
        if result.translated { continue }
        let decision = engine.process(packet, from: .inside, now: createdAt, commit: true, explain: false)
        guard decision.created else { fail("flow \(n) made no translation: \(decision.outcome)") }
        try hal.natAdd(decision.changes.add.map(NATService.halEntry), deadline: deadline)
        created += 1
    }
    return created
}

/// Flows in batches of `batch`, as `NATService.runFlows` does one command: every first packet
/// meets the HAL (one HAL call), the misses go through the engine, their entries go into the
/// HAL in one natAdd.
func slowPathBatched(_ engine: inout NATEngine, _ hal: Switch, _ flows: Range<Int>, batch: Int) throws -> Int {
    let deadline = farDeadline()
    var created = 0
    var start = flows.lowerBound
    while start < flows.upperBound {
        let stop = min(start + batch, flows.upperBound)
        let packets = (start..<stop).map(flow)
        let halPackets = packets.map(NATService.halPacket)
        let results = try halPackets.map { try hal.natTranslate($0, zone: .inside, bytes: 64, deadline: deadline) }
        var changes = HardwareChanges()
        for (index, result) in results.enumerated() where !result.translated {
            let decision = engine.process(packets[index], from: .inside, now: createdAt, commit: true, explain: false)
            guard decision.created else { fail("flow \(start + index) made no translation: \(decision.outcome)") }
            changes.merge(decision.changes)
            created += 1
        }
        if !changes.add.isEmpty { try hal.natAdd(changes.add.map(NATService.halEntry), deadline: deadline) }
        start = stop
    }
    return created
}

func check(_ engine: NATEngine, _ hal: Switch, translations: Int) throws {
    guard engine.translations.count == translations else { fail("engine has \(engine.translations.count) translations, not \(translations)") }
    let used = try hal.natCount(deadline: farDeadline()).used
    guard used == 2 * translations else { fail("HAL has \(used) NAT entries, not \(2 * translations)") }
}

/// The HAL entries of `count` translations, as the engine makes them (for the HAL-only runs).
func halEntries(count: Int) -> [NATEntry] {
    var engine = makeEngine()
    var entries: [NATEntry] = []
    entries.reserveCapacity(2 * count)
    for n in 0..<count {
        let decision = engine.process(flow(n), from: .inside, now: createdAt, commit: true, explain: false)
        guard decision.created else { fail("flow \(n) made no translation") }
        entries += decision.changes.add.map(NATService.halEntry)
    }
    return entries
}

/// 100,000 translations in the engine and the HAL (batched: fastest; the state is the same).
func activeState() throws -> (engine: NATEngine, hal: Switch) {
    var engine = makeEngine()
    let hal = makeSwitch()
    _ = try slowPathBatched(&engine, hal, 0..<flowCount, batch: 1000)
    try check(engine, hal, translations: flowCount)
    return (engine, hal)
}

/// A reply from outside to each translation: server:443 -> inside global address:port.
func replies(_ engine: NATEngine) -> [FlowPacket] {
    engine.translations.values.map { t in
        FlowPacket(proto: .tcp, source: t.outsideGlobal!, destination: t.insideGlobal!, flags: [.ack])
    }
}

// MARK: 1. Translations created per second

func create(_ table: Table) throws {
    let n = Double(flowCount)
    table.section("Translations created: \(flowCount) new PAT flows, pool of 4 addresses with overload (engine + HAL, fresh each run)")
    var oneByOne = Samples(), batch100 = Samples(), batchAll = Samples()
    var engineOnly = Samples(), halOne = Samples(), hal100 = Samples(), halAll = Samples(), halAllLock = Samples()
    let entries = halEntries(count: flowCount)
    for _ in 0..<rounds {
        do {
            var engine = makeEngine()
            let hal = makeSwitch()
            var created = 0
            oneByOne.add(n / (try seconds { created = try slowPathOneByOne(&engine, hal, 0..<flowCount) }))
            guard created == flowCount else { fail("created \(created)") }
            try check(engine, hal, translations: flowCount)
        }
        do {
            var engine = makeEngine()
            let hal = makeSwitch()
            batch100.add(n / (try seconds { _ = try slowPathBatched(&engine, hal, 0..<flowCount, batch: 100) }))
            try check(engine, hal, translations: flowCount)
        }
        do {
            var engine = makeEngine()
            let hal = makeSwitch()
            batchAll.add(n / (try seconds { _ = try slowPathBatched(&engine, hal, 0..<flowCount, batch: flowCount) }))
            try check(engine, hal, translations: flowCount)
        }
        do {
            var engine = makeEngine()
            var created = 0
            engineOnly.add(
                n / seconds {
                    for i in 0..<flowCount where engine.process(flow(i), from: .inside, now: createdAt, commit: true, explain: false).created { created += 1 }
                })
            guard created == flowCount else { fail("engine created \(created)") }
        }
        do {
            let hal = makeSwitch()
            let deadline = farDeadline()
            halOne.add(n / (try seconds { for i in 0..<flowCount { try hal.natAdd([entries[2 * i], entries[2 * i + 1]], deadline: deadline) } }))
            guard try hal.natCount(deadline: deadline).used == entries.count else { fail("HAL add") }
        }
        do {
            let hal = makeSwitch()
            let deadline = farDeadline()
            hal100.add(
                n / (try seconds {
                    var i = 0
                    while i < entries.count {
                        try hal.natAdd(Array(entries[i..<min(i + 200, entries.count)]), deadline: deadline)
                        i += 200
                    }
                }))
            guard try hal.natCount(deadline: deadline).used == entries.count else { fail("HAL add") }
        }
        do {
            let hal = makeSwitch()
            let deadline = farDeadline()
            hal.locks.natTable.resetLongestHold()
            let t = try seconds { try hal.natAdd(entries, deadline: deadline) }
            halAll.add(n / t)
            halAllLock.add(longestNATHold(hal).ms / 1000)
            guard try hal.natCount(deadline: deadline).used == entries.count else { fail("HAL add") }
        }
    }
    summary("create", [
        ("translations", "\(flowCount)"), ("hal_one_at_a_time_per_s", figure(halOne.median, 0)),
        ("hal_batches_of_100_per_s", figure(hal100.median, 0)), ("hal_one_bulk_add_per_s", figure(halAll.median, 0)),
        ("bulk_add_longest_hold_ms", figure(halAllLock.max * 1000, 3)), ("slow_path_one_at_a_time_per_s", figure(oneByOne.median, 0)),
        ("slow_path_batches_of_100_per_s", figure(batch100.median, 0)), ("engine_only_per_s", figure(engineOnly.median, 0)),
    ])
    table.row("whole slow path, one flow at a time (natTranslate miss, process commit, natAdd of 2)", oneByOne, .kiloPerSecond)
    table.row("whole slow path, batches of 100 flows (100 lookups, 100 process, one natAdd of 200)", batch100, .kiloPerSecond)
    table.row("whole slow path, one batch of \(flowCount) (one command: one natAdd of \(2 * flowCount))", batchAll, .kiloPerSecond)
    table.row("engine only: process(commit: true)", engineOnly, .kiloPerSecond)
    table.row("HAL only: natAdd of 2 entries per call", halOne, .kiloPerSecond)
    table.row("HAL only: natAdd of 200 entries (100 translations) per call", hal100, .kiloPerSecond)
    table.row("HAL only: one natAdd of \(2 * flowCount) entries", halAll, .kiloPerSecond)
    table.row("... the longest hold of nat.table during that one natAdd (applied in slices)", halAllLock, .milliseconds)
    func perItem(_ s: Samples) -> Samples { Samples(values: s.values.map { 1 / $0 }) }
    table.row("per translation: whole slow path, one at a time", perItem(oneByOne), .microseconds)
    table.row("per translation: engine process(commit: true)", perItem(engineOnly), .microseconds)
    table.row("per translation: HAL natAdd of 2 entries", perItem(halOne), .microseconds)
}

// MARK: 2. Lookups with the translations active

func lookup(_ table: Table) throws {
    let (engine0, hal) = try activeState()
    var engine = engine0
    let deadline = farDeadline()
    var rng = SystemRandomNumberGenerator()
    let order = (0..<flowCount).shuffled(using: &rng)
    let inside = order.map { NATService.halPacket(flow($0)) }
    let replyFlows = replies(engine).shuffled(using: &rng)
    let outside = replyFlows.map(NATService.halPacket)
    let fresh = (0..<flowCount).map { NATService.halPacket(flow(flowCount + 1_000_000 + $0)) }  // never seen: misses
    let passes = 10
    table.section("Lookups with \(flowCount) active translations (\(2 * flowCount) HAL entries), one thread, random order")
    var halIn = Samples(), halOut = Samples(), halMiss = Samples(), engineIn = Samples(), engineOut = Samples()
    for _ in 0..<rounds {
        var hits = 0
        halIn.add(
            Double(passes * flowCount)
                / (try seconds {
                    for _ in 0..<passes {
                        for packet in inside where try hal.natTranslate(packet, zone: .inside, bytes: 64, deadline: deadline).sourceEntry != nil {
                            hits += 1
                        }
                    }
                }))
        guard hits == passes * flowCount else { fail("inside lookups hit \(hits)") }
        hits = 0
        halOut.add(
            Double(passes * flowCount)
                / (try seconds {
                    for _ in 0..<passes {
                        for packet in outside
                        where try hal.natTranslate(packet, zone: .outside, bytes: 64, deadline: deadline).destinationEntry != nil {
                            hits += 1
                        }
                    }
                }))
        guard hits == passes * flowCount else { fail("outside lookups hit \(hits)") }
        hits = 0
        halMiss.add(
            Double(flowCount)
                / (try seconds {
                    for packet in fresh where try hal.natTranslate(packet, zone: .inside, bytes: 64, deadline: deadline).translated { hits += 1 }
                }))
        guard hits == 0 else { fail("\(hits) new flows hit") }
        var found = 0
        engineIn.add(
            Double(flowCount)
                / seconds {
                    for n in order {
                        let d = engine.process(flow(n), from: .inside, now: createdAt, commit: false, explain: false)
                        if d.outcome == .translated && !d.created { found += 1 }
                    }
                })
        guard found == flowCount else { fail("engine found \(found) from inside") }
        found = 0
        engineOut.add(
            Double(flowCount)
                / seconds {
                    for packet in replyFlows {
                        let d = engine.process(packet, from: .outside, now: createdAt, commit: false, explain: false)
                        if d.outcome == .translated && !d.created { found += 1 }
                    }
                })
        guard found == flowCount else { fail("engine found \(found) from outside") }
    }
    // The data path's own rate, as l2x looks up (the lock once per batch, lookups in a loop),
    // beside the L2 table's in the same run: a table of 288K entries at 85%, random keys.
    var natTable = Samples(), l2Table = Samples()
    let l2 = L2Table(chip: chip)
    var l2Keys: [UInt64] = []
    while l2Keys.count < l2.capacity * 85 / 100 {
        let mac = UInt64.random(in: 1..<(1 << 46), using: &rng) << 1
        if case .inserted = l2.insert(L2Entry(mac: MACAddress(mac), vlan: 10, port: 1, flags: .hitSource)) { l2Keys.append(mac << 12 | 10) }
    }
    l2Keys.shuffle(using: &rng)
    let probes = Array(l2Keys.prefix(flowCount))
    for _ in 0..<rounds {
        var hits = 0
        natTable.add(
            Double(passes * flowCount)
                / seconds {
                    hal.locks.natTable.withLock("bench-lookups") {
                        for _ in 0..<passes {
                            for packet in inside where hal.nat.translate(packet, zone: .inside, bytes: 64).sourceEntry != nil { hits += 1 }
                        }
                    }
                })
        guard hits == passes * flowCount else { fail("table lookups hit \(hits)") }
        var found = 0
        l2Table.add(Double(passes * probes.count) / seconds { for _ in 0..<passes { for key in probes where l2.find(key) != nil { found += 1 } } })
        guard found == passes * probes.count else { fail("L2 lookups found \(found)") }
    }
    table.row("NAT table translate hit, data path (one lock per pass, as l2x)", natTable, .megaPerSecond)
    table.row("L2 table find hit, same run (288K entries at 85%)", l2Table, .megaPerSecond)
    summary("lookup", [
        ("translations", "\(flowCount)"), ("nat_table_mlps", figure(natTable.median / 1e6)), ("l2_table_mlps", figure(l2Table.median / 1e6)),
        ("ratio", figure(natTable.median / l2Table.median)), ("api_snat_mlps", figure(halIn.median / 1e6)),
        ("api_dnat_mlps", figure(halOut.median / 1e6)), ("api_miss_mlps", figure(halMiss.median / 1e6)),
    ])
    table.row("HAL natTranslate hit, inside -> outside (SNAT)", halIn, .megaPerSecond)
    table.row("HAL natTranslate hit, outside -> inside (DNAT)", halOut, .megaPerSecond)
    table.row("HAL natTranslate miss (a new flow's first packet)", halMiss, .megaPerSecond)
    table.row("engine process(commit: false), existing flow from inside", engineIn, .kiloPerSecond)
    table.row("engine process(commit: false), existing flow from outside (reply)", engineOut, .kiloPerSecond)
    try check(engine, hal, translations: flowCount)

    // The daemon's `show` commands take a copy of the engine (NATService.snapshot); the NAT
    // thread's next change to the engine then copies what it changes (copy-on-write).
    var afterCopy = Samples(), plain = Samples()
    var next = flowCount + 10_000_000
    for _ in 0..<rounds {
        plain.add(seconds { _ = engine.process(flow(next), from: .inside, now: createdAt, commit: true, explain: false) })
        next += 1
        let copy = engine
        afterCopy.add(seconds { _ = engine.process(flow(next), from: .inside, now: createdAt, commit: true, explain: false) })
        next += 1
        withExtendedLifetime(copy) {}
    }
    var entriesCall = Samples()
    for _ in 0..<rounds {
        var count = 0
        entriesCall.add(try seconds { count = try hal.natEntries(deadline: deadline).count })
        guard count == 2 * flowCount else { fail("natEntries gave \(count)") }
    }
    // A NAT configuration change that keeps every translation (the daemon calls configure on
    // every NAT change and every VRRP Master change): configure checks each dynamic translation.
    var reconfigure = Samples()
    for i in 0..<rounds {
        var config = engine.config
        config.timeouts[.udpTimeout] = 200 + i
        let environment = engine.environment
        var changes = HardwareChanges()
        reconfigure.add(seconds { changes = engine.configure(config, environment, now: createdAt).changes })
        guard changes.isEmpty else { fail("reconfigure changed the HAL") }
    }
    table.section("Other costs at \(flowCount) translations")
    table.row("one new translation, engine process(commit: true)", plain, .microseconds)
    table.row("... the same right after a copy of the engine is taken (as `show` does: NATService.snapshot)", afterCopy, .milliseconds)
    table.row("HAL natEntries (show, resync): copy of \(2 * flowCount) entries, sorted", entriesCall, .milliseconds)
    table.row("engine.configure, a NAT change that keeps every translation (udp-timeout)", reconfigure, .milliseconds)
}

// MARK: 4. Aging

/// One ager turn as NATService.age does it: natCollectHits + natCounters (one HAL call), then
/// recordHits and expire; the expired translations' entries are deleted.
func agePass(_ engine: inout NATEngine, _ hal: Switch, now: Instant) throws -> (hits: Int, expired: Int, collect: Double, record: Double, expire: Double, delete: Double) {
    let deadline = farDeadline()
    var hits: [UInt64: (packets: UInt64, bytes: UInt64)] = [:]
    let collect = try seconds {
        hits = try hal.natCollectHits(deadline: deadline)
        _ = try hal.natCounters(deadline: deadline)
    }
    let record = seconds { engine.recordHits(hits, now: now) }
    var changes = HardwareChanges()
    var expired = 0
    let expire = seconds { (changes, expired) = engine.expire(now: now) }
    let delete = try seconds {
        if !changes.remove.isEmpty { _ = try hal.natDelete(changes.remove.map(NATService.halKey), deadline: deadline) }
    }
    return (hits.count, expired, collect, record, expire, delete)
}

func aging(_ table: Table) throws {
    var (engine, hal) = try activeState()
    let deadline = farDeadline()
    let inside = (0..<flowCount).map { NATService.halPacket(flow($0)) }
    let outside = replies(engine).map(NATService.halPacket)
    table.section("Aging at \(flowCount) translations: one ager pass (natCollectHits + natCounters, recordHits, expire, natDelete of the expired)")
    var idle = Samples(), idleCollect = Samples(), idleRecord = Samples(), idleExpire = Samples()
    var busy = Samples(), busyCollect = Samples(), busyRecord = Samples(), busyExpire = Samples()
    var now = createdAt
    _ = try hal.natCollectHits(deadline: deadline)  // start with every hit bit clear
    hal.locks.natTable.resetLongestHold()
    for _ in 0..<rounds {
        now += .seconds(1)
        let a = try agePass(&engine, hal, now: now)
        guard a.hits == 0, a.expired == 0 else { fail("idle pass: \(a.hits) hits, \(a.expired) expired") }
        idle.add(a.collect + a.record + a.expire + a.delete)
        idleCollect.add(a.collect)
        idleRecord.add(a.record)
        idleExpire.add(a.expire)
        // Traffic both ways on every translation since the last poll.
        for packet in inside { _ = try hal.natTranslate(packet, zone: .inside, bytes: 64, deadline: deadline) }
        for packet in outside { _ = try hal.natTranslate(packet, zone: .outside, bytes: 1500, deadline: deadline) }
        now += .seconds(1)
        let b = try agePass(&engine, hal, now: now)
        guard b.hits == 2 * flowCount, b.expired == 0 else { fail("busy pass: \(b.hits) hits, \(b.expired) expired") }
        busy.add(b.collect + b.record + b.expire + b.delete)
        busyCollect.add(b.collect)
        busyRecord.add(b.record)
        busyExpire.add(b.expire)
    }
    table.row("pass, no traffic since the last one (0 hits, 0 expired)", idle, .milliseconds)
    table.row("... natCollectHits + natCounters (two walks in slices)", idleCollect, .milliseconds)
    table.row("... engine.expire (walks every translation)", idleExpire, .milliseconds)
    table.row("pass, every entry hit since the last one (\(2 * flowCount) hits, 0 expired)", busy, .milliseconds)
    table.row("... natCollectHits + natCounters (two walks in slices)", busyCollect, .milliseconds)
    table.row("... engine.recordHits", busyRecord, .milliseconds)
    table.row("... engine.expire", busyExpire, .milliseconds)
    try check(engine, hal, translations: flowCount)

    // Every translation times out: the pass removes them all (a fresh state each run).
    var all = Samples(), allExpire = Samples(), allDelete = Samples()
    for round in 0..<rounds {
        if round > 0 { (engine, hal) = try activeState() }
        let a = try agePass(&engine, hal, now: createdAt + .seconds(10 * 86_400))  // past every timeout
        guard a.expired == flowCount else { fail("expired \(a.expired)") }
        try check(engine, hal, translations: 0)
        all.add(a.collect + a.record + a.expire + a.delete)
        allExpire.add(a.expire)
        allDelete.add(a.delete)
    }
    table.row("pass in which all \(flowCount) expire", all, .milliseconds)
    table.row("... engine.expire (removes them, gives \(2 * flowCount) entries to delete)", allExpire, .milliseconds)
    table.row("... HAL natDelete of \(2 * flowCount) keys (in slices)", allDelete, .milliseconds)
    let hold = longestNATHold(hal)
    summary("aging-hold", [
        ("translations", "\(flowCount)"), ("pass_busy_ms", figure(busy.median * 1000)), ("collect_busy_ms", figure(busyCollect.median * 1000)),
        ("delete_all_ms", figure(allDelete.median * 1000)), ("longest_nat_table_hold_ms", figure(hold.ms, 3)), ("held_by", hold.operation),
    ])
}

// MARK: 3. Memory per translation

/// One measurement in a fresh process: RSS before and after `flowCount` translations.
/// both: the whole slow path one flow at a time; engine: process only; hal: natAdd of
/// synthesised pairs (no engine). Also the slowest single call of each step (both only).
func memoryChild(part: String) throws {
    var engine = makeEngine()
    let hal = makeSwitch()
    let deadline = farDeadline()
    // Touch the code paths once, so that their first use does not count as memory.
    _ = try hal.natCount(deadline: deadline)
    let before = residentKiB()
    var slowest = (translate: 0.0, process: 0.0, processAt: 0, add: 0.0, addAt: 0)
    switch part {
    case "both":
        for n in 0..<flowCount {
            let packet = flow(n)
            var t = SystemClock.now
            let result = try hal.natTranslate(NATService.halPacket(packet), zone: .inside, bytes: 64, deadline: deadline)
            var u = SystemClock.now
            slowest.translate = max(slowest.translate, (u - t).inSeconds)
            if result.translated { fail("flow \(n) hit") }
            t = u
            let decision = engine.process(packet, from: .inside, now: createdAt, commit: true, explain: false)
            u = SystemClock.now
            if (u - t).inSeconds > slowest.process { (slowest.process, slowest.processAt) = ((u - t).inSeconds, n) }
            let entries = decision.changes.add.map(NATService.halEntry)
            t = SystemClock.now
            try hal.natAdd(entries, deadline: deadline)
            u = SystemClock.now
            if (u - t).inSeconds > slowest.add { (slowest.add, slowest.addAt) = ((u - t).inSeconds, n) }
        }
        try check(engine, hal, translations: flowCount)
    case "engine":
        for n in 0..<flowCount where !engine.process(flow(n), from: .inside, now: createdAt, commit: true, explain: false).created { fail("flow \(n)") }
        guard engine.translations.count == flowCount else { fail("engine") }
    case "hal":
        for n in 0..<flowCount {
            let local = flow(n).source
            let global = Endpoint(IPv4Address(IPv4Address(203, 0, 113, 10).value + UInt32(n & 3)), UInt16(1024 + n / 4))
            let cookie = UInt64(n + 1) << 1
            try hal.natAdd(
                [
                    NATEntry(
                        key: NATKey(zone: .inside, type: .source, proto: .tcp, address: local.address, port: local.port),
                        translatedAddress: global.address, translatedPort: global.port, cookie: cookie),
                    NATEntry(
                        key: NATKey(zone: .outside, type: .destination, proto: .tcp, address: global.address, port: global.port),
                        translatedAddress: local.address, translatedPort: local.port, cookie: cookie | 1),
                ], deadline: deadline)
        }
        guard try hal.natCount(deadline: deadline).used == 2 * flowCount else { fail("hal") }
    default:
        fail("memory-child --part both|engine|hal")
    }
    let after = residentKiB()
    print("memory part=\(part) flows=\(flowCount) rss-before-kib=\(before) rss-after-kib=\(after) "
        + "bytes-per-translation=\(String(format: "%.1f", Double(after - before) * 1024 / Double(flowCount))) "
        + "slowest-translate-us=\(String(format: "%.1f", slowest.translate * 1e6)) slowest-process-us=\(String(format: "%.1f", slowest.process * 1e6)) "
        + "slowest-process-at=\(slowest.processAt) "
        + "slowest-add-us=\(String(format: "%.1f", slowest.add * 1e6)) slowest-add-at=\(slowest.addAt)")
    withExtendedLifetime((engine, hal)) {}
}

func memory(_ table: Table) throws {
    let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    func child(_ part: String) throws -> [String: String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: me)
        process.arguments = ["memory-child", "--part", part, "--flows", "\(flowCount)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { fail("memory-child \(part) exited \(process.terminationStatus)") }
        var fields: [String: String] = [:]
        for word in output.split(whereSeparator: \.isWhitespace) {
            let pair = word.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        return fields
    }
    table.section("Memory per translation: RSS (VmRSS) after \(flowCount) translations minus before, a fresh process per run")
    var slowTranslate = Samples(), slowProcess = Samples(), slowAdd = Samples()
    var addAt: [String] = [], processAt: [String] = []
    for (part, label) in [
        ("both", "engine + HAL (whole slow path)"), ("engine", "engine only"), ("hal", "HAL only (2 entries per translation)"),
    ] {
        var bytes = Samples()
        for _ in 0..<rounds {
            let fields = try child(part)
            bytes.add(Double(fields["bytes-per-translation"] ?? "") ?? .nan)
            if part == "both" {
                slowTranslate.add((Double(fields["slowest-translate-us"] ?? "") ?? .nan) / 1e6)
                slowProcess.add((Double(fields["slowest-process-us"] ?? "") ?? .nan) / 1e6)
                slowAdd.add((Double(fields["slowest-add-us"] ?? "") ?? .nan) / 1e6)
                addAt.append(fields["slowest-add-at"] ?? "?")
                processAt.append(fields["slowest-process-at"] ?? "?")
            }
        }
        table.row(label, bytes, .bytes)
    }
    table.note("Layouts: Translation \(MemoryLayout<Translation>.stride) bytes inline (no heap storage of its own), HAL NATEntry \(MemoryLayout<NATEntry>.stride) + NATKey \(MemoryLayout<NATKey>.stride)")
    table.section("Slowest single call while \(flowCount) translations were made one at a time (the runs above)")
    table.row("natTranslate (miss)", slowTranslate, .milliseconds)
    table.row("engine process(commit: true) (at translation #\(processAt.joined(separator: ", ")))", slowProcess, .milliseconds)
    table.row("natAdd of 2 entries (at translation #\(addAt.joined(separator: ", ")))", slowAdd, .milliseconds)
}

// MARK: Main

let table = Table()
do {
    switch command {
    case "create": try create(table)
    case "lookup": try lookup(table)
    case "aging": try aging(table)
    case "memory": try memory(table)
    case "memory-child":
        try memoryChild(part: argument("--part", default: "both"))
        exit(0)
    case "all":
        try create(table)
        try lookup(table)
        try memory(table)
        try aging(table)
    default:
        print("usage: nat-bench all|create|lookup|aging|memory [--rounds N] [--flows N]; nat-bench memory-child --part both|engine|hal")
        exit(2)
    }
} catch {
    fail("\(error)")
}
table.print()
print()
for line in summaries { print(line) }
