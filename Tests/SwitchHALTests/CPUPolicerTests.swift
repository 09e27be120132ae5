import Atomics
import Glibc
import NetTypes
import Testing
import Time

@testable import SwitchHAL

/// A frame of `etherType` from 02:00:00:00:77:01 to `destination`, with `payload` after the
/// Ethernet header (or an 802.1Q tag of VLAN 10), padded to 60 bytes.
func punted(_ etherType: UInt16, _ payload: [UInt8], destination: UInt64 = 0xffff_ffff_ffff, tagged: Bool = false) -> [UInt8] {
    var bytes = (0..<6).map { UInt8(truncatingIfNeeded: destination >> UInt64(40 - 8 * $0)) } + [0x02, 0x00, 0x00, 0x00, 0x77, 0x01]
    if tagged { bytes += [0x81, 0x00, 0x00, 0x0a] }
    bytes += [UInt8(etherType >> 8), UInt8(etherType & 0xff)] + payload
    if bytes.count < 60 { bytes += [UInt8](repeating: 0, count: 60 - bytes.count) }
    return bytes
}

/// An IPv4 header (no options) with protocol `proto`, then `body`.
func ipv4(_ proto: UInt8, _ body: [UInt8] = [UInt8](repeating: 0, count: 8)) -> [UInt8] {
    [0x45, 0, 0, UInt8(20 + body.count), 0, 0, 0, 0, 255, proto, 0, 0, 10, 0, 0, 5, 224, 0, 0, 18] + body
}

/// An IPv6 header with next header `next`, then `body` (to ff02::12, the VRRP group, for
/// protocol 112; hop limit `hops`).
func ipv6(_ next: UInt8, _ body: [UInt8] = [UInt8](repeating: 0, count: 8), hops: UInt8 = 255) -> [UInt8] {
    let destination: [UInt8] = next == 112 ? [0xff, 0x02] + [UInt8](repeating: 0, count: 13) + [0x12] : [UInt8](repeating: 0, count: 16)
    return [0x60, 0, 0, 0, 0, UInt8(body.count), next, hops] + [UInt8](repeating: 0, count: 16) + destination + body
}

let arpPayload: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20)

@Suite struct CPUPolicerTests {
    func classOf(_ bytes: [UInt8]) -> CPUClass {
        bytes.withUnsafeBytes { CPUClass.classify($0.baseAddress!, length: $0.count) }
    }

    /// Each kind of frame lands in its class, tagged or not, and nothing short is read past.
    @Test func framesAreClassifiedByTheirHeaders() {
        #expect(classOf(punted(0x0806, arpPayload)) == .arp)
        #expect(classOf(punted(0x0806, arpPayload, tagged: true)) == .arp)
        #expect(classOf(punted(0x0800, ipv4(112), destination: 0x0100_5e00_0012)) == .vrrp)
        #expect(classOf(punted(0x86dd, ipv6(112), destination: 0x3333_0000_0012)) == .vrrp)
        // Protocol 112 that is not an advert (a TTL below 255, another destination) is not
        // VRRP's: it takes no advert's priority, buffer or policer.
        var offLink = ipv4(112)
        offLink[8] = 64
        #expect(classOf(punted(0x0800, offLink, destination: 0x0100_5e00_0012)) == .other)
        var unicast = ipv4(112)
        unicast[16...19] = [10, 0, 0, 1]
        #expect(classOf(punted(0x0800, unicast, destination: 0x0200_0000_0a00)) == .other)
        #expect(classOf(punted(0x86dd, ipv6(112, hops: 1), destination: 0x3333_0000_0012)) == .other)
        #expect(classOf(punted(0x0800, ipv4(1), destination: 0x0200_0000_0a00)) == .icmp)
        #expect(classOf(punted(0x86dd, ipv6(58, [135, 0, 0, 0]), destination: 0x3333_ff00_0001)) == .nd)
        #expect(classOf(punted(0x86dd, ipv6(58, [136, 0, 0, 0]), tagged: true)) == .nd)
        #expect(classOf(punted(0x86dd, ipv6(58, [128, 0, 0, 0]))) == .icmp)
        #expect(classOf(punted(0x0800, ipv4(17), destination: 0x0200_0000_0a00)) == .ip)
        #expect(classOf(punted(0x0800, ipv4(6), destination: 0x0200_0000_0a00, tagged: true)) == .ip)
        #expect(classOf(punted(0x0800, ipv4(17))) == .other, "a UDP broadcast is not the router's traffic")
        #expect(classOf(punted(0x88cc, [1, 2, 3])) == .other)
        #expect(classOf(Array(punted(0x0806, arpPayload).prefix(13))) == .other)
        #expect(classOf(Array(punted(0x0800, ipv4(112), tagged: true).prefix(30))) == .other, "an IPv4 header cut short")
        #expect(classOf(Array(punted(0x86dd, ipv6(58), tagged: true).prefix(40))) == .other, "an IPv6 header cut short")
    }

