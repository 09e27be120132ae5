import CLinux
import NetTypes

/// The NAT table as a chip holds it, hashed like the L2 table: `banks` banks of buckets, each
/// bank with its own hash (CRC-32C with a per-bank seed of the key times a per-bank odd
/// constant), `entriesPerBucket` entries per bucket. Allocated once, at the chip profile's
/// capacity: nothing is ever rehashed or grown. A key may live in one bucket per bank; an add
/// whose buckets are all full is FULL (a collision, counted), even with room elsewhere.
///
/// A static mapping's entries have their slots **reserved** when it is configured (`reserve`), as
/// a chip's SDK sets aside static entries: a reservation holds a slot under its key, matching
/// nothing until the entry itself is added there, and going back to holding the slot when the
/// entry is deleted. So a mapping the table cannot hold is refused when it is configured, and
/// one that is inactive (a VRRP Backup's) always finds its slot when it becomes active. A
/// reservation that finds its buckets full takes the slot of a dynamic entry, whose
/// translation (both of its entries) is evicted and reported (`takeEvicted`).
///
/// A plain data structure: no locks, no threads. Whoever calls it holds `nat.table` (see
/// `Switch+NAT`); long operations come in slices (`addSlice`, the walks from a slot), so that
/// the lock is released between them.
public final class NATTable: @unchecked Sendable {
    public let banks: Int
    public let bucketsPerBank: Int
    public let entriesPerBucket: Int
    public let capacity: Int
    /// Slots reservations may hold, at most: 15/16 of the table, as a chip sets a part of a
    /// hashed table aside for static entries. Below it, insertion with moves finds room for any
    /// set of keys in any order (what makes a saved configuration load back; a completely full
    /// hashed table has no such guarantee), and dynamic translations keep room of their own.
    public let staticLimit: Int
    /// The banks' hashing, the same as the L2 table's (BankHash).
    private let hashing: BankHash
    /// The key of each slot, with bit 63 set for an entry, bit 62 for a reservation holding the
    /// slot without an entry (0: empty).
    private let keys: UnsafeMutablePointer<UInt64>
    private let slots: UnsafeMutablePointer<Slot>
    /// Entries (matching packets), of them static, reservations (with or without their entry)
    /// and reservations without their entry (slots held, matching nothing).
    public private(set) var count = 0
    public private(set) var staticCount = 0
    public private(set) var reservedCount = 0
    public private(set) var idleReservations = 0
    /// Slots taken: by entries and by reservations waiting for theirs.
    public var used: Int { count + idleReservations }
    /// The cookies of the dynamic entries reservations evicted, until `takeEvicted`.
    private var evicted: [UInt64] = []
    /// Fill, API activity and the data path's lookups.
    public var counters: NATCounters {
        var all = apiCounters
        all.entries = count
        all.reserved = reservedCount
        all.idleReserved = idleReservations
        all.lookups = lookupCounters[0]
        all.hits = lookupCounters[1]
        all.misses = lookupCounters[2]
        return all
    }
    private var apiCounters = NATCounters()
    /// Entries per zone, type and kind (NAPT or basic): a lookup skips the probes of a kind
    /// with no entries (a PAT table has no basic entries, the inside zone no DNAT ones), as a
    /// chip's separate tables per type would.
    private let kinds: UnsafeMutablePointer<Int>
    /// The data path's counters (lookups, hits, misses), out of `counters` so that a lookup
    /// pays no exclusivity check for them.
    private let lookupCounters: UnsafeMutablePointer<UInt64>

    @inline(__always)
    private static func kind(_ raw: UInt64) -> Int {
        // type (bit 57), zone (bit 56), basic (protocol any: the low byte 0).
        Int(raw >> 56 & 3) << 1 | (raw & 0xff == 0 ? 1 : 0)
    }

