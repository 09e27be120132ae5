// hal-bench: measurements of the simulated switch SDK (run the release build: scripts/bench-hal).
//
//   hal-bench learn    [--chip NAME] [--count N]   new MACs/s through RX -> l2x
//   hal-bench lookup   [--chip NAME]               table lookups/s (data path) and l2Get calls/s (API)
//   hal-bench bulk     [--chip NAME]               delete-by-port and aging passes on a full table, vs memcpy
//   hal-bench soak     [--frames N]                frames through an exhausted RX pool; buffers and memory
//   hal-bench punt     [--frames N]                l2x's cost per frame for the CPU: not punted, policed, punted
//   hal-bench diagnostics                          HAL calls/s with the witness and trace off/on; watchdog lateness
//   hal-bench all
import Foundation
import Glibc
import NetTypes
import SwitchHAL
import Time

func argument(_ name: String, default value: String) -> String {
    let args = CommandLine.arguments
    if let index = args.firstIndex(of: name), index + 1 < args.count { return args[index + 1] }
    return value
}

let chip = ChipProfile.named(argument("--chip", default: "trident2")) ?? .trident2
let command = CommandLine.arguments.dropFirst().first ?? "all"

func now() -> Instant { SystemClock.now }
func seconds(_ from: Instant, _ to: Instant) -> Double { (to - from).inSeconds }

/// The one line per case that scripts read (`bench-hal: case=NAME key=value ...`), after the
/// sentences people read.
func summaryLine(_ name: String, _ figures: KeyValuePairs<String, Any>) {
    print("bench-hal: case=\(name) " + figures.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
}

func f(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }

func residentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

/// A 64-byte untagged frame whose source MAC is patched per send.
struct FrameTemplate {
    var bytes = [UInt8](repeating: 0, count: 64)
    init() {
        bytes[0] = 0x02
        bytes[5] = 0xfe
        bytes[12] = 0x08
    }
}

/// Fill of the table when the first insert was refused FULL (0: none yet).
nonisolated(unsafe) var fillAtFirstRefusal = 0

func fillTable(_ table: L2Table, count: Int, ports: Int) -> [UInt64] {
    var keys: [UInt64] = []
    keys.reserveCapacity(count)
    var mac: UInt64 = 0x0200_0000_0000
    while keys.count < count {
        mac &+= 0x9E37_79B9  // spread the keys
        let entry = L2Entry(mac: MACAddress(mac & 0xfeff_ffff_ffff), vlan: 10, port: PortID(keys.count % ports + 1), flags: .hitSource)
        if table.find(entry.key.raw) != nil {
            keys.append(entry.key.raw)
            continue
        }
        switch table.insert(entry) {
        case .inserted: keys.append(entry.key.raw)
        case .full: if fillAtFirstRefusal == 0 { fillAtFirstRefusal = table.count }
        case .replaced: break
        }
        if table.count + table.fullRefusals > table.capacity * 2 { break }
    }
    return keys
}

func learn() {
    let count = Int(argument("--count", default: "250000"))!
    let hal = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_ff00))
    hal.start()
    defer { hal.stop() }
    var template = FrameTemplate()
    let started = now()
    var sent = 0
    var retries = 0
    template.bytes.withUnsafeMutableBytes { raw in
        while sent < count {
            let source: UInt64 = 0x0200_1000_0000 &+ UInt64(sent)
            for i in 0..<6 { raw[6 + i] = UInt8(truncatingIfNeeded: source >> UInt64(40 - 8 * i)) }
            if hal.rx.receive(port: 1, frame: UnsafeRawBufferPointer(raw)) {
                sent += 1
            } else {
                retries += 1
            }
        }
    }
    var learned = 0
    let deadline = SystemClock.deadline(after: .seconds(60))
    repeat {
        learned = (try? hal.l2Count(deadline: .distantFuture).dynamic) ?? 0
        if learned + Int((try? hal.l2Summary(deadline: .distantFuture).counters.learnFull) ?? 0) >= count { break }
        usleep(200)
    } while SystemClock.now < deadline
    let elapsed = seconds(started, now())
    let summary = try! hal.l2Summary(deadline: .distantFuture)
    print("learn: \(learned) new MACs (\(summary.counters.learnFull) refused FULL) in \(String(format: "%.3f", elapsed)) s "
        + "= \(String(format: "%.2f", Double(learned + Int(summary.counters.learnFull)) / elapsed / 1e6)) million/s "
        + "(producer re-offered \(retries) frames while the pool was empty; chip \(chip.name))")
    summaryLine("learn", ["chip": chip.name, "learned": learned, "refused_full": summary.counters.learnFull, "seconds": f(elapsed),
                      "million_per_s": f(Double(learned + Int(summary.counters.learnFull)) / elapsed / 1e6, 2)])
}

