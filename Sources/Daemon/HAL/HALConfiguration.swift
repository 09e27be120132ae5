import NAT
import NetTypes
import SwitchHAL
import Time

/// One object of the HAL's configuration.
enum HALObject: Hashable, Sendable, CustomStringConvertible {
    case vlan(UInt16)
    case port(PortID)
    case svi(UInt16)
    case staticMAC(StaticMAC)
    case ageTime
    case limit(LearnLimits.Scope)
    /// The NAT table slot a static mapping's entry is reserved (docs/nat.md, "Capacity").
    case natReservation(NATKey)
    case cpuPolicer(CPUClass)

    var description: String {
        switch self {
        case .vlan(let v): return "VLAN \(v)"
        case .port(let p): return "port \(InterfaceID.port(p))"
        case .svi(let v): return "SVI \(InterfaceID.svi(v))"
        case .staticMAC(let k): return "static MAC \(k.mac) vlan \(k.vlan)"
        case .ageTime: return "the aging time"
        case .limit(let scope): return "the learn limit of \(scope)"
        case .natReservation(let key): return "the NAT table slot of \(key)"
        case .cpuPolicer(let cpuClass): return "the \(cpuClass.keyword) CPU policer"
        }
    }

    /// The NAT table slots a static mapping reserves.
    static func natReservations(_ identity: StaticMapping.Identity) -> [HALObject] {
        identity.hardwareKeys.map { .natReservation(NATService.halKey($0)) }
    }

    /// The HAL objects a configuration key covers.
    static func objects(for key: ConfigKey) -> [HALObject] {
        switch key {
        case .interface(.port(let port)): return [.port(port)]
        case .interface(.svi(let vlan)): return [.svi(vlan)]
        case .vlan(let vlan): return [.vlan(vlan)]
        case .staticMAC(let key): return [.staticMAC(key)]
        case .macAgingTime: return [.ageTime]
        case .learnLimitSystem: return [.limit(.system)]
        case .learnLimitVLAN(let vlan): return [.limit(.vlan(vlan))]
        case .learnLimitInterface(.port(let port)): return [.limit(.port(port))]
        case .natStatic(let identity): return natReservations(identity)
        case .cpuPolicer(let cpuClass): return [.cpuPolicer(cpuClass)]
        default:
            return []
        }
    }

    static func objects(for change: ConfigChange) -> [HALObject] {
        var out: [HALObject] = []
        for key in change.keys { out += objects(for: key) }
        return out
    }

    /// Every object a configuration asks for (the from-scratch derivation: tests and reloads).
    /// `natReservations: false` leaves out the two slots per static NAT mapping (120,000
    /// mappings are 240,000 objects: the periodic read-back does without them).
    static func all(in config: RunningConfig, portCount: Int, natReservations: Bool = true) -> Set<HALObject> {
        var out = Set<HALObject>([.vlan(1), .ageTime])
        for cpuClass in CPUClass.allCases { out.insert(.cpuPolicer(cpuClass)) }
        for port in 1...max(1, portCount) where port <= portCount { out.insert(.port(PortID(port))) }
        for vlan in config.vlans.keys { out.insert(.vlan(vlan)) }
        for name in config.interfaces.keys { out.formUnion(objects(for: .interface(name))) }
        for key in config.staticMACs.keys { out.insert(.staticMAC(key)) }
        if config.learnLimitSystem != nil { out.insert(.limit(.system)) }
        for vlan in config.learnLimitPerVLAN.keys { out.insert(.limit(.vlan(vlan))) }
        for name in config.learnLimitPerInterface.keys { out.formUnion(objects(for: .learnLimitInterface(name))) }
        if natReservations { for mapping in config.nat.statics { out.formUnion(HALObject.natReservations(mapping.identity)) } }
        return out
    }

    /// The order of changes within one HAL call: VLANs before what uses them, removals of users
    /// before the VLANs they use.
    func phase(removing: Bool) -> Int {
        switch self {
        case .vlan: return removing ? 8 : 0
        case .port: return 1
        case .svi: return removing ? 7 : 2
        case .staticMAC: return removing ? 3 : 4
        case .ageTime, .cpuPolicer: return 5
        case .limit: return 6
        case .natReservation: return removing ? 3 : 4
        }
    }
}

/// The state one HAL object should have (nil, where a state is optional: the object does not
/// exist, or has no limit).
enum HALState: Equatable, Sendable {
    case present
    case port(PortSettings)
    case svi([IPv4Prefix])
    case staticMAC(PortID)
    case seconds(Int)
    case limit(Int)
    case policer(PolicerRate)

