import Glibc
import NetTypes
import Time

/// The NAT table API, after SAI's NAT entries and Broadcom's ingress NAT session tables
/// (docs/hal.md, "NAT table"). Every call takes `nat.table`, and only it, with the caller's
/// deadline; nothing is called out while holding it (NAT publishes no events).
///
/// An entry rewrites one direction: SAI never installs the reverse implicitly, so a translation
/// is an SNAT entry on the inside and a DNAT entry on the outside, sharing a cookie.
extension Switch {
    /// How much one hold of `nat.table` does, at most: entries added or deleted, slots walked,
    /// packets looked up. Each stays well under a millisecond (BENCHMARKS.md, bench-nat).
    static let natAddSlice = 512
    static let natKeySlice = 2048
    static let natWalkSlice = 32_768

    /// Adds entries, all or none, in slices of `natAddSlice` (the lock is released between
    /// them; a refusal takes back the slices already applied). FULL (and
    /// `NATCounters.fullErrors` + 1) when every bucket a new key hashes to is full; EXISTS
    /// when a key is present (or repeated in `entries`) with another translation; PARAM for a
    /// malformed entry. A key present with the same translation is replaced (cookie, static
    /// flag) keeping its hit bit and counters; new entries start un-hit with zero counters.
    public func natAdd(_ entries: [NATEntry], deadline: Instant) throws {
        try traced("nat_entry_add", "count=\(entries.count)\(entries.first.map { ", first=\($0)" } ?? "")") {
            for entry in entries { try checkNATEntry(entry) }
            var undo = NATTable.Undo(reserving: entries.count)
            var refusal: NATTable.AddRefusal?
            var start = 0
            do {
                while start < entries.count, refusal == nil {
                    let slice = entries[start..<min(entries.count, start + Switch.natAddSlice)]
                    refusal = try locks.natTable.withLock("nat-add", deadline: deadline) { nat.addSlice(slice, undo: &undo) }
                    start += Switch.natAddSlice
                }
            } catch {
                // A slice could not get the lock in time: nothing of this add stays.
                takeBack(&undo)
                throw error
            }
            guard let refusal else { return }
            takeBack(&undo)
            switch refusal {
            case .full(let entry, let used):
                throw HALError.full(
                    "NAT table full for \(entry.key): every bucket it hashes to is full (\(used) of \(nat.capacity) entries in use)")
            case .conflict(let existing, let new, let inBatch):
                let old = "\(NATSwitchFormat.target(existing)) (cookie \(existing.cookie))"
                let refused = "\(NATSwitchFormat.target(new)) (cookie \(new.cookie))"
                throw HALError.exists(
                    inBatch
                        ? "NAT entry \(existing.key) given twice in one add, translating to \(old) and to \(refused)"
                        : "NAT entry \(existing.key) exists translating to \(old); refused \(refused)")
            }
        }
    }

    /// Reserves a slot for each key, all or none (docs/hal.md, "NAT table"): what a static
    /// mapping's configuration does, so that a mapping the table cannot hold is refused then,
    /// and its entries always find their slots. A dynamic entry in the way is evicted with its
    /// translation (`natTakeEvicted` reports it). FULL when every bucket a key hashes to holds
    /// only static entries and reservations; `natKeySlice` keys per hold of `nat.table`.
    public func natReserve(_ keys: [NATKey], deadline: Instant) throws {
        try traced("nat_entry_reserve", "count=\(keys.count)\(keys.first.map { ", first=\($0)" } ?? "")") {
            var made: [NATKey] = []
            var refused: NATTable.ReserveRefusal?
            do {
                refused = try inKeySlices(keys, "nat-reserve", deadline: deadline, until: { nat.reserve($0, made: &made) })
            } catch {
                // A slice could not get the lock in time: the slices before it are taken back.
                if !made.isEmpty { locks.natTable.withLock("nat-reserve-undo") { nat.takeBack(reservations: &made) } }
                throw error
            }
            guard let refused else { return }
            throw locks.natTable.withLock("nat-reserve-undo") { () -> HALError in
                nat.takeBack(reservations: &made)
                return nat.error(refused)
            }
        }
    }

    /// Gives up the reservations of `keys` (entries present stay); returns how many there were.
    @discardableResult
    public func natUnreserve(_ keys: [NATKey], deadline: Instant) throws -> Int {
        try traced("nat_entry_unreserve", "count=\(keys.count)\(keys.first.map { ", first=\($0)" } ?? "")") {
            var released = 0
            try inKeySlices(keys, "nat-unreserve", deadline: deadline) { released += nat.unreserve($0) }
            return released
        }
    }

    /// Which of `keys` have a reservation.
    public func natReservations(_ keys: [NATKey], deadline: Instant) throws -> Set<NATKey> {
        try traced("nat_entry_reserved_get", "count=\(keys.count)") {
            var out = Set<NATKey>()
            try inKeySlices(keys, "nat-reserved-get", deadline: deadline) { nat.reserved($0, into: &out) }
            return out
        }
    }