func lookup() {
    let table = L2Table(chip: chip)
    let keys = fillTable(table, count: chip.l2Capacity * 85 / 100, ports: chip.portCount)
    var rng = SystemRandomNumberGenerator()
    let probes = (0..<1_000_000).map { _ in keys[Int.random(in: 0..<keys.count, using: &rng)] }
    var found = 0
    let rounds = 10
    let started = now()
    for _ in 0..<rounds {
        for key in probes where table.find(key) != nil { found += 1 }
    }
    let elapsed = seconds(started, now())
    print("lookup (data path, table at 85%): \(String(format: "%.1f", Double(probes.count * rounds) / elapsed / 1e6)) million/s (\(found) hits)")
    var misses = 0
    let missStarted = now()
    for key in probes where table.find(key ^ 0x1000_0000_0000) == nil { misses += 1 }
    let missRate = Double(probes.count) / seconds(missStarted, now()) / 1e6
    print("lookup misses: \(String(format: "%.1f", missRate)) million/s")

    let hal = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_ff00))
    hal.start()
    defer { hal.stop() }
    for key in keys.prefix(10_000) {
        try! hal.l2Add(L2Entry(mac: L2Key(mac: MACAddress(key >> 12), vlan: 10).mac, vlan: 10, port: 1), deadline: .distantFuture)
    }
    let apiKeys = keys.prefix(10_000).map { MACAddress($0 >> 12) }
    let apiStarted = now()
    var calls = 0
    for _ in 0..<50 {
        for mac in apiKeys {
            _ = try? hal.l2Get(mac: mac, vlan: 10, deadline: SystemClock.deadline(after: .seconds(1)))
            calls += 1
        }
    }
    let apiRate = Double(calls) / seconds(apiStarted, now()) / 1e6
    print("l2Get API calls (lock + lookup + copy): \(String(format: "%.1f", apiRate)) million/s")
    summaryLine("lookup", ["chip": chip.name, "hits_million_per_s": f(Double(probes.count * rounds) / elapsed / 1e6, 1),
                       "misses_million_per_s": f(missRate, 1), "l2get_million_per_s": f(apiRate, 1)])
}

