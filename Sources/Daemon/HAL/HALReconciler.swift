import NIOCore
import NetTypes
import SwitchHAL

/// The HAL state a running configuration asks for, object by object.
struct HALDesired: Equatable, Sendable {
    var vlans: Set<UInt16> = [1]
    var ports: [PortID: PortSettings] = [:]
    var svis: [UInt16: [IPv4Prefix]] = [:]
    var statics: [StaticMAC: PortID] = [:]
    var ageTime = RunningConfig.defaultMACAgingTime
    var limits: [LearnLimits.Scope: Int] = [:]
    /// Objects whose HAL state is not known (an operation on them timed out): the next plan
    /// applies their target state again, whatever the mirror says.
    var unknown: Set<HALObject> = []

    /// The state of a freshly started HAL.
    static func initial(portCount: Int) -> HALDesired {
        var state = HALDesired()
        for port in 1...max(1, portCount) where port <= portCount { state.ports[PortID(port)] = PortSettings() }
        return state
    }

    init() {}

    init(_ config: RunningConfig, portCount: Int) {
        self = HALDesired.initial(portCount: portCount)
        vlans.formUnion(config.vlans.keys)
        for (name, interface) in config.interfaces {
            switch InterfaceKind.parse(name, portCount: portCount) {
            case .port(let port):
                var settings = PortSettings()
                settings.adminUp = !interface.shutdown
                settings.mode = interface.switchport.mode
                settings.accessVLAN = interface.switchport.accessVLAN
                settings.nativeVLAN = interface.switchport.nativeVLAN
                settings.allowedVLANs = interface.switchport.allowedVLANs
                ports[port] = settings
            case .svi(let vlan):
                svis[vlan] = interface.addresses
            case nil:
                break
            }
        }
        for (key, name) in config.staticMACs {
            if case .port(let port) = InterfaceKind.parse(name, portCount: portCount) { statics[key] = port }
        }
        ageTime = config.macAgingTime ?? RunningConfig.defaultMACAgingTime
        if let system = config.learnLimitSystem { limits[.system] = system }
        for (vlan, limit) in config.learnLimitPerVLAN { limits[.vlan(vlan)] = limit }
        for (name, limit) in config.learnLimitPerInterface {
            if case .port(let port) = InterfaceKind.parse(name, portCount: portCount) { limits[.port(port)] = limit }
        }
    }
}

/// One object of the HAL's configuration.
enum HALObject: Hashable, Sendable {
    case vlan(UInt16)
    case port(PortID)
    case svi(UInt16)
    case staticMAC(StaticMAC)
    case ageTime
    case limit(LearnLimits.Scope)
}

/// One idempotent step that brings one HAL object to its desired state.
enum HALOperation: Sendable, CustomStringConvertible {
    case createVLAN(UInt16)
    case setPort(PortID, PortSettings)
    case setSVI(UInt16, [IPv4Prefix])
    case addStatic(StaticMAC, PortID)
    case setAgeTime(Int)
    case setLimit(LearnLimits.Scope, Int?)
    case deleteStatic(StaticMAC)
    case deleteSVI(UInt16)
    case deleteVLAN(UInt16)

    var description: String {
        switch self {
        case .createVLAN(let v): return "create VLAN \(v)"
        case .setPort(let p, _): return "set port eth\(p)"
        case .setSVI(let v, _): return "set SVI vlan\(v)"
        case .addStatic(let k, let p): return "add static \(k.mac) vlan \(k.vlan) -> eth\(p)"
        case .setAgeTime(let s): return "set age time \(s)"
        case .setLimit(let scope, let limit): return "set learn limit \(scope) \(limit.map(String.init) ?? "none")"
        case .deleteStatic(let k): return "delete static \(k.mac) vlan \(k.vlan)"
        case .deleteSVI(let v): return "delete SVI vlan\(v)"
        case .deleteVLAN(let v): return "delete VLAN \(v)"
        }
    }

