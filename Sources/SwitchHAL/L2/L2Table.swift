import CLinux
import NetTypes

/// The L2 table as the hardware holds it: banks of hash buckets, each bank with its own hash
/// (CRC-32C, with a per-bank seed, of the key times a per-bank odd constant: CRC alone is linear,
/// so seeds alone would give all banks the same collisions), a fixed number of entries per bucket.
///
/// A plain data structure: no locks, no threads, no events. Whoever calls it holds `l2.table`
/// (see `Switch`). 12 bytes per entry: the key words and the port/flags words are kept in two
/// arrays, so scans (flush, aging) stream through memory. Counters live in fixed buffers so the
/// hot paths never touch reference-counted storage.
public final class L2Table: @unchecked Sendable {
    public let banks: Int
    public let bucketsPerBank: Int
    public let entriesPerBucket: Int
    public let capacity: Int
    public let portCount: Int
    private let slotsPerBank: Int
    /// The banks' hashing (BankHash); its scratch holds a key's bucket in each bank.
    private let hashing: BankHash
    private var hashes: UnsafeMutablePointer<UInt32> { hashing.buckets }
    /// Key of each slot; 0 = empty.
    let keys: UnsafeMutablePointer<UInt64>
    /// Port (low 16 bits) and flags (high 16 bits) of each slot.
    let data: UnsafeMutablePointer<UInt32>

    public private(set) var count = 0
    public private(set) var staticCount = 0
    /// Entries per VLAN (index = VLAN id) and per port (index = port, 0 = CPU), all and dynamic.
    private let perVLAN: UnsafeMutablePointer<Int32>
    private let dynamicPerVLAN: UnsafeMutablePointer<Int32>
    private let perPort: UnsafeMutablePointer<Int32>
    private let dynamicPerPort: UnsafeMutablePointer<Int32>
    private let perBank: UnsafeMutablePointer<Int>
    /// Inserts refused because every candidate bucket was full.
    public internal(set) var fullRefusals = 0
    /// Inserts that found at least one of their candidate buckets full (hash collisions).
    public internal(set) var collisions = 0