    @inline(__always)
    private func hasKind(zone: NATZone, type: NATType, basic: Bool) -> Bool {
        kinds[Int(type.rawValue) << 2 | Int(zone.rawValue) << 1 | (basic ? 1 : 0)] != 0
    }

    /// What a slot holds besides its key: 32 bytes.
    struct Slot {
        var translatedAddress: UInt32 = 0
        var translatedPort: UInt16 = 0
        /// `staticFlag`, `reservedFlag`.
        var flags: UInt8 = 0
        var hit = false
        var cookie: UInt64 = 0
        var packets: UInt64 = 0
        var bytes: UInt64 = 0

        static let staticFlag: UInt8 = 1
        static let reservedFlag: UInt8 = 2

        var isStatic: Bool {
            get { flags & Slot.staticFlag != 0 }
            set { flags = newValue ? flags | Slot.staticFlag : flags & ~Slot.staticFlag }
        }

        var isReserved: Bool {
            get { flags & Slot.reservedFlag != 0 }
            set { flags = newValue ? flags | Slot.reservedFlag : flags & ~Slot.reservedFlag }
        }

        init() {}

        init(translatedAddress: UInt32, translatedPort: UInt16, isStatic: Bool, reserved: Bool, cookie: UInt64) {
            self.translatedAddress = translatedAddress
            self.translatedPort = translatedPort
            self.flags = (isStatic ? Slot.staticFlag : 0) | (reserved ? Slot.reservedFlag : 0)
            self.cookie = cookie
        }

        /// A reservation without its entry.
        static var idle: Slot {
            var slot = Slot()
            slot.isReserved = true
            return slot
        }
    }

    @inline(__always) private static var occupied: UInt64 { 1 << 63 }
    @inline(__always) private static var held: UInt64 { 1 << 62 }

    public init(banks: Int, bucketsPerBank: Int, entriesPerBucket: Int) {
        self.banks = banks
        self.bucketsPerBank = bucketsPerBank
        self.entriesPerBucket = entriesPerBucket
        hashing = BankHash(banks: banks, bucketsPerBank: bucketsPerBank, entriesPerBucket: entriesPerBucket, seed: 0x85EB_CA6B)
        capacity = hashing.capacity
        staticLimit = capacity / 16 * 15
        keys = UnsafeMutableRawPointer.allocate(byteCount: capacity * 8, alignment: 64).bindMemory(to: UInt64.self, capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(), count: capacity)
        apiCounters.capacity = capacity
        kinds = .allocate(capacity: 8)
        kinds.initialize(repeating: 0, count: 8)
        lookupCounters = .allocate(capacity: 3)
        lookupCounters.initialize(repeating: 0, count: 3)
    }

    /// The geometry of a chip's NAT table: 4 banks of 8-entry buckets, a bucket's keys one
    /// 64-byte cache line (a lookup asks for its four lines at once); 2 banks of 4 entries for
    /// the smallest.
    public convenience init(capacity: Int) {
        let (banks, entries) = capacity >= 1024 ? (4, 8) : (2, 4)
        var buckets = 1
        while buckets * banks * entries < capacity { buckets <<= 1 }
        self.init(banks: banks, bucketsPerBank: buckets, entriesPerBucket: entries)
    }

    deinit {
        hashing.deallocate()
        keys.deallocate()
        slots.deallocate()
        kinds.deallocate()
        lookupCounters.deallocate()
    }

    public var bytesPerEntry: Int { MemoryLayout<UInt64>.stride + MemoryLayout<Slot>.stride }

    // MARK: Finding


    /// The slot holding `key`, or nil.
    @inline(__always)
    func find(_ key: NATKey) -> Int? {
        let stored = key.raw | NATTable.occupied
        hashing.hash(stored)
        // Every bank's line requested at once: their cache misses overlap.
        hashing.prefetch(keys)
        for bank in 0..<banks {
            let first = hashing.firstSlot(bank)
            for slot in first..<(first &+ entriesPerBucket) where keys[slot] == stored { return slot }
        }
        return nil
    }

