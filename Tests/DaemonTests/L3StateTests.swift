import NAT
import NetTypes
import Packets
import SwitchHAL
import Testing
import Time
import VRRP

@testable import Daemon

/// The router on the SVIs as a state value, without threads or a HAL: who answers which address
/// on which VLAN, where a routed packet leaves, which packets wait for ARP and for how long, and
/// what a configuration change asks of the chip.
@Suite struct L3StateTests {
    let routerMAC = MACAddress(0x0200_0000_0001)
    let virtualMAC = MACAddress(0x0000_5e00_0101)
    let hostMAC = MACAddress(0x0200_0000_0a05)
    let virtualAddress = IPv4Address(10, 0, 0, 254)
    let host = IPv4Address(10, 0, 0, 5)
    let gateway = IPv4Address(192, 168, 1, 2)
    let router10 = VRRPEngine.Key(interface: .svi(10), vrid: VRID(1)!, ipv6: false)

    /// vlan 10: 10.0.0.1/24 with VRRP group 1 (10.0.0.254), ip nat inside; vlan 20:
    /// 192.168.0.1/16, ip nat outside; 172.16.0.0/16 via 192.168.1.2. Configured as one change.
    func configuredState(hostCapacity: Int = 1024) -> (L3State, RunningConfig) {
        var edit = ConfigEdit(RunningConfig())
        for vlan: UInt16 in [10, 20] { edit.setVLAN(vlan, VLANConfig()) }
        _ = edit.editInterface(.svi(10)) { svi in
            svi.addresses = [IPv4Prefix(address: IPv4Address(10, 0, 0, 1), length: 24)]
            svi.natRole = .inside
            return nil
        }
        _ = edit.editGroup(.svi(10), VRID(1)!) { group in
            group.ipv4 = [virtualAddress]
            return nil
        }
        _ = edit.editInterface(.svi(20)) { svi in
            svi.addresses = [IPv4Prefix(address: IPv4Address(192, 168, 0, 1), length: 16)]
            svi.natRole = .outside
            return nil
        }
        edit.setRoute(IPv4Prefix(address: IPv4Address(172, 16, 0, 0), length: 16), nextHop: gateway)
        var state = L3State(routerMAC: routerMAC, hostCapacity: hostCapacity)
        let result = apply(edit, to: &state)
        #expect(Set(result.natZones) == [10, 20] && result.withdrawOffloads)
        return (state, edit.config)
    }

    @discardableResult
    func apply(_ edit: ConfigEdit, to state: inout L3State) -> L3State.Reconfigured {
        state.configure(SVIDesired(rebuilding: edit.config, routerMAC: routerMAC), edit.config.index.environment, edit.change)
    }

    func master(vlan: UInt16 = 10, owner: Bool = false) -> VRRPService.MasterInfo {
        VRRPService.MasterInfo(vlan: vlan, virtualMAC: virtualMAC, isAddressOwner: owner, linkLocal: nil)
    }

    func udp(from source: IPv4Address, to destination: IPv4Address, ttl: UInt8 = 64) -> IPv4Packet {
        IPv4Packet(source: source, destination: destination, protocolNumber: Transport.udp, ttl: ttl, payload: [0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0])
    }

    func arpRequest(from sender: IPv4Address, mac: MACAddress, for target: IPv4Address) -> ARPPacket {
        ARPPacket(operation: 1, senderMAC: mac, senderIP: sender, targetMAC: MACAddress(0), targetIP: target)
    }

    /// Routes a UDP packet from `source` to `destination` (the TTL it leaves with in `ttl`).
    func route(
        _ state: inout L3State, to destination: IPv4Address, from source: IPv4Address? = nil, ttl: UInt8 = 64, now: Instant = .zero,
        staticGlobal: IPv4Address? = nil
    ) -> L3State.Forwarding {
        var packet = udp(from: source ?? host, to: destination, ttl: ttl)
        return state.forward(&packet, now: now) { $0 == staticGlobal }
    }

    // MARK: Answers

