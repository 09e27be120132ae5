import NetTypes
import Time

/// Counters for `show ip nat statistics`.
public struct NATCounters: Equatable, Sendable {
    /// Packets that found a translation (in the HAL or, before it was programmed, on the CPU).
    public var hits: UInt64 = 0
    /// Packets that found none and made one.
    public var misses: UInt64 = 0
    public var expired: UInt64 = 0
    public var cleared: UInt64 = 0
    /// Packets no rule or mapping applied to (forwarded as they were).
    public var untranslated: UInt64 = 0
    public var drops: [DropReason: UInt64] = [:]
    public var peak = 0
    public var poolMisses: [String: UInt64] = [:]

    public var dropped: UInt64 { drops.values.reduce(0, +) }
}

/// The translation engine: static mappings made active, dynamic NAT and PAT allocation, the slow
/// path for packets the HAL has no entry for, timeouts, clearing, and the tracer.
///
/// Pure: configuration, packets and the time (milliseconds) come in; translations and the HAL
/// entries to add or remove come out. The daemon owns one on its NAT thread and programs the HAL
/// with what it returns.
public struct NATEngine: Sendable {
    public private(set) var config = NATConfig()
    public private(set) var environment = NATEnvironment()
    public private(set) var translations: [UInt64: Translation] = [:]
    public var counters = NATCounters()
    private var nextID: UInt64 = 1

    /// Inside-source translations by their inside local side: (proto, address, port) for
    /// extended ones, (.any, address, 0) for simple ones.
    private var byLocal: [FlowKey: UInt64] = [:]
    /// ... and by their inside global side.
    private var byGlobal: [FlowKey: UInt64] = [:]
    /// Outside-source static translations by outside global and outside local address.
    private var byOutsideGlobal: [IPv4Address: UInt64] = [:]
    private var byOutsideLocal: [IPv4Address: UInt64] = [:]
    private var staticIDs: [StaticMapping.Identity: UInt64] = [:]
    /// Inside static translations by their inside local side (extendable ones share it): who
    /// takes over sending it out when the one that does goes.
    private var staticsByLocal: [FlowKey: Set<UInt64>] = [:]
    private var staticIdentities: [UInt64: StaticMapping.Identity] = [:]
    /// The group each mapping with redundancy resolves to, and the mappings of each group (what
    /// a change of mastership re-examines).
    private var followedGroup: [StaticMapping.Identity: GroupRef] = [:]
    private var staticsFollowing: [GroupRef: Set<StaticMapping.Identity>] = [:]
    /// Dynamic translations by the access list of the rule that made them, and by their inside
    /// global and inside local addresses (what a static mapping that arrives may displace).
    private var dynamicByRule: [Int: Set<UInt64>] = [:]
    private var dynamicByGlobalAddress: [IPv4Address: Set<UInt64>] = [:]
    private var dynamicByLocalAddress: [IPv4Address: Set<UInt64>] = [:]
    /// Access lists in order, built on first use after each change (the list itself is a
    /// persistent map that costs O(log n) to edit; evaluation wants an array).
    private var compiledLists: [Int: [AccessListEntry]] = [:]
    /// Addresses owned whole by one translation (dynamic NAT without overload, static NAT).
    private var addressOwner: [IPv4Address: UInt64] = [:]
    private var ports: [PortKey: PortSpace] = [:]
    /// Dynamic translations (what max-entries limits).
    public private(set) var dynamicCount = 0

    struct FlowKey: Hashable, Sendable {
        var proto: L4Protocol
        var address: IPv4Address
        var port: UInt16
        init(_ proto: L4Protocol, _ endpoint: Endpoint) {
            self.proto = proto
            address = endpoint.address
            port = endpoint.port
        }
    }

    struct PortKey: Hashable, Sendable {
        var address: IPv4Address
        var proto: L4Protocol
    }

    public init() {}

    /// NAT applies only with at least one inside and one outside interface (as on IOS).
    public var isActive: Bool { environment.has(.inside) && environment.has(.outside) }

    // MARK: Configuration

    /// Takes a new configuration and environment, from scratch: every static mapping and every
    /// dynamic translation is checked against them. Static mappings become active or inactive,
    /// dynamic translations whose rule, pool or interface address went away or changed are
    /// removed. Returns the HAL changes and a line per thing worth logging.
    public mutating func configure(_ newConfig: NATConfig, _ newEnvironment: NATEnvironment, now: Instant) -> (changes: HardwareChanges, notes: [String]) {
        var everything = NATChange()
        everything.rules = Set(config.rules.keys).union(newConfig.rules.keys)
        everything.pools = Set(config.pools.keys).union(newConfig.pools.keys)
        everything.accessLists = Set(config.accessLists.keys).union(newConfig.accessLists.keys)
        everything.statics = Set(staticIDs.keys).union(newConfig.statics.map(\.identity))
        everything.interfaces = Set(newEnvironment.subnets.keys).union(environment.subnets.keys)
        return configure(newConfig, newEnvironment, changed: everything, now: now)
    }

