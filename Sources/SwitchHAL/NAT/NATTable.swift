import NetTypes

/// Everything guarded by `nat.table`: the NAT entries and their counters.
///
/// A dictionary keyed by the packed `NATKey`: add, delete, get and a packet lookup cost O(1);
/// only a snapshot, a hit collection and a delete-all walk the table. The table is not hashed
/// into buckets like the L2 table: SAI reports NAT capacity as a plain count, and FULL means
/// that count is reached.
final class NATTable {
    let capacity: Int
    private var entries: [NATKey: NATEntry] = [:]
    private(set) var staticCount = 0
    var counters = NATCounters()

    init(capacity: Int) {
        self.capacity = capacity
        counters.capacity = capacity
    }

    var count: Int { entries.count }

    /// Why a batch cannot be added, found before anything changes.
    enum AddRefusal: Error {
        /// `existing` is in the table, or earlier in the same batch (`inBatch`).
        case conflict(existing: NATEntry, new: NATEntry, inBatch: Bool)
        case full(used: Int, needed: Int)
    }

    /// Adds every entry or none. An entry whose key is present with the same translation
    /// replaces it (its cookie and static flag), keeping hit bit and counters; with another
    /// translation the batch is refused. Returns how many entries are new.
    func add(_ batch: [NATEntry]) -> Result<Int, AddRefusal> {
        // Pass 1, nothing changes: conflicts with the table and within the batch, and room.
        var newKeys: [NATKey: NATEntry] = [:]
        for entry in batch {
            if let existing = entries[entry.key] {
                guard existing.sameTranslation(as: entry) else {
                    return .failure(.conflict(existing: existing, new: entry, inBatch: false))
                }
            } else if let earlier = newKeys[entry.key] {
                guard earlier.sameTranslation(as: entry) else { return .failure(.conflict(existing: earlier, new: entry, inBatch: true)) }
            } else {
                newKeys[entry.key] = entry
            }
        }
        guard newKeys.count <= capacity - entries.count else {
            counters.fullErrors &+= 1
            return .failure(.full(used: entries.count, needed: newKeys.count))
        }
        // Pass 2: apply. A later duplicate in the batch wins, as a later call would.
        for entry in batch {
            if let index = entries.index(forKey: entry.key) {
                let old = entries.values[index]
                if old.isStatic != entry.isStatic { staticCount += entry.isStatic ? 1 : -1 }
                entries.values[index].isStatic = entry.isStatic
                entries.values[index].cookie = entry.cookie
            } else {
                var fresh = entry
                fresh.hit = false
                fresh.packets = 0
                fresh.bytes = 0
                entries[entry.key] = fresh
                if entry.isStatic { staticCount += 1 }
            }
        }
        counters.adds &+= UInt64(newKeys.count)
        counters.entries = entries.count
        return .success(newKeys.count)
    }

    /// Deletes the keys present; returns how many.
    func delete(_ keys: [NATKey]) -> Int {
        var removed = 0
        for key in keys {
            guard let entry = entries.removeValue(forKey: key) else { continue }
            if entry.isStatic { staticCount -= 1 }
            removed += 1
        }
        noteDeleted(removed)
        return removed
    }

    /// Deletes the entries of `cookies` (nil: of every cookie), static ones only when
    /// `includeStatic`.
    func deleteAll(cookies: Set<UInt64>?, includeStatic: Bool) -> Int {
        if cookies == nil && (includeStatic || staticCount == 0) {
            let removed = entries.count
            entries.removeAll(keepingCapacity: true)
            staticCount = 0
            noteDeleted(removed)
            return removed
        }
        if let cookies, cookies.isEmpty { return 0 }
        var doomed: [NATKey] = []
        for entry in entries.values where includeStatic || !entry.isStatic {
            if let cookies, !cookies.contains(entry.cookie) { continue }
            doomed.append(entry.key)
        }
        return delete(doomed)
    }

    private func noteDeleted(_ removed: Int) {
        counters.deletes &+= UInt64(removed)
        counters.entries = entries.count
    }

