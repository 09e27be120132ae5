import Testing

@testable import CLI

/// The interface and VRID identities: what names an interface, how it prints and sorts, and how
/// a command's word binds to them.
@Suite struct InterfaceIDTests {
    @Test func portsAndSVIsParseInTheirCanonicalSpellingOnly() {
        #expect(InterfaceID("eth1") == .port(1))
        #expect(InterfaceID("eth54") == .port(54))
        #expect(InterfaceID("eth65535") == .port(65535))
        #expect(InterfaceID("vlan1") == .svi(1))
        #expect(InterfaceID("vlan4094") == .svi(4094))
        #expect(InterfaceID("vlan10"[...]) == .svi(10))
        for refused in ["eth0", "eth01", "eth+1", "eth-1", "eth", "eth65536", "eth1/0", "eth1.5", "Eth1", "ETH1", " eth1", "eth1 ",
                        "vlan0", "vlan4095", "vlan010", "vlan", "vlan10.5", "Vlan10", "lo", "", "swp1", "ethernet1", "eth99999999999999999999"] {
            #expect(InterfaceID(refused) == nil, "\(refused)")
        }
    }

    @Test func namesSortNaturallyOrAsText() {
        let ids: [InterfaceID] = [.svi(9), .port(10), .svi(10), .port(2)]
        #expect(ids.sorted() == [.port(2), .port(10), .svi(9), .svi(10)])
        // The order NAT's show lines and refusals list interfaces in.
        #expect(ids.sortedByName() == [.port(10), .port(2), .svi(10), .svi(9)])
    }

    @Test func aPortExistsOnlyWithinTheChip() {
        #expect(InterfaceID("eth8", portCount: 8) == .port(8))
        #expect(InterfaceID("eth9", portCount: 8) == nil)
        #expect(InterfaceID("vlan4094", portCount: 8) == .svi(4094))
        #expect(InterfaceID.port(9).exists(portCount: 8) == false)
        #expect(InterfaceID.svi(4094).exists(portCount: 0))
    }

    /// A range's end is an interface of the first one's kind that the switch has.
    @Test func theSameKindNumberedOtherwise() {
        #expect(InterfaceID.port(1).withNumber(8, portCount: 8) == .port(8))
        #expect(InterfaceID.port(1).withNumber(9, portCount: 8) == nil)
        #expect(InterfaceID.port(1).withNumber(0, portCount: 8) == nil)
        #expect(InterfaceID.svi(10).withNumber(4094, portCount: 8) == .svi(4094))
        #expect(InterfaceID.svi(10).withNumber(4095, portCount: 8) == nil)
        #expect(InterfaceID.svi(10).withNumber(70000, portCount: 8) == nil)
        #expect(InterfaceID.port(1).withNumber(70000, portCount: 100_000) == nil)
    }

    @Test func theCanonicalNameReadsBack() {
        for id in [InterfaceID.port(1), .port(54), .svi(1), .svi(10), .svi(4094)] {
            #expect(InterfaceID(id.description) == id)
        }
        #expect(InterfaceID.port(3).description == "eth3")
        #expect(InterfaceID.svi(10).description == "vlan10")
        #expect(InterfaceID.port(3).port == 3 && InterfaceID.port(3).vlan == nil)
        #expect(InterfaceID.svi(10).vlan == 10 && InterfaceID.svi(10).port == nil)
        #expect(InterfaceID.port(3).number == 3 && InterfaceID.svi(10).number == 10)
        #expect(InterfaceID.port(3).withNumber(7) == .port(7) && InterfaceID.svi(10).withNumber(20) == .svi(20))
    }

    /// As `show running-config` has always listed interfaces: ports, then SVIs, each by number.
    @Test func naturalOrder() {
        let names = ["vlan10", "eth10", "vlan9", "eth2", "vlan100", "eth1", "vlan1"]
        #expect(names.compactMap { InterfaceID($0) }.sorted().map(\.description) == ["eth1", "eth2", "eth10", "vlan1", "vlan9", "vlan10", "vlan100"])
        #expect(InterfaceID.port(54) < InterfaceID.svi(1))
        #expect(!(InterfaceID.svi(1) < InterfaceID.port(1)))
    }

    /// An IFNAME word binds the interface it names; a word the grammar takes but that names no
    /// interface (`lo`) binds none, and stays readable as text for the refusal.
    @Test func anInterfaceWordBindsItsIdentity() {
        let ifname = Binding<InterfaceID>("ifname")
        #expect(Arguments(["ifname": .interface("vlan10")])[ifname] == .svi(10))
        let unknown = Arguments(["ifname": .interface("lo")])
        #expect(unknown[ifname] == nil)
        #expect(unknown.text(of: ifname) == "lo")
        #expect(InterfaceID.svi(10).bound == .interface("vlan10"))
        #expect(InterfaceID.cannotBind(.interfaceName) == nil)
        #expect(InterfaceID.cannotBind(.word) == "is not IFNAME")
    }
}

@Suite struct VRIDTests {
    @Test func oneTo255() {
        #expect(VRID(1)?.rawValue == 1)
        #expect(VRID(255)?.rawValue == 255)
        #expect(VRID(0) == nil)
        #expect(VRID(256) == nil)
        #expect(VRID(-1) == nil)
        #expect(VRID(rawValue: 0) == nil)
        #expect(VRID(rawValue: 7) == VRID(7))
    }

    @Test func printsAndSortsAsItsNumber() {
        #expect(VRID(42)!.description == "42")
        #expect([VRID(200)!, VRID(3)!, VRID(20)!].sorted().map(\.rawValue) == [3, 20, 200])
    }

    /// `$vrid` binds only from a range within 1-255, so a handler never sees 0.
    @Test func bindsFromARangeWithin1To255() {
        #expect(VRID.cannotBind(.range(1, 255)) == nil)
        #expect(VRID.cannotBind(.range(10, 20)) == nil)
        #expect(VRID.cannotBind(.range(0, 255)) == "is not a number range within 1-255")
        #expect(VRID.cannotBind(.range(1, 256)) == "is not a number range within 1-255")
        #expect(VRID.cannotBind(.word) == "is not a number range within 1-255")
        let vrid = Binding<VRID>("vrid")
        #expect(Arguments(["vrid": .int(5)])[vrid] == VRID(5))
        #expect(VRID(5)!.bound == .int(5))
    }
}
