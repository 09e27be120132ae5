import Glibc
import NetTypes
import Packets
import Ports
import SwitchHAL
import Testing

/// The HAL's forwarding path with real port backends: two switches joined by a SimPort trunk,
/// test hosts on SimPort wires (see `Lab`).
@Suite struct ForwardingTests {
    /// A MAC nobody has: frames to it are unknown unicast.
    let nobody = MACAddress(0x0200_0000_ee01)

    @Test func broadcastAndUnknownUnicastFloodTheVLANOnly() throws {
        let lab = try Lab()
        defer { lab.stop() }
        for destination in [Multicast.broadcast, nobody] {
            let nonce = Nonce()
            let frame = testFrame(from: lab.a2.mac, to: destination, nonce)
            #expect(lab.a2.send(frame))
            // Every other port of VLAN 10: a3 (access), a5 (trunk, tagged), b2 (across the trunk).
            #expect(eventually { lab.a3.has(nonce) && lab.a5.has(nonce) && lab.b2.has(nonce) }, "to \(destination)")
            #expect(lab.a3.got(nonce) == [frame])
            #expect(lab.a5.got(nonce) == [tagged(frame, 10)])
            #expect(lab.b2.got(nonce) == [frame])
            // Not back out of the ingress port, not to VLAN 20 or 30.
            #expect(lab.barrier(from: lab.a2, to: [lab.a3, lab.b2]))
            for host in [lab.a2, lab.a4, lab.a7, lab.b3] {
                #expect(host.got(nonce).isEmpty, "\(host) got a VLAN 10 frame to \(destination)")
            }
        }

        // VLAN 20: a5 (its native VLAN: untagged) and b3; nothing in VLAN 10.
        let nonce20 = Nonce()
        let frame20 = testFrame(from: lab.a4.mac, to: Multicast.broadcast, nonce20)
        #expect(lab.a4.send(frame20))
        #expect(eventually { lab.a5.has(nonce20) && lab.b3.has(nonce20) })
        #expect(lab.a5.got(nonce20) == [frame20])
        #expect(lab.b3.got(nonce20) == [frame20])
        #expect(lab.barrier(from: lab.a4, to: [lab.a5, lab.b3]))
        for host in [lab.a2, lab.a3, lab.a4, lab.a7, lab.b2] { #expect(host.got(nonce20).isEmpty, "\(host)") }

        // VLAN 30 has only a7 (neither trunk allows it): its broadcast goes nowhere.
        let nonce30 = Nonce()
        #expect(lab.a7.send(testFrame(from: lab.a7.mac, to: Multicast.broadcast, nonce30)))
        #expect(lab.barrier(from: lab.a2, to: [lab.a3, lab.a5, lab.b2]))
        #expect(lab.hosts.allSatisfy { $0.got(nonce30).isEmpty })
    }

    @Test func aLearnedDestinationGetsTheFrameAlone() throws {
        let lab = try Lab()
        defer { lab.stop() }
        // a3 has not spoken yet: a2's frame to it floods (and teaches both switches where a2 is).
        let first = Nonce()
        let toA3 = testFrame(from: lab.a2.mac, to: lab.a3.mac, first)
        #expect(lab.a2.send(toA3))
        #expect(eventually { lab.a3.has(first) && lab.a5.has(first) && lab.b2.has(first) })
        #expect(try lab.a.l2Get(mac: lab.a2.mac, vlan: 10, deadline: soon).port == 2)
        #expect(eventually { (try? lab.b.l2Get(mac: lab.a2.mac, vlan: 10, deadline: soon).port) == 1 })

        // a3 answers a2: A knows a2 is on eth2, so only a2 gets it.
        let answer = Nonce()
        let toA2 = testFrame(from: lab.a3.mac, to: lab.a2.mac, answer)
        #expect(lab.a3.send(toA2))
        #expect(eventually { lab.a2.has(answer) })
        #expect(lab.a2.got(answer) == [toA2])
        #expect(lab.barrier(from: lab.a3, to: [lab.a2, lab.a5, lab.b2]))
        for host in [lab.a3, lab.a4, lab.a5, lab.a7, lab.b2, lab.b3] { #expect(host.got(answer).isEmpty, "\(host)") }
        #expect(try lab.a.l2Get(mac: lab.a3.mac, vlan: 10, deadline: soon).port == 3)

        // From the other switch: B sends it up the trunk (it learned a3 there from the
        // barrier's broadcast), A out of eth3 only, untagged.
        #expect(try lab.b.l2Get(mac: lab.a3.mac, vlan: 10, deadline: soon).port == 1)
        let fromB = Nonce()
        let frame = testFrame(from: lab.b2.mac, to: lab.a3.mac, fromB)
        #expect(lab.b2.send(frame))
        #expect(eventually { lab.a3.has(fromB) })
        #expect(lab.a3.got(fromB) == [frame])
        #expect(lab.barrier(from: lab.b2, to: [lab.a2, lab.a3, lab.a5]))
        for host in [lab.a2, lab.a4, lab.a5, lab.a7, lab.b2, lab.b3] { #expect(host.got(fromB).isEmpty, "\(host)") }
        #expect(try lab.a.l2Get(mac: lab.b2.mac, vlan: 10, deadline: soon).port == 1)
    }

    @Test func aFrameToAStationOnTheIngressPortIsFiltered() throws {
        let lab = try Lab()
        defer { lab.stop() }
        // A second station behind a2's wire (a hub there) speaks: learned on eth2.
        let neighbour = MACAddress(0x0200_0a00_0102)
        #expect(lab.a2.send(testFrame(from: neighbour, to: Multicast.broadcast, Nonce())))
        #expect(lab.barrier(from: lab.a2, to: [lab.a3]))
        #expect(try lab.a.l2Get(mac: neighbour, vlan: 10, deadline: soon).port == 2)

        // a2 to that station: it already had it on the wire; the switch sends it nowhere.
        let filtered = Nonce()
        #expect(lab.a2.send(testFrame(from: lab.a2.mac, to: neighbour, filtered)))
        #expect(lab.barrier(from: lab.a2, to: [lab.a3, lab.a5, lab.b2]))
        #expect(lab.hosts.allSatisfy { $0.got(filtered).isEmpty })

        // The same with a static entry on eth2.
        let pinned = MACAddress(0x0200_0a00_0202)
        try lab.a.l2Add(L2Entry(mac: pinned, vlan: 10, port: 2, flags: .static), deadline: soon)
        let filteredStatic = Nonce()
        #expect(lab.a2.send(testFrame(from: lab.a2.mac, to: pinned, filteredStatic)))
        #expect(lab.barrier(from: lab.a2, to: [lab.a3, lab.a5, lab.b2]))
        #expect(lab.hosts.allSatisfy { $0.got(filteredStatic).isEmpty })
        // ...while from another port the static entry forwards to eth2 alone.
        let forwarded = Nonce()
        let frame = testFrame(from: lab.a3.mac, to: pinned, forwarded)
        #expect(lab.a3.send(frame))
        #expect(eventually { lab.a2.has(forwarded) })
        #expect(lab.a2.got(forwarded) == [frame])
        #expect(lab.barrier(from: lab.a3, to: [lab.a2, lab.a5, lab.b2]))
        for host in [lab.a3, lab.a5, lab.b2] { #expect(host.got(forwarded).isEmpty, "\(host)") }
    }

    @Test func trunkTagsNonNativeVLANsAndAccessPortsStripTags() throws {
        let lab = try Lab()
        defer { lab.stop() }
        // VLAN 10 leaves the trunk port (native 20) tagged.
        let n10 = Nonce()
        let frame10 = testFrame(from: lab.a2.mac, to: Multicast.broadcast, n10)
        #expect(lab.a2.send(frame10))
        #expect(eventually { lab.a5.has(n10) })
        #expect(lab.a5.got(n10) == [tagged(frame10, 10)])
        #expect(EthernetFrame.parse(lab.a5.got(n10)[0])?.vlan == 10)

        // The native VLAN leaves it untagged, byte for byte.
        let n20 = Nonce()
        let frame20 = testFrame(from: lab.a4.mac, to: Multicast.broadcast, n20)
        #expect(lab.a4.send(frame20))
        #expect(eventually { lab.a5.has(n20) })
        #expect(lab.a5.got(n20) == [frame20])

        // A frame tagged 10 from the trunk: out of the access ports of VLAN 10 untagged, across
        // the inter-switch trunk (tagged there) and out of B's access port untagged.
        let fromTrunk = Nonce()
        let taggedFrame = testFrame(from: lab.a5.mac, to: Multicast.broadcast, vlan: 10, fromTrunk)
        #expect(taggedFrame[12] == 0x81)
        #expect(lab.a5.send(taggedFrame))
        #expect(eventually { lab.a2.has(fromTrunk) && lab.a3.has(fromTrunk) && lab.b2.has(fromTrunk) })
        for host in [lab.a2, lab.a3, lab.b2] {
            #expect(host.got(fromTrunk) == [untagged(taggedFrame)], "\(host)")
            #expect(EthernetFrame.parse(host.got(fromTrunk)[0])?.vlan == nil)
        }
        // Untagged from the trunk is its native VLAN 20.
        let native = Nonce()
        let untaggedFrame = testFrame(from: lab.a5.mac, to: Multicast.broadcast, native)
        #expect(lab.a5.send(untaggedFrame))
        #expect(eventually { lab.a4.has(native) && lab.b3.has(native) })
        #expect(lab.a4.got(native) == [untaggedFrame])
        #expect(lab.b3.got(native) == [untaggedFrame])

        // VLAN 30 exists but the trunk does not allow it: dropped and counted.
        let droppedBefore = try lab.a.portStatus(deadline: soon)[4].counters.droppedVLAN
        let n30 = Nonce()
        #expect(lab.a5.send(testFrame(from: lab.a5.mac, to: Multicast.broadcast, vlan: 30, n30)))
        #expect(lab.barrier(from: lab.a5, to: [lab.a4, lab.b3]))
        #expect(lab.hosts.allSatisfy { $0.got(n30).isEmpty })
        #expect(try lab.a.portStatus(deadline: soon)[4].counters.droppedVLAN == droppedBefore + 1)

        // Nothing of VLAN 10 leaked into VLAN 20 or 30, nor of 20 into 10.
        for host in [lab.a4, lab.a7, lab.b3] { #expect(host.got(n10).isEmpty && host.got(fromTrunk).isEmpty, "\(host)") }
        for host in [lab.a2, lab.a3, lab.b2] { #expect(host.got(n20).isEmpty && host.got(native).isEmpty, "\(host)") }
        #expect(lab.a5.got(fromTrunk).isEmpty && lab.a5.got(native).isEmpty, "echoed to the ingress port")
    }

    @Test func framesToAStaticL3EntryGoToTheCPUOnly() throws {
        let lab = try Lab()
        defer { lab.stop() }
        let router = MACAddress(0x0200_0000_0e01)
        try lab.a.l2Add(L2Entry(mac: router, vlan: 10, port: cpuPort, flags: [.static, .l3]), deadline: soon)
        let punted = PuntLog()
        lab.a.setPacketHandler { port, vlan, bytes in punted.append(.init(port: port, vlan: vlan, frame: Array(bytes))) }

        // Untagged from an access port, tagged from the trunk port, and from the other switch
        // (which floods it: it does not know the MAC) arriving on A's eth1.
        let fromAccess = Nonce()
        let accessFrame = testFrame(from: lab.a2.mac, to: router, fromAccess)
        let fromTrunk = Nonce()
        let trunkFrame = testFrame(from: lab.a5.mac, to: router, vlan: 10, fromTrunk)
        let fromB = Nonce()
        let bFrame = testFrame(from: lab.b2.mac, to: router, fromB)
        #expect(lab.a2.send(accessFrame))
        #expect(lab.a5.send(trunkFrame))
        #expect(lab.b2.send(bFrame))
        #expect(eventually { !punted.with(fromAccess).isEmpty && !punted.with(fromTrunk).isEmpty && !punted.with(fromB).isEmpty })
        #expect(punted.with(fromAccess) == [.init(port: 2, vlan: 10, frame: accessFrame)])
        #expect(punted.with(fromTrunk) == [.init(port: 5, vlan: 10, frame: trunkFrame)])
        let viaTrunk = punted.with(fromB)
        #expect(viaTrunk.map(\.port) == [1])
        #expect(viaTrunk.map(\.vlan) == [10])
        #expect(viaTrunk.first.map { untagged($0.frame) } == bFrame, "B tags it on the inter-switch trunk")

        // None of them left a port of A.
        #expect(lab.barrier(from: lab.a2, to: [lab.a3, lab.a5, lab.b2]))
        #expect(lab.barrier(from: lab.b2, to: [lab.a2, lab.a3, lab.a5]))
        for nonce in [fromAccess, fromTrunk, fromB] {
            for host in [lab.a2, lab.a3, lab.a4, lab.a5, lab.a7, lab.b3] { #expect(host.got(nonce).isEmpty, "\(host)") }
        }
        #expect(lab.b2.got(fromAccess).isEmpty && lab.b2.got(fromTrunk).isEmpty)

        // The entry is for VLAN 10: in VLAN 20 the same MAC is unknown unicast and floods.
        let in20 = Nonce()
        #expect(lab.a4.send(testFrame(from: lab.a4.mac, to: router, in20)))
        #expect(eventually { lab.a5.has(in20) && lab.b3.has(in20) })
        #expect(punted.with(in20).isEmpty)
    }

    @Test func aLinkDownPortNeitherSendsNorReceives() throws {
        let lab = try Lab()
        defer { lab.stop() }
        #expect(lab.a.isOperUp(3))
        try lab.a.setLink(3, up: false, deadline: soon)
        #expect(!lab.a.isOperUp(3))
        let sentBefore = lab.a.transmitCounters(3)
        let droppedBefore = try lab.a.portStatus(deadline: soon)[2].counters.droppedPortDown

        // Flooded in VLAN 10: not out of eth3.
        let flood = Nonce()
        #expect(lab.a2.send(testFrame(from: lab.a2.mac, to: Multicast.broadcast, flood)))
        #expect(eventually { lab.a5.has(flood) && lab.b2.has(flood) })
        // Sent by a3: dropped on ingress, counted.
        let fromDown = Nonce()
        #expect(lab.a3.send(testFrame(from: lab.a3.mac, to: Multicast.broadcast, fromDown)))
        // From the CPU straight at eth3: not sent either.
        let fromCPU = Nonce()
        lab.a.sendFromCPU(testFrame(from: lab.a.routerMAC, to: lab.a3.mac, fromCPU), vlan: 10, port: 3)
        // A static entry survives the link going down, but a unicast to it is not sent there.
        let pinned = MACAddress(0x0200_0a00_0303)
        try lab.a.l2Add(L2Entry(mac: pinned, vlan: 10, port: 3, flags: .static), deadline: soon)
        let toPinned = Nonce()
        #expect(lab.a2.send(testFrame(from: lab.a2.mac, to: pinned, toPinned)))

        #expect(lab.barrier(from: lab.a2, to: [lab.a5, lab.b2]))
        #expect(lab.a3.got(flood).isEmpty)
        #expect(lab.a3.got(fromCPU).isEmpty)
        #expect(lab.hosts.allSatisfy { $0.got(toPinned).isEmpty })
        #expect(lab.hosts.allSatisfy { $0.got(fromDown).isEmpty })
        #expect(lab.a.transmitCounters(3) == sentBefore)
        #expect(try lab.a.portStatus(deadline: soon)[2].counters.droppedPortDown == droppedBefore + 1)
        #expect(throws: HALError.self) { try lab.a.l2Get(mac: lab.a3.mac, vlan: 10, deadline: soon) }

        // Link back: traffic flows both ways again.
        try lab.a.setLink(3, up: true, deadline: soon)
        #expect(lab.a.isOperUp(3))
        let again = Nonce()
        #expect(lab.a2.send(testFrame(from: lab.a2.mac, to: Multicast.broadcast, again)))
        #expect(eventually { lab.a3.has(again) })
        let back = Nonce()
        #expect(lab.a3.send(testFrame(from: lab.a3.mac, to: Multicast.broadcast, back)))
        #expect(eventually { lab.a2.has(back) && lab.b2.has(back) })
        #expect(lab.a.transmitCounters(3).frames == sentBefore.frames + 1)
    }

    @Test func framesCountedAsInvalidAreNotForwarded() throws {
        let lab = try Lab()
        defer { lab.stop() }
        let invalidBefore = try lab.a.portStatus(deadline: soon)[1].counters.droppedInvalid
        // A group source address and an all-zero one are no station (IEEE 802.3 §3.2.3; the
        // Linux bridge drops them too); a frame that ends inside its 802.1Q tag is a runt.
        let groupSource = Nonce()
        #expect(lab.a2.send(testFrame(from: MACAddress(0x0100_5e00_0001), to: Multicast.broadcast, groupSource)))
        let zeroSource = Nonce()
        #expect(lab.a2.send(testFrame(from: MACAddress(0), to: Multicast.broadcast, zeroSource)))
        let runt = Multicast.broadcast.bytes + lab.a2.mac.bytes + [0x81, 0x00, 0x00]
        #expect(lab.a2.send(runt))

        #expect(lab.barrier(from: lab.a2, to: [lab.a3, lab.a5, lab.b2]))
        for nonce in [groupSource, zeroSource] {
            #expect(lab.hosts.allSatisfy { $0.got(nonce).isEmpty }, "forwarded although counted as dropped")
        }
        #expect(lab.hosts.allSatisfy { host in !host.capture.all.contains { $0.count < 18 } }, "the runt was forwarded")
        #expect(try lab.a.portStatus(deadline: soon)[1].counters.droppedInvalid == invalidBefore + 3)
        #expect(try lab.a.l2Count(deadline: soon).dynamic == 1, "only a2 itself (from the barrier) is learned")
    }

    @Test func transmitCountersCountWhatWasSent() throws {
        let lab = try Lab()
        defer { lab.stop() }
        /// Frames sent and dropped per port (eth1-eth8), as `transmitCounters` reports them.
        struct Sent: Equatable, CustomStringConvertible {
            var frames: UInt64 = 0
            var dropped: UInt64 = 0
            var description: String { "\(frames)/\(dropped)" }
        }
        func counters() -> [Sent] {
            (1...8).map { port in
                let c = lab.a.transmitCounters(PortID(port))
                return Sent(frames: c.frames, dropped: c.dropped)
            }
        }
        func delta(_ before: [Sent]) -> [Sent] {
            zip(counters(), before).map { Sent(frames: $0.frames - $1.frames, dropped: $0.dropped - $1.dropped) }
        }
        func counts(_ pairs: [(PortID, UInt64, UInt64)]) -> [Sent] {
            var all = [Sent](repeating: Sent(), count: 8)
            for (port, frames, dropped) in pairs { all[Int(port) - 1] = Sent(frames: frames, dropped: dropped) }
            return all
        }

        // A VLAN 10 flood from eth2: eth1, eth3 and eth5 send it; eth6's wire does not listen,
        // so that one is a drop.
        var before = counters()
        let flood = Nonce()
        #expect(lab.a2.send(testFrame(from: lab.a2.mac, to: Multicast.broadcast, flood)))
        let floodCounts = counts([(1, 1, 0), (3, 1, 0), (5, 1, 0), (6, 0, 1)])
        #expect(eventually { delta(before) == floodCounts }, "\(delta(before))")
        #expect(lab.a3.has(flood) && lab.a5.has(flood))

        // a2 is known now: a unicast to it is one frame out of eth2.
        before = counters()
        let unicast = Nonce()
        #expect(lab.a3.send(testFrame(from: lab.a3.mac, to: lab.a2.mac, unicast)))
        #expect(eventually { lab.a2.has(unicast) })
        #expect(eventually { delta(before) == counts([(2, 1, 0)]) }, "\(delta(before))")

        // From the CPU to one port, and to a port that does not carry the VLAN (not counted:
        // nothing was attempted).
        before = counters()
        lab.a.sendFromCPU(testFrame(from: lab.a.routerMAC, to: lab.a4.mac, Nonce()), vlan: 20, port: 4)
        lab.a.sendFromCPU(testFrame(from: lab.a.routerMAC, to: lab.a4.mac, Nonce()), vlan: 20, port: 2)
        #expect(eventually { delta(before) == counts([(4, 1, 0)]) }, "\(delta(before))")
        // A broadcast from eth2 settles everything: exactly its flood is added.
        #expect(lab.barrier(from: lab.a2, to: [lab.a3, lab.a5]))
        let settled = counts([(1, 1, 0), (3, 1, 0), (4, 1, 0), (5, 1, 0), (6, 0, 1)])
        #expect(eventually { delta(before) == settled }, "\(delta(before))")
    }

    @Test func sendFromCPUFloodsTheVLANOrSendsOutOfOnePort() throws {
        let lab = try Lab()
        defer { lab.stop() }
        // Flood VLAN 10: both access ports, the trunk host tagged, the other switch's host.
        let flood = Nonce()
        let frame = testFrame(from: lab.a.routerMAC, to: Multicast.broadcast, flood)
        lab.a.sendFromCPU(frame, vlan: 10)
        #expect(eventually { lab.a2.has(flood) && lab.a3.has(flood) && lab.a5.has(flood) && lab.b2.has(flood) })
        #expect(lab.a2.got(flood) == [frame])
        #expect(lab.a3.got(flood) == [frame])
        #expect(lab.a5.got(flood) == [tagged(frame, 10)])
        #expect(lab.b2.got(flood) == [frame])
        #expect(lab.a.transmitCounters(6).dropped == 1, "eth6 is in VLAN 10 too; its wire does not listen")
        #expect(lab.cpuBarrier(lab.a, vlan: 20, to: [lab.a4, lab.b3]))
        for host in [lab.a4, lab.a7, lab.b3] { #expect(host.got(flood).isEmpty, "\(host)") }

        // One port: only there.
        let one = Nonce()
        let toA3 = testFrame(from: lab.a.routerMAC, to: lab.a3.mac, one)
        lab.a.sendFromCPU(toA3, vlan: 10, port: 3)
        #expect(eventually { lab.a3.has(one) })
        #expect(lab.a3.got(one) == [toA3])
        // The trunk port, in its native VLAN (untagged) and in VLAN 10 (tagged).
        let native = Nonce()
        let nativeFrame = testFrame(from: lab.a.routerMAC, to: lab.a5.mac, native)
        lab.a.sendFromCPU(nativeFrame, vlan: 20, port: 5)
        let vlan10 = Nonce()
        let vlan10Frame = testFrame(from: lab.a.routerMAC, to: lab.a5.mac, vlan10)
        lab.a.sendFromCPU(vlan10Frame, vlan: 10, port: 5)
        #expect(eventually { lab.a5.has(native) && lab.a5.has(vlan10) })
        #expect(lab.a5.got(native) == [nativeFrame])
        #expect(lab.a5.got(vlan10) == [tagged(vlan10Frame, 10)])
        // A port that does not carry the VLAN, a VLAN the trunk does not allow: nothing.
        let wrong = Nonce()
        lab.a.sendFromCPU(testFrame(from: lab.a.routerMAC, to: lab.a2.mac, wrong), vlan: 20, port: 2)
        lab.a.sendFromCPU(testFrame(from: lab.a.routerMAC, to: lab.a5.mac, wrong), vlan: 30, port: 5)

        #expect(lab.cpuBarrier(lab.a, vlan: 10, to: [lab.a2, lab.a3, lab.a5, lab.b2]))
        for host in lab.hosts where host !== lab.a3 { #expect(host.got(one).isEmpty, "\(host)") }
        for host in lab.hosts where host !== lab.a5 { #expect(host.got(native).isEmpty && host.got(vlan10).isEmpty, "\(host)") }
        #expect(lab.hosts.allSatisfy { $0.got(wrong).isEmpty })
    }

    @Test func vlanHasUpPortAndIsOperUpFollowPortState() throws {
        let lab = try Lab()
        defer { lab.stop() }
        let a = lab.a
        #expect(a.isOperUp(7))
        #expect(!a.isOperUp(0), "the CPU port is not a front port")
        #expect(!a.isOperUp(9), "the small chip has 8 ports")
        // VLAN 30: only eth7.
        #expect(a.vlanHasUpPort(30))
        try a.setLink(7, up: false, deadline: soon)
        #expect(!a.isOperUp(7))
        #expect(!a.vlanHasUpPort(30))
        try a.setLink(7, up: true, deadline: soon)
        #expect(a.vlanHasUpPort(30))
        // Administratively down (shutdown) is down too, with the link up.
        var shut = Lab.access(30)
        shut.adminUp = false
        try a.setPortSettings(7, shut, deadline: soon)
        #expect(!a.isOperUp(7))
        #expect(!a.vlanHasUpPort(30))
        // A trunk allowing VLAN 30 brings it back (eth8 has no backend: state is what counts).
        try a.setPortSettings(8, Lab.trunk(allowed: [30], native: 1), deadline: soon)
        #expect(a.vlanHasUpPort(30))

        // VLAN 20 is carried by eth1 (trunk), eth4 (access) and eth5 (trunk, native): all must go.
        #expect(a.vlanHasUpPort(20))
        for port: PortID in [1, 4] {
            try a.setLink(port, up: false, deadline: soon)
            #expect(a.vlanHasUpPort(20), "eth5 still carries VLAN 20")
        }
        try a.setLink(5, up: false, deadline: soon)
        #expect(!a.vlanHasUpPort(20))
        #expect(a.vlanHasUpPort(10), "eth2, eth3 and eth6 are still up")
        // VLAN 40 does not exist and no port carries it.
        #expect(!a.vlanHasUpPort(40))
        // The other switch is not affected.
        #expect(lab.b.vlanHasUpPort(20) && lab.b.isOperUp(1))
    }

    /// A known station on a port that does not carry the frame's VLAN (a static entry in VLAN
    /// 10 on an access port of VLAN 20) gets nothing: frames never leak between VLANs.
    @Test func knownUnicastNeverLeavesThroughAPortOutsideItsVLAN() throws {
        let lab = try Lab()
        defer { lab.stop() }
        let pinned = MACAddress(0x0200_0000_7777)
        _ = try lab.a.l2Add(L2Entry(mac: pinned, vlan: 10, port: 4, flags: .static), deadline: soon)
        let nonce = Nonce()
        #expect(lab.a2.send(testFrame(from: lab.a2.mac, to: pinned, nonce)))
        #expect(lab.barrier(from: lab.a2, to: [lab.a3]))
        #expect(!lab.a4.has(nonce), "a VLAN 10 frame left through eth4, an access port of VLAN 20")
        #expect(!lab.a3.has(nonce) && !lab.b2.has(nonce), "a frame to a known station was flooded")
    }
}