    /// What `config` asks of `object`.
    static func desired(_ object: HALObject, in config: RunningConfig) -> HALState? {
        switch object {
        case .vlan(let vlan):
            return vlan == 1 || config.vlans[vlan] != nil ? .present : nil
        case .port(let port):
            var settings = PortSettings()
            if let interface = config.interfaces[.port(port)] {
                settings.adminUp = !interface.shutdown
                settings.mode = interface.switchport.mode
                settings.accessVLAN = interface.switchport.accessVLAN
                settings.nativeVLAN = interface.switchport.nativeVLAN
                settings.allowedVLANs = interface.switchport.allowedVLANs
            }
            return .port(settings)
        case .svi(let vlan):
            return config.interfaces[.svi(vlan)].map { .svi($0.addresses) }
        case .staticMAC(let key):
            guard case .port(let port)? = config.staticMACs[key] else { return nil }
            return .staticMAC(port)
        case .ageTime:
            return .seconds(config.macAgingTime ?? RunningConfig.defaultMACAgingTime)
        case .limit(let scope):
            let limit: Int?
            switch scope {
            case .system: limit = config.learnLimitSystem
            case .vlan(let vlan): limit = config.learnLimitPerVLAN[vlan]
            case .port(let port): limit = config.learnLimitPerInterface[.port(port)]
            }
            return limit.map { .limit($0) }
        case .natReservation(let key):
            return config.nat.statics.mapping(holding: NATService.hardwareKey(key)) != nil ? .present : nil
        case .cpuPolicer(let cpuClass):
            return .policer(config.cpuPolicers[cpuClass] ?? PolicerRate.defaultRate(cpuClass))
        }
    }

    /// Brings `object` to `state` in the HAL, idempotently ("already there" counts as done).
    static func apply(_ object: HALObject, _ state: HALState?, hal: Switch, deadline: Instant) throws {
        do {
            switch (object, state) {
            case (.vlan(let vlan), .some): try hal.createVLAN(vlan, deadline: deadline)
            case (.vlan(let vlan), nil): try hal.deleteVLAN(vlan, deadline: deadline)
            case (.port(let port), .port(let settings)): try hal.setPortSettings(port, settings, deadline: deadline)
            case (.port(let port), _): try hal.setPortSettings(port, PortSettings(), deadline: deadline)
            case (.svi(let vlan), .svi(let addresses)): try hal.setSVI(vlan, addresses: addresses, deadline: deadline)
            case (.svi(let vlan), _): try hal.deleteSVI(vlan, deadline: deadline)
            case (.staticMAC(let key), .staticMAC(let port)):
                // A configured entry takes a learned one's slot when its buckets are full (a
                // learned MAC is learned again; what the configuration holds must fit).
                try hal.l2Add(L2Entry(mac: key.mac, vlan: key.vlan, port: port, flags: .static), replaceDynamic: true, deadline: deadline)
            case (.staticMAC(let key), _): try hal.l2Delete(mac: key.mac, vlan: key.vlan, deadline: deadline)
            case (.ageTime, .seconds(let seconds)): try hal.setAgeTime(seconds, deadline: deadline)
            case (.ageTime, _): try hal.setAgeTime(RunningConfig.defaultMACAgingTime, deadline: deadline)
            case (.limit(let scope), .limit(let limit)): try hal.setLearnLimit(scope, limit, deadline: deadline)
            case (.limit(let scope), _): try hal.setLearnLimit(scope, nil, deadline: deadline)
            case (.natReservation(let key), .some): try hal.natReserve([key], deadline: deadline)
            case (.natReservation(let key), nil): try hal.natUnreserve([key], deadline: deadline)
            case (.cpuPolicer(let cpuClass), .policer(let rate)): try hal.setCPUPolicer(cpuClass, rate, deadline: deadline)
            case (.cpuPolicer(let cpuClass), _): try hal.setCPUPolicer(cpuClass, PolicerRate.defaultRate(cpuClass), deadline: deadline)
            }
        } catch HALError.exists(_) where state != nil {
            // idempotent create
        } catch HALError.notFound(_) where state == nil {
            // idempotent delete
        }
    }

