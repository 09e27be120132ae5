import Atomics
import Time

/// The kinds of frame the data path hands the CPU, each with its own policer and its own CPU
/// queue, as a switch's control-plane policing (CoPP) classes are: SONiC's trap groups, a
/// Catalyst's CPU queues. The order is the CPU queues' strict priority, highest first: a flood
/// of one class is dropped by its own policer and never takes the room or the time of the
/// classes above it, so VRRP adverts are served first whatever arrives with them.
public enum CPUClass: Int, CaseIterable, Sendable, Hashable, Comparable {
    /// VRRP adverts (IPv4 protocol 112, IPv6 next header 112).
    case vrrp
    /// ARP requests and replies.
    case arp
    /// IPv6 neighbour discovery (ICMPv6 types 133-137: router and neighbour solicitations and
    /// advertisements, redirects).
    case nd
    /// ICMP, and ICMPv6 other than neighbour discovery (echo, errors, MLD).
    case icmp
    /// Other unicast IP to the router's MACs that the chip did not route: TCP and UDP to route
    /// or translate on the CPU (a flow's first packets, SYN/FIN/RST, NAT misses), packets for
    /// the router itself, what needs fragmenting.
    case ip
    /// Everything else punted: broadcasts and multicasts of other protocols, other EtherTypes.
    case other

    /// The keyword the CLI names the class by.
    public var keyword: String {
        switch self {
        case .vrrp: "vrrp"
        case .arp: "arp"
        case .nd: "nd"
        case .icmp: "icmp"
        case .ip: "ip"
        case .other: "other"
        }
    }

    public init?(keyword: String) {
        guard let found = Self.allCases.first(where: { $0.keyword == keyword }) else { return nil }
        self = found
    }

    /// One line for `?` help and the docs.
    public var summary: String {
        switch self {
        case .vrrp: "VRRP adverts (IPv4 and IPv6)"
        case .arp: "ARP requests and replies"
        case .nd: "IPv6 neighbour discovery (ICMPv6 133-137)"
        case .icmp: "ICMP and other ICMPv6 (echo, errors, MLD)"
        case .ip: "other unicast IP to the router (TCP/UDP to route or translate, for the router itself)"
        case .other: "everything else punted (other broadcasts and multicasts, other EtherTypes)"
        }
    }

    public static func < (a: CPUClass, b: CPUClass) -> Bool { a.rawValue < b.rawValue }

    /// The class of a frame, from one look at its headers (after at most one 802.1Q tag), as
    /// the chip's ingress field processor matches them. Never reads past `length`.
    @inline(__always)
    static func classify(_ bytes: UnsafeRawPointer, length: Int) -> CPUClass {
        guard length >= 14 else { return .other }
        var l3 = 14
        var type = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if type == 0x8100 {
            guard length >= 18 else { return .other }
            l3 = 18
            type = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
        }
        let unicast = bytes.load(as: UInt8.self) & 1 == 0
        switch type {
        case 0x0806:
            return .arp
        case 0x0800:
            guard length >= l3 + 20 else { return .other }
            switch bytes.load(fromByteOffset: l3 + 9, as: UInt8.self) {
            case 112:
                // An advert: to 224.0.0.18 with TTL 255 (RFC 5798 5.1.1.3); any other protocol-112
                // frame is not one, and must not take the adverts' priority, buffers or policer.
                let ttl = bytes.load(fromByteOffset: l3 + 8, as: UInt8.self)
                let group = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: l3 + 16, as: UInt32.self))
                return ttl == 255 && group == 0xE000_0012 ? .vrrp : .other
            case 1: return .icmp
            default: return unicast ? .ip : .other
            }
        case 0x86dd:
            guard length >= l3 + 40 else { return .other }
            switch bytes.load(fromByteOffset: l3 + 6, as: UInt8.self) {
            case 112:
                // To ff02::12 with hop limit 255 (RFC 5798 5.1.2.3), as for IPv4.
                let hops = bytes.load(fromByteOffset: l3 + 7, as: UInt8.self)
                let high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: l3 + 24, as: UInt64.self))
                let low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: l3 + 32, as: UInt64.self))
                return hops == 255 && high == 0xFF02_0000_0000_0000 && low == 0x12 ? .vrrp : .other
            case 58:
                guard length > l3 + 40 else { return .icmp }
                let icmpType = bytes.load(fromByteOffset: l3 + 40, as: UInt8.self)
                return icmpType >= 133 && icmpType <= 137 ? .nd : .icmp
            default: return unicast ? .ip : .other
            }
        default:
            return .other
        }
    }
}

