import Testing

@testable import Daemon

/// A word the grammar takes as an interface name but that names no interface of this switch
/// (`lo`, `eth0`, `eth55` on 54 ports, `vlan4095`), or one of the wrong kind: each command
/// refuses it in its own words, quoting the word as typed.
@Suite struct InterfaceRefusalTests {
    static let noSuch = "ports are eth1-eth54, SVIs are vlan1-vlan4094"

    @Test func commandsThatTakeAnyInterfaceNameTheWord() throws {
        let h = try PlaneHarness()
        try h.configure(["enable"])
        for word in ["lo", "eth0", "eth55", "vlan0", "vlan4095", "vlan010"] {
            #expect(try h.run("show running-config interface \(word)") == (.error, "% Invalid input detected: No such interface \(word): \(Self.noSuch)\n"))
            #expect(try h.run("show interfaces \(word)") == (.error, "% Invalid input detected: No such interface \(word): \(Self.noSuch)\n"))
            #expect(try h.run("show interfaces \(word) status") == (.error, "% Invalid input detected: No such interface \(word): \(Self.noSuch)\n"))
        }
        #expect(try h.run("show interfaces Eth1/0") == (.error, "% Invalid input detected: No such interface eth1/0: \(Self.noSuch)\n"))
        #expect(try h.run("show interfaces vlan5000 switchport") == (.error, "% Invalid input detected: vlan5000 is not a switch port: SVIs are routed\n"))
        #expect(try h.run("show interfaces vlan10 switchport") == (.error, "% Invalid input detected: vlan10 is not a switch port: SVIs are routed\n"))
        #expect(try h.run("show interfaces vlan10") == (.error, "% Invalid input detected: vlan10 is not configured\n"))
        #expect(try h.run("show mac address-table interface vlan10") == (.error, "% Invalid input detected: No such port vlan10: eth1-eth54\n"))
        #expect(try h.run("show mac address-table interface eth55") == (.error, "% Invalid input detected: No such port eth55: eth1-eth54\n"))
        #expect(try h.run("show vrrp interface lo") == (.error, "% Invalid input detected: No VRRP group matches\n"))
        try h.configure(["configure terminal"])
        for word in ["lo", "eth55", "vlan4095"] {
            #expect(try h.run("interface \(word)") == (.error, "% Invalid input detected: No such interface \(word): \(Self.noSuch)\n"))
            #expect(try h.run("interface range \(word)") == (.error, "% Invalid input detected: No such interface \(word): \(Self.noSuch)\n"))
        }
    }

    @Test func commandsThatTakeOneKindSayWhich() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "configure terminal", "mac address-table static 0200.0000.0001 vlan 1 interface eth1"])
        #expect(try h.run("mac address-table static 0200.0000.0002 vlan 1 interface lo") == (.error, "% Invalid input detected: Static MAC entries point to a port: eth1-eth54\n"))
        #expect(try h.run("mac address-table static 0200.0000.0002 vlan 1 interface vlan1") == (.error, "% Invalid input detected: Static MAC entries point to a port: eth1-eth54\n"))
        #expect(
            try h.run("no mac address-table static 0200.0000.0001 vlan 1 interface lo")
                == (.error, "% Invalid input detected: The static entry for 0200.0000.0001 in VLAN 1 points to eth1, not lo\n"))
        #expect(try h.run("mac address-table limit maximum 10 interface vlan10") == (.error, "% Invalid input detected: Learn limits apply to ports: eth1-eth54\n"))
        #expect(
            try h.run("ip nat inside source list 1 interface eth1 overload")
                == (.error, "% Invalid input detected: translation to an interface address needs an SVI (vlanN), not eth1\n"))
        try h.configure(["interface eth2"])
        #expect(try h.run("vrrp 5 ip 10.0.0.1") == (.error, "% Invalid input detected: VRRP runs on SVIs: configure it under interface vlanN\n"))
        #expect(try h.run("ip nat inside") == (.error, "% Invalid input detected: NAT roles are set on SVIs (interface vlanN), where the switch routes\n"))
        try h.configure(["exit", "vlan 10", "exit", "interface vlan10"])
        #expect(try h.run("vrrp 5 track interface lo") == (.error, "% Invalid input detected: VRRP tracks ports: eth1-eth54\n"))
        #expect(try h.run("vrrp 5 track interface vlan20") == (.error, "% Invalid input detected: VRRP tracks ports: eth1-eth54\n"))
        #expect(try h.run("switchport mode trunk") == (.error, "% Invalid input detected: switchport applies to physical ports (ethN) only\n"))
        try h.configure(["vrrp 5 track interface eth10", "vrrp 5 track interface eth9 decrement 20"])
        #expect(h.runningConfig.contains("interface vlan10\n vrrp 5\n vrrp 5 track interface eth9 decrement 20\n vrrp 5 track interface eth10\n"), "\(h.runningConfig)")
    }
}
