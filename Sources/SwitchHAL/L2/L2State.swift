/// Everything guarded by `l2.table`: the table itself, learn limits, counters, the age time,
/// and the L3 host table l2x routes with.
final class L2State {
    let table: L2Table
    let l3: L3HostTable
    var limits = LearnLimits()
    /// Per-port receive counters (index = port), a fixed buffer: l2x bumps them per frame.
    let portCounters: UnsafeMutablePointer<PortCounters>
    let portCounterCount: Int
    var ageSeconds = 300
    var counters = L2Counters()
    /// `limits` as the data path reads it: -1 = none.
    let vlanLimit: UnsafeMutablePointer<Int32>
    let portLimit: UnsafeMutablePointer<Int32>
    var systemLimit = -1
    var anyLimit = false

    init(chip: ChipProfile) {
        table = L2Table(chip: chip)
        l3 = L3HostTable(capacity: chip.l3HostEntries)
        portCounterCount = chip.portCount + 1
        portCounters = .allocate(capacity: portCounterCount)
        portCounters.initialize(repeating: PortCounters(), count: portCounterCount)
        vlanLimit = .allocate(capacity: 4096)
        vlanLimit.initialize(repeating: -1, count: 4096)
        portLimit = .allocate(capacity: portCounterCount)
        portLimit.initialize(repeating: -1, count: portCounterCount)
    }

    deinit {
        portCounters.deallocate()
        vlanLimit.deallocate()
        portLimit.deallocate()
    }

    /// Sets a limit in `limits` and in the data path's arrays.
    func setLimit(_ scope: LearnLimits.Scope, _ limit: Int?) {
        limits.set(scope, limit)
        let value = Int32(clamping: limit ?? -1)
        switch scope {
        case .system: systemLimit = limit ?? -1
        case .vlan(let vlan): vlanLimit[Int(vlan & 0xfff)] = value
        case .port(let port): if Int(port) < portCounterCount { portLimit[Int(port)] = value }
        }
        anyLimit = limits.system != nil || !limits.perVLAN.isEmpty || !limits.perPort.isEmpty
    }

    var portCounterSnapshot: [PortCounters] { Array(UnsafeBufferPointer(start: portCounters, count: portCounterCount)) }
}

/// Maximum dynamic entries, system-wide, per VLAN and per port (nil = unlimited). A learn that
/// would exceed one is not made, and counted.
public struct LearnLimits: Sendable, Equatable {
    public var system: Int?
    public var perVLAN: [UInt16: Int] = [:]
    public var perPort: [PortID: Int] = [:]

    public init() {}

    public enum Scope: Sendable, Equatable, Hashable, CustomStringConvertible {
        case system
        case vlan(UInt16)
        case port(PortID)

        public var description: String {
            switch self {
            case .system: return "system"
            case .vlan(let v): return "vlan \(v)"
            case .port(let p): return "port \(p)"
            }
        }
    }

    public func limit(_ scope: Scope) -> Int? {
        switch scope {
        case .system: return system
        case .vlan(let v): return perVLAN[v]
        case .port(let p): return perPort[p]
        }
    }

    public mutating func set(_ scope: Scope, _ limit: Int?) {
        switch scope {
        case .system: system = limit
        case .vlan(let v): perVLAN[v] = limit
        case .port(let p): perPort[p] = limit
        }
    }
}

/// Table-wide counters for `show hal l2 summary`.
public struct L2Counters: Sendable, Equatable {
    public var learned: UInt64 = 0
    public var aged: UInt64 = 0
    public var moved: UInt64 = 0
    public var staticMoveDenied: UInt64 = 0
    public var learnFull: UInt64 = 0
    public var learnLimitedSystem: UInt64 = 0
    public var learnLimitedVLAN: UInt64 = 0
    public var learnLimitedPort: UInt64 = 0
    public var flushed: UInt64 = 0
    public var agePasses: UInt64 = 0
    /// How long the last ager pass took.
    public var lastAgePass = Duration.zero
    public var apiAddFull: UInt64 = 0
}