    func get(_ key: NATKey) -> NATEntry? { entries[key] }

    /// A copy of every entry, in no particular order (the caller sorts it outside the lock).
    func snapshot() -> [NATEntry] { Array(entries.values) }

    /// The hit-bit poll: the cookies of the entries whose hit bit is set, each with the
    /// cumulative counters of all of that cookie's entries (so a translation's totals never go
    /// down between polls, whichever of its entries saw traffic); clears those hit bits.
    func collectHits() -> [UInt64: (packets: UInt64, bytes: UInt64)] {
        var result: [UInt64: (packets: UInt64, bytes: UInt64)] = [:]
        var index = entries.startIndex
        while index != entries.endIndex {
            if entries.values[index].hit {
                entries.values[index].hit = false
                result[entries.values[index].cookie] = (0, 0)
            }
            entries.formIndex(after: &index)
        }
        guard !result.isEmpty else { return result }
        for entry in entries.values {
            guard let sum = result[entry.cookie] else { continue }
            result[entry.cookie] = (sum.packets &+ entry.packets, sum.bytes &+ entry.bytes)
        }
        return result
    }

    /// The datapath: looks the packet up as received (SNAT on its source, DNAT on its
    /// destination; for each the NAPT key first, then the basic key), then applies the matches'
    /// rewrites, sets their hit bits and counts the packet.
    func translate(_ packet: NATPacket, zone: NATZone, bytes: UInt64) -> NATLookupResult {
        var result = NATLookupResult(packet: packet)
        if let index = lookup(zone: zone, type: .source, proto: packet.proto, address: packet.source, port: packet.sourcePort) {
            let entry = hit(index, bytes: bytes)
            result.sourceEntry = entry.key
            result.packet.source = entry.translatedAddress
            if entry.translatedPort != 0 {
                result.packet.sourcePort = entry.translatedPort
                if packet.proto == .icmp { result.packet.destinationPort = entry.translatedPort }
            }
        }
        if let index = lookup(
            zone: zone, type: .destination, proto: packet.proto, address: packet.destination, port: packet.destinationPort)
        {
            let entry = hit(index, bytes: bytes)
            result.destinationEntry = entry.key
            result.packet.destination = entry.translatedAddress
            if entry.translatedPort != 0 {
                result.packet.destinationPort = entry.translatedPort
                if packet.proto == .icmp { result.packet.sourcePort = entry.translatedPort }
            }
        }
        counters.lookups &+= 1
        if result.translated { counters.hits &+= 1 } else { counters.misses &+= 1 }
        return result
    }

    /// The data path's lookup (l2x): like `translate`, but a packet no entry matches changes
    /// nothing and is not counted (it goes to the CPU, whose lookup counts it).
    func translateIfHit(_ packet: NATPacket, zone: NATZone, bytes: UInt64) -> NATLookupResult? {
        let source = lookup(zone: zone, type: .source, proto: packet.proto, address: packet.source, port: packet.sourcePort)
        let destination = lookup(zone: zone, type: .destination, proto: packet.proto, address: packet.destination, port: packet.destinationPort)
        guard source != nil || destination != nil else { return nil }
        return translate(packet, zone: zone, bytes: bytes)
    }

    @inline(__always)
    private func lookup(zone: NATZone, type: NATType, proto: L4Protocol, address: IPv4Address, port: UInt16)
        -> Dictionary<NATKey, NATEntry>.Index?
    {
        if proto != .any, let index = entries.index(forKey: NATKey(zone: zone, type: type, proto: proto, address: address, port: port)) {
            return index
        }
        return entries.index(forKey: .basic(zone: zone, type: type, address: address))
    }

    @inline(__always)
    private func hit(_ index: Dictionary<NATKey, NATEntry>.Index, bytes: UInt64) -> NATEntry {
        entries.values[index].hit = true
        entries.values[index].packets &+= 1
        entries.values[index].bytes &+= bytes
        return entries.values[index]
    }
}