    @Test func aMastersVirtualAddressIsAnsweredOnItsVLANAndNoOther() {
        var (state, _) = configuredState()
        #expect(state.arpAnswer(virtualAddress, vlan: 10) == nil, "a Backup does not answer for the virtual address")
        #expect(state.arpAnswer(IPv4Address(10, 0, 0, 1), vlan: 10) == routerMAC, "the SVI's own address: the router MAC")
        state.mastersChanged([router10: master()], removed: [])
        #expect(state.arpAnswer(virtualAddress, vlan: 10) == virtualMAC)
        #expect(state.arpAnswer(virtualAddress, vlan: 20) == nil)
        #expect(state.arpAnswer(IPv4Address(10, 0, 0, 1), vlan: 20) == nil)
        // Ping: the virtual address only for its owner (or accept mode), the SVI's address always.
        #expect(state.pingAnswer(to: virtualAddress, vlan: 10, frameDestination: virtualMAC) == nil)
        state.mastersChanged([router10: master(owner: true)], removed: [])
        #expect(state.pingAnswer(to: virtualAddress, vlan: 10, frameDestination: virtualMAC) == virtualMAC)
        #expect(state.pingAnswer(to: virtualAddress, vlan: 20, frameDestination: virtualMAC) == nil)
        #expect(state.pingAnswer(to: IPv4Address(10, 0, 0, 1), vlan: 10, frameDestination: routerMAC) == routerMAC)
    }

    @Test func aRemovedMasterStopsBeingAnswered() {
        var (state, _) = configuredState()
        state.mastersChanged([router10: master()], removed: [])
        state.mastersChanged([:], removed: [router10])
        #expect(state.arpAnswer(virtualAddress, vlan: 10) == nil)
        #expect(state.masters.isEmpty && state.mastersOfVLAN.isEmpty)
        // A Master that moves VLAN answers on the new one only.
        state.mastersChanged([router10: master()], removed: [])
        state.mastersChanged([router10: master(vlan: 20)], removed: [])
        #expect(state.mastersOfVLAN[10]?.contains(router10) != true && state.mastersOfVLAN[20] == [router10])
    }

    @Test func anARPForTheRouterIsAnsweredAndItsSenderLearnedOtherARPIsNot() {
        var (state, _) = configuredState()
        state.mastersChanged([router10: master()], removed: [])
        let asked = state.heardARP(arpRequest(from: host, mac: hostMAC, for: virtualAddress), vlan: 10, port: 3, now: .zero)
        #expect(asked.answer == virtualMAC)
        #expect(state.neighbors[host]?.mac == hostMAC && state.neighbors[host]?.port == 3)
        // A request for another host: not answered, its sender not learned.
        let other = IPv4Address(10, 0, 0, 6)
        let overheard = state.heardARP(arpRequest(from: other, mac: MACAddress(0x0200_0000_0a06), for: host), vlan: 10, port: 4, now: .zero)
        #expect(overheard.answer == nil && state.neighbors[other] == nil)
        // A sender off the VLAN's subnet is never learned, whatever it asks.
        let stranger = IPv4Address(172, 16, 0, 9)
        _ = state.heardARP(arpRequest(from: stranger, mac: MACAddress(0x0200_0000_0a07), for: virtualAddress), vlan: 10, port: 4, now: .zero)
        #expect(state.neighbors[stranger] == nil)
        #expect(state.answered.arpRequests == 3)
    }

    // MARK: Routing

    @Test func aConnectedRouteDecidesTheEgressVLANAndTheChipTakesOver() {
        var (state, _) = configuredState()
        let far = IPv4Address(192, 168, 7, 7)
        _ = state.learnNeighbor(host, mac: hostMAC, vlan: 10, port: 3, evidence: .addressedToUs, now: .zero)
        var packet = udp(from: far, to: host)
        let first = state.forward(&packet, now: .zero + .seconds(1)) { _ in false }
        #expect(first == .neighbor(mac: hostMAC, vlan: 10, port: 3, offloaded: true))
        #expect(packet.ttl == 63)
        #expect(state.offloaded[host] == L3State.Offloaded(hop: host, vlan: 10, mac: hostMAC))
        // The next packet to it changes nothing the chip holds.
        let second = route(&state, to: host, from: far, now: .zero + .seconds(1))
        #expect(second == .neighbor(mac: hostMAC, vlan: 10, port: 3, offloaded: false))
        // A neighbour not heard from for its lifetime is asked for again.
        let late = route(&state, to: host, from: far, now: .zero + NeighborTable.lifetime)
        #expect(late == .resolve(L3State.ARPRequest(hop: host, vlan: 10, source: IPv4Address(10, 0, 0, 1), generation: 0)))
    }

    @Test func aStaticRoutesNextHopIsResolvedOnItsSVI() {
        var (state, _) = configuredState()
        let viaGateway = route(&state, to: IPv4Address(172, 16, 3, 4))
        #expect(viaGateway == .resolve(L3State.ARPRequest(hop: gateway, vlan: 20, source: IPv4Address(192, 168, 0, 1), generation: 0)))
        let nowhere = route(&state, to: IPv4Address(8, 8, 8, 8))
        #expect(nowhere == .noRoute && state.routing.noRoute == 1)
        // The router's own addresses, virtual addresses and static NAT globals are not routed.
        let staticGlobal = IPv4Address(192, 168, 9, 9)
        for address in [IPv4Address(10, 0, 0, 1), virtualAddress, staticGlobal] {
            let forwarding = route(&state, to: address, staticGlobal: staticGlobal)
            #expect(forwarding == .forRouter, "\(address)")
        }
        #expect(state.routing.forRouter == 3)
    }