    /// Runs `body` on `keys`, `natKeySlice` of them per hold of `nat.table`.
    private func inKeySlices(
        _ keys: [NATKey], _ operation: StaticString, deadline: Instant, _ body: (ArraySlice<NATKey>) -> Void
    ) throws {
        _ = try inKeySlices(keys, operation, deadline: deadline, until: { slice -> Never? in
            body(slice)
            return nil
        })
    }

    /// Runs `body` on `keys`, `natKeySlice` of them per hold of `nat.table`, until a slice's
    /// answer is not nil; that answer.
    private func inKeySlices<Stop>(
        _ keys: [NATKey], _ operation: StaticString, deadline: Instant, until body: (ArraySlice<NATKey>) -> Stop?
    ) throws -> Stop? {
        for start in stride(from: 0, to: keys.count, by: Switch.natKeySlice) {
            let slice = keys[start..<min(keys.count, start + Switch.natKeySlice)]
            if let stop = try locks.natTable.withLock(operation, deadline: deadline, { body(slice) }) { return stop }
        }
        return nil
    }

    /// The cookies of the dynamic entries reservations evicted since the last call (each with
    /// the other entry of its translation).
    public func natTakeEvicted(deadline: Instant) throws -> [UInt64] {
        try locks.natTable.withLock("nat-evicted", deadline: deadline) { nat.takeEvicted() }
    }

    /// Takes back what an add applied, `natKeySlice` changes per hold of `nat.table`.
    private func takeBack(_ undo: inout NATTable.Undo) {
        while !undo.isEmpty {
            locks.natTable.withLock("nat-add-undo") { nat.takeBack(&undo, atMost: Switch.natKeySlice) }
        }
    }

    /// Deletes the entries of `keys` that exist, `natKeySlice` per hold; returns how many.
    /// Missing keys are ignored.
    @discardableResult
    public func natDelete(_ keys: [NATKey], deadline: Instant) throws -> Int {
        try traced("nat_entry_delete", "count=\(keys.count)\(keys.first.map { ", first=\($0)" } ?? "")") {
            var removed = 0
            try inKeySlices(keys, "nat-delete", deadline: deadline) { removed += nat.delete($0) }
            return removed
        }
    }

    /// Walks the whole table a slice of `natWalkSlice` slots per hold of `nat.table`.
    private func walkNAT(_ operation: StaticString, deadline: Instant, _ body: (Range<Int>) -> Void) throws {
        for start in stride(from: 0, to: nat.capacity, by: Switch.natWalkSlice) {
            let range = start..<min(nat.capacity, start + Switch.natWalkSlice)
            try locks.natTable.withLock(operation, deadline: deadline) { body(range) }
        }
    }

    /// Deletes every entry of `cookies` (nil: of every cookie); static entries only when
    /// `includeStatic`. Returns how many. Walks the table, a slice per hold.
    @discardableResult
    public func natDeleteAll(cookies: Set<UInt64>?, includeStatic: Bool, deadline: Instant) throws -> Int {
        try traced("nat_entry_delete_all", "cookies=\(NATSwitchFormat.cookies(cookies)), static=\(includeStatic ? "yes" : "no")") {
            if let cookies, cookies.isEmpty { return 0 }
            var removed = 0
            try walkNAT("nat-delete-all", deadline: deadline) { removed += nat.deleteAll(in: $0, cookies: cookies, includeStatic: includeStatic) }
            return removed
        }
    }

    /// The entry for `key`, with its hit bit and counters; NOT_FOUND if there is none.
    public func natGet(_ key: NATKey, deadline: Instant) throws -> NATEntry {
        try traced("nat_entry_get", "key=\(key)") {
            let entry = try locks.natTable.withLock("nat-get", deadline: deadline) { nat.get(key) }
            guard let entry else { throw HALError.notFound("no NAT entry \(key)") }
            return entry
        }
    }

    /// A copy of every entry, sorted by key: copied a slice per hold, sorted after.
    public func natEntries(deadline: Instant) throws -> [NATEntry] {
        try traced("nat_entry_traverse", "") {
            var entries: [NATEntry] = []
            try walkNAT("nat-traverse", deadline: deadline) { nat.snapshot($0, into: &entries) }
            entries.sort { $0.key < $1.key }
            return entries
        }
    }

    /// Entries in use, the table's size and how many of the used are static.
    public func natCount(deadline: Instant) throws -> (used: Int, capacity: Int, static: Int) {
        try traced("nat_count", "") {
            try locks.natTable.withLock("nat-count", deadline: deadline) { (nat.count, nat.capacity, nat.staticCount) }
        }
    }