    /// Takes a new configuration and environment of which only what `changed` names differs from
    /// the last one: the work is proportional to that, not to the configuration or the number of
    /// translations.
    public mutating func configure(_ newConfig: NATConfig, _ newEnvironment: NATEnvironment, changed: NATChange, now: Instant)
        -> (changes: HardwareChanges, notes: [String])
    {
        let oldConfig = config
        config = newConfig
        environment = newEnvironment
        for acl in changed.accessLists { compiledLists[acl] = nil }
        var changes = HardwareChanges()
        var notes: [String] = []

        // Dynamic translations whose rule no longer stands as it did.
        var staleRules = Set<Int>()
        for acl in changed.rules where newConfig.rules[acl] != oldConfig.rules[acl] { staleRules.insert(acl) }
        for name in changed.pools where newConfig.pools[name] != oldConfig.pools[name] {
            for rule in oldConfig.rules(usingPool: name) + newConfig.rules(usingPool: name) { staleRules.insert(rule.accessList) }
        }
        var stale = staleRules.flatMap { dynamicByRule[$0] ?? [] }
        if !changed.interfaces.isEmpty {
            for rule in newConfig.rules.values {
                guard case .interface(let name) = rule.target, changed.interfaces.contains(name), !staleRules.contains(rule.accessList) else { continue }
                let address = newEnvironment.address(of: name)
                stale += (dynamicByRule[rule.accessList] ?? []).filter { translations[$0]?.insideGlobal?.address != address }
            }
        }
        if !stale.isEmpty {
            notes.append("removed \(stale.count) dynamic translation(s) whose rule, pool or interface address changed")
            for id in stale.sorted() { changes.merge(remove(id)) }
        }

        // Static mappings: the active set is what the configuration and VRRP say.
        var identities = changed.statics
        for vrid in changed.vrids {
            for mapping in newConfig.statics.following(vrid: vrid) { identities.insert(mapping.identity) }
            for mapping in oldConfig.statics.following(vrid: vrid) { identities.insert(mapping.identity) }
        }
        var toAdd: [StaticMapping] = []
        for identity in identities.sorted() {
            let mapping = newConfig.statics[identity]
            follow(identity, mapping)
            let wanted = mapping.map { wants($0) } ?? false
            if let id = staticIDs[identity], !wanted {
                changes.merge(remove(id))
                if let mapping { notes.append("\(mapping.line): inactive (\(isActive(mapping).reason))") }
            } else if wanted, staticIDs[identity] == nil, let mapping {
                toAdd.append(mapping)
            }
        }
        for mapping in toAdd {
            // A dynamic translation in the way of a static one gives way.
            for id in conflictingDynamic(mapping) { changes.merge(remove(id)) }
            changes.merge(addStatic(mapping, now: now))
            if mapping.redundancy != nil { notes.append("\(mapping.line): active (\(isActive(mapping).reason))") }
        }
        return (changes, notes)
    }

    /// The VRRP groups this switch is Master of are now `masters`.
    public mutating func setMasters(_ masters: Set<GroupRef>, now: Instant) -> (changes: HardwareChanges, notes: [String]) {
        let current = Set(environment.masterGroups)
        return updateMasters(added: masters.subtracting(current), removed: current.subtracting(masters), now: now)
    }

    /// This switch became Master of `added` and stopped being Master of `removed`: the static
    /// mappings that follow those groups (and only they) are made active or inactive.
    public mutating func updateMasters(added: Set<GroupRef>, removed: Set<GroupRef>, now: Instant) -> (changes: HardwareChanges, notes: [String]) {
        var env = environment
        for group in added { env.masterGroups.insert(group) }
        for group in removed { env.masterGroups.remove(group) }
        var changed = NATChange()
        for group in added.union(removed) { changed.statics.formUnion(staticsFollowing[group] ?? []) }
        return configure(config, env, changed: changed, now: now)
    }

    /// The static mappings that have a translation now.
    public var activeStatics: Set<StaticMapping.Identity> { Set(staticIDs.keys) }

    /// Keeps the index of the group a mapping with redundancy resolves to.
    private mutating func follow(_ identity: StaticMapping.Identity, _ mapping: StaticMapping?) {
        let group = mapping?.redundancy.flatMap { resolve($0) }
        let old = followedGroup[identity]
        guard old != group else { return }
        if let old {
            staticsFollowing[old]?.remove(identity)
            if staticsFollowing[old]?.isEmpty == true { staticsFollowing[old] = nil }
        }
        followedGroup[identity] = group
        if let group { staticsFollowing[group, default: []].insert(identity) }
    }

