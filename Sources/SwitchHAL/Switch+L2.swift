import NetTypes
import Time

/// The L2 table API, with the SDK's semantics. Every call takes `l2.table` with the caller's
/// deadline, computes under the lock, and publishes events after releasing it.
extension Switch {
    /// Adds an entry, or replaces the entry with the same (MAC, VLAN). Fails with FULL when
    /// every bucket the key hashes to is full (naming them), unless `replaceDynamic` lets it
    /// evict a dynamic entry of those buckets.
    @discardableResult
    public func l2Add(_ entry: L2Entry, replaceDynamic: Bool = false, deadline: Instant) throws -> L2AddResult {
        try traced("l2_addr_add", "mac=\(entry.mac), vlan=\(entry.vlan), port=\(entry.port), flags=\(entry.flags)\(replaceDynamic ? ", replace-dynamic" : "")") {
            try checkEntry(entry)
            var events: [HALEvent] = []
            let result: L2AddResult = try locks.l2Table.withLock("l2-add", deadline: deadline) {
                switch state.table.write(entry, replaceDynamic: replaceDynamic) {
                case .updated(let old):
                    events.append(.added(entry))
                    return .replacedExisting(old)
                case .inserted:
                    events.append(.added(entry))
                    return .added
                case .evicted(let evicted):
                    events.append(.deleted(evicted, reason: .evicted))
                    events.append(.added(entry))
                    return .evicted(evicted)
                case .full(let buckets):
                    state.counters.apiAddFull &+= 1
                    throw state.table.fullError(entry, buckets: buckets)
                }
            }
            fanout.publish(events[...])
            return result
        }
    }

    /// Deletes the entry for (MAC, VLAN).
    public func l2Delete(mac: MACAddress, vlan: UInt16, deadline: Instant) throws {
        try traced("l2_addr_delete", "mac=\(mac), vlan=\(vlan)") {
            let removed: L2Entry = try locks.l2Table.withLock("l2-delete", deadline: deadline) {
                guard let removed = state.table.remove(L2Key(mac: mac, vlan: vlan)) else {
                    throw HALError.notFound("no entry for \(mac) vlan \(vlan)")
                }
                return removed
            }
            fanout.publish(.deleted(removed, reason: .api))
        }
    }

    public func l2Get(mac: MACAddress, vlan: UInt16, deadline: Instant) throws -> L2Entry {
        try traced("l2_addr_get", "mac=\(mac), vlan=\(vlan)") {
            try locks.l2Table.withLock("l2-get", deadline: deadline) {
                guard let entry = state.table.get(L2Key(mac: mac, vlan: vlan)) else {
                    throw HALError.notFound("no entry for \(mac) vlan \(vlan)")
                }
                return entry
            }
        }
    }

    /// Deletes every entry the filter matches (delete by port, VLAN, MAC, VLAN+port; dynamic
    /// only unless the filter includes static). One `flushed` event reports the count.
    @discardableResult
    public func l2Flush(_ filter: L2Filter, operation: StaticString = "l2-flush", deadline: Instant) throws -> Int {
        try traced("l2_addr_delete_by", "\(filter), op=\(operation)") {
            let count = try locks.l2Table.withLock(operation, deadline: deadline) {
                let removed = state.table.removeAll(matching: filter)
                state.counters.flushed &+= UInt64(removed)
                return removed
            }
            fanout.publish(.flushed(filter, count: count, reason: .api))
            return count
        }
    }

    /// A consistent snapshot of the matching entries: taken under the lock, returned after it is
    /// released, so no caller code ever runs under the table lock.
    public func l2Traverse(_ filter: L2Filter = .all, deadline: Instant) throws -> [L2Entry] {
        try traced("l2_traverse", "\(filter)") {
            try locks.l2Table.withLock("l2-traverse", deadline: deadline) { state.table.entries(matching: filter) }
        }
    }

    /// Points every matching entry at `port` (the SDK's replace); returns how many.
    @discardableResult
    public func l2Replace(_ filter: L2Filter, port: PortID, deadline: Instant) throws -> Int {
        try traced("l2_replace", "\(filter), port=\(port)") {
            guard port == cpuPort || ports.isValid(port) else { throw HALError.param("no port \(port) on this chip") }
            return try locks.l2Table.withLock("l2-replace", deadline: deadline) { state.table.replacePort(matching: filter, with: port) }
        }
    }

    /// The buckets (one per bank) that (MAC, VLAN) hashes to, with what they hold.
    public func l2Conflict(mac: MACAddress, vlan: UInt16, deadline: Instant) throws -> [BucketContents] {
        try traced("l2_conflict_get", "mac=\(mac), vlan=\(vlan)") {
            try locks.l2Table.withLock("l2-conflict", deadline: deadline) { state.table.conflicts(of: L2Key(mac: mac, vlan: vlan)) }
        }
    }

