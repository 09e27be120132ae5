import Foundation
import Glibc
import Synchronization
import Testing

/// The HAL NAT table's capacity as the CLI meets it (issue 18, "Hung" 1 and "Lost" 4): a static
/// mapping reserves its slots when it is configured, so a mapping the table cannot hold (too
/// many, or a bucket collision below capacity) is refused by its own line, the running
/// configuration stays equal to what the HAL holds, nothing spins and every other session is
/// served; an inactive mapping keeps its slots; a static mapping displaces dynamic flows.
/// On the small chip: 64 NAT entries (2 banks x 8 buckets x 4), 2 per mapping, 60 of them
/// (15/16) for static mappings.
@Suite struct NATCapacityTests {
    static func statics(_ count: Int, from first: Int = 0) -> [String] {
        (first..<(first + count)).map { n in "ip nat inside source static 10.1.\(n / 250).\(n % 250 + 1) 100.1.\(n / 250).\(n % 250 + 1)" }
    }

    static func halNAT(_ daemon: DaemonProcess) throws -> String {
        try daemon.vtysh(["-c", "show hal nat"]).stdout
    }

    static func halEntries(_ daemon: DaemonProcess) throws -> Int {
        try NATLabTests.halEntries(daemon)
    }

    @Test func mappingsBeyondTheTableAreRefusedByTheirOwnLines() throws {
        let scratch = try Scratch()
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--chip", "small"])
        let lines = Self.statics(48)
        try scratch.write("statics.vtysh", (["enable", "configure terminal"] + lines).joined(separator: "\n") + "\n")

        // Another session's show version, sampled while the script runs.
        let sampling = ManagedFlag()
        let sampled = Mutex<[Double]>([])
        let sampler = Thread {
            while !sampling.isSet {
                if let session = try? daemon.timedSession(["show version"], timeout: 10) {
                    sampled.withLock { $0.append(session.seconds) }
                }
                usleep(20_000)
            }
        }
        sampler.start()
        let script = try daemon.vtysh(["-f", scratch.file("statics.vtysh")])
        sampling.set()
        while !sampler.isFinished { usleep(10_000) }

        // 48 mappings need 96 entries: the script fails, each refused line named with the reason.
        #expect(script.status == 1, "\(script.stdout)\(script.stderr)")
        let refusals = script.stdout.split(separator: "\n").filter { $0.hasPrefix("% Invalid input detected: HAL error FULL (-6): NAT table full for ") }
        let failedLines = script.stderr.split(separator: "\n").filter { $0.contains("failed (error)") }
        // 15/16 of the 64 entries may be static: 30 mappings, whatever their hashes (entries move
        // to their other buckets to make room).
        #expect(refusals.count == 48 - 30, "30 mappings fit: \(script.stdout)")
        #expect(refusals.count == failedLines.count, "\(script.stdout)\(script.stderr)")
        #expect(refusals.allSatisfy { $0.contains("as many as this chip sets aside for them (15/16 of 64") }, "\(refusals)")

        // The running configuration is what the HAL holds: every accepted mapping, nothing else.
        let running = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        let accepted = lines.filter { running.contains($0 + "\n") }
        #expect(accepted.count == 48 - refusals.count)
        for failed in failedLines {
            let refusedLine = lines.first { failed.contains("\"\($0)\"") }
            #expect(refusedLine.map { !running.contains($0 + "\n") } ?? false, "\(failed)")
        }
        #expect(try daemon.waitUntilTrue(5) { try Self.halEntries(daemon) == 2 * accepted.count })
        // (What was queued behind a refused line is applied once more, idempotently: in sync after that.)
        #expect(try daemon.waitUntilTrue(5) { try daemon.vtysh(["-c", "show version"]).stdout.contains("HAL configuration: in sync") })
        let statistics = try daemon.vtysh(["-c", "show ip nat statistics"]).stdout
        #expect(statistics.contains("Total active translations: \(accepted.count) (\(accepted.count) static"), "\(statistics)")
        #expect(statistics.contains("in sync") && !statistics.contains("OUT OF SYNC"), "\(statistics)")

        // Nothing spins: the NAT service answers at once, and no HAL problem was logged.
        let nat = try daemon.timedSession(["show ip nat statistics", "show version"])
        #expect(nat.statuses.allSatisfy { $0 == .success } && nat.seconds < 2, "\(nat)")
        #expect(!daemon.log.contains("NAT table failed"), "\(daemon.log.suffix(2000))")
        // The other session was served throughout (bounded by the daemon's deadlines, not the script).
        let samples = sampled.withLock { $0 }
        #expect(!samples.isEmpty && samples.allSatisfy { $0 < 5 }, "\(samples)")

        // Room made by removing a mapping takes the next one (whose buckets it frees, or another).
        let removed = accepted[0]
        #expect(try daemon.vtysh(["-c", "enable", "-c", "configure terminal", "-c", "no " + removed]).status == 0)
        #expect(try daemon.vtysh(["-c", "enable", "-c", "configure terminal", "-c", removed]).status == 0)
    }