    /// Whether a static mapping is to be programmed (what `isActive` says, without the words).
    private func wants(_ mapping: StaticMapping) -> Bool {
        guard let redundancy = mapping.redundancy else { return true }
        guard let group = resolve(redundancy) else { return false }
        return environment.masterGroups.contains(group)
    }

    /// Whether a static mapping is programmed, and why (for redundancy).
    public func isActive(_ mapping: StaticMapping) -> (active: Bool, reason: String) {
        guard let redundancy = mapping.redundancy else { return (true, "no redundancy") }
        guard let group = resolve(redundancy) else {
            let interfaces = environment.holders(of: redundancy.vrid)
            if interfaces.isEmpty { return (false, "no interface has VRRP group \(redundancy.vrid)") }
            let names = interfaces.map(\.description)
            let shown = names.count > 8 ? names.prefix(8).joined(separator: ", ") + " and \(names.count - 8) more" : names.joined(separator: ", ")
            return (false, "VRRP group \(redundancy.vrid) is on \(shown), not one NAT outside interface: name the interface")
        }
        if environment.masterGroups.contains(group) { return (true, "\(group) is Master here") }
        return (false, "\(group) is not Master here")
    }

    public func resolve(_ redundancy: StaticMapping.Redundancy) -> GroupRef? { environment.resolve(redundancy) }

    private func conflictingDynamic(_ mapping: StaticMapping) -> [UInt64] {
        guard mapping.direction == .inside else { return [] }
        let candidates = (dynamicByGlobalAddress[mapping.global.address] ?? []).union(dynamicByLocalAddress[mapping.local.address] ?? [])
        return candidates.sorted().filter { id in
            guard let t = translations[id], !t.isStatic, let local = t.insideLocal, let global = t.insideGlobal else { return false }
            if mapping.proto == .any {
                return global.address == mapping.global.address || local.address == mapping.local.address
            }
            // A one-to-one dynamic translation owns its whole global address, ports included.
            if !t.isExtended && global.address == mapping.global.address { return true }
            return t.proto == mapping.proto && (global == mapping.global || local == mapping.local)
        }
    }

    private mutating func addStatic(_ mapping: StaticMapping, now: Instant) -> HardwareChanges {
        let id = nextID
        nextID += 1
        insert(Translation(static: mapping.identity, id: id, now: now))
        staticIDs[mapping.identity] = id
        staticIdentities[id] = mapping.identity
        // As inserted: an extendable sibling may already send the local side out.
        return HardwareChanges(add: translations[id]?.hardwareEntries ?? [])
    }

    // MARK: Tables

    private mutating func insert(_ t: Translation) {
        var t = t
        switch t.direction {
        case .inside:
            guard let local = t.localKey, let global = t.insideGlobal, let globalKey = t.globalKey else { break }
            if t.isStatic { staticsByLocal[FlowKey(t.keyProto, local), default: []].insert(t.id) }
            // Extendable statics share a local side: the first sends it out (one SNAT entry).
            if byLocal[FlowKey(t.keyProto, local)] == nil {
                byLocal[FlowKey(t.keyProto, local)] = t.id
            } else {
                t.sendsLocalOut = false
            }
            byGlobal[FlowKey(t.keyProto, globalKey)] = t.id
            if t.isExtended {
                if t.isStatic {
                    ports[PortKey(address: global.address, proto: t.proto), default: PortSpace()].take(global.port)
                } else {
                    ports[PortKey(address: global.address, proto: t.proto), default: PortSpace()].allocate(global.port)
                }
            } else {
                addressOwner[global.address] = t.id
            }
        case .outside:
            if let g = t.outsideGlobal { byOutsideGlobal[g.address] = t.id }
            if let l = t.outsideLocal { byOutsideLocal[l.address] = t.id }
        }
        translations[t.id] = t
        if !t.isStatic {
            if let rule = t.rule { dynamicByRule[rule, default: []].insert(t.id) }
            if let global = t.insideGlobal { dynamicByGlobalAddress[global.address, default: []].insert(t.id) }
            if let local = t.insideLocal { dynamicByLocalAddress[local.address, default: []].insert(t.id) }
            dynamicCount += 1
            counters.peak = max(counters.peak, translations.count)
        }
    }