func bulk() {
    let table = L2Table(chip: chip)
    let keys = fillTable(table, count: chip.l2Capacity, ports: chip.portCount)
    print("table: \(table.count) entries of \(table.capacity) (\(table.fullRefusals) inserts refused FULL on the way, "
        + "the first at \(String(format: "%.1f", Double(fillAtFirstRefusal) * 100 / Double(table.capacity)))% fill), "
        + "\(table.bytesPerEntry) bytes per entry, \(table.tableBytes / 1024) KiB")
    // memcpy of the table's bytes, the yardstick.
    let source = UnsafeMutableRawPointer.allocate(byteCount: table.tableBytes, alignment: 64)
    let target = UnsafeMutableRawPointer.allocate(byteCount: table.tableBytes, alignment: 64)
    memset(source, 1, table.tableBytes)
    memset(target, 0, table.tableBytes)
    var best = Double.infinity
    for _ in 0..<20 {
        let t = now()
        memcpy(target, source, table.tableBytes)
        best = min(best, seconds(t, now()))
    }
    let memcpyMs = best * 1000
    print("memcpy of the table's bytes: \(String(format: "%.3f", memcpyMs)) ms")

    let portStarted = now()
    let removed = table.removeAll(matching: L2Filter(port: 7))
    let portMs = seconds(portStarted, now()) * 1000
    print("delete-by-port (\(removed) entries) on a full table: \(String(format: "%.3f", portMs)) ms = \(String(format: "%.1f", portMs / memcpyMs))x memcpy")

    let vlanStarted = now()
    let vlanRemoved = table.removeAll(matching: L2Filter(vlan: 10, port: 8))
    print("delete-by-VLAN+port (\(vlanRemoved) entries): \(String(format: "%.3f", seconds(vlanStarted, now()) * 1000)) ms")

    _ = fillTable(table, count: chip.l2Capacity, ports: chip.portCount)  // refill
    let passOne = now()
    let agedFirst = table.agePass()
    let passOneMs = seconds(passOne, now()) * 1000
    let passTwo = now()
    let agedSecond = table.agePass()
    let passTwoMs = seconds(passTwo, now()) * 1000
    print("aging pass, full table, clearing hit bits (\(agedFirst) aged): \(String(format: "%.3f", passOneMs)) ms = \(String(format: "%.1f", passOneMs / memcpyMs))x memcpy")
    print("aging pass deleting every entry (\(agedSecond) aged): \(String(format: "%.3f", passTwoMs)) ms = \(String(format: "%.1f", passTwoMs / memcpyMs))x memcpy")
    summaryLine("bulk", ["chip": chip.name, "entries": table.capacity, "bytes_per_entry": table.bytesPerEntry, "memcpy_ms": f(memcpyMs),
                     "delete_port_ms": f(portMs), "age_pass_ms": f(passOneMs), "age_delete_all_ms": f(passTwoMs)])
    _ = keys
    source.deallocate()
    target.deallocate()
}

func soak() {
    let frames = Int(argument("--frames", default: "10000000"))!
    let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_ee00))
    hal.start()
    var template = FrameTemplate()
    var accepted = 0
    var warmRSS = 0
    let started = now()
    template.bytes.withUnsafeMutableBytes { raw in
        raw[6] = 0x02
        for n in 0..<frames {
            raw[11] = UInt8(truncatingIfNeeded: n & 15)
            if hal.rx.receive(port: 1, frame: UnsafeRawBufferPointer(raw)) { accepted += 1 }
            if n == frames / 10 { warmRSS = residentKiB() }
        }
    }
    let deadline = SystemClock.deadline(after: .seconds(30))
    while (hal.rx.statistics.inUse > 0 || hal.rx.statistics.queued > 0) && SystemClock.now < deadline { usleep(1000) }
    let elapsed = seconds(started, now())
    let stats = hal.rx.statistics
    let endRSS = residentKiB()
    hal.stop()
    print("soak: offered \(stats.offered) accepted \(stats.accepted) dropped-no-buffer \(stats.droppedNoBuffer) "
        + "in-use \(stats.inUse) high-water \(stats.highWater)/\(stats.poolBuffers) rss-warm-kib \(warmRSS) rss-end-kib \(endRSS) "
        + "seconds \(String(format: "%.2f", elapsed)) accepted-check \(accepted)")
    summaryLine("soak", ["offered": stats.offered, "accepted": stats.accepted, "dropped_no_buffer": stats.droppedNoBuffer, "in_use": stats.inUse,
                     "rss_warm_kib": warmRSS, "rss_end_kib": endRSS, "seconds": f(elapsed, 2)])
}

/// CPU time a thread of this process has run, in ns (the scheduler's own account).
func threadCPUNanoseconds(_ tid: Int32) -> UInt64 {
    guard let text = try? String(contentsOfFile: "/proc/self/task/\(tid)/schedstat", encoding: .utf8) else { return 0 }
    return UInt64(text.split(separator: " ").first ?? "0") ?? 0
}