    /// The slot of `key`'s entry, or else of its reservation without an entry (one hashing for
    /// both).
    @inline(__always)
    private func locate(_ key: NATKey) -> (entry: Int?, idle: Int?) {
        let stored = key.raw | NATTable.occupied
        let idle = key.raw | NATTable.held
        hashing.hash(stored)
        var idleSlot: Int?
        for bank in 0..<banks {
            let first = hashing.firstSlot(bank)
            for slot in first..<(first &+ entriesPerBucket) {
                if keys[slot] == stored { return (slot, nil) }
                if keys[slot] == idle { idleSlot = slot }
            }
        }
        return (nil, idleSlot)
    }

    /// A free slot for `key` (whose hashes `find` just computed): in the candidate bucket with
    /// the most free entries. Nil when every candidate bucket is full.
    @inline(__always)
    private func freeSlot() -> Int? {
        var best = -1, bestFree = 0
        for bank in 0..<banks {
            let first = hashing.firstSlot(bank)
            var free = 0, firstFree = -1
            for slot in first..<(first &+ entriesPerBucket) where keys[slot] == 0 {
                free += 1
                if firstFree < 0 { firstFree = slot }
            }
            if free > bestFree {
                bestFree = free
                best = firstFree
            }
        }
        return best >= 0 ? best : nil
    }

    /// A slot of the candidate buckets (hashes just computed) holding a dynamic entry, un-hit
    /// first: what a reservation may take.
    private func evictionCandidate() -> Int? {
        var hitCandidate: Int?
        for bank in 0..<banks {
            let first = hashing.firstSlot(bank)
            for slot in first..<(first &+ entriesPerBucket) where keys[slot] & NATTable.occupied != 0 && slots[slot].flags == 0 {
                if !slots[slot].hit { return slot }
                if hitCandidate == nil { hitCandidate = slot }
            }
        }
        return hitCandidate
    }

    func entry(at slot: Int) -> NATEntry {
        let s = slots[slot]
        let key = NATKey(raw: keys[slot] & ~NATTable.occupied)
        return NATEntry(
            key: key, translatedAddress: IPv4Address(s.translatedAddress), translatedPort: s.translatedPort, isStatic: s.isStatic,
            cookie: s.cookie, hit: s.hit, packets: s.packets, bytes: s.bytes)
    }

    public func get(_ key: NATKey) -> NATEntry? { find(key).map(entry(at:)) }

    // MARK: Adding and deleting

    /// Why an add is refused, found before anything (that stays) changes.
    public enum AddRefusal: Error, Sendable {
        /// `existing` is in the table, or earlier in the same batch (`inBatch`).
        case conflict(existing: NATEntry, new: NATEntry, inBatch: Bool)
        /// Every bucket `entry`'s key hashes to is full (`used` entries in the table).
        case full(entry: NATEntry, used: Int)
    }

    /// How to take back what an add did: the keys it added, and the entries it re-added (same
    /// translation) with their old cookie and static flag. By key, not slot: a later add may
    /// have moved an entry to another of its buckets to make room.
    public struct Undo: Sendable {
        var filled: [NATKey] = []
        var replaced: [(key: NATKey, cookie: UInt64, isStatic: Bool)] = []
        public var isEmpty: Bool { filled.isEmpty && replaced.isEmpty }
        public init() {}
        /// Room for an add of `entries` entries, made before the lock is taken.
        public init(reserving entries: Int) { filled.reserveCapacity(entries) }
    }