    @Test func aPacketToAnUnknownNextHopAsksOnceAndAFewWaitForTheReply() {
        var (state, _) = configuredState()
        let hop = IPv4Address(192, 168, 1, 9)
        let results = (0...L3State.maxWaiting).map { n in route(&state, to: hop, ttl: UInt8(10 + n)) }
        #expect(results.first == .resolve(L3State.ARPRequest(hop: hop, vlan: 20, source: IPv4Address(192, 168, 0, 1), generation: 0)))
        #expect(results.dropFirst().prefix(L3State.maxWaiting - 1).allSatisfy { $0 == .held })
        #expect(results.last == .unresolved && state.routing.unresolved == 1, "the wait holds at most maxWaiting packets")
        #expect(state.waiting[hop]?.packets.count == L3State.maxWaiting)
        // The reply the router asked for is learned (solicited) and releases the packets, in order.
        let hopMAC = MACAddress(0x0200_0000_1909)
        let reply = ARPPacket(operation: 2, senderMAC: hopMAC, senderIP: hop, targetMAC: routerMAC, targetIP: IPv4Address(192, 168, 0, 1))
        let heard = state.heardARP(reply, vlan: 20, port: 7, now: .zero + .milliseconds(20))
        #expect(heard.answer == nil && state.neighbors[hop]?.mac == hopMAC)
        #expect(heard.learned.released.map(\.ttl) == (0..<L3State.maxWaiting).map { UInt8(9 + $0) })
        #expect(state.waiting.isEmpty)
        // Its request's second ends with nothing left to drop.
        state.waitExpired(for: hop, generation: 0)
        #expect(state.routing.unresolved == 1)
    }

    @Test func aWaitEndsAfterItsOwnRequestOnly() {
        var (state, _) = configuredState()
        let hop = IPv4Address(192, 168, 1, 9)
        for _ in 0..<3 { _ = route(&state, to: hop) }
        state.waitExpired(for: hop, generation: 0)
        #expect(state.waiting.isEmpty && state.routing.unresolved == 3)
        let again = route(&state, to: hop)
        #expect(again == .resolve(L3State.ARPRequest(hop: hop, vlan: 20, source: IPv4Address(192, 168, 0, 1), generation: 1)))
        state.waitExpired(for: hop, generation: 0)
        #expect(state.waiting[hop]?.packets.count == 1, "an earlier request's second does not end a later wait")
        state.waitExpired(for: hop, generation: 1)
        #expect(state.waiting.isEmpty && state.routing.unresolved == 4)
    }

    @Test func atMostMaxUnresolvedHopsAreAskedForAtOnce() {
        var (state, _) = configuredState()
        for n in 0..<L3State.maxUnresolvedHops {
            guard case .resolve = route(&state, to: IPv4Address(192, 168, UInt8(2 + n / 200), UInt8(1 + n % 200))) else {
                Issue.record("next hop \(n) was not asked for")
                return
            }
        }
        let oneMore = route(&state, to: IPv4Address(192, 168, 9, 9))
        #expect(oneMore == .unresolved)
        #expect(state.waiting.count == L3State.maxUnresolvedHops && state.routing.unresolved == 1)
    }

    @Test func theNATDecidesAfterRoutingFromInsideAndFirstFromOutside() {
        var (state, _) = configuredState()
        let outsideHost = IPv4Address(192, 168, 1, 9)
        let withoutNAT = state.classify(udp(from: host, to: outsideHost), from: 10, natActive: false)
        #expect(withoutNAT == .forward)
        let out = state.classify(udp(from: host, to: outsideHost), from: 10, natActive: true)
        let flow = FlowPacket(proto: .udp, source: Endpoint(host, 12345), destination: Endpoint(outsideHost, 53), flags: [])
        #expect(out == .translate(flow, side: .inside))
        let within = state.classify(udp(from: host, to: IPv4Address(10, 0, 0, 9)), from: 10, natActive: true)
        #expect(within == .forward, "inside to inside is routed untranslated")
        let back = state.classify(udp(from: outsideHost, to: host), from: 20, natActive: true)
        #expect(back == .translate(FlowPacket(proto: .udp, source: Endpoint(outsideHost, 12345), destination: Endpoint(host, 53), flags: []), side: .outside))
        let nowhere = state.classify(udp(from: host, to: IPv4Address(8, 8, 8, 8)), from: 10, natActive: true)
        #expect(nowhere == .dropped && state.routing.noRoute == 1)
        let expiring = state.classify(udp(from: host, to: outsideHost, ttl: 1), from: 10, natActive: true)
        #expect(expiring == .dropped && state.routing.ttlExceeded == 1)
        var fragment = udp(from: host, to: outsideHost)
        fragment.flagsAndOffset = 0x2000
        let translated = state.classify(fragment, from: 10, natActive: true)
        #expect(translated == .dropped && state.routing.fragments == 1)
        let routed = state.classify(fragment, from: 10, natActive: false)
        #expect(routed == .forward, "without NAT a fragment is routed")
    }