    public init(banks: Int, bucketsPerBank: Int, entriesPerBucket: Int, portCount: Int) {
        self.banks = banks
        self.bucketsPerBank = bucketsPerBank
        self.entriesPerBucket = entriesPerBucket
        self.portCount = portCount
        hashing = BankHash(banks: banks, bucketsPerBank: bucketsPerBank, entriesPerBucket: entriesPerBucket, seed: 0x9E37_79B9)
        slotsPerBank = hashing.slotsPerBank
        capacity = hashing.capacity
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
        func counters(_ n: Int) -> UnsafeMutablePointer<Int32> {
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        perVLAN = counters(4096)
        dynamicPerVLAN = counters(4096)
        perPort = counters(portCount + 1)
        dynamicPerPort = counters(portCount + 1)
        perBank = .allocate(capacity: banks)
        perBank.initialize(repeating: 0, count: banks)
    }

    public convenience init(chip: ChipProfile) {
        self.init(banks: chip.banks, bucketsPerBank: chip.bucketsPerBank, entriesPerBucket: chip.entriesPerBucket, portCount: chip.portCount)
    }

    deinit {
        for pointer in [perVLAN, dynamicPerVLAN, perPort, dynamicPerPort] { pointer.deallocate() }
        perBank.deallocate()
        hashing.deallocate()
        keys.deallocate()
        data.deallocate()
    }

    public var bytesPerEntry: Int { MemoryLayout<UInt64>.stride + MemoryLayout<UInt32>.stride }
    public var tableBytes: Int { capacity * bytesPerEntry }

    // MARK: Hashing

    /// The bucket a key hashes to in `bank`.
    public func bucket(of key: UInt64, bank: Int) -> Int {
        hashAll(key)
        return Int(hashes[bank])
    }

    /// Fills `hashes` with the key's bucket in every bank (one call into C for all banks).
    @inline(__always)
    private func hashAll(_ key: UInt64) { hashing.hash(key) }

    @inline(__always)
    private func firstSlot(bank: Int) -> Int { hashing.firstSlot(bank) }

    // MARK: Lookup

    /// The slot holding `key`, or nil.
    @inline(__always)
    public func find(_ key: UInt64) -> Int? {
        hashAll(key)
        let keys = self.keys
        var base = 0
        if entriesPerBucket == 4 {
            // The common geometry, unrolled.
            for bank in 0..<banks {
                let first = base &+ Int(hashes[bank]) &<< 2
                if keys[first] == key { return first }
                if keys[first &+ 1] == key { return first &+ 1 }
                if keys[first &+ 2] == key { return first &+ 2 }
                if keys[first &+ 3] == key { return first &+ 3 }
                base &+= slotsPerBank
            }
            return nil
        }
        for bank in 0..<banks {
            let first = base &+ Int(hashes[bank]) &* entriesPerBucket
            for slot in first..<(first &+ entriesPerBucket) where keys[slot] == key { return slot }
            base &+= slotsPerBank
        }
        return nil
    }

    /// Where a key is, or where it would go: one hashing and one scan of its buckets serve both a
    /// lookup and the insert that follows a miss (the learning path).
    struct Probe {
        var found: Int?
        /// The first free slot of the candidate bucket with the most free slots (-1: none).
        var freeSlot = -1
        var freeBank = 0
        var sawFullBucket = false
    }

    @inline(__always)
    func probe(_ key: UInt64) -> Probe {
        hashAll(key)
        var result = Probe()
        var bestFree = 0
        for bank in 0..<banks {
            let first = firstSlot(bank: bank)
            var free = 0
            var firstFree = -1
            for slot in first..<(first &+ entriesPerBucket) {
                let k = keys[slot]
                if k == key {
                    result.found = slot
                    return result
                }
                if k == 0 {
                    free &+= 1
                    if firstFree < 0 { firstFree = slot }
                }
            }
            if free == 0 { result.sawFullBucket = true }
            if free > bestFree {
                bestFree = free
                result.freeSlot = firstFree
                result.freeBank = bank
            }
        }
        return result
    }

    public func entry(at slot: Int) -> L2Entry {
        let word = data[slot]
        let key = L2Key(raw: keys[slot])
        return L2Entry(mac: key.mac, vlan: key.vlan, port: UInt16(word & 0xffff), flags: L2Flags(rawValue: UInt16(word >> 16)))
    }

    public func get(_ key: L2Key) -> L2Entry? {
        find(key.raw).map(entry(at:))
    }

    @inline(__always)
    func port(at slot: Int) -> PortID { UInt16(truncatingIfNeeded: data[slot]) }

    @inline(__always)
    func flags(at slot: Int) -> L2Flags { L2Flags(rawValue: UInt16(truncatingIfNeeded: data[slot] >> 16)) }

    @inline(__always)
    func setFlags(_ flags: L2Flags, at slot: Int) {
        data[slot] = data[slot] & 0xffff | UInt32(flags.rawValue) << 16
    }

    // MARK: Insert

    public enum InsertResult: Equatable {
        case inserted(slot: Int)
        /// `replaceDynamic` evicted this entry to make room.
        case replaced(slot: Int, evicted: L2Entry)
        /// Every candidate bucket is full: (bank, bucket) of each.
        case full(buckets: [BucketID])
    }

    public struct BucketID: Equatable, Sendable {
        public var bank: Int
        public var bucket: Int
    }

    /// Inserts a new entry (the key must not be present). Picks the candidate bucket with the
    /// most free entries; with none free, fails, or with `replaceDynamic` evicts a dynamic
    /// entry of a candidate bucket, preferring one whose hit bits are clear.
    ///
    /// With every candidate bucket full, entries are first moved to their other buckets to make
    /// room (`BankHash.relocationPath`), as an SDK's insert with moves does, so that which
    /// static entries fit does not depend on the order they came in (a saved configuration loads
    /// back); the learning path does not search (a learning storm must stay cheap).
    public func insert(_ entry: L2Entry, replaceDynamic: Bool = false) -> InsertResult {
        let key = entry.key.raw
        let probe = probe(key)
        precondition(probe.found == nil, "insert of a key already in the table")
        if probe.freeSlot < 0, let slot = relocated() {
            collisions &+= 1
            store(key: key, port: entry.port, flags: entry.flags, at: slot)
            return .inserted(slot: slot)
        }
        // The search hashed other keys: the key's own buckets again.
        if probe.freeSlot < 0 { hashAll(key) }
        return insert(key: key, port: entry.port, flags: entry.flags, probe: probe, replaceDynamic: replaceDynamic)
    }

    public enum WriteResult: Equatable {
        /// The key was there: its port and flags are the entry's now (this was the old entry).
        case updated(old: L2Entry)
        case inserted
        /// Inserted in the place of this dynamic entry (`replaceDynamic`).
        case evicted(L2Entry)
        case full(buckets: [BucketID])
    }

    /// Writes `entry`: over the entry of its key when there is one, else inserted (see
    /// `insert`). What the SDK's `l2_addr_add` does to the table, for the HAL and for a model of
    /// it alike.
    public func write(_ entry: L2Entry, replaceDynamic: Bool = false) -> WriteResult {
        if let slot = find(entry.key.raw) {
            let old = self.entry(at: slot)
            update(slot: slot, port: entry.port, flags: entry.flags)
            return .updated(old: old)
        }
        switch insert(entry, replaceDynamic: replaceDynamic) {
        case .inserted: return .inserted
        case .replaced(_, let evicted): return .evicted(evicted)
        case .full(let buckets): return .full(buckets: buckets)
        }
    }

    /// Removes the entry of `key`; what it was, or nil if there was none.
    @discardableResult
    public func remove(_ key: L2Key) -> L2Entry? {
        find(key.raw).map { remove(at: $0) }
    }

    /// The SDK's error for an entry refused FULL, in words.
    public func fullError(_ entry: L2Entry, buckets: [BucketID]) -> HALError {
        let names = buckets.map { "bank \($0.bank) bucket \($0.bucket)" }.joined(separator: ", ")
        return .full("no room for \(entry.mac) vlan \(entry.vlan): its buckets are full (\(names)); \(capacity - count) entries free elsewhere")
    }

    /// Entries moved to another of their buckets to make room.
    public internal(set) var moves = 0

    /// A free slot in the last hashed key's buckets, made by moving entries; nil if none.
    private func relocated() -> Int? {
        guard let path = hashing.relocationPath(hashInput: { [keys] in keys[$0] }, isFree: { [keys] in keys[$0] == 0 }) else { return nil }
        for index in stride(from: path.count - 2, through: 0, by: -1) {
            let (from, to) = (path[index], path[index + 1])
            keys[to] = keys[from]
            data[to] = data[from]
            keys[from] = 0
            data[from] = 0
            perBank[from / slotsPerBank] &-= 1
            perBank[to / slotsPerBank] &+= 1
        }
        moves &+= path.count - 1
        return path[0]
    }

    /// Inserts after a probe that found no entry (the learning path).
    @inline(__always)
    func insert(key: UInt64, port: PortID, flags: L2Flags, probe: Probe, replaceDynamic: Bool = false) -> InsertResult {
        if probe.sawFullBucket { collisions &+= 1 }
        if probe.freeSlot >= 0 {
            store(key: key, port: port, flags: flags, at: probe.freeSlot)
            return .inserted(slot: probe.freeSlot)
        }
        if replaceDynamic, let victim = evictionCandidate() {
            let evicted = remove(at: victim)
            store(key: key, port: port, flags: flags, at: victim)
            return .replaced(slot: victim, evicted: evicted)
        }
        fullRefusals &+= 1
        return .full(buckets: (0..<banks).map { BucketID(bank: $0, bucket: Int(hashes[$0])) })
    }

    /// A dynamic entry of the buckets in `hashes`: un-hit first, then any.
    private func evictionCandidate() -> Int? {
        var hitCandidate: Int?
        for bank in 0..<banks {
            let first = firstSlot(bank: bank)
            for slot in first..<(first + entriesPerBucket) {
                let flags = self.flags(at: slot)
                guard !flags.contains(.static), !flags.contains(.l3) else { continue }
                if flags.intersection(.hits).isEmpty { return slot }
                if hitCandidate == nil { hitCandidate = slot }
            }
        }
        return hitCandidate
    }

    @inline(__always)
    private func store(key: UInt64, port: PortID, flags: L2Flags, at slot: Int) {
        keys[slot] = key
        data[slot] = UInt32(port) | UInt32(flags.rawValue) << 16
        account(key: key, word: data[slot], slot: slot, by: 1)
    }

    /// Changes the port and flags of an occupied slot (a move, a static update).
    public func update(slot: Int, port: PortID, flags: L2Flags) {
        let key = keys[slot]
        account(key: key, word: data[slot], slot: slot, by: -1)
        data[slot] = UInt32(port) | UInt32(flags.rawValue) << 16
        account(key: key, word: data[slot], slot: slot, by: 1)
    }

    // MARK: Delete

    /// Empties a slot; returns what it held.
    @discardableResult
    public func remove(at slot: Int) -> L2Entry {
        let old = entry(at: slot)
        clearSlot(slot)
        return old
    }

    @inline(__always)
    private func clearSlot(_ slot: Int) {
        account(key: keys[slot], word: data[slot], slot: slot, by: -1)
        keys[slot] = 0
        data[slot] = 0
    }

    /// Deletes every entry the filter matches in one pass over the table (the SDK's
    /// "replace with delete"); returns how many.
    public func removeAll(matching filter: L2Filter, collect: ((L2Entry) -> Void)? = nil) -> Int {
        if filter.mac == nil, filter.vlan == nil, filter.port == nil, filter.includeStatic, filter.includeDynamic {
            return clear(collect: collect)
        }
        var removed = 0
        for slot in 0..<capacity {
            let key = keys[slot]
            guard key != 0 else { continue }
            let word = data[slot]
            if filter.matches(key: key, port: UInt16(truncatingIfNeeded: word), flags: UInt16(truncatingIfNeeded: word >> 16)) {
                if let collect { collect(entry(at: slot)) }
                clearSlot(slot)
                removed &+= 1
            }
        }
        return removed
    }

    private func clear(collect: ((L2Entry) -> Void)?) -> Int {
        let removed = count
        if let collect {
            for slot in 0..<capacity where keys[slot] != 0 { collect(entry(at: slot)) }
        }
        keys.update(repeating: 0, count: capacity)
        data.update(repeating: 0, count: capacity)
        count = 0
        staticCount = 0
        perVLAN.update(repeating: 0, count: 4096)
        dynamicPerVLAN.update(repeating: 0, count: 4096)
        perPort.update(repeating: 0, count: portCount + 1)
        dynamicPerPort.update(repeating: 0, count: portCount + 1)
        perBank.update(repeating: 0, count: banks)
        return removed
    }

    /// Points every matching entry at `port` (the SDK's replace); returns how many.
    public func replacePort(matching filter: L2Filter, with port: PortID) -> Int {
        var moved = 0
        for slot in 0..<capacity {
            let key = keys[slot]
            guard key != 0 else { continue }
            let word = data[slot]
            if filter.matches(key: key, port: UInt16(truncatingIfNeeded: word), flags: UInt16(truncatingIfNeeded: word >> 16)) {
                update(slot: slot, port: port, flags: flags(at: slot))
                moved &+= 1
            }
        }
        return moved
    }

    // MARK: Aging

    /// One hardware aging pass: delete dynamic entries whose hit bits are clear, then clear the
    /// hit bits of the others. An idle entry is gone after at most two passes.
    public func agePass(collect: ((L2Entry) -> Void)? = nil) -> Int {
        var aged = 0
        let staticOrL3 = UInt32(L2Flags.static.rawValue | L2Flags.l3.rawValue) << 16
        let hits = UInt32(L2Flags.hits.rawValue) << 16
        for slot in 0..<capacity {
            guard keys[slot] != 0 else { continue }
            let word = data[slot]
            if word & staticOrL3 != 0 { continue }
            if word & hits == 0 {
                if let collect { collect(entry(at: slot)) }
                clearSlot(slot)
                aged &+= 1
            } else {
                data[slot] = word & ~hits
            }
        }
        return aged
    }

    // MARK: Traverse

    /// Every matching entry, in table order.
    public func entries(matching filter: L2Filter) -> [L2Entry] {
        var out: [L2Entry] = []
        if filter.vlan == nil && filter.port == nil && filter.mac == nil { out.reserveCapacity(count) }
        for slot in 0..<capacity {
            let key = keys[slot]
            guard key != 0 else { continue }
            let word = data[slot]
            if filter.matches(key: key, port: UInt16(truncatingIfNeeded: word), flags: UInt16(truncatingIfNeeded: word >> 16)) {
                out.append(entry(at: slot))
            }
        }
        return out
    }

    /// The entries of every bucket `key` hashes to (the SDK's conflict get).
    public func conflicts(of key: L2Key) -> [BucketContents] {
        hashAll(key.raw)
        return (0..<banks).map { bank in
            let first = firstSlot(bank: bank)
            let entries = (first..<(first + entriesPerBucket)).compactMap { keys[$0] == 0 ? nil : entry(at: $0) }
            return BucketContents(bank: bank, bucket: Int(hashes[bank]), capacity: entriesPerBucket, entries: entries)
        }
    }

    // MARK: Counts

    @inline(__always)
    private func account(key: UInt64, word: UInt32, slot: Int, by delta: Int) {
        let vlan = Int(key & 0xfff)
        var port = Int(word & 0xffff)
        if port > portCount { port = 0 }
        let isStatic = word & (UInt32(L2Flags.static.rawValue) << 16) != 0
        count &+= delta
        perBank[slot / slotsPerBank] &+= delta
        perVLAN[vlan] &+= Int32(truncatingIfNeeded: delta)
        perPort[port] &+= Int32(truncatingIfNeeded: delta)
        if isStatic {
            staticCount &+= delta
        } else {
            dynamicPerVLAN[vlan] &+= Int32(truncatingIfNeeded: delta)
            dynamicPerPort[port] &+= Int32(truncatingIfNeeded: delta)
        }
    }

    public var dynamicCount: Int { count - staticCount }

    public func count(vlan: UInt16) -> (dynamic: Int, static: Int) {
        let total = Int(perVLAN[Int(vlan & 0xfff)])
        let dynamic = Int(dynamicPerVLAN[Int(vlan & 0xfff)])
        return (dynamic, total - dynamic)
    }

    @inline(__always)
    public func dynamicCount(port: PortID) -> Int {
        Int(port) <= portCount ? Int(dynamicPerPort[Int(port)]) : 0
    }

    @inline(__always)
    public func dynamicCount(vlan: UInt16) -> Int { Int(dynamicPerVLAN[Int(vlan & 0xfff)]) }

    public var bankFill: [Int] { (0..<banks).map { perBank[$0] } }
}

/// One hash bucket and what it holds.
public struct BucketContents: Sendable, Equatable {
    public var bank: Int
    public var bucket: Int
    public var capacity: Int
    public var entries: [L2Entry]
}