    /// Adds `batch` (one slice of a bulk add): each entry new, or present with the same
    /// translation (its cookie and static flag replaced, hit bit and counters kept); a
    /// conflict or a full bucket takes back this slice's changes and refuses. `undo` collects
    /// what to take back if a later slice is refused.
    public func addSlice(_ batch: ArraySlice<NATEntry>, undo: inout Undo) -> AddRefusal? {
        var mine = Undo()
        mine.filled.reserveCapacity(batch.count)
        for entry in batch {
            let (found, idle) = locate(entry.key)
            if let slot = found {
                let existing = slots[slot]
                guard existing.translatedAddress == entry.translatedAddress.value, existing.translatedPort == entry.translatedPort else {
                    let refusal = AddRefusal.conflict(existing: self.entry(at: slot), new: entry, inBatch: mine.filled.contains(entry.key))
                    takeBack(&mine)
                    return refusal
                }
                if !mine.filled.contains(entry.key) { mine.replaced.append((entry.key, existing.cookie, existing.isStatic)) }
                if existing.isStatic != entry.isStatic { staticCount += entry.isStatic ? 1 : -1 }
                slots[slot].cookie = entry.cookie
                slots[slot].isStatic = entry.isStatic
                continue
            }
            // Its reservation's slot, else a free one, else one made by moving others.
            // A dynamic entry searches only a little (a new flow must stay cheap, and a table
            // full of static entries must not make every flow search it through).
            guard let slot = idle ?? freeSlot() ?? relocated(budget: entry.isStatic ? BankHash.relocationBudget : NATTable.dynamicRelocationBudget)
            else {
                apiCounters.fullErrors &+= 1
                let refusal = AddRefusal.full(entry: entry, used: used)
                takeBack(&mine)
                return refusal
            }
            if idle != nil { idleReservations -= 1 }
            keys[slot] = entry.key.raw | NATTable.occupied
            kinds[NATTable.kind(entry.key.raw)] += 1
            slots[slot] = Slot(
                translatedAddress: entry.translatedAddress.value, translatedPort: entry.translatedPort, isStatic: entry.isStatic,
                reserved: idle != nil, cookie: entry.cookie)
            count += 1
            if entry.isStatic { staticCount += 1 }
            mine.filled.append(entry.key)
        }
        apiCounters.adds &+= UInt64(mine.filled.count)
        apiCounters.entries = count
        undo.filled += mine.filled
        undo.replaced += mine.replaced
        return nil
    }

    /// Takes back what an add did (what `addSlice` collected), latest first: all of it, or at
    /// most `limit` changes, the rest left in `undo` for the next hold of the lock.
    public func takeBack(_ undo: inout Undo, atMost limit: Int = .max) {
        var done = 0
        while done < limit, let (key, cookie, isStatic) = undo.replaced.popLast() {
            done += 1
            guard let slot = find(key) else { continue }
            if slots[slot].isStatic != isStatic { staticCount += isStatic ? 1 : -1 }
            slots[slot].cookie = cookie
            slots[slot].isStatic = isStatic
        }
        while done < limit, let key = undo.filled.popLast() {
            done += 1
            if let slot = find(key) { clear(slot) }
        }
        apiCounters.entries = count
    }

    /// Buckets a dynamic entry's search for room looks at, at most.
    static let dynamicRelocationBudget = 16

    /// A slot of the candidate buckets of the key last hashed, made free by moving keys to
    /// their other buckets (`BankHash.relocationPath`); nil when the search finds no room.
    /// Entries and reservations move alike, with everything their slot holds.
    private func relocated(budget: Int = BankHash.relocationBudget) -> Int? {
        let path = hashing.relocationPath(
            budget: budget,
            hashInput: { [keys] slot in keys[slot] & ~NATTable.held | NATTable.occupied },
            isFree: { [keys] slot in keys[slot] == 0 })
        guard let path else { return nil }
        for index in stride(from: path.count - 2, through: 0, by: -1) {
            let (from, to) = (path[index], path[index + 1])
            keys[to] = keys[from]
            slots[to] = slots[from]
            keys[from] = 0
            slots[from] = Slot()
        }
        apiCounters.moves &+= UInt64(path.count - 1)
        return path[0]
    }