    /// Seconds between aging passes; 0 turns aging off.
    public func setAgeTime(_ seconds: Int, deadline: Instant) throws {
        try traced("l2_age_timer_set", "seconds=\(seconds)") {
            guard seconds >= 0 && seconds <= 1_000_000 else { throw HALError.param("age time \(seconds) out of range 0-1000000") }
            try locks.l2Table.withLock("l2-age-set", deadline: deadline) { state.ageSeconds = seconds }
            ager.ageTimeChanged()
        }
    }

    public func ageTime(deadline: Instant) throws -> Int {
        try locks.l2Table.withLock("l2-age-get", deadline: deadline) { state.ageSeconds }
    }

    /// Sets (or with nil removes) a learn limit.
    public func setLearnLimit(_ scope: LearnLimits.Scope, _ limit: Int?, deadline: Instant) throws {
        try traced("l2_learn_limit_set", "\(scope), limit=\(limit.map(String.init) ?? "none")") {
            if case .port(let port) = scope, !ports.isValid(port) { throw HALError.param("no port \(port) on this chip") }
            if case .vlan(let vlan) = scope, vlan < 1 || vlan > 4094 { throw HALError.param("VLAN \(vlan) out of range") }
            if let limit, limit < 0 { throw HALError.param("a limit cannot be negative") }
            try locks.l2Table.withLock("l2-learn-limit", deadline: deadline) { state.setLimit(scope, limit) }
        }
    }

    public func learnLimits(deadline: Instant) throws -> LearnLimits {
        try locks.l2Table.withLock("l2-learn-limits", deadline: deadline) { state.limits }
    }

    /// Entry counts (of one VLAN, or all).
    public func l2Count(vlan: UInt16? = nil, deadline: Instant) throws -> L2Count {
        try traced("l2_count", "vlan=\(vlan.map(String.init) ?? "all")") {
            try locks.l2Table.withLock("l2-count", deadline: deadline) {
                let table = state.table
                if let vlan {
                    let (dynamic, statics) = table.count(vlan: vlan)
                    return L2Count(dynamic: dynamic, static: statics, capacity: table.capacity, used: table.count)
                }
                return L2Count(dynamic: table.dynamicCount, static: table.staticCount, capacity: table.capacity, used: table.count)
            }
        }
    }

    /// Geometry, fill per bank, counters: `show hal l2 summary`.
    public func l2Summary(deadline: Instant) throws -> L2Summary {
        try locks.l2Table.withLock("l2-summary", deadline: deadline) {
            let table = state.table
            return L2Summary(
                chip: chip.name, banks: table.banks, bucketsPerBank: table.bucketsPerBank, entriesPerBucket: table.entriesPerBucket,
                capacity: table.capacity, bytesPerEntry: table.bytesPerEntry, count: table.count, staticCount: table.staticCount,
                bankFill: table.bankFill, collisions: table.collisions, fullRefusals: table.fullRefusals, counters: state.counters,
                ageSeconds: state.ageSeconds, limits: state.limits)
        }
    }

    private func checkEntry(_ entry: L2Entry) throws {
        guard entry.vlan >= 1 && entry.vlan <= 4094 else { throw HALError.param("VLAN \(entry.vlan) out of range 1-4094") }
        guard entry.port == cpuPort || ports.isValid(entry.port) else {
            throw HALError.param("no port \(entry.port) on this chip (1-\(chip.portCount))")
        }
        guard !entry.mac.isMulticast else { throw HALError.param("\(entry.mac) is a multicast address") }
    }
}

/// What `l2Add` did.
public enum L2AddResult: Equatable, Sendable {
    case added
    /// An entry for the same key was there and was overwritten.
    case replacedExisting(L2Entry)
    /// The buckets were full; this dynamic entry was evicted to make room.
    case evicted(L2Entry)
}

public struct L2Count: Equatable, Sendable {
    public var dynamic: Int
    public var `static`: Int
    public var capacity: Int
    public var used: Int
    public var total: Int { dynamic + `static` }
    public var available: Int { capacity - used }
}

public struct L2Summary: Sendable {
    public var chip: String
    public var banks: Int
    public var bucketsPerBank: Int
    public var entriesPerBucket: Int
    public var capacity: Int
    public var bytesPerEntry: Int
    public var count: Int
    public var staticCount: Int
    public var bankFill: [Int]
    public var collisions: Int
    public var fullRefusals: Int
    public var counters: L2Counters
    public var ageSeconds: Int
    public var limits: LearnLimits
}