    /// The hit-bit poll for the control plane's aging (SONiC polls every 30 s): the cookies of the
    /// entries whose hit bit is set, each with the cumulative packets and bytes of all that
    /// cookie's entries; those hit bits are cleared (clear-on-read). Two walks, a slice per hold.
    public func natCollectHits(deadline: Instant) throws -> [UInt64: (packets: UInt64, bytes: UInt64)] {
        try traced("nat_hit_collect", "") {
            var cookies = Set<UInt64>()
            try walkNAT("nat-collect-hits", deadline: deadline) { nat.collectHitCookies($0, into: &cookies) }
            var totals: [UInt64: (packets: UInt64, bytes: UInt64)] = [:]
            guard !cookies.isEmpty else { return totals }
            try walkNAT("nat-sum-hits", deadline: deadline) { nat.sumCounters($0, of: cookies, into: &totals) }
            return totals
        }
    }

    /// The datapath for one packet of `bytes` bytes entering on `zone`. Both lookups use the
    /// packet as received: SNAT on (source, source port), DNAT on (destination, destination
    /// port), each trying the NAPT key (the packet's protocol and port) before the basic key
    /// (protocol any, port 0). A match rewrites the address, and the port when its translated
    /// port is not 0, sets the entry's hit bit and adds to its counters.
    public func natTranslate(_ packet: NATPacket, zone: NATZone, bytes: Int, deadline: Instant) throws -> NATLookupResult {
        try traced("nat_translate", "zone=\(zone), \(packet), bytes=\(bytes)") {
            guard bytes >= 0 else { throw HALError.param("a packet cannot have \(bytes) bytes") }
            return try locks.natTable.withLock("nat-translate", deadline: deadline) {
                nat.translate(packet, zone: zone, bytes: UInt64(bytes))
            }
        }
    }

    /// The same for a batch (what the CPU's routing path asks): `natKeySlice` packets per hold.
    public func natTranslate(_ packets: [(packet: NATPacket, zone: NATZone, bytes: Int)], deadline: Instant) throws -> [NATLookupResult] {
        try traced("nat_translate_multi", "count=\(packets.count)") {
            var results: [NATLookupResult] = []
            results.reserveCapacity(packets.count)
            for start in stride(from: 0, to: packets.count, by: Switch.natKeySlice) {
                let slice = packets[start..<min(packets.count, start + Switch.natKeySlice)]
                try locks.natTable.withLock("nat-translate", deadline: deadline) {
                    for item in slice { results.append(nat.translate(item.packet, zone: item.zone, bytes: UInt64(max(0, item.bytes)))) }
                }
            }
            return results
        }
    }

    /// The NAT table's fill and counters.
    public func natCounters(deadline: Instant) throws -> NATCounters {
        try traced("nat_stat_get", "") {
            try locks.natTable.withLock("nat-counters", deadline: deadline) { nat.counters }
        }
    }

    private func checkNATEntry(_ entry: NATEntry) throws {
        let key = entry.key
        switch key.proto {
        case .any:
            guard key.port == 0 else { throw HALError.param("\(key): a basic (protocol any) key has port 0, not \(key.port)") }
            guard entry.translatedPort == 0 else {
                throw HALError.param("\(key): a basic (protocol any) entry cannot translate the port (\(entry.translatedPort))")
            }
        case .tcp, .udp:
            guard key.port != 0 else { throw HALError.param("\(key): a \(key.proto) key needs a port (basic NAT is protocol any)") }
        case .icmp:
            break  // identifier 0 is a valid ICMP query identifier
        }
        guard entry.translatedAddress.value != 0 else { throw HALError.param("\(key): cannot translate to 0.0.0.0") }
    }
}

/// Formatting for NAT messages and trace lines.
enum NATSwitchFormat {
    /// `203.0.113.7:61000`, or the address alone when the port is kept.
    static func target(_ entry: NATEntry) -> String {
        entry.translatedPort == 0 ? "\(entry.translatedAddress)" : "\(entry.translatedAddress):\(entry.translatedPort)"
    }

    /// `all`, `{3,7}`, or `120 cookies` for long sets.
    static func cookies(_ cookies: Set<UInt64>?) -> String {
        guard let cookies else { return "all" }
        guard cookies.count <= 8 else { return "\(cookies.count) cookies" }
        return "{" + cookies.sorted().map(String.init).joined(separator: ",") + "}"
    }
}

extension Switch {
    /// Fault injection: a thread named `nat-fault` takes nat.table and keeps it for
    /// `milliseconds` (nil: until `faults.clearStalls()`), as a wedged SDK call would.
    public func stallNATTable(milliseconds: Int?) {
        faults.stall(.nat, milliseconds: milliseconds)
        let faults = self.faults
        let lock = locks.natTable
        _ = HALThread.spawn(name: "nat-fault") { thread in
            thread.set(.stalled)
            try? lock.withLock("nat-fault-stall", deadline: SystemClock.deadline(after: .seconds(5))) {
                while faults.stalled(faults.stallNAT) { usleep(10_000) }
            }
            thread.set(.idle)
        }
    }
}
