import NetTypes
import SwitchHAL
import Testing
import Time
import VRRP

@testable import Daemon

/// `VRRPState` alone: no thread, no HAL, the time given as `Instant`s. Each test says what the
/// driver would do (frames, virtual MACs, the Masters the observer hears of) for a change.
@Suite struct VRRPStateTests {
    /// What the ports say, as the test sets it.
    struct Ports: VRRPPortView {
        var up: Set<PortID> = []
        var vlans: [PortID: VLANSet] = [:]
        func vlanHasUpPort(_ vlan: UInt16) -> Bool { up.contains { vlans[$0]?.contains(vlan) == true } }
        func isOperUp(_ port: PortID) -> Bool { up.contains(port) }
        func memberVLANs(_ port: PortID) -> VLANSet { vlans[port] ?? .none }
    }

    /// One state, its ports and the configuration it was told, with the effects of the last step.
    struct Harness {
        var state = VRRPState(statisticsSince: 0)
        var ports = Ports(vlans: [1: VLANSet([10]), 2: VLANSet([20])])
        var desired = SVIDesired()
        var effects: [VRRPState.Effect] = []
        /// The wall-clock time a step passes (what `show vrrp` prints for a transition).
        var wall = 1_000.0

        /// The configuration now has `spec` for `key` (nil: the router is removed).
        mutating func configure(_ key: VRRPEngine.Key, _ spec: VRRPSpec?, now: Instant) {
            desired.specs[key] = spec
            effects.removeAll(keepingCapacity: true)
            let keys = state.configure(desired, SVIDesired.Delta(routers: [key]), into: &effects)
            state.reconcile(keys, ports: ports, now: now, wall: wall, into: &effects)
        }

        /// Port `port` went up or down.
        mutating func link(_ port: PortID, up: Bool, now: Instant) {
            if up { ports.up.insert(port) } else { ports.up.remove(port) }
            effects.removeAll(keepingCapacity: true)
            state.reconcile(state.routers(reachedByLinkOf: port, ports: ports), ports: ports, now: now, wall: wall, into: &effects)
        }

        mutating func advance(to now: Instant) {
            effects.removeAll(keepingCapacity: true)
            state.advance(to: now, wall: wall, into: &effects)
        }

        /// The frames sent, with their VLAN.
        var sent: [(frame: [UInt8], vlan: UInt16)] {
            effects.compactMap { if case .send(let frame, let vlan) = $0 { (frame, vlan) } else { nil } }
        }

        /// The priorities of the VRRP adverts sent.
        var advertPriorities: [UInt8] { sent.compactMap { VRRPState.ipv4Advertisement($0.frame)?.message[2] } }

        /// The IPv4 addresses announced with gratuitous ARPs, and the MAC they come from (an
        /// untagged ARP frame: EtherType 0x0806 at 12, sender MAC at 22, sender address at 28).
        var announced: [(address: IPv4Address, mac: MACAddress)] {
            sent.compactMap { sent in
                let b = sent.frame
                guard b.count >= 42, b[12] == 0x08, b[13] == 0x06 else { return nil }
                return (IPv4Address(b[28], b[29], b[30], b[31]), MACAddress(b[22..<28].reduce(0) { $0 << 8 | UInt64($1) }))
            }
        }

        var wantedMACs: [VRRPState.Effect] { effects.filter { if case .wantMAC = $0 { true } else { false } } }

        var publications: [(updated: [VRRPEngine.Key: VRRPState.MasterInfo], removed: Set<VRRPEngine.Key>)] {
            effects.compactMap { if case .publishMasters(let updated, let removed) = $0 { (updated, removed) } else { nil } }
        }

        func router(_ key: VRRPEngine.Key) -> VirtualRouter? { state.engine.routers[key] }
    }

    static let key = VRRPEngine.Key(interface: .svi(10), vrid: VRID(rawValue: 1)!, ipv6: false)
    static let virtualAddress = IPv4Address(10, 0, 10, 1)
    /// 00:00:5e:00:01:01, on VLAN 10.
    static let virtualMAC = VRRPState.VirtualMAC(mac: MACAddress(0x0000_5e00_0101), vlan: 10)
    /// Priority 100, 1 s adverts, v3: 3 x 1 s + (256 - 100) / 256 s.
    static let masterDown = Duration.microseconds(3_609_375)

    /// VRRP group 1 on vlan10 (10.0.10.2/24), virtual address 10.0.10.1.
    static func spec(priority: UInt8 = 100, tracks: [PortID: Int] = [:], blocked: String? = nil) -> VRRPSpec {
        var config = VirtualRouterConfig(vrid: 1, addresses: .ipv4([virtualAddress]))
        config.priority = priority
        let own = IPv4Address(10, 0, 10, 2)
        return VRRPSpec(
            key: key, config: config, interface: InterfaceAddresses(primaryIPv4: own, ownIPv4: [own]), tracks: tracks,
            description: nil, shutdown: false, preemptDelaySeconds: nil, blocked: blocked)
    }

    /// When `master` has made its router Master: past the master-down interval of any priority
    /// above 25 (at most 3 x 1 s + 231/256 s).
    static let becameMaster = Instant.zero + .seconds(4)

    /// A harness whose router (started at 0 with port 1, VLAN 10, up) is Master since
    /// `becameMaster`.
    static func master(_ spec: VRRPSpec = spec()) -> Harness {
        var h = Harness()
        h.ports.up = [1]
        h.configure(key, spec, now: .zero)
        h.advance(to: becameMaster)
        return h
    }

