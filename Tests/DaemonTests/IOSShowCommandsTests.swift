import Testing
import Time

@testable import Daemon

/// The show commands automation reads in IOS's layout (NAPALM's `ios` driver, ntc-templates):
/// what they print for a configured switch.
@Suite struct IOSShowCommandsTests {
    /// `show ip interface`: NAPALM's get_interfaces_ip reads `Internet address is A/L` and
    /// `Secondary address A/L` under the line that names the interface; a switched port says
    /// IP is off.
    @Test func showIPInterfaceNamesEachAddress() throws {
        let h = try PlaneHarness()
        try h.configure([
            "enable", "configure terminal", "vlan 10", "exit", "interface vlan10", "ip address 10.10.0.2/24",
            "ip address 10.11.0.2/24 secondary", "ip nat inside", "exit", "interface vlan20", "end",
        ])
        let (status, vlan10) = try h.run("show ip interface vlan10")
        #expect(status == .success)
        let lines = vlan10.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("vlan10 is ") == true, "\(vlan10)")
        #expect(lines.contains("  Internet address is 10.10.0.2/24"), "\(vlan10)")
        #expect(lines.contains("  Secondary address 10.11.0.2/24"), "\(vlan10)")
        #expect(lines.contains("  Network address translation is enabled, interface in domain inside"), "\(vlan10)")
        let (_, port) = try h.run("show ip interface eth1")
        #expect(port.hasPrefix("eth1 is ") && port.contains("\n  Internet protocol processing disabled\n"), "\(port)")
        let (_, all) = try h.run("show ip interface")
        #expect(all.contains("vlan10 is ") && all.contains("eth54 is ") && !all.contains("Internet address is 10.20"), "\(all)")
        #expect(try h.run("show ip interface eth99").0 == .error)
        // The brief form is still the brief form.
        #expect(try h.run("show ip interface brief").1.hasPrefix("Interface                  IP-Address"))
    }

    /// `show arp` is `show ip arp` (NAPALM's get_arp_table asks for it): six columns a line,
    /// the SVI's own address with age `-`.
    @Test func showARPIsShowIPARP() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "configure terminal", "vlan 10", "exit", "interface vlan10", "ip address 10.10.0.2/24", "end"])
        let (status, arp) = try h.run("show arp")
        #expect(status == .success)
        #expect(arp == (try h.run("show ip arp")).1)
        let rows = arp.split(separator: "\n").dropFirst().map { $0.split(separator: " ") }
        #expect(rows.count == 1 && rows[0].count == 6 && rows[0][1] == "10.10.0.2" && rows[0][2] == "-" && rows[0][5] == "vlan10", "\(arp)")
    }

    /// CDP is not run, as IOS says after `no cdp run`; the inventory is the chassis with the
    /// serial number of `show version`; the host table is IOS's, empty.
    @Test func cdpIsNotRunAndTheHostTableIsEmpty() throws {
        let h = try PlaneHarness()
        for line in ["show cdp neighbors", "show cdp neighbors detail"] {
            #expect(try h.run(line) == (.error, "% CDP is not enabled\n"))
        }
        let (_, inventory) = try h.run("show inventory")
        let serial = try #require(try h.run("show version").1.split(separator: "\n").first { $0.hasPrefix("Processor board ID ") }?.split(separator: " ").last)
        #expect(inventory.hasPrefix("NAME: \"Chassis\", DESCR: \"vrrpd simulated switch, ") && inventory.contains(", SN: \(serial)\n"), "\(inventory)")
        let (status, hosts) = try h.run("show hosts")
        #expect(status == .success && hosts.hasPrefix("Default domain is not set\n") && hosts.hasSuffix("Address(es)\n"), "\(hosts)")
    }

    /// `show processes cpu`: IOS's summary line (NAPALM reads `one minute: N%`) and a row per
    /// thread of this process, by its name; `show memory statistics`: the processor pool is the
    /// process's resident memory out of the machine's.
    @Test func processesAndMemoryAreThisProcesss() throws {
        let h = try PlaneHarness()
        let (status, cpu) = try h.run("show processes cpu sorted")
        #expect(status == .success)
        let lines = cpu.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("CPU utilization for five seconds: ") == true && lines.first?.contains("; one minute: ") == true, "\(cpu)")
        #expect(lines.dropFirst().first == " PID Runtime(ms)     Invoked      uSecs   5Sec   1Min   5Min TTY Process")
        #expect(lines.contains { $0.hasSuffix(" vrrp") } && lines.contains { $0.hasSuffix(" ctl-plane") || $0.hasSuffix(" rx") }, "\(cpu)")
        let (_, memory) = try h.run("show memory statistics")
        let processor = try #require(memory.split(separator: "\n").first { $0.hasPrefix("Processor") }).split(separator: " ")
        let (total, used) = (Int(processor[2]) ?? 0, Int(processor[3]) ?? 0)
        #expect(used == ProcessUsage.residentBytes() || (used > 1_000_000 && used < total), "\(memory)")
        #expect(total == SystemCommands.physicalMemoryKiB() * 1024 && Int(processor[4]) == total - used, "\(memory)")
    }

    /// The utilisation of a thread is its CPU time over the window, of all the machine's CPUs.
    @Test func utilisationIsCPUTimeOverTheWindow() {
        var usage = ProcessUsage(cpus: 2)
        let start = Instant(nanoseconds: 1_000_000_000)
        for step in 0...12 {
            // One second of CPU every 5 s for a minute: 20% of one CPU, 10% of two.
            usage.record(now: start + .seconds(5 * step), process: .seconds(step), threads: [.init(id: 7, name: "vrrp", cpu: .seconds(step), invoked: step)])
        }
        #expect(abs(usage.processUtilisation.fiveSeconds - 10) < 0.001)
        #expect(abs(usage.processUtilisation.oneMinute - 10) < 0.001)
        #expect(abs(usage.utilisation(usage.threads[7] ?? [], over: .seconds(300)) - 10) < 0.001)
        // A thread that ended is forgotten.
        usage.record(now: start + .seconds(65), process: .seconds(13), threads: [])
        #expect(usage.threads[7] == nil)
    }

    /// `ip domain name` (and IOS's older `ip domain-name`): one line in the running
    /// configuration, the default domain of `show hosts` (NAPALM's fqdn), `no` removes it.
    @Test func theDomainNameIsOneLineAndShowHostsNamesIt() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "configure terminal", "ip domain-name Lab.Example.NET"])
        #expect(h.runningConfig.contains("\nip domain name lab.example.net\n"), "\(h.runningConfig)")
        #expect(!h.runningConfig.contains("domain-name"))
        #expect(try h.run("do show hosts").1.hasPrefix("Default domain is lab.example.net\n"))
        try h.configure(["ip domain name other.test"])
        #expect(h.runningConfig.contains("\nip domain name other.test\n") && !h.runningConfig.contains("lab.example.net"))
        for bad in ["ip domain name -bad.test", "ip domain name a..b", "ip domain name under_score.test"] {
            let (status, output) = try h.run(bad)
            #expect(status == .error && output.hasPrefix("% Invalid input detected: Invalid domain name"), "\(bad): \(output)")
        }
        #expect(h.runningConfig.contains("\nip domain name other.test\n"))
        try h.configure(["no ip domain name"])
        #expect(!h.runningConfig.contains("ip domain"))
        #expect(try h.run("do show hosts").1.hasPrefix("Default domain is not set\n"))
    }

    /// `show vlan id N` is one VLAN with the trunks that carry it besides its access ports
    /// (`show vlan` lists access ports only, as IOS does).
    @Test func showVLANIdIsOneVLANWithItsTrunks() throws {
        let h = try PlaneHarness()
        try h.configure([
            "enable", "configure terminal", "vlan 10", "name users", "exit", "vlan 20", "exit", "interface eth3", "switchport access vlan 10",
            "interface eth1", "switchport mode trunk", "switchport trunk allowed vlan 10", "end",
        ])
        func row(_ output: String, _ vlan: String) -> String? { output.split(separator: "\n").first { $0.hasPrefix(vlan + " ") }.map(String.init) }
        let brief = try h.run("show vlan brief").1
        #expect(row(brief, "10")?.hasSuffix(" eth3") == true, "\(brief)")
        let one = try h.run("show vlan id 10")
        #expect(one.0 == .success && row(one.1, "10")?.contains("users") == true && row(one.1, "10")?.hasSuffix(" eth1, eth3") == true
            && row(one.1, "20") == nil && row(one.1, "1") == nil, "\(one.1)")
        #expect(row(try h.run("show vlan id 20").1, "20")?.contains("eth1") == false)
        #expect(try h.run("show vlan id 99") == (.error, "% Invalid input detected: VLAN id 99 not found in current VLAN database\n"))
    }
}