/// A policer's setting: a rate in packets per second and a burst in packets (what may pass at
/// once after a quiet spell), as SONiC's CoPP groups (`cir`, `cbs`, `meter_type packets`) and
/// IOS's `police rate N pps burst M packets` give them.
public struct PolicerRate: Sendable, Hashable, CustomStringConvertible {
    public var packetsPerSecond: Int
    public var burst: Int

    public init(packetsPerSecond: Int, burst: Int) {
        self.packetsPerSecond = packetsPerSecond
        self.burst = burst
    }

    /// The largest rate and burst a policer takes (the chip's meter fields).
    public static let maxPacketsPerSecond = 10_000_000
    public static let maxBurst = 1_000_000

    /// What the chip starts with, and what `no control-plane police CLASS` goes back to. VRRP
    /// has room for 1,000 groups at 100 ms (10,000 adverts/s, in bursts of 1,000 when they
    /// start together) twice over; ARP and ND as SONiC's default (600/s) rounded up to what a
    /// Catalyst gives ARP (1,000/s); the routed path what the L3 thread carries without
    /// falling behind; the rest what nobody should need.
    public static let defaultVRRP = PolicerRate(packetsPerSecond: 20_000, burst: 5_000)
    public static let defaultARP = PolicerRate(packetsPerSecond: 1_000, burst: 1_000)
    public static let defaultND = PolicerRate(packetsPerSecond: 1_000, burst: 1_000)
    public static let defaultICMP = PolicerRate(packetsPerSecond: 1_000, burst: 1_000)
    public static let defaultIP = PolicerRate(packetsPerSecond: 20_000, burst: 5_000)
    public static let defaultOther = PolicerRate(packetsPerSecond: 1_000, burst: 1_000)

    public static func defaultRate(_ cpuClass: CPUClass) -> PolicerRate {
        switch cpuClass {
        case .vrrp: defaultVRRP
        case .arp: defaultARP
        case .nd: defaultND
        case .icmp: defaultICMP
        case .ip: defaultIP
        case .other: defaultOther
        }
    }

    /// Why this setting is out of range, or nil.
    public var problem: String? {
        if packetsPerSecond < 1 || packetsPerSecond > Self.maxPacketsPerSecond {
            return "rate \(packetsPerSecond) out of range 1-\(Self.maxPacketsPerSecond) packets/s"
        }
        if burst < 1 || burst > Self.maxBurst { return "burst \(burst) out of range 1-\(Self.maxBurst) packets" }
        return nil
    }

    public var description: String { "rate \(packetsPerSecond) pps burst \(burst) packets" }

    /// Both numbers in one word, so the data path reads a setting with one atomic load.
    var packed: UInt64 { UInt64(packetsPerSecond) << 32 | UInt64(burst) }
    init(packed: UInt64) { self.init(packetsPerSecond: Int(packed >> 32), burst: Int(packed & 0xffff_ffff)) }
}

/// One class's policer figures, as `show hal rx` prints them.
public struct CPUClassStatistics: Sendable {
    public var cpuClass: CPUClass
    public var rate: PolicerRate
    /// Frames that conformed and were queued for the CPU.
    public var passed: UInt64
    /// Frames over the rate, dropped by the policer.
    public var dropped: UInt64
    /// Frames that conformed but found the class's CPU queue full.
    public var queueFull: UInt64
    /// Frames in the class's CPU queue now.
    public var queued: Int
}

/// The policers in front of the CPU queues: one meter per `CPUClass`, a GCRA (the virtual
/// scheduling form of a token bucket: one comparison and one addition per frame, no division)
/// in integer nanoseconds.
///
/// Only the producer, `l2x`, runs `admit`: the meters and the counters are single-writer, so
/// the data path pays plain loads and stores, no atomic read-modify-write. The settings are
/// atomics any thread may set (`set`); the data path picks a change up on its next frame of
/// that class. Counters only grow (no other thread may write them); `clear` (any thread) keeps
/// a baseline the readers subtract.
final class CPUPolicer: @unchecked Sendable {
    private let settings: [ManagedAtomic<UInt64>]
    private let passedCounts: [ManagedAtomic<UInt64>]
    private let droppedCounts: [ManagedAtomic<UInt64>]
    private let queueFullCounts: [ManagedAtomic<UInt64>]
    /// What the counters read at the last `clear` (passed, dropped, queue full per class).
    private let baseline: [[ManagedAtomic<UInt64>]]