/// The same ARP broadcast (one station, so learning costs nothing after the first) offered as
/// fast as the RX path takes it, in three cases: no packet handler (nothing goes to the CPU),
/// a handler with the default policers (ARP policed to 1,000/s: nearly every frame classified
/// and dropped in l2x), and the ARP policer opened to its maximum (every frame queued for the
/// rx thread, which hands it to a handler that counts it). l2x's CPU time per frame is the
/// cost; the difference between the first two cases is the policer's.
func punt() {
    let frames = Int(argument("--frames", default: "2000000"))!
    var arp = [UInt8](repeating: 0, count: 60)
    for i in 0..<6 { arp[i] = 0xff }
    arp[6] = 0x02; arp[11] = 0x01
    arp[12] = 0x08; arp[13] = 0x06
    arp.replaceSubrange(14..<22, with: [0, 1, 8, 0, 6, 4, 0, 1])
    enum Case: String, CaseIterable { case notPunted = "no handler (not punted)", policed = "default policers (ARP 1000/s)", open = "ARP policer at its maximum" }
    for benchCase in Case.allCases {
        let hal = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_ff00))
        hal.start()
        let delivered = HandlerCount()
        if benchCase != .notPunted { hal.setPacketHandler { _, _, _ in delivered.count += 1 } }
        if benchCase == .open { openARPPolicer(hal) }
        // The threads publish their ids once they run.
        func tid(_ name: String) -> Int32 {
            while true {
                if let tid = hal.threadStates.first(where: { $0.name == name })?.tid, tid != 0 { return tid }
                usleep(1000)
            }
        }
        let l2x = tid("l2x"), rxThread = tid("rx")
        let cpuBefore = threadCPUNanoseconds(l2x), rxBefore = threadCPUNanoseconds(rxThread)
        let started = now()
        var sent = 0
        arp.withUnsafeBytes { raw in
            while sent < frames {
                if hal.rx.receive(port: 1, frame: raw) { sent += 1 } else { sched_yield() }
            }
        }
        let deadline = SystemClock.deadline(after: .seconds(60))
        while (hal.rx.statistics.inUse > 0 || hal.rx.statistics.queued > 0) && SystemClock.now < deadline { usleep(200) }
        let elapsed = seconds(started, now())
        let l2xNanos = threadCPUNanoseconds(l2x) - cpuBefore, rxNanos = threadCPUNanoseconds(rxThread) - rxBefore
        let figures = cpuFigures(hal)
        hal.stop()  // joins rx: its count is complete and visible
        print("punt: \(benchCase.rawValue): \(frames) frames in \(String(format: "%.3f", elapsed)) s "
            + "= \(String(format: "%.2f", Double(frames) / elapsed / 1e6)) million/s; l2x \(String(format: "%.1f", Double(l2xNanos) / Double(frames))) ns/frame, "
            + "rx \(String(format: "%.1f", Double(rxNanos) / Double(frames))) ns/frame; to the handler \(delivered.count)\(figures)")
        summaryLine("punt-" + String(describing: benchCase), ["frames": frames, "seconds": f(elapsed), "l2x_ns_per_frame": f(Double(l2xNanos) / Double(frames), 1),
                                                           "rx_ns_per_frame": f(Double(rxNanos) / Double(frames), 1), "to_handler": delivered.count])
    }
}

/// Frames a packet handler saw: written by the rx thread only, read after it is joined.
final class HandlerCount: @unchecked Sendable { var count = 0 }

/// The ARP class's counters, for the punt lines.
func cpuFigures(_ hal: Switch) -> String {
    guard let arp = hal.cpuStatistics.first(where: { $0.cpuClass == .arp }) else { return "" }
    return "; ARP passed \(arp.passed), dropped by the policer \(arp.dropped), queue full \(arp.queueFull)"
}