    /// Removes a slot's entry; a reserved slot goes back to holding its key.
    @inline(__always)
    private func clear(_ slot: Int) {
        if slots[slot].isStatic { staticCount -= 1 }
        kinds[NATTable.kind(keys[slot])] -= 1
        count -= 1
        if slots[slot].isReserved {
            keys[slot] = keys[slot] & ~NATTable.occupied | NATTable.held
            slots[slot] = .idle
            idleReservations += 1
        } else {
            keys[slot] = 0
            slots[slot] = Slot()
        }
    }

    // MARK: Reservations

    /// Reserves a slot for each key (all or none: a refusal takes back this call's). A key
    /// already reserved is left as it is; one whose entry is present has that slot reserved.
    /// With every candidate bucket full, a dynamic entry's slot is taken (its translation is
    /// evicted); with no dynamic entry there either, the key is refused. `made` collects the
    /// keys whose reservation this call made (what `takeBack(reservations:)` gives up).
    public func reserve(_ batch: ArraySlice<NATKey>, made: inout [NATKey]) -> ReserveRefusal? {
        let before = made.count
        // A refusal takes back this batch's reservations: the batch is all or nothing.
        func refuse(_ refusal: ReserveRefusal) -> ReserveRefusal {
            apiCounters.fullErrors &+= 1
            var mine = Array(made[before...])
            made.removeSubrange(before...)
            takeBack(reservations: &mine)
            return refusal
        }
        for key in batch {
            let (found, idle) = locate(key)
            if idle != nil { continue }
            if let slot = found {
                guard !slots[slot].isReserved else { continue }
                slots[slot].isReserved = true
                reservedCount += 1
                made.append(key)
                continue
            }
            guard reservedCount < staticLimit else { return refuse(.limit(key)) }
            var slot = freeSlot() ?? relocated()
            if slot == nil {
                // The search for room hashed other keys: the key's own buckets again.
                _ = locate(key)
                if let victim = evictionCandidate() {
                    evict(victim)
                    slot = victim
                }
            }
            guard let slot else { return refuse(.buckets(key)) }
            keys[slot] = key.raw | NATTable.held
            slots[slot] = .idle
            reservedCount += 1
            idleReservations += 1
            made.append(key)
        }
        return nil
    }

    /// Why a reservation was refused.
    public enum ReserveRefusal: Sendable {
        /// `staticLimit` slots are reserved already.
        case limit(NATKey)
        /// Every bucket the key hashes to holds static entries and reservations, and no move
        /// makes room (only near the limit).
        case buckets(NATKey)
    }

    /// The SDK's error for a refused reservation, in words (the table as it is now).
    public func error(_ refusal: ReserveRefusal) -> HALError {
        switch refusal {
        case .limit(let key):
            return .full(
                "NAT table full for \(key): \(reservedCount) entries are reserved for static mappings, as many as this chip sets "
                    + "aside for them (15/16 of \(capacity); \(used) in use)")
        case .buckets(let key):
            return .full(
                "NAT table full for \(key): every bucket it hashes to holds static entries or reservations "
                    + "(\(used) of \(capacity) entries in use, \(reservedCount) reserved)")
        }
    }

    /// Gives up reservations `reserve` made (latest first), those still held.
    public func takeBack(reservations made: inout [NATKey]) {
        while let key = made.popLast() {
            let (found, idle) = locate(key)
            if let slot = found ?? idle, slots[slot].isReserved { release(slot) }
        }
    }

    /// Gives up the reservations of `keys`: an entry present stays as an ordinary entry.
    /// Returns how many were given up.
    public func unreserve(_ batch: ArraySlice<NATKey>) -> Int {
        var released = 0
        for key in batch {
            let (found, idle) = locate(key)
            guard let slot = found ?? idle, slots[slot].isReserved else { continue }
            release(slot)
            released += 1
        }
        return released
    }