    // MARK: What the chip routes

    @Test func aChangeOfRoutesSVIsOrNATWithdrawsEveryOffloadAndOthersDoNot() {
        var (state, config) = configuredState()
        _ = state.learnNeighbor(host, mac: hostMAC, vlan: 10, port: 3, evidence: .addressedToUs, now: .zero)
        _ = route(&state, to: host, from: IPv4Address(192, 168, 7, 7))
        #expect(state.offloaded.count == 1)

        var edit = ConfigEdit(config)
        edit.setHostname("elsewhere")
        let unrelated = apply(edit, to: &state)
        #expect(unrelated == L3State.Reconfigured(), "a change the routed path does not read")

        edit = ConfigEdit(config)
        edit.setRoute(IPv4Prefix(address: IPv4Address(172, 16, 0, 0), length: 16), nextHop: IPv4Address(192, 168, 1, 3))
        let rerouted = apply(edit, to: &state)
        #expect(rerouted == L3State.Reconfigured(natZones: [], withdrawOffloads: true))
        config = edit.config
        guard case .resolve(let ask) = route(&state, to: IPv4Address(172, 16, 3, 4)) else {
            Issue.record("the new next hop is not asked for")
            return
        }
        #expect(ask.hop == IPv4Address(192, 168, 1, 3), "the static route's new next hop")
        let withdrawn = state.withdrawAllOffloads().map { Set($0) }
        #expect(withdrawn == [host] && state.offloaded.isEmpty && state.offloadedVia.isEmpty)
        let nothing = state.withdrawAllOffloads()
        #expect(nothing == nil, "nothing left to withdraw")

        // An SVI leaving the NAT: its VLAN's zone goes, and the offloads with it.
        edit = ConfigEdit(config)
        _ = edit.editInterface(.svi(10)) { svi in
            svi.natRole = nil
            return nil
        }
        let unzoned = apply(edit, to: &state)
        #expect(unzoned == L3State.Reconfigured(natZones: [10], withdrawOffloads: true))
        #expect(state.natZones[10] == nil && state.natZones[20] == .outside)
    }

    @Test func aNextHopThatMovesTakesItsDestinationsBackToTheCPU() {
        var (state, _) = configuredState()
        _ = state.learnNeighbor(host, mac: hostMAC, vlan: 10, port: 3, evidence: .addressedToUs, now: .zero)
        _ = route(&state, to: host, from: IPv4Address(192, 168, 7, 7))
        let moved = state.learnNeighbor(
            host, mac: MACAddress(0x0200_0000_0b0b), vlan: 10, port: 4, evidence: .addressedToUs, now: .zero + NeighborTable.lockTime)
        #expect(moved.invalidated == [host])
        let withdrawn = state.withdrawOffloads(via: host)
        #expect(withdrawn == [host] && state.offloaded.isEmpty)
        let again = state.withdrawOffloads(via: host)
        #expect(again == nil)
    }

    @Test func noMoreDestinationsAreOffloadedThanTheChipHolds() {
        var (state, _) = configuredState(hostCapacity: 1)
        let other = IPv4Address(10, 0, 0, 6)
        for address in [host, other] {
            _ = state.learnNeighbor(address, mac: hostMAC, vlan: 10, port: 3, evidence: .addressedToUs, now: .zero)
        }
        let first = route(&state, to: host, from: IPv4Address(192, 168, 7, 7))
        #expect(first == .neighbor(mac: hostMAC, vlan: 10, port: 3, offloaded: true))
        let second = route(&state, to: other, from: IPv4Address(192, 168, 7, 7))
        #expect(second == .neighbor(mac: hostMAC, vlan: 10, port: 3, offloaded: false), "sent, but left to the CPU")
        #expect(Set(state.offloaded.keys) == [host])
    }
}