    /// Removes a translation; returns its HAL entries to remove (and, when it sent a local side
    /// out that an extendable sibling shares, the sibling's SNAT entry to add in its place).
    private mutating func remove(_ id: UInt64) -> HardwareChanges {
        guard let t = translations.removeValue(forKey: id) else { return HardwareChanges() }
        var changes = HardwareChanges(remove: t.hardwareEntries)
        switch t.direction {
        case .inside:
            if let localKey = t.localKey, let global = t.insideGlobal, let globalKey = t.globalKey {
                let l = FlowKey(t.keyProto, localKey)
                let g = FlowKey(t.keyProto, globalKey)
                if t.isStatic { Self.unindex(id, l, in: &staticsByLocal) }
                if byLocal[l] == id {
                    byLocal[l] = nil
                    // An extendable sibling with the same local side takes over sending it out
                    // (only static mappings share a local side): the oldest.
                    if t.isStatic, let heir = staticsByLocal[l]?.min() {
                        byLocal[l] = heir
                        translations[heir]?.sendsLocalOut = true
                        if let entry = translations[heir]?.outgoingEntry { changes.add.append(entry) }
                    }
                }
                if byGlobal[g] == id { byGlobal[g] = nil }
                if t.isExtended {
                    let key = PortKey(address: global.address, proto: t.proto)
                    ports[key]?.release(global.port)
                    if ports[key]?.isEmpty == true { ports[key] = nil }
                } else if addressOwner[global.address] == id {
                    addressOwner[global.address] = nil
                }
            }
        case .outside:
            if let g = t.outsideGlobal, byOutsideGlobal[g.address] == id { byOutsideGlobal[g.address] = nil }
            if let l = t.outsideLocal, byOutsideLocal[l.address] == id { byOutsideLocal[l.address] = nil }
        }
        if t.isStatic {
            if let identity = staticIdentities.removeValue(forKey: id) { staticIDs[identity] = nil }
        } else {
            if let rule = t.rule { Self.unindex(id, rule, in: &dynamicByRule) }
            if let global = t.insideGlobal { Self.unindex(id, global.address, in: &dynamicByGlobalAddress) }
            if let local = t.insideLocal { Self.unindex(id, local.address, in: &dynamicByLocalAddress) }
            dynamicCount -= 1
        }
        return changes
    }

    private static func unindex<K: Hashable>(_ id: UInt64, _ key: K, in index: inout [K: Set<UInt64>]) {
        guard index[key] != nil else { return }
        index[key]!.remove(id)
        if index[key]!.isEmpty { index[key] = nil }
    }

    /// Access list `acl` in order (nil: not defined).
    private mutating func compiledList(_ acl: Int) -> [AccessListEntry]? {
        if let compiled = compiledLists[acl] { return compiled }
        guard let list = config.accessLists[acl] else { return nil }
        let entries = list.entries
        compiledLists[acl] = entries
        return entries
    }

    /// The HAL entry the translations want under a HAL key (zone, SNAT or DNAT, protocol, the
    /// endpoint matched), or nil when none should be there. O(1): the key is one of the tables'.
    public func hardwareEntry(zone: NATZone, rewritesSource: Bool, proto: L4Protocol, match: Endpoint) -> HardwareEntry? {
        let id: UInt64?
        switch (zone, rewritesSource) {
        case (.inside, true): id = byLocal[FlowKey(proto, match)]
        case (.outside, false): id = byGlobal[FlowKey(proto, match)]
        case (.inside, false): id = byOutsideLocal[match.address]
        case (.outside, true): id = byOutsideGlobal[match.address]
        }
        guard let id, let t = translations[id] else { return nil }
        return t.hardwareEntries.first { $0.zone == zone && $0.rewritesSource == rewritesSource && $0.proto == proto && $0.match == match }
    }

    /// Every HAL entry the translations need (to resynchronise a HAL whose state is unknown).
    public var hardwareEntries: [HardwareEntry] { translations.values.flatMap(\.hardwareEntries) }

    /// Translations in a stable order: by protocol, then inside global, then inside local.
    public var sortedTranslations: [Translation] {
        translations.values.sorted { a, b in
            let ka = (a.direction == .inside ? 0 : 1, a.proto.rawValue, a.insideGlobal ?? a.outsideLocal ?? Endpoint(IPv4Address(0)))
            let kb = (b.direction == .inside ? 0 : 1, b.proto.rawValue, b.insideGlobal ?? b.outsideLocal ?? Endpoint(IPv4Address(0)))
            if ka.0 != kb.0 { return ka.0 < kb.0 }
            if ka.1 != kb.1 { return ka.1 < kb.1 }
            if ka.2 != kb.2 { return ka.2 < kb.2 }
            return a.id < b.id
        }
    }

    // MARK: Packets (the slow path, and the tracer)

    /// What became of a packet.
    public struct Decision: Sendable {
        public enum Outcome: Equatable, Sendable {
            case translated
            case untranslated
            case dropped(DropReason)
        }