    /// A meter passes its burst at once, then its rate, and a quiet spell refills it up to the
    /// burst only; each class has its own.
    @Test func aMeterPassesItsBurstThenItsRate() {
        let policer = CPUPolicer()
        policer.set(.arp, PolicerRate(packetsPerSecond: 1000, burst: 10))
        let start = Instant(nanoseconds: 5_000_000_000)
        #expect((0..<25).filter { _ in policer.admit(.arp, now: start) }.count == 10)
        // 5 ms later: 5 more (one per millisecond).
        #expect((0..<25).filter { _ in policer.admit(.arp, now: start + .milliseconds(5)) }.count == 5)
        // A second of quiet: the burst again, not a second's worth.
        #expect((0..<2000).filter { _ in policer.admit(.arp, now: start + .milliseconds(1_005)) }.count == 10)
        // Another class at the same instants is untouched.
        #expect((0..<100).allSatisfy { _ in policer.admit(.vrrp, now: start) })
        let counts = policer.counts(.arp)
        #expect(counts.passed == 25 && counts.dropped == 2025)
        #expect(policer.counts(.vrrp).passed == 100 && policer.counts(.vrrp).dropped == 0)
        policer.clear()
        #expect(policer.counts(.arp).passed == 0 && policer.counts(.arp).dropped == 0)
        // A new setting starts with a full bucket.
        policer.set(.arp, PolicerRate(packetsPerSecond: 1, burst: 3))
        #expect((0..<10).filter { _ in policer.admit(.arp, now: start + .nanoseconds(1_005_000_001)) }.count == 3)
    }

    /// Over a long run the rate holds within the meter's rounding (integer nanoseconds): the
    /// burst first, then the rate. (A burst of 1 would round each interval up to the next
    /// arrival, as any bucket one packet deep does.)
    @Test func theRateHoldsOverTime() {
        let policer = CPUPolicer()
        policer.set(.ip, PolicerRate(packetsPerSecond: 3000, burst: 10))
        // A frame every 10 µs for 2 s: 200,000 offered at 100,000/s.
        var passed = 0
        for n in 0..<200_000 where policer.admit(.ip, now: Instant(nanoseconds: 1_000_000_000 + UInt64(n) * 10_000)) { passed += 1 }
        #expect(passed >= 6005 && passed <= 6015, "\(passed) passed in 2 s at 3000/s after a burst of 10")
    }

    @Test func settingsOutOfRangeAreRefused() throws {
        let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_ab00))
        for bad in [PolicerRate(packetsPerSecond: 0, burst: 1), PolicerRate(packetsPerSecond: 1, burst: 0),
                    PolicerRate(packetsPerSecond: PolicerRate.maxPacketsPerSecond + 1, burst: 1),
                    PolicerRate(packetsPerSecond: 1, burst: PolicerRate.maxBurst + 1)] {
            #expect(throws: HALError.self) { try hal.setCPUPolicer(.arp, bad, deadline: soon) }
        }
        #expect(try hal.cpuPolicers(deadline: soon)[.arp] == PolicerRate.defaultARP, "a refusal changes nothing")
        try hal.setCPUPolicer(.arp, PolicerRate(packetsPerSecond: 5, burst: 7), deadline: soon)
        #expect(try hal.cpuPolicers(deadline: soon)[.arp] == PolicerRate(packetsPerSecond: 5, burst: 7))
        #expect(try hal.cpuPolicers(deadline: soon)[.vrrp] == PolicerRate.defaultVRRP)
    }

    /// Through the chip: a flood of ARP while the CPU is busy is cut to its burst in l2x (the
    /// rest never reaches a queue), and a VRRP advert that arrives after the flood is still the
    /// next frame the CPU gets.
    @Test func aFloodIsPolicedAndVRRPIsServedFirst() throws {
        let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_ac00))
        hal.start()
        defer { hal.stop() }
        defer { #expect(unexpectedWitnessReports().isEmpty, "\(unexpectedWitnessReports())") }
        try hal.setCPUPolicer(.arp, PolicerRate(packetsPerSecond: 1, burst: 10), deadline: soon)
        let order = ClassLog()
        let release = ManagedAtomic<Bool>(false)
        hal.setPacketHandler { _, _, bytes in
            let cpuClass = CPUClass.classify(bytes.baseAddress!, length: bytes.count)
            order.append(cpuClass)
            // The first frame keeps the CPU busy until the test says.
            while order.count == 1 && !release.load(ordering: .relaxed) { usleep(1000) }
        }
        func inject(_ bytes: [UInt8]) {
            while !hal.inject(port: 2, bytes) { usleep(100) }
        }
        inject(punted(0x88cc, [1, 2, 3]))
        #expect(order.wait { $0.count == 1 })
        for _ in 0..<40 { inject(punted(0x0806, arpPayload)) }
        inject(punted(0x0800, ipv4(112), destination: 0x0100_5e00_0012))
        func stats(_ cpuClass: CPUClass) -> CPUClassStatistics { hal.cpuStatistics.first { $0.cpuClass == cpuClass }! }
        let deadline = SystemClock.deadline(after: .seconds(5))
        while (stats(.arp).passed + stats(.arp).dropped < 40 || stats(.vrrp).passed < 1) && SystemClock.now < deadline { usleep(1000) }
        let arp = stats(.arp)
        #expect(arp.passed + arp.dropped == 40 && arp.passed >= 10 && arp.passed <= 11, "\(arp)")
        #expect(arp.queueFull == 0 && arp.queued == Int(arp.passed))
        release.store(true, ordering: .relaxed)
        #expect(order.wait { $0.count == 2 + Int(arp.passed) })
        #expect(order.all.first == .other && order.all.dropFirst().first == .vrrp, "\(order.all)")
        #expect(order.all.dropFirst(2).allSatisfy { $0 == .arp })
        hal.drain()
        #expect(hal.rx.pool.buffersInUse == 0)
    }
}