    /// The operations taking `current` to `target`, in an order the HAL accepts: VLANs before
    /// what uses them, removals of users before the VLANs they use.
    static func plan(from current: HALDesired, to target: HALDesired) -> [HALOperation] {
        var ops: [HALOperation] = []
        let unknown = current.unknown
        let vlansToCreate = target.vlans.filter { !current.vlans.contains($0) || unknown.contains(.vlan($0)) }
        for vlan in vlansToCreate.sorted() { ops.append(.createVLAN(vlan)) }
        for (port, settings) in target.ports.sorted(by: { $0.key < $1.key })
        where current.ports[port] != settings || unknown.contains(.port(port)) {
            ops.append(.setPort(port, settings))
        }
        for (vlan, addresses) in target.svis.sorted(by: { $0.key < $1.key })
        where current.svis[vlan] != addresses || unknown.contains(.svi(vlan)) {
            ops.append(.setSVI(vlan, addresses))
        }
        let unknownStatics = unknown.compactMap { if case .staticMAC(let key) = $0 { key } else { nil } }
        for key in Set(current.statics.keys).union(unknownStatics).sorted() where target.statics[key] == nil {
            ops.append(.deleteStatic(key))
        }
        for (key, port) in target.statics.sorted(by: { $0.key < $1.key })
        where current.statics[key] != port || unknown.contains(.staticMAC(key)) {
            ops.append(.addStatic(key, port))
        }
        if target.ageTime != current.ageTime || unknown.contains(.ageTime) { ops.append(.setAgeTime(target.ageTime)) }
        let unknownScopes = unknown.compactMap { if case .limit(let scope) = $0 { scope } else { nil } }
        let scopes = Set(current.limits.keys).union(target.limits.keys).union(unknownScopes)
        for scope in scopes.sorted(by: { "\($0)" < "\($1)" })
        where current.limits[scope] != target.limits[scope] || unknown.contains(.limit(scope)) {
            ops.append(.setLimit(scope, target.limits[scope]))
        }
        let unknownSVIs = unknown.compactMap { if case .svi(let vlan) = $0 { vlan } else { nil } }
        for vlan in Set(current.svis.keys).union(unknownSVIs).sorted() where target.svis[vlan] == nil { ops.append(.deleteSVI(vlan)) }
        let unknownVLANs = unknown.compactMap { if case .vlan(let vlan) = $0 { vlan } else { nil } }
        for vlan in current.vlans.union(unknownVLANs).subtracting(target.vlans).sorted() { ops.append(.deleteVLAN(vlan)) }
        return ops
    }

    /// The object the operation changes.
    var object: HALObject {
        switch self {
        case .createVLAN(let vlan), .deleteVLAN(let vlan): return .vlan(vlan)
        case .setPort(let port, _): return .port(port)
        case .setSVI(let vlan, _), .deleteSVI(let vlan): return .svi(vlan)
        case .addStatic(let key, _), .deleteStatic(let key): return .staticMAC(key)
        case .setAgeTime: return .ageTime
        case .setLimit(let scope, _): return .limit(scope)
        }
    }

    /// Performs the operation (idempotently: "already there" counts as done).
    func apply(to hal: Switch, deadline: UInt64) throws {
        do {
            switch self {
            case .createVLAN(let vlan): try hal.createVLAN(vlan, deadline: deadline)
            case .setPort(let port, let settings): try hal.setPortSettings(port, settings, deadline: deadline)
            case .setSVI(let vlan, let addresses): try hal.setSVI(vlan, addresses: addresses, deadline: deadline)
            case .addStatic(let key, let port):
                try hal.l2Add(L2Entry(mac: key.mac, vlan: key.vlan, port: port, flags: .static), deadline: deadline)
            case .setAgeTime(let seconds): try hal.setAgeTime(seconds, deadline: deadline)
            case .setLimit(let scope, let limit): try hal.setLearnLimit(scope, limit, deadline: deadline)
            case .deleteStatic(let key): try hal.l2Delete(mac: key.mac, vlan: key.vlan, deadline: deadline)
            case .deleteSVI(let vlan): try hal.deleteSVI(vlan, deadline: deadline)
            case .deleteVLAN(let vlan): try hal.deleteVLAN(vlan, deadline: deadline)
            }
        } catch HALError.exists(_) {
            // idempotent create
        } catch HALError.notFound(_) where isDelete {
            // idempotent delete
        }
    }

    private var isDelete: Bool {
        switch self {
        case .deleteStatic, .deleteSVI, .deleteVLAN: return true
        default: return false
        }
    }

    /// Records the operation's effect in the mirror of what the HAL holds.
    func record(in state: inout HALDesired) {
        state.unknown.remove(object)
        switch self {
        case .createVLAN(let vlan): state.vlans.insert(vlan)
        case .setPort(let port, let settings): state.ports[port] = settings
        case .setSVI(let vlan, let addresses): state.svis[vlan] = addresses
        case .addStatic(let key, let port): state.statics[key] = port
        case .setAgeTime(let seconds): state.ageTime = seconds
        case .setLimit(let scope, let limit): state.limits[scope] = limit
        case .deleteStatic(let key): state.statics[key] = nil
        case .deleteSVI(let vlan): state.svis[vlan] = nil
        case .deleteVLAN(let vlan):
            state.vlans.remove(vlan)
            // The HAL removes the VLAN's entries, static ones included.
            state.statics = state.statics.filter { $0.key.vlan != vlan }
        }
    }

    /// After a timeout the object's HAL state is unknown: the next plan applies it again.
    func forget(in state: inout HALDesired) {
        state.unknown.insert(object)
    }
}

/// The result of applying a plan on the HAL threads.
struct HALApplyReport: Sendable {
    var applied: HALDesired
    var error: HALError?
    var failedOperation: String?
}