        public var outcome: Outcome = .untranslated
        public var packet: FlowPacket
        /// The packet as it came in.
        public var original: FlowPacket
        /// The tracer's steps, in order.
        public var steps: [String] = []
        /// The translation used or made.
        public var translationID: UInt64?
        public var created: Bool = false
        public var changes = HardwareChanges()
        /// Whether the steps are written (the tracer); the data path skips building them.
        public var explain = true

        mutating func note(_ text: @autoclosure () -> String) {
            if explain { steps.append(text()) }
        }
    }

    /// A packet the HAL had no entry for (or, with `commit: false`, the tracer's question). With
    /// `commit` it may create a translation, whose HAL entries come back in `changes`; without it
    /// nothing changes and the steps say what would happen.
    public mutating func process(_ packet: FlowPacket, from side: NATZone, now: Instant, commit: Bool, explain: Bool = true) -> Decision {
        var d = Decision(packet: packet, original: packet)
        d.explain = explain
        let here = environment.has(side)
        d.note(
            "ingress: from \(side)"
                + (here ? " (\(environment.interfaces(side).map(\.description).joined(separator: ", ")))" : " (no interface has ip nat \(side): NAT does nothing)"))
        guard here, environment.has(side == .inside ? .outside : .inside) else {
            if here { d.note("no interface has ip nat \(side == .inside ? "outside" : "inside"): NAT does nothing") }
            d.note("result: forwarded untranslated: \(packet)")
            if commit { counters.untranslated += 1 }
            return d
        }
        switch side {
        case .inside: fromInside(&d, now: now, commit: commit)
        case .outside: fromOutside(&d, now: now, commit: commit)
        }
        // An ICMP query's identifier is in both port fields; a rewrite changes both.
        if packet.proto == .icmp {
            if side == .inside { d.packet.destination.port = d.packet.source.port } else { d.packet.source.port = d.packet.destination.port }
        }
        switch d.outcome {
        case .translated:
            let after = d.packet
            d.note("result: \(packet)  =>  \(after)")
        case .untranslated:
            d.note("result: forwarded untranslated: \(packet)")
            if commit { counters.untranslated += 1 }
        case .dropped(let reason):
            d.note("result: dropped (\(reason.rawValue))")
            if commit { counters.drops[reason, default: 0] += 1 }
        }
        return d
    }

    private mutating func fromInside(_ d: inout Decision, now: Instant, commit: Bool) {
        let packet = d.packet
        // Destination: an outside static mapping makes an outside local address the outside global one.
        applyOutsideStatic(&d, from: .inside, now: now, commit: commit)
        // Source: an existing translation, a static mapping, then the dynamic rules.
        if applyExisting(&d, from: .inside, now: now, commit: commit) { return }
        if d.explain {
            for mapping in config.statics.inside(matchingSource: packet.source, proto: packet.proto) where staticIDs[mapping.identity] == nil {
                d.note("static mapping \"\(mapping.line)\" is inactive: \(isActive(mapping).reason)")
            }
        }
        if config.rules.isEmpty { d.note("no dynamic rule (ip nat inside source list ...)") }
        for acl in config.rules.keys.sorted() {
            let rule = config.rules[acl]!
            let verdict = AccessLists.evaluate(compiledList(acl), packet.source.address)
            if config.accessLists[acl] == nil {
                d.note("access-list \(acl) (of \"\(rule.line)\") is not defined: no match")
                continue
            }
            d.note("access-list \(acl) \(verdict.description)")
            guard verdict.permitted else { continue }
            d.note("rule: \(rule.line)")
            allocate(&d, rule: rule, now: now, commit: commit)
            return
        }
        if d.outcome != .translated { d.note("no rule matched the source \(packet.source.address)") }
    }