    /// Whether each key has its slot reserved.
    public func reserved(_ batch: ArraySlice<NATKey>, into out: inout Set<NATKey>) {
        for key in batch {
            let (found, idle) = locate(key)
            if let slot = found ?? idle, slots[slot].isReserved { out.insert(key) }
        }
    }

    /// Ends a slot's reservation.
    private func release(_ slot: Int) {
        reservedCount -= 1
        if keys[slot] & NATTable.occupied != 0 {
            slots[slot].isReserved = false
        } else {
            keys[slot] = 0
            slots[slot] = Slot()
            idleReservations -= 1
        }
    }

    /// Evicts a dynamic entry and the other entry of its translation (the reverse direction:
    /// the translated side, whose cookie differs at most in its lowest bit: the control plane
    /// numbers a translation's entries 2n and 2n+1), remembering the cookie.
    private func evict(_ slot: Int) {
        let victim = entry(at: slot)
        clear(slot)
        evicted.append(victim.cookie)
        apiCounters.evictions &+= 1
        let key = victim.key
        let partner = NATKey(
            zone: key.zone == .inside ? .outside : .inside, type: key.type == .source ? .destination : .source, proto: key.proto,
            address: victim.translatedAddress, port: key.isBasic ? 0 : (victim.translatedPort != 0 ? victim.translatedPort : key.port))
        if let other = find(partner), slots[other].flags == 0, slots[other].cookie >> 1 == victim.cookie >> 1 { clear(other) }
    }

    /// The cookies of the dynamic entries evicted since the last call.
    public func takeEvicted() -> [UInt64] {
        defer { evicted = [] }
        return evicted
    }

    /// Deletes the keys present; returns how many.
    public func delete(_ keys: ArraySlice<NATKey>) -> Int {
        var removed = 0
        for key in keys {
            guard let slot = find(key) else { continue }
            clear(slot)
            removed += 1
        }
        apiCounters.deletes &+= UInt64(removed)
        apiCounters.entries = count
        return removed
    }

    // MARK: Walking, a slice at a time

    /// Visits the slots of `range` (a slice of `0..<capacity`) that hold an entry.
    @inline(__always)
    private func occupiedSlots(_ range: Range<Int>, _ body: (Int) -> Void) {
        for slot in range where keys[slot] & NATTable.occupied != 0 { body(slot) }
    }

    /// Deletes the entries of `range` whose cookie is in `cookies` (nil: every cookie), static
    /// ones only when `includeStatic`; returns how many.
    public func deleteAll(in range: Range<Int>, cookies: Set<UInt64>?, includeStatic: Bool) -> Int {
        var removed = 0
        occupiedSlots(range) { slot in
            guard includeStatic || !slots[slot].isStatic else { return }
            if let cookies, !cookies.contains(slots[slot].cookie) { return }
            clear(slot)
            removed += 1
        }
        apiCounters.deletes &+= UInt64(removed)
        apiCounters.entries = count
        return removed
    }

    /// Appends a copy of every entry of `range`.
    public func snapshot(_ range: Range<Int>, into out: inout [NATEntry]) {
        occupiedSlots(range) { out.append(entry(at: $0)) }
    }

    /// The hit-bit poll's first half for `range`: the cookies of the entries whose hit bit is
    /// set; those bits are cleared (clear-on-read).
    public func collectHitCookies(_ range: Range<Int>, into cookies: inout Set<UInt64>) {
        occupiedSlots(range) { slot in
            guard slots[slot].hit else { return }
            slots[slot].hit = false
            cookies.insert(slots[slot].cookie)
        }
    }

    /// Its second half: the cumulative packets and bytes of every entry of `range` whose cookie
    /// was hit, added per cookie (so a translation's totals never go down between polls).
    public func sumCounters(_ range: Range<Int>, of cookies: Set<UInt64>, into totals: inout [UInt64: (packets: UInt64, bytes: UInt64)]) {
        occupiedSlots(range) { slot in
            let s = slots[slot]
            guard cookies.contains(s.cookie) else { return }
            let sum = totals[s.cookie] ?? (0, 0)
            totals[s.cookie] = (sum.packets &+ s.packets, sum.bytes &+ s.bytes)
        }
    }

