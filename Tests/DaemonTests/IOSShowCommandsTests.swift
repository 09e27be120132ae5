import Testing

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

    /// CDP is not run, as IOS says after `no cdp run`; the host table is IOS's, empty.
    @Test func cdpIsNotRunAndTheHostTableIsEmpty() throws {
        let h = try PlaneHarness()
        for line in ["show cdp neighbors", "show cdp neighbors detail"] {
            #expect(try h.run(line) == (.error, "% CDP is not enabled\n"))
        }
        let (status, hosts) = try h.run("show hosts")
        #expect(status == .success && hosts.hasPrefix("Default domain is not set\n") && hosts.hasSuffix("Address(es)\n"), "\(hosts)")
    }
}