    private mutating func allocate(_ d: inout Decision, rule: DynamicRule, now: Instant, commit: Bool) {
        let packet = d.packet
        if let limit = config.maxEntries, dynamicCount >= limit {
            d.note("ip nat translation max-entries \(limit) reached (\(dynamicCount) dynamic translations)")
            d.outcome = .dropped(.maxEntries)
            return
        }
        let range: ClosedRange<UInt32>
        var poolName: String?
        switch rule.target {
        case .pool(let name):
            guard let pool = config.pools[name] else {
                d.note("pool \(name) does not exist")
                d.outcome = .dropped(.poolExhausted)
                return
            }
            poolName = name
            range = pool.start.value...pool.end.value
        case .interface(let name):
            guard let address = environment.address(of: name) else {
                d.note("\(name) has no IPv4 address to overload")
                d.outcome = .dropped(.noAddress)
                return
            }
            range = address.value...address.value
        }
        let candidates = range.lazy.map(IPv4Address.init)
        let verb = commit ? "allocated" : "would allocate"
        if rule.overload {
            // PAT: keep the source port if it is free on some address; else the next free port.
            guard packet.proto != .any else {
                d.note("overload needs a port: only tcp, udp and icmp are translated")
                d.outcome = .untranslated
                return
            }
            var choice: (IPv4Address, UInt16, String)?
            let preferred = packet.source.port
            if preferred >= PortSpace.first {
                for address in candidates where addressOwner[address] == nil {
                    if ports[PortKey(address: address, proto: packet.proto)]?.isUsed(preferred) != true {
                        choice = (address, preferred, "port preserved")
                        break
                    }
                }
            }
            if choice == nil {
                for address in candidates where addressOwner[address] == nil {
                    let space = ports[PortKey(address: address, proto: packet.proto)] ?? PortSpace()
                    if let port = space.nextFree() {
                        choice = (address, port, "next free port")
                        break
                    }
                }
            }
            guard let (address, port, how) = choice else {
                d.note("every port of \(range.count) address(es) is in use")
                d.outcome = .dropped(.portsExhausted)
                if commit, let poolName { counters.poolMisses[poolName, default: 0] += 1 }
                return
            }
            let global = Endpoint(address, port)
            d.note("\(verb) \(packet.proto) \(global) \(poolName.map { "from pool \($0)" } ?? "on the interface address") (\(how))")
            d.packet.source = global
            d.outcome = .translated
            guard commit else { return }
            let t = Translation(
                id: nextID, kind: .dynamicExtended, direction: .inside, proto: packet.proto, insideLocal: packet.source,
                insideGlobal: global, outsideLocal: d.original.destination, outsideGlobal: packet.destination, rule: rule.accessList,
                pool: poolName, created: now, lastUsed: now, tcpState: tcpState(opening: packet), softwarePackets: 1)
            create(t, into: &d)
            return
        }
        // Dynamic NAT: one global address per inside address.
        guard let pool = poolName.flatMap({ config.pools[$0] }) else { return }
        let overloaded = Set(ports.keys.map(\.address))
        let address = candidates.first { addressOwner[$0] == nil && !overloaded.contains($0) }
        guard let address else {
            d.note("pool \(pool.name): all \(pool.size) addresses in use")
            d.outcome = .dropped(.poolExhausted)
            if commit { counters.poolMisses[pool.name, default: 0] += 1 }
            return
        }
        d.note("\(verb) \(address) from pool \(pool.name)")
        d.packet.source.address = address
        d.outcome = .translated
        guard commit else { return }
        let t = Translation(
            id: nextID, kind: .dynamicSimple, direction: .inside, proto: .any, insideLocal: Endpoint(packet.source.address),
            insideGlobal: Endpoint(address), rule: rule.accessList, pool: pool.name, created: now, lastUsed: now, softwarePackets: 1)
        create(t, into: &d)
    }

    private mutating func create(_ t: Translation, into d: inout Decision) {
        nextID += 1
        insert(t)
        counters.misses += 1
        d.translationID = t.id
        d.created = true
        d.changes.add += t.hardwareEntries
        d.note("created: \(describe(t))")
    }

    private func tcpState(opening packet: FlowPacket) -> Translation.TCPState {
        guard packet.proto == .tcp else { return .none }
        if packet.flags.contains(.fin) || packet.flags.contains(.rst) { return .closing }
        if packet.flags.contains(.syn) && !packet.flags.contains(.ack) { return .syn }
        return .established
    }

    private mutating func fromOutside(_ d: inout Decision, now: Instant, commit: Bool) {
        let packet = d.packet
        applyOutsideStatic(&d, from: .outside, now: now, commit: commit)
        if applyExisting(&d, from: .outside, now: now, commit: commit) { return }
        if d.explain {
            for mapping in config.statics.inside(global: packet.destination.address) {
                let (active, reason) = isActive(mapping)
                if !active { d.note("static mapping \"\(mapping.line)\" is inactive: \(reason)") }
            }
        }
        if d.outcome != .translated {
            d.note("no translation has inside global \(packet.proto == .any ? "\(packet.destination.address)" : "\(packet.proto) \(packet.destination)")")
        }
    }