    /// A meter, l2x's own: the theoretical arrival time of the next conforming frame, the
    /// interval between frames at the rate and the tolerance the burst gives, all in ns.
    private struct Meter {
        var packed: UInt64 = 0
        var interval: UInt64 = 0
        var tolerance: UInt64 = 0
        var arrival: UInt64 = 0
    }
    /// Allocated once, out of reach of Swift's exclusivity checks (a class's array property
    /// is checked on every write).
    private let meters: UnsafeMutablePointer<Meter>

    init() {
        let classes = CPUClass.allCases
        settings = classes.map { ManagedAtomic(PolicerRate.defaultRate($0).packed) }
        passedCounts = classes.map { _ in ManagedAtomic(0) }
        droppedCounts = classes.map { _ in ManagedAtomic(0) }
        queueFullCounts = classes.map { _ in ManagedAtomic(0) }
        baseline = (0..<3).map { _ in classes.map { _ in ManagedAtomic(0) } }
        meters = .allocate(capacity: classes.count)
        meters.initialize(repeating: Meter(), count: classes.count)
    }

    deinit { meters.deallocate() }

    func set(_ cpuClass: CPUClass, _ rate: PolicerRate) {
        settings[cpuClass.rawValue].store(rate.packed, ordering: .relaxed)
    }

    func rate(_ cpuClass: CPUClass) -> PolicerRate {
        PolicerRate(packed: settings[cpuClass.rawValue].load(ordering: .relaxed))
    }

    /// l2x only: whether a frame of `cpuClass` arriving at `now` conforms (and is counted as
    /// passed), or is over the rate (and counted as dropped).
    @inline(__always)
    func admit(_ cpuClass: CPUClass, now instant: Instant) -> Bool {
        let now = instant.nanoseconds
        let index = cpuClass.rawValue
        let packed = settings[index].load(ordering: .relaxed)
        if packed != meters[index].packed { retune(index, packed) }
        let start = max(meters[index].arrival, now)
        guard start &- now <= meters[index].tolerance else {
            bump(droppedCounts[index])
            return false
        }
        meters[index].arrival = start &+ meters[index].interval
        bump(passedCounts[index])
        return true
    }

    /// l2x only: a conforming frame found its CPU queue full.
    @inline(__always)
    func countQueueFull(_ cpuClass: CPUClass) { bump(queueFullCounts[cpuClass.rawValue]) }

    /// A new setting takes effect with a full bucket.
    private func retune(_ index: Int, _ packed: UInt64) {
        let rate = PolicerRate(packed: packed)
        let interval = 1_000_000_000 / UInt64(max(1, rate.packetsPerSecond))
        meters[index] = Meter(packed: packed, interval: interval, tolerance: UInt64(max(0, rate.burst - 1)) &* interval, arrival: 0)
    }

    /// A single writer's increment: a load and a store, no locked instruction.
    @inline(__always)
    private func bump(_ counter: ManagedAtomic<UInt64>) {
        counter.store(counter.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    /// Counters since the last `clear`.
    func counts(_ cpuClass: CPUClass) -> (passed: UInt64, dropped: UInt64, queueFull: UInt64) {
        let index = cpuClass.rawValue
        let base = baseline.map { $0[index].load(ordering: .relaxed) }
        return (passedCounts[index].load(ordering: .relaxed) &- base[0], droppedCounts[index].load(ordering: .relaxed) &- base[1],
                queueFullCounts[index].load(ordering: .relaxed) &- base[2])
    }

    /// Every frame any class found its queue full with, since the last `clear`.
    var queueFullTotal: UInt64 { CPUClass.allCases.reduce(0) { $0 &+ counts($1).queueFull } }

    func clear() {
        for (counters, base) in zip([passedCounts, droppedCounts, queueFullCounts], baseline) {
            for (counter, mark) in zip(counters, base) { mark.store(counter.load(ordering: .relaxed), ordering: .relaxed) }
        }
    }
}
