import NetTypes
import SwitchHAL
import Time

/// The routing path's neighbour (ARP) table: which MAC, VLAN and port an IPv4 neighbour was
/// last heard at. Bounded, and filled only by what Linux would let fill it (net/ipv4/arp.c,
/// `arp_process`), so that nobody on a segment can fill it, poison it or keep out the entries
/// the router needs:
/// - a reply from an address the router asked for (`solicited`) is always recorded: if the
///   table is full, the entry heard from longest ago makes room (an attacker's entries cannot
///   keep out the next hop that packets are waiting for);
/// - an ARP request for one of the router's addresses, or a packet to route from the address
///   (`addressedToUs`), is recorded while there is room; a full table refuses it, counted;
/// - anything else (gratuitous ARP, requests for other hosts, replies nobody asked for:
///   `unsolicited`) refreshes an entry that is already there and never creates one;
/// - a recorded entry's MAC or VLAN changes at most once per `lockTime` except by a solicited
///   reply (Linux's `locktime`), so a stream of conflicting ARP cannot flap what the chip
///   routes with.
///
/// Pure: the time comes in with each call (the L3 service's clock). A full table is swept for
/// expired entries at most once per `sweepInterval`, so a flood against a full
/// table costs O(1) a frame; only a solicited reply may scan it for the entry to evict (the
/// router asks at most `L3State.maxUnresolvedHops` a second).
struct NeighborTable: Sendable {
    /// The limits, named: entries, how long an entry lives without being heard from, how long
    /// a changed entry is locked against another change, how often a full table is swept.
    static let defaultCapacity = 4096
    static let lifetime = Duration.seconds(300)
    static let lockTime = Duration.seconds(1)
    static let sweepInterval = Duration.seconds(1)

    struct Entry: Sendable, Equatable {
        var mac: MACAddress
        var vlan: UInt16
        /// The port it was last heard on: routed packets go there, not to every port of the VLAN.
        var port: PortID
        /// Last heard from (ms).
        var seen: Instant
        /// When its MAC or VLAN last changed (ms).
        var changed: Instant
    }

    /// What a frame tells about its sender.
    enum Evidence: Sendable {
        /// An ARP from an address the router is resolving.
        case solicited
        /// An ARP request for one of the router's addresses, or a packet the router routes.
        case addressedToUs
        /// Gratuitous ARP, a request for another host, a reply nobody asked for.
        case unsolicited
    }

    struct Counters: Sendable, Equatable {
        /// New entries refused because the table was full.
        var refusedFull: UInt64 = 0
        /// Entries that made room for a reply the router asked for.
        var evicted: UInt64 = 0
        /// Changes of MAC or VLAN refused within the lock time.
        var changesLocked: UInt64 = 0
        /// Unsolicited ARP from an address not in the table: not learned.
        var notLearned: UInt64 = 0
    }

    /// What `learn` did: whether the sender is in the table as heard, and the addresses whose
    /// entry went or changed MAC or VLAN (what the chip routes through them must go back to
    /// the CPU).
    struct Outcome: Sendable, Equatable {
        var recorded: Bool
        var invalidated: [IPv4Address] = []
    }

    let capacity: Int
    private(set) var entries: [IPv4Address: Entry] = [:]
    private(set) var counters = Counters()
    private var nextSweep = Instant.zero

    init(capacity: Int = NeighborTable.defaultCapacity) { self.capacity = capacity }

    var count: Int { entries.count }

    subscript(address: IPv4Address) -> Entry? { entries[address] }

    /// Records (or refreshes) `address` at `mac`/`vlan`/`port` as `evidence` allows.
    mutating func learn(_ address: IPv4Address, mac: MACAddress, vlan: UInt16, port: PortID, evidence: Evidence, now: Instant) -> Outcome {
        if var entry = entries[address] {
            let moved = entry.mac != mac || entry.vlan != vlan
            if moved {
                guard evidence == .solicited || now.duration(since: entry.changed) >= Self.lockTime else {
                    counters.changesLocked &+= 1
                    return Outcome(recorded: false)
                }
                entry.mac = mac
                entry.vlan = vlan
                entry.changed = now
            }
            entry.port = port
            entry.seen = now
            entries[address] = entry
            return Outcome(recorded: true, invalidated: moved ? [address] : [])
        }
        guard evidence != .unsolicited else {
            counters.notLearned &+= 1
            return Outcome(recorded: false)
        }
        var invalidated: [IPv4Address] = []
        if entries.count >= capacity {
            // Expired entries go first, but a full table is not walked for every frame.
            if evidence == .solicited || now >= nextSweep {
                nextSweep = now + Self.sweepInterval
                invalidated = sweep(now: now)
            }
            if entries.count >= capacity {
                guard evidence == .solicited, let oldest = entries.min(by: { $0.value.seen < $1.value.seen })?.key else {
                    counters.refusedFull &+= 1
                    return Outcome(recorded: false, invalidated: invalidated)
                }
                entries[oldest] = nil
                invalidated.append(oldest)
                counters.evicted &+= 1
            }
        }
        entries[address] = Entry(mac: mac, vlan: vlan, port: port, seen: now, changed: now)
        return Outcome(recorded: true, invalidated: invalidated)
    }

    /// Removes the entries not heard from for their lifetime; returns their addresses.
    mutating func sweep(now: Instant) -> [IPv4Address] {
        let expired = entries.compactMap { now.duration(since: $0.value.seen) >= Self.lifetime ? $0.key : nil }
        for address in expired { entries[address] = nil }
        return expired
    }

    /// Forgets every entry; returns how many there were.
    mutating func removeAll() -> Int {
        defer { entries = [:] }
        return entries.count
    }
}