    /// An outside static mapping for the packet's outside endpoint (its destination coming from
    /// inside, its source coming from outside) rewrites that address.
    private mutating func applyOutsideStatic(_ d: inout Decision, from side: NATZone, now: Instant, commit: Bool) {
        let address = side == .inside ? d.packet.destination.address : d.packet.source.address
        let what = side == .inside ? "destination" : "source"
        let index = side == .inside ? byOutsideLocal : byOutsideGlobal
        guard let id = index[address], let t = translations[id], let local = t.outsideLocal, let global = t.outsideGlobal else {
            d.note("\(what) \(address): no outside mapping")
            return
        }
        let target = side == .inside ? global.address : local.address
        d.note("\(what) \(address) is outside \(side == .inside ? "local" : "global") of \"ip nat outside source static \(global.address) \(local.address)\": becomes \(target)")
        if side == .inside { d.packet.destination.address = target } else { d.packet.source.address = target }
        d.outcome = .translated
        d.translationID = id
        if commit { use(id, now: now, flags: d.packet.flags, fromOutside: side == .outside) }
    }

    /// An inside translation that already holds the packet's inside endpoint (its source coming
    /// from inside: the local side; its destination coming from outside: the global side),
    /// extended before simple: rewrites that endpoint. False when there is none.
    private mutating func applyExisting(_ d: inout Decision, from side: NATZone, now: Instant, commit: Bool) -> Bool {
        let endpoint = side == .inside ? d.packet.source : d.packet.destination
        let index = side == .inside ? byLocal : byGlobal
        func other(_ id: UInt64) -> Endpoint? { side == .inside ? translations[id]?.insideGlobal : translations[id]?.insideLocal }
        var found: (id: UInt64, rewritten: Endpoint)?
        if d.packet.proto != .any, let id = index[FlowKey(d.packet.proto, endpoint)], let target = other(id) {
            found = (id, target)
        } else if let id = index[FlowKey(.any, Endpoint(endpoint.address))], let target = other(id) {
            found = (id, Endpoint(target.address, endpoint.port))
        }
        guard let found, let t = translations[found.id] else { return false }
        d.note("translation found: \(describe(t))")
        if side == .inside { d.packet.source = found.rewritten } else { d.packet.destination = found.rewritten }
        d.outcome = .translated
        d.translationID = found.id
        if commit { use(found.id, now: now, flags: d.packet.flags, fromOutside: side == .outside) }
        return true
    }

    /// A packet of translation `id` (handled on the CPU, or a TCP control packet the HAL copied
    /// to it): the translation stays alive and follows the TCP handshake.
    public mutating func use(_ id: UInt64, now: Instant, flags: TCPFlags, fromOutside: Bool) {
        guard var t = translations[id] else { return }
        t.lastUsed = now
        t.softwarePackets += 1
        counters.hits += 1
        if t.proto == .tcp && t.isExtended && !t.isStatic {
            if flags.contains(.fin) || flags.contains(.rst) {
                t.tcpState = .closing
            } else if fromOutside && t.tcpState == .syn {
                t.tcpState = .established
            }
        }
        translations[id] = t
    }

    /// The HAL's hit bits (cookie -> counters of that entry): what was used since the last poll
    /// stays alive; traffic from outside completes a TCP handshake.
    public mutating func recordHits(_ hits: [UInt64: (packets: UInt64, bytes: UInt64)], now: Instant) {
        for (cookie, counts) in hits {
            let id = cookie >> 1
            // In place: no copy of the translation out of the table and back.
            guard let index = translations.index(forKey: id) else { continue }
            translations.values[index].lastUsed = now
            if cookie & 1 == 0 {
                translations.values[index].hardwarePacketsIn = counts.packets
                translations.values[index].hardwareBytesIn = counts.bytes
            } else {
                translations.values[index].hardwarePacketsOut = counts.packets
                translations.values[index].hardwareBytesOut = counts.bytes
                if translations.values[index].tcpState == .syn { translations.values[index].tcpState = .established }
            }
        }
    }

    /// Packets the HAL translated by itself (for the Hits counter).
    public mutating func countHardwareHits(_ n: UInt64) { counters.hits += n }

    // MARK: Timeouts

    /// How long a translation may stay idle (seconds), or nil for never.
    public func timeout(of t: Translation) -> Int? {
        if t.isStatic { return nil }
        let timeouts = config.timeouts
        switch t.kind {
        case .dynamicSimple:
            return timeouts[.timeout]
        default:
            switch t.proto {
            case .udp:
                return t.outsideGlobal?.port == 53 ? timeouts[.dnsTimeout] : timeouts[.udpTimeout]
            case .tcp:
                switch t.tcpState {
                case .syn: return timeouts[.synTimeout]
                case .closing: return timeouts[.finrstTimeout]
                default: return timeouts[.tcpTimeout]
                }
            case .icmp:
                return timeouts[.icmpTimeout]
            case .any:
                return timeouts[.timeout]
            }
        }
    }

    /// When `t` expires, or nil for never.
    public func expiry(of t: Translation) -> Instant? {
        guard let seconds = timeout(of: t) else { return nil }
        return t.lastUsed.adding(seconds: seconds)
    }