    /// What the HAL holds for each of `objects` (absent: the object does not exist, or has its
    /// default where that is absence: no learn limit).
    static func read(_ objects: [HALObject], hal: Switch, deadline: Instant) throws -> [HALObject: HALState] {
        var out: [HALObject: HALState] = [:]
        var vlans: VLANSet?
        var ports: [PortID: PortSettings]?
        var svis: [UInt16: [IPv4Prefix]]?
        var limits: LearnLimits?
        let natKeys = objects.compactMap { object -> NATKey? in
            if case .natReservation(let key) = object { return key }
            return nil
        }
        let reserved = natKeys.isEmpty ? [] : try hal.natReservations(natKeys, deadline: deadline)
        var policers: [CPUClass: PolicerRate]?
        for object in objects {
            switch object {
            case .vlan(let vlan):
                if vlans == nil { vlans = try hal.vlans(deadline: deadline) }
                if vlans!.contains(vlan) { out[object] = .present }
            case .port(let port):
                if ports == nil {
                    ports = Dictionary(uniqueKeysWithValues: try hal.portStatus(deadline: deadline).map { ($0.id, $0.settings) })
                }
                if let settings = ports![port] { out[object] = .port(settings) }
            case .svi(let vlan):
                if svis == nil { svis = Dictionary(uniqueKeysWithValues: try hal.sviStatus(deadline: deadline).map { ($0.vlan, $0.addresses) }) }
                if let addresses = svis![vlan] { out[object] = .svi(addresses) }
            case .staticMAC(let key):
                if let entry = try? hal.l2Get(mac: key.mac, vlan: key.vlan, deadline: deadline), entry.flags.contains(.static) {
                    out[object] = .staticMAC(entry.port)
                }
            case .ageTime:
                out[object] = .seconds(try hal.ageTime(deadline: deadline))
            case .limit(let scope):
                if limits == nil { limits = try hal.learnLimits(deadline: deadline) }
                let limit: Int?
                switch scope {
                case .system: limit = limits!.system
                case .vlan(let vlan): limit = limits!.perVLAN[vlan]
                case .port(let port): limit = limits!.perPort[port]
                }
                if let limit { out[object] = .limit(limit) }
            case .natReservation(let key):
                if reserved.contains(key) { out[object] = .present }
            case .cpuPolicer(let cpuClass):
                if policers == nil { policers = try hal.cpuPolicers(deadline: deadline) }
                if let rate = policers![cpuClass] { out[object] = .policer(rate) }
            }
        }
        return out
    }

    /// The HAL configuration's driver: a group is applied in phase order and, on a refusal,
    /// undone in reverse.
    static var driver: HALDriver<HALObject, HALState> {
        HALDriver(
            operation: "HAL configuration",
            applyGroup: { hal, deadline, changes in apply(changes, hal: hal, deadline: deadline) },
            applyEach: { hal, deadline, changes in
                // In phase order (a VLAN before the port that uses it), each on its own.
                let order = changes.phaseOrder
                var results = [HALGroupResult](repeating: .applied, count: changes.count)
                var timedOut: HALError?
                for index in order {
                    if let timedOut {
                        results[index] = .skipped(timedOut)
                        continue
                    }
                    results[index] = apply([changes[index]], hal: hal, deadline: deadline)
                    if case .unknown(let error) = results[index] { timedOut = error }
                }
                return results
            },
            read: { hal, deadline, objects in try read(objects, hal: hal, deadline: deadline) })
    }

    private static func apply(_ changes: [HALChange<HALObject, HALState>], hal: Switch, deadline: Instant) -> HALGroupResult {
        changes.applyAllOrNone { object, state in try apply(object, state, hal: hal, deadline: deadline) }
    }
}

extension Array where Element == HALChange<HALObject, HALState> {
    /// The changes' indices in phase order (a VLAN before the port that uses it, removals
    /// before additions of the same table), ties in the order given.
    var phaseOrder: [Int] {
        indices.sorted { a, b in
            let pa = self[a].object.phase(removing: self[a].target == nil)
            let pb = self[b].object.phase(removing: self[b].target == nil)
            return pa != pb ? pa < pb : a < b
        }
    }

    /// Applies the changes in phase order with `apply`, all or none: on a refusal what was done
    /// is undone in reverse. A timeout, or an undo that fails, leaves the outcome unknown. The
    /// one transaction of the HAL configuration, on the chip and in `CapacityModel` alike.
    func applyAllOrNone(_ apply: (HALObject, HALState?) throws -> Void) -> HALGroupResult {
        var done: [Element] = []
        for index in phaseOrder {
            let change = self[index]
            do {
                try apply(change.object, change.target)
                done.append(change)
            } catch let error as HALError {
                if case .timeout = error { return .unknown(error) }
                for undone in done.reversed() {
                    do { try apply(undone.object, undone.previous) } catch { return .unknown(error as? HALError ?? .internal("\(error)")) }
                }
                return .refused(error)
            } catch {
                return .unknown(.internal("\(error)"))
            }
        }
        return .applied
    }
}