    /// A file is held to the chip's tables as typed lines are: `vrrpd --check-config` (nothing
    /// started) and the start-up load refuse the same lines, by number, and the daemon runs with
    /// the rest, the HAL holding exactly what the running configuration says.
    @Test func aFileIsHeldToTheChipsTablesByLine() throws {
        let scratch = try Scratch()
        let macs = (0..<160).map { n in String(format: "mac address-table static 0200.00%02x.%04x vlan 10 interface eth1", n / 256, n % 256) }
        let text = (["vlan 10", "interface eth1", " switchport access vlan 10", "exit"] + Self.statics(40) + macs).joined(separator: "\n") + "\n"
        try scratch.write("vrrpd.conf", text)
        let check = try Spawned.run(Binaries.vrrpd, ["--check-config", "-f", scratch.file("vrrpd.conf"), "--chip", "small"])
        #expect(check.status == 1, "\(check)")
        let refused = check.stdout.split(separator: "\n").filter { $0.contains(": HAL error FULL (-6): ") }
        let natRefused = refused.filter { $0.contains("NAT table full") }
        let macRefused = refused.filter { $0.contains("no room for") }
        #expect(!natRefused.isEmpty && !macRefused.isEmpty, "\(check.stdout)")
        #expect(check.stdout.contains("\(refused.count) errors"), "\(check.stdout)")
        // The same file at start-up: the same lines refused, the rest running and in the HAL.
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--chip", "small"])
        for line in refused {
            let location = line.prefix { $0 != " " }  // vrrpd.conf:NN:
            #expect(daemon.log.contains(String(location)), "\(location) not refused at start-up: \(daemon.log.suffix(3000))")
        }
        let mappings = 40 - natRefused.count
        #expect(try daemon.waitUntilTrue(5) { try Self.halEntries(daemon) == 2 * mappings })
        let statics = try daemon.vtysh(["-c", "show mac address-table count"]).stdout
        #expect(statics.contains("Static  Address Count  : \(160 - macRefused.count)"), "\(statics)")
        // (What was queued behind a refused line is applied once more, idempotently: in sync after that.)
        #expect(try daemon.waitUntilTrue(5) { try daemon.vtysh(["-c", "show version"]).stdout.contains("HAL configuration: in sync") })
    }

    /// A mapping that is not active (its VRRP group is not here) holds its slots: the table
    /// shows them held, and another mapping cannot take them.
    @Test func anInactiveMappingKeepsItsSlots() throws {
        let daemon = try DaemonProcess(arguments: ["--chip", "small"])
        let configure = { (line: String) in try daemon.vtysh(["-c", "enable", "-c", "configure terminal", "-c", line]) }
        #expect(try configure("ip nat inside source static 10.2.0.1 100.2.0.1 redundancy vrrp 9").status == 0)
        let held = try Self.halNAT(daemon)
        #expect(held.contains("NAT table: 0 of 64 entries in use, 2 more slot(s) held for inactive static mappings"), "\(held)")
        let statistics = try daemon.vtysh(["-c", "show ip nat statistics"]).stdout
        #expect(statistics.contains("Total active translations: 0"), "\(statistics)")
        // Filling the rest: the inactive mapping's two slots count.
        var accepted = 1
        for line in Self.statics(40) where try configure(line).status == 0 { accepted += 1 }
        #expect(accepted == 30, "\(accepted) mappings in 64 entries, 60 of them for static mappings")
        let full = try Self.halNAT(daemon)
        #expect(full.contains("static mappings' slots reserved \(2 * accepted)"), "\(full)")
        // Removing the inactive mapping frees its slots.
        #expect(try configure("no ip nat inside source static 10.2.0.1 100.2.0.1 redundancy vrrp 9").status == 0)
        #expect(try Self.halNAT(daemon).contains("static mappings' slots reserved \(2 * (accepted - 1))"))
    }

    /// Dynamic flows that fill the table give way to a static mapping configured later: its line
    /// succeeds, the displaced translations are gone from the engine too, and counted.
    @Test func aStaticMappingDisplacesDynamicFlows() throws {
        let config = """
            vlan 10
            vlan 20
            interface vlan10
             ip address 10.0.0.1/24
             ip nat inside
            interface vlan20
             ip address 203.0.113.1/24
             ip nat outside
            access-list 1 permit 10.0.0.0 0.0.0.255
            ip nat inside source list 1 interface vlan20 overload

            """
        let daemon = try DaemonProcess(arguments: ["--chip", "small"], config: config)
        // 40 flows into 32 translations' room: the table fills (some are refused FULL).
        let flows = try daemon.vtysh(["-c", "enable", "-c", "test nat flow udp 10.0.0.9 2000 198.51.100.1 9 sessions 40"]).stdout
        #expect(flows.contains("translation(s) created"), "\(flows)")
        let before = try Self.halEntries(daemon)
        #expect(before >= 40, "\(flows) / \(before) entries")
        // Statics until one of them needed a dynamic entry's slot.
        var configured = 0
        for line in Self.statics(32) {
            let result = try daemon.vtysh(["-c", "enable", "-c", "configure terminal", "-c", line])
            #expect(result.status == 0, "\(line): \(result.stdout)")
            configured += 1
            if try Self.halNAT(daemon).contains("evicted for static ones 0") == false { break }
        }
        #expect(try daemon.waitUntilTrue(5) { daemon.log.contains("dynamic translation(s) gave their HAL slots to static mappings") },
                "\(daemon.log.suffix(2000))")
        let statistics = try daemon.vtysh(["-c", "show ip nat statistics"]).stdout
        #expect(statistics.contains("displaced by a static mapping"), "\(statistics)")
        // The engine and the HAL agree: every translation left has its two entries.
        let translations = try NATLabTests.translations(daemon).count
        #expect(try daemon.waitUntilTrue(5) { try Self.halEntries(daemon) == 2 * translations }, "\(translations) translations")
        #expect(try daemon.waitUntilTrue(5) { try daemon.vtysh(["-c", "show version"]).stdout.contains("HAL configuration: in sync") })
    }
}