func openARPPolicer(_ hal: Switch) {
    try! hal.setCPUPolicer(.arp, PolicerRate(packetsPerSecond: PolicerRate.maxPacketsPerSecond, burst: PolicerRate.maxBurst), deadline: .distantFuture)
}

/// HAL API ops/s with the witness and the call trace off and on; and how late the watchdog
/// reports a lock held past its threshold.
func diagnostics() {
    let hal = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_ff00))
    hal.start()
    defer { hal.stop() }
    try! hal.createVLAN(10, deadline: .distantFuture)
    let macs = (0..<1000).map { MACAddress(0x0200_3000_0000 + UInt64($0)) }
    func run(_ label: String, _ name: String) {
        let rounds = 200
        let started = now()
        for _ in 0..<rounds {
            for mac in macs {
                _ = try? hal.l2Add(L2Entry(mac: mac, vlan: 10, port: 1, flags: .static), deadline: SystemClock.deadline(after: .seconds(1)))
                _ = try? hal.l2Get(mac: mac, vlan: 10, deadline: SystemClock.deadline(after: .seconds(1)))
            }
            // A call that nests hal.ports then l2.table (the witness's order check runs).
            var settings = PortSettings()
            settings.accessVLAN = 10
            try? hal.setPortSettings(2, settings, deadline: SystemClock.deadline(after: .seconds(1)))
            settings.accessVLAN = 1
            try? hal.setPortSettings(2, settings, deadline: SystemClock.deadline(after: .seconds(1)))
        }
        let calls = rounds * (macs.count * 2 + 2)
        let rate = Double(calls) / seconds(started, now()) / 1e6
        print("  \(label): \(String(format: "%.2f", rate)) million HAL calls/s")
        summaryLine("hal-calls-" + name, ["million_per_s": f(rate, 2)])
    }
    hal.trace.setSink { _ in }
    print("HAL API calls (l2_addr_add + l2_addr_get, and port_set with a nested lock):")
    Witness.shared.isEnabled = false
    hal.trace.isEnabled = false
    run("witness off, trace off", "plain")
    Witness.shared.isEnabled = true
    run("witness on,  trace off", "witness")
    Witness.shared.isEnabled = false
    hal.trace.isEnabled = true
    run("witness off, trace on ", "trace")
    Witness.shared.isEnabled = true
    run("witness on,  trace on ", "witness-trace")
    hal.trace.isEnabled = false
    Witness.shared.isEnabled = false

    // The watchdog: stall l2x past a 1 s threshold, five times; how late is each report?
    hal.watchdog.threshold = 1.0
    let lateness = LatenessBox()
    hal.watchdog.setSink { alert in if alert.kind == .heldTooLong { lateness.add(alert.lateBy) } }
    for _ in 0..<5 {
        hal.faults.stall(.l2x, milliseconds: 1300)
        usleep(1_500_000)
    }
    let values = lateness.values.sorted()
    print("watchdog, threshold 1 s: reported \(values.count) of 5 stalls, "
        + "\(values.map { String(format: "%.0f", $0 * 1000) }.joined(separator: "/")) ms after the threshold")
    summaryLine("watchdog", ["reported": values.count, "of": 5, "late_max_ms": f((values.last ?? .nan) * 1000, 0)])
}

final class LatenessBox: @unchecked Sendable {
    private let lock = HALLock(name: "bench.lateness", rank: 99, purpose: "bench")
    private var list: [Double] = []
    func add(_ value: Double) { lock.withLock("add") { list.append(value) } }
    var values: [Double] { lock.withLock("read") { list } }
}

switch command {
case "diagnostics": diagnostics()
case "learn": learn()
case "lookup": lookup()
case "bulk": bulk()
case "soak": soak()
case "punt": punt()
case "all":
    learn()
    lookup()
    bulk()
default:
    print("usage: hal-bench learn|lookup|bulk|soak|punt|diagnostics|all [--chip NAME] [--count N] [--frames N]")
    exit(2)
}