    /// How long before `t` expires (zero: it has), or nil for never.
    public func remaining(_ t: Translation, now: Instant) -> Duration? {
        expiry(of: t).map { $0.duration(since: now) }
    }

    /// Removes the dynamic translations idle for longer than their timeout.
    public mutating func expire(now: Instant) -> (changes: HardwareChanges, expired: Int) {
        var changes = HardwareChanges()
        var ids: [UInt64] = []
        for t in translations.values where !t.isStatic {
            if let expiry = expiry(of: t), expiry <= now { ids.append(t.id) }
        }
        for id in ids { changes.merge(remove(id)) }
        counters.expired += UInt64(ids.count)
        return (changes, ids.count)
    }

    // MARK: Clearing

    /// Removes the dynamic translations `predicate` picks (static ones are configuration).
    public mutating func clear(where predicate: (Translation) -> Bool) -> (changes: HardwareChanges, count: Int) {
        let ids = translations.values.filter { !$0.isStatic && predicate($0) }.map(\.id)
        var changes = HardwareChanges()
        for id in ids { changes.merge(remove(id)) }
        counters.cleared += UInt64(ids.count)
        return (changes, ids.count)
    }

    /// Undoes the creation of a translation whose HAL entries could not be installed.
    /// The HAL gave the slot of a dynamic translation's entry to a static mapping's reservation
    /// (and dropped both its entries): the translation goes; returns its entries to remove
    /// (already gone from the HAL, unless a new one took a key since).
    public mutating func displaced(_ id: UInt64) -> HardwareChanges {
        guard let t = translations[id], !t.isStatic else { return HardwareChanges() }
        counters.drops[.displacedByStatic, default: 0] += 1
        return remove(id)
    }

    public mutating func abandon(_ id: UInt64, reason: DropReason) {
        _ = remove(id)
        counters.misses -= min(counters.misses, 1)
        counters.drops[reason, default: 0] += 1
    }

    public mutating func clearCounters() {
        let peak = translations.count
        counters = NATCounters()
        counters.peak = peak
    }

    // MARK: Pools

    public struct PoolUsage: Equatable, Sendable {
        public var total: Int
        /// Addresses with at least one translation.
        public var allocated: Int
        /// Ports in use (overload).
        public var ports: Int
        public var misses: UInt64
    }

    public func usage(ofPool name: String) -> PoolUsage? {
        guard let pool = config.pools[name] else { return nil }
        var addresses = Set<IPv4Address>()
        for (address, _) in addressOwner where pool.contains(address) { addresses.insert(address) }
        var portCount = 0
        for (key, space) in ports where pool.contains(key.address) {
            addresses.insert(key.address)
            portCount += space.used
        }
        return PoolUsage(total: pool.size, allocated: addresses.count, ports: portCount, misses: counters.poolMisses[name] ?? 0)
    }

    /// `10.0.0.5:1025 -> 203.0.113.10:1025 (dynamic, extended, rule 1)`.
    public func describe(_ t: Translation) -> String {
        let protoText = t.isExtended ? "\(t.proto) " : ""
        switch t.direction {
        case .inside:
            return "\(protoText)\(t.insideLocal.map(\.description) ?? "---") <-> \(t.insideGlobal.map(\.description) ?? "---") (\(t.kind.rawValue)"
                + (t.rule.map { ", list \($0)" } ?? "") + ")"
        case .outside:
            return "outside \(t.outsideGlobal.map(\.description) ?? "---") <-> \(t.outsideLocal.map(\.description) ?? "---") (\(t.kind.rawValue))"
        }
    }
}

/// What a configuration change touched, as far as the engine is concerned.
public struct NATChange: Equatable, Sendable {
    public var rules: Set<Int> = []
    public var pools: Set<String> = []
    public var accessLists: Set<Int> = []
    public var statics: Set<StaticMapping.Identity> = []
    /// Interfaces whose NAT role or addresses changed.
    public var interfaces: Set<InterfaceID> = []
    /// VRIDs whose holders (or the roles of their holders) changed: the mappings that follow
    /// them are resolved again.
    public var vrids: Set<VRID> = []
    /// Timeouts or max-entries (read when used; nothing to redo).
    public var limits = false

    public init() {}

    public var isEmpty: Bool {
        rules.isEmpty && pools.isEmpty && accessLists.isEmpty && statics.isEmpty && interfaces.isEmpty && vrids.isEmpty && !limits
    }

    public mutating func formUnion(_ other: NATChange) {
        rules.formUnion(other.rules)
        pools.formUnion(other.pools)
        accessLists.formUnion(other.accessLists)
        statics.formUnion(other.statics)
        interfaces.formUnion(other.interfaces)
        vrids.formUnion(other.vrids)
        limits = limits || other.limits
    }
}