    // MARK: The data path

    /// Looks the packet up as received (SNAT on its source, DNAT on its destination; for each
    /// the NAPT key first, then the basic key), applies the matches' rewrites, sets their hit
    /// bits and counts the packet.
    public func translate(_ packet: NATPacket, zone: NATZone, bytes: UInt64) -> NATLookupResult {
        let source = lookup(zone: zone, type: .source, proto: packet.proto, address: packet.source, port: packet.sourcePort)
        let destination = lookup(zone: zone, type: .destination, proto: packet.proto, address: packet.destination, port: packet.destinationPort)
        lookupCounters[0] &+= 1
        guard source != nil || destination != nil else {
            lookupCounters[2] &+= 1
            return NATLookupResult(packet: packet)
        }
        lookupCounters[1] &+= 1
        return apply(packet, source: source, destination: destination, bytes: bytes)
    }

    /// The data path's lookup (l2x): like `translate`, but a packet no entry matches changes
    /// nothing and is not counted (it goes to the CPU, whose lookup counts it).
    public func translateIfHit(_ packet: NATPacket, zone: NATZone, bytes: UInt64) -> NATLookupResult? {
        let source = lookup(zone: zone, type: .source, proto: packet.proto, address: packet.source, port: packet.sourcePort)
        let destination = lookup(zone: zone, type: .destination, proto: packet.proto, address: packet.destination, port: packet.destinationPort)
        guard source != nil || destination != nil else { return nil }
        lookupCounters[0] &+= 1
        lookupCounters[1] &+= 1
        return apply(packet, source: source, destination: destination, bytes: bytes)
    }

    @inline(__always)
    private func apply(_ packet: NATPacket, source: Int?, destination: Int?, bytes: UInt64) -> NATLookupResult {
        var result = NATLookupResult(packet: packet)
        if let slot = source {
            result.sourceEntry = rewrite(&result.packet.source, &result.packet.sourcePort, &result.packet.destinationPort, slot, packet, bytes)
        }
        if let slot = destination {
            result.destinationEntry = rewrite(
                &result.packet.destination, &result.packet.destinationPort, &result.packet.sourcePort, slot, packet, bytes)
        }
        return result
    }

    /// One entry's rewrite: the address, the port when it translates one (an ICMP query's
    /// identifier is both "ports"), its hit bit and counters. Returns its key.
    @inline(__always)
    private func rewrite(
        _ address: inout IPv4Address, _ port: inout UInt16, _ otherPort: inout UInt16, _ slot: Int, _ packet: NATPacket, _ bytes: UInt64
    ) -> NATKey {
        hit(slot, bytes: bytes)
        let s = slots[slot]
        address = IPv4Address(s.translatedAddress)
        if s.translatedPort != 0 {
            port = s.translatedPort
            if packet.proto == .icmp { otherPort = s.translatedPort }
        }
        return NATKey(raw: keys[slot] & ~NATTable.occupied)
    }

    @inline(__always)
    private func lookup(zone: NATZone, type: NATType, proto: L4Protocol, address: IPv4Address, port: UInt16) -> Int? {
        if proto != .any, hasKind(zone: zone, type: type, basic: false),
            let slot = find(NATKey(zone: zone, type: type, proto: proto, address: address, port: port))
        {
            return slot
        }
        guard hasKind(zone: zone, type: type, basic: true) else { return nil }
        return find(.basic(zone: zone, type: type, address: address))
    }

    @inline(__always)
    private func hit(_ slot: Int, bytes: UInt64) {
        slots[slot].hit = true
        slots[slot].packets &+= 1
        slots[slot].bytes &+= bytes
    }
}