    @Test func aRouterWhoseVLANHasNoPortUpIsHeldDownWithTheReason() {
        var h = Harness()
        h.ports.up = [2]  // VLAN 20's port: not the router's
        h.configure(Self.key, Self.spec(), now: .zero)
        #expect(h.state.heldDown[Self.key] == "no port of VLAN 10 is up")
        #expect(h.router(Self.key) == nil)
        #expect(h.effects.isEmpty)
        var copy = h.state
        #expect(copy.nextDeadline() == nil)
    }

    @Test func aPortComingUpStartsTheRouterAndAfterTheMasterDownIntervalItIsMaster() throws {
        var h = Harness()
        h.configure(Self.key, Self.spec(), now: .zero)
        #expect(h.state.heldDown[Self.key] != nil)

        // Port 1 (VLAN 10) comes up: the router starts as Backup, silent.
        let start = Instant.zero + .seconds(5)
        h.link(1, up: true, now: start)
        #expect(h.state.heldDown[Self.key] == nil)
        #expect(h.router(Self.key)?.state == .backup)
        #expect(h.sent.isEmpty && h.wantedMACs.isEmpty && h.publications.isEmpty)
        #expect(h.state.nextDeadline() == start + Self.masterDown)

        // Not a nanosecond early.
        h.advance(to: start + Self.masterDown - .nanoseconds(1))
        #expect(h.effects.isEmpty)
        #expect(h.router(Self.key)?.state == .backup)

        h.advance(to: start + Self.masterDown)
        #expect(h.router(Self.key)?.state == .master)
        #expect(h.advertPriorities == [100])
        #expect(h.sent.allSatisfy { $0.vlan == 10 })
        #expect(h.announced.map(\.address) == [Self.virtualAddress])
        #expect(h.announced.map(\.mac) == [Self.virtualMAC.mac])
        #expect(h.wantedMACs == [.wantMAC(Self.virtualMAC, true)])
        #expect(h.state.wantedMACs == [Self.virtualMAC])
        let publication = try #require(h.publications.first)
        #expect(h.publications.count == 1)
        #expect(publication.removed.isEmpty)
        #expect(publication.updated == [Self.key: VRRPState.MasterInfo(vlan: 10, virtualMAC: Self.virtualMAC.mac, isAddressOwner: false, linkLocal: nil)])
        #expect(h.state.transitionTimes[Self.key] == h.wall)
        #expect(h.state.counters.gratuitousARPs == 1)

        // One interval on: the same frame again (the cached one), and nothing else.
        let first = h.sent[0].frame
        h.advance(to: start + Self.masterDown + .seconds(1))
        #expect(h.sent.map(\.frame) == [first])
        #expect(h.effects.count == 1)
    }

    @Test(arguments: ["removed", "shut down"])
    func aMasterThatStopsReleasesItsMACAndSendsPriorityZero(_ how: String) {
        var h = Self.master()
        #expect(h.router(Self.key)?.state == .master)
        h.configure(Self.key, how == "removed" ? nil : Self.spec(blocked: "administratively shut down"), now: Self.becameMaster + .milliseconds(500))
        #expect(h.router(Self.key) == nil)
        #expect(h.advertPriorities == [0])
        #expect(h.wantedMACs == [.wantMAC(Self.virtualMAC, false)])
        #expect(h.state.wantedMACs.isEmpty)
        #expect(h.publications.count == 1)
        #expect(h.publications.first?.updated.isEmpty == true)
        #expect(h.publications.first?.removed == [Self.key])
        // Its timers went with it.
        var copy = h.state
        #expect(copy.nextDeadline() == nil)
    }

    @Test func aTrackedPortThatIsDownSubtractsItsDecrement() {
        // Port 2 is tracked (30) and down: the router runs at 70, and becomes Master advertising 70.
        var h = Self.master(Self.spec(tracks: [2: 30]))
        #expect(h.router(Self.key)?.trackingDecrement == 30)
        #expect(h.router(Self.key)?.effectivePriority == 70)
        #expect(h.advertPriorities == [70])

        // Port 2 comes up: the tracking reaches the router, whose next advert says 100.
        h.link(2, up: true, now: Self.becameMaster + .milliseconds(500))
        #expect(h.router(Self.key)?.trackingDecrement == 0)
        h.advance(to: Self.becameMaster + .seconds(1))
        #expect(h.advertPriorities == [100])

        // Down again: 70 once more.
        h.link(2, up: false, now: Self.becameMaster + .milliseconds(1_500))
        #expect(h.router(Self.key)?.effectivePriority == 70)
        h.advance(to: Self.becameMaster + .seconds(2))
        #expect(h.advertPriorities == [70])
    }

    @Test func aNATGlobalAddressThatStartsFollowingAMasterIsAnnouncedFromItsVirtualMAC() {
        var h = Self.master()
        let global = IPv4Address(192, 0, 2, 7)
        h.desired.natGlobals[Self.key] = [global: 1]
        h.effects.removeAll()
        let keys = h.state.configure(h.desired, SVIDesired.Delta(natGlobals: [Self.key]), into: &h.effects)
        #expect(keys.isEmpty)
        #expect(h.announced.map(\.address) == [global])
        #expect(h.announced.map(\.mac) == [Self.virtualMAC.mac])
        #expect(h.sent.map(\.vlan) == [10])

        // Already announced: the same table again announces nothing.
        h.effects.removeAll()
        _ = h.state.configure(h.desired, SVIDesired.Delta(natGlobals: [Self.key]), into: &h.effects)
        #expect(h.effects.isEmpty)
    }
}