/// The RX pool's reserve: when a flood has taken every buffer, a VRRP advert still gets one
/// of the kept buffers, nothing else does, and each goes back where it came from.
@Suite struct RxReserveTests {
    @Test func aVRRPAdvertGetsAKeptBufferWhenTheOthersAreTaken() {
        let pool = PacketPool(count: 4, size: 128, reservedCount: 2, jumboCount: 1, jumboSize: 4096)
        let rx = RxPath(pool: pool)
        let advert = punted(0x0800, ipv4(112), destination: 0x0100_5e00_0012)
        let arp = punted(0x0806, arpPayload)
        func receive(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { rx.receive(port: 1, frame: $0) } }
        for _ in 0..<4 { #expect(receive(arp)) }
        #expect(!receive(arp), "the flood has every regular buffer")
        #expect(receive(advert) && receive(advert), "two adverts get the two kept buffers")
        #expect(!receive(advert), "and no more")
        let stats = rx.statistics
        #expect(stats.accepted == 6 && stats.acceptedReserved == 2 && stats.droppedNoBuffer == 2 && stats.reservedBuffers == 2)
        var taken: [UInt32] = []
        while let buffer = rx.toL2.dequeue() { taken.append(buffer) }
        #expect(taken.count == 4, "the flood in the regular queue")
        while let buffer = rx.toL2Priority.dequeue() { taken.append(buffer) }
        #expect(taken.filter { $0 >= 4 }.count == 2 && taken.allSatisfy { $0 < 6 }, "\(taken)")
        #expect(pool.frame(taken[4]).elementsEqual(advert))
        for buffer in taken { pool.give(buffer) }
        #expect(pool.buffersInUse == 0)
        // Back where they came from: four regular, two kept, the jumbo one apart.
        var regular = 0
        while pool.take() != nil { regular += 1 }
        #expect(regular == 4)
        #expect(pool.takeReserved() != nil && pool.takeReserved() != nil && pool.takeReserved() == nil)
        #expect(pool.take(length: 1000).map { $0 == 6 } == true)
    }
}

extension RxReserveTests {
    /// While l2x keeps up an advert queues with everything else; once more than a batch waits,
    /// adverts go to the queue l2x takes first.
    @Test func anAdvertOvertakesABacklog() {
        let pool = PacketPool(count: 600, size: 128, reservedCount: 4)
        let rx = RxPath(pool: pool)
        let advert = punted(0x0800, ipv4(112), destination: 0x0100_5e00_0012)
        let arp = punted(0x0806, arpPayload)
        func receive(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { rx.receive(port: 1, frame: $0) } }
        #expect(receive(advert))
        #expect(rx.toL2.count == 1 && rx.toL2Priority.count == 0)
        for _ in 0..<RxPath.backlog { #expect(receive(arp)) }
        #expect(receive(arp) && receive(advert))
        #expect(rx.toL2.count == RxPath.backlog + 2 && rx.toL2Priority.count == 1 && rx.queuedForL2 == RxPath.backlog + 3)
        #expect(rx.toL2Priority.dequeue().map { pool.frame($0).elementsEqual(advert) } == true)
    }
}

/// The classes a packet handler saw, in order.
final class ClassLog: @unchecked Sendable {
    private let lock = HALLock(name: "test.classes", rank: 99, purpose: "test")
    private var list: [CPUClass] = []
    func append(_ cpuClass: CPUClass) { lock.withLock("append") { list.append(cpuClass) } }
    var all: [CPUClass] { lock.withLock("read") { list } }
    var count: Int { all.count }

    func wait(timeout: Double = 5, until predicate: ([CPUClass]) -> Bool) -> Bool {
        let deadline = SystemClock.deadline(after: .seconds(timeout))
        while SystemClock.now < deadline {
            if predicate(all) { return true }
            usleep(1000)
        }
        return false
    }
}
