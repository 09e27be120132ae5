import Foundation
import Glibc
import Testing

/// The switch through vrrpd and vtysh: VLANs, switchports, the MAC table, the generator.
@Suite struct SwitchingTests {
    /// Polls a show command until its output contains `text`.
    func eventually(_ daemon: DaemonProcess, _ command: [String], contains text: String, timeout: Double = 10) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try daemon.vtysh(command).stdout.contains(text) { return true }
            usleep(100_000)
        }
        return false
    }

    @Test func learnOneHundredThousandThenFlushAndAge() throws {
        let daemon = try DaemonProcess()
        let setup = try daemon.vtysh([
            "-c", "enable", "-c", "configure terminal", "-c", "vlan 10", "-c", "vlan 20", "-c", "interface eth1",
            "-c", "switchport mode trunk", "-c", "switchport trunk allowed vlan 10,20", "-c", "interface eth2",
            "-c", "switchport access vlan 20", "-c", "end",
            "-c", "test mac learn 100000 interface eth1 vlan 10",
        ])
        #expect(setup.status == 0, "\(setup.stdout)\(setup.stderr)")
        #expect(try eventually(daemon, ["-c", "show mac address-table count vlan 10"], contains: "Dynamic Address Count  : 100000"))
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test mac learn 5000 interface eth2 vlan 20 base 0200.2000.0000"]).status == 0)
        #expect(try eventually(daemon, ["-c", "show mac address-table count vlan 20"], contains: "Dynamic Address Count  : 5000"))
        #expect(try daemon.vtysh(["-c", "show mac address-table count"]).stdout.contains("Dynamic Address Count  : 105000"))

        // Flush by port: eth2's 5000 go, eth1's stay.
        let byPort = try daemon.vtysh(["-c", "enable", "-c", "clear mac address-table dynamic interface eth2"])
        #expect(byPort.stdout.contains("5000 dynamic entries cleared"), "\(byPort.stdout)")
        #expect(try daemon.vtysh(["-c", "show mac address-table count"]).stdout.contains("Dynamic Address Count  : 100000"))
        // Flush by VLAN.
        let byVLAN = try daemon.vtysh(["-c", "enable", "-c", "clear mac address-table dynamic vlan 10"])
        #expect(byVLAN.stdout.contains("100000 dynamic entries cleared"))
        #expect(try daemon.vtysh(["-c", "show mac address-table count"]).stdout.contains("Dynamic Address Count  : 0"))

        // Aging: with an age time of 1 s, idle entries are gone within 2 s.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "mac address-table aging-time 1", "-c", "end",
                                  "-c", "test mac learn 1000 interface eth2 vlan 20"]).status == 0)
        #expect(try eventually(daemon, ["-c", "show mac address-table count"], contains: "Dynamic Address Count  : 1000", timeout: 5))
        let learned = Date()
        #expect(try eventually(daemon, ["-c", "show mac address-table count"], contains: "Dynamic Address Count  : 0", timeout: 5))
        #expect(Date().timeIntervalSince(learned) < 3.0)
        #expect(try daemon.vtysh(["-c", "show hal l2 summary"]).stdout.contains("aged 1000"))
        #expect(daemon.witnessFindings.isEmpty, "\(daemon.witnessFindings)")
    }

    @Test func switchConfigurationSurvivesWriteAndRestart() throws {
        let scratch = try Scratch()
        let lines = [
            "enable", "configure terminal", "vlan 10", "name users", "exit", "vlan 20", "exit",
            "interface eth1", "description uplink", "switchport mode trunk", "switchport trunk allowed vlan 10,20",
            "switchport trunk native vlan 20", "exit", "interface eth5", "switchport access vlan 10", "shutdown", "exit",
            "interface vlan10", "ip address 10.10.0.1/24", "exit",
            "mac address-table static 0000.5e00.0105 vlan 10 interface eth5", "mac address-table aging-time 600",
            "mac address-table limit maximum 500 interface eth5", "mac address-table limit maximum 100000",
            "end", "write file",
        ]
        let expected = """
            vlan 10
             name users
            exit
            !
            vlan 20
            exit
            !
            interface eth1
             description uplink
             switchport mode trunk
             switchport trunk native vlan 20
             switchport trunk allowed vlan 10,20
            exit
            !
            interface eth5
             switchport access vlan 10
             shutdown
            exit
            !
            interface vlan10
             ip address 10.10.0.1/24
            exit
            !
            mac address-table static 00:00:5e:00:01:05 vlan 10 interface eth5
            mac address-table aging-time 600
            mac address-table limit maximum 100000
            mac address-table limit maximum 500 interface eth5
            """
        do {
            let daemon = try DaemonProcess(scratch: scratch)
            let result = try daemon.vtysh([], stdin: lines.joined(separator: "\n"))
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let config = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
            #expect(config.contains(expected), "\(config)")
            try daemon.stop()
        }
        let daemon = try DaemonProcess(scratch: scratch)
        let config = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(config.contains(expected))
        // And the hardware got it from the startup configuration.
        let vlans = try daemon.vtysh(["-c", "show vlan"]).stdout
        #expect(vlans.contains("10   users                            active    eth5"))
        let trunks = try daemon.vtysh(["-c", "show interfaces trunk"]).stdout
        #expect(trunks.contains("eth1        on               802.1q") && trunks.contains("eth1        10,20"), "\(trunks)")
        #expect(trunks.split(separator: "\n").first { $0.hasPrefix("eth1") }?.hasSuffix(" 20") == true, "native VLAN 20: \(trunks)")
        let ports = try daemon.vtysh(["-c", "show interfaces eth5"]).stdout
        #expect(ports.contains("eth5 is administratively down, line protocol is down"))
        let table = try daemon.vtysh(["-c", "show mac address-table static"]).stdout
        #expect(table.contains("  10    0000.5e00.0105    STATIC      eth5"))
        #expect(table.contains("STATIC      CPU"))  // the SVI's router MAC
        #expect(try daemon.vtysh(["-c", "show mac address-table aging-time"]).stdout.contains("600 seconds"))
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("HAL configuration: in sync"))
        #expect(daemon.witnessFindings.isEmpty, "\(daemon.witnessFindings)")
    }

    @Test func badSwitchCommandsAreRefusedAndChangeNothing() throws {
        let daemon = try DaemonProcess()
        func run(_ line: String, context: [String] = []) throws -> VtyshResult {
            try daemon.vtysh(["-c", "enable", "-c", "configure terminal"] + context.flatMap { ["-c", $0] } + ["-c", line])
        }
        let before = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        let cases: [(String, [String], String)] = [
            ("interface eth99", [], "% Invalid input detected: No such interface eth99: ports are eth1-eth54, SVIs are vlan1-vlan4094"),
            ("ip address 10.0.0.1/24", ["interface eth1"], "% Invalid input detected: IP addresses may not be configured on L2 links (eth1)"),
            ("switchport mode trunk", ["interface vlan10"], "% Invalid input detected: switchport applies to physical ports (ethN) only"),
            ("switchport trunk allowed vlan 10-5", ["interface eth1"], "% Invalid input detected: Invalid VLAN list \"10-5\""),
            ("mac address-table static 0000.5e00.0105 vlan 77 interface eth1", [], "% Invalid input detected: VLAN 77 does not exist; create it with 'vlan 77'"),
            ("mac address-table static 0100.5e00.0105 vlan 1 interface eth1", [], "is a multicast address"),
            ("mac address-table static 0000.5e00.0105 vlan 1 interface vlan10", [], "% Invalid input detected: Static MAC entries point to a port"),
            ("no vlan 1", [], "% Invalid input detected: VLAN 1 is the default VLAN and cannot be deleted"),
            ("no vlan 30", [], "% Invalid input detected: VLAN 30 does not exist"),
            ("vlan 4095", [], "% Invalid input detected at '^' marker."),
        ]
        for (line, context, message) in cases {
            let result = try run(line, context: context)
            #expect(result.status == 1, "\(line)")
            #expect(result.stdout.contains(message), "\(line): \(result.stdout)")
        }
        // Only the interface blocks the failing lines entered were added.
        let after = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(after.replacingOccurrences(of: "interface eth1\nexit\n!\n", with: "").replacingOccurrences(of: "interface vlan10\nexit\n!\n", with: "") == before)
    }

    @Test func linkDownFlushesAndShowsDown() throws {
        let daemon = try DaemonProcess()
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test mac learn 300 interface eth4 vlan 1"]).status == 0)
        #expect(try eventually(daemon, ["-c", "show mac address-table count"], contains: "Dynamic Address Count  : 300"))
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test interface eth4 link down"]).status == 0)
        #expect(try daemon.vtysh(["-c", "show mac address-table count"]).stdout.contains("Dynamic Address Count  : 0"))
        #expect(try daemon.vtysh(["-c", "show interfaces eth4"]).stdout.contains("eth4 is down, line protocol is down"))
        #expect(try daemon.vtysh(["-c", "show interfaces brief"]).stdout.contains("eth4       up     down  down  access"))
    }

    @Test func aFullTableIsCountedNotSilent() throws {
        let daemon = try DaemonProcess(arguments: ["--chip", "small"])
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("Chip: small"))
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test mac learn 400 interface eth2 vlan 1"]).status == 0)
        #expect(try eventually(daemon, ["-c", "show hal generator"], contains: "finished"))
        let summary = try daemon.vtysh(["-c", "show hal l2 summary"]).stdout
        let count = try daemon.vtysh(["-c", "show mac address-table count"]).stdout
        #expect(summary.contains("128 entries"))
        #expect(!summary.contains("learns refused: FULL 0,"), "\(summary)")
        #expect(count.contains("Total Mac Address Space Available"))
    }

    @Test func showMACTableFiltersAndStreamsLongOutput() throws {
        let daemon = try DaemonProcess()
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test mac learn 50000 interface eth7 vlan 1"]).status == 0)
        #expect(try eventually(daemon, ["-c", "show mac address-table count"], contains: "Dynamic Address Count  : 50000"))
        let all = try daemon.vtysh(["-c", "show mac address-table dynamic interface eth7"])
        #expect(all.status == 0)
        #expect(all.stdout.split(separator: "\n").filter { $0.hasSuffix("DYNAMIC     eth7") }.count == 50000)
        #expect(all.stdout.hasSuffix("Total Mac Addresses for this criterion: 50000\n"))
        let one = try daemon.vtysh(["-c", "show mac address-table address 0200.1000.002a"]).stdout
        #expect(one.contains("   1    0200.1000.002a    DYNAMIC     eth7"))
        let counted = try daemon.vtysh(["-c", "show mac address-table | count"]).stdout
        #expect(counted.contains("Count: 50007 lines"))  // 5 header lines, the entries, a blank and the total
    }

    @Test func reloadReconcilesTheHardware() throws {
        let daemon = try DaemonProcess(config: "vlan 10\nexit\ninterface eth3\n switchport access vlan 10\nexit\n")
        #expect(try daemon.vtysh(["-c", "show vlan brief"]).stdout.contains("10   VLAN0010                         active    eth3"))
        try daemon.scratch.write("vrrpd.conf", "vlan 30\nexit\ninterface eth3\n switchport access vlan 30\nexit\n")
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForLog("reload applied"))
        #expect(try eventually(daemon, ["-c", "show vlan brief"], contains: "30   VLAN0030                         active    eth3"))
        #expect(!(try daemon.vtysh(["-c", "show vlan brief"]).stdout.contains("10   VLAN0010")))
    }
}
