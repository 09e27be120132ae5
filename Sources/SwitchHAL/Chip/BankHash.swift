import CLinux

/// How the chip's hashed tables (the L2 table, the NAT table) find a key's buckets, as the
/// Trident/Tomahawk families do: `banks` banks of `bucketsPerBank` buckets of
/// `entriesPerBucket` slots; each bank hashes the key with its own CRC-32C (a per-bank seed of the
/// key times a per-bank odd constant: CRC alone is linear, so seeds alone would give every bank
/// the same collisions). A key may live in one bucket per bank.
///
/// `buckets` is scratch for the last `hash`: one user at a time (whoever holds the table's lock).
struct BankHash {
    let banks: Int
    let bucketsPerBank: Int
    let entriesPerBucket: Int
    let slotsPerBank: Int
    let capacity: Int
    private let mask: UInt32
    private let seeds: UnsafeMutablePointer<UInt32>
    /// The key's bucket in each bank, after `hash`.
    let buckets: UnsafeMutablePointer<UInt32>

    /// `seed` makes the tables of one chip hash differently from each other.
    init(banks: Int, bucketsPerBank: Int, entriesPerBucket: Int, seed: UInt32) {
        precondition(bucketsPerBank > 0 && bucketsPerBank & (bucketsPerBank - 1) == 0, "buckets per bank must be a power of two")
        self.banks = banks
        self.bucketsPerBank = bucketsPerBank
        self.entriesPerBucket = entriesPerBucket
        slotsPerBank = bucketsPerBank * entriesPerBucket
        capacity = banks * slotsPerBank
        mask = UInt32(bucketsPerBank - 1)
        // Distinct odd seeds make each bank's CRC an independent hash function.
        seeds = .allocate(capacity: banks)
        for bank in 0..<banks { seeds[bank] = UInt32(truncatingIfNeeded: Int(seed) &* (bank + 1)) | 1 }
        buckets = .allocate(capacity: banks)
        buckets.initialize(repeating: 0, count: banks)
    }

    /// Frees what `init` allocated (the owning table's deinit calls it).
    func deallocate() {
        seeds.deallocate()
        buckets.deallocate()
    }

    /// Fills `buckets` with the key's bucket in every bank (one call into C for all banks).
    @inline(__always)
    func hash(_ key: UInt64) {
        clinux_bucket_hashes(key, seeds, Int32(banks), mask, buckets)
    }

    /// The first slot of the key's bucket in `bank` (after `hash`).
    @inline(__always)
    func firstSlot(_ bank: Int) -> Int {
        bank &* slotsPerBank &+ Int(buckets[bank]) &* entriesPerBucket
    }

    /// Asks the CPU for every bank's bucket of `keys` at once (after `hash`), so their cache
    /// misses overlap.
    @inline(__always)
    func prefetch(_ keys: UnsafeMutablePointer<UInt64>) {
        clinux_prefetch_buckets(keys, buckets, Int32(banks), slotsPerBank, Int32(entriesPerBucket))
    }

    /// How many buckets a search for room looks at, at most (`relocationPath`): about 0.1 ms
    /// of hashing under the table's lock in the worst case.
    static let relocationBudget = 512

    /// Room for a key whose candidate buckets (the last `hash`) are all full, made by moving
    /// keys to their other buckets, as an SDK's hash-table insert with moves does (cuckoo
    /// hashing): a breadth-first search from the key's buckets through the other buckets of the
    /// keys they hold, to a free slot. Returns the chain of slots `[p0, ..., pm]`: `pm` is free,
    /// the key at each `p(i)` may move to `p(i+1)`; moved in reverse order, they free `p0`, a
    /// slot of one of the key's buckets. Nil when none is found within `budget` buckets.
    ///
    /// Without moves, which keys fit would depend on the order they came in: a configuration
    /// accepted line by line could fail to load back in its saved (sorted) order. With them a
    /// set of keys fits whenever some placement of it exists and the search reaches it.
    /// `hashInput(slot)`: the key an occupied slot holds, as `hash` takes it; `isFree(slot)`.
    /// Clobbers `buckets`.
    func relocationPath(budget: Int = BankHash.relocationBudget, hashInput: (Int) -> UInt64, isFree: (Int) -> Bool) -> [Int]? {
        // A bucket reached: its first slot, and the slot whose key would move into it (-1 for
        // the key's own buckets) with that slot's node.
        var nodes: [(first: Int, via: Int, parent: Int)] = (0..<banks).map { (firstSlot($0), -1, -1) }
        var seen = Set(nodes.map(\.first))
        var next = 0
        while next < nodes.count {
            let node = nodes[next]
            for slot in node.first..<(node.first + entriesPerBucket) {
                hash(hashInput(slot))
                for bank in 0..<banks {
                    let first = firstSlot(bank)
                    guard first != node.first, seen.insert(first).inserted else { continue }
                    if let free = (first..<(first + entriesPerBucket)).first(where: isFree) {
                        var path = [free, slot]
                        var at = next
                        while nodes[at].via >= 0 {
                            path.append(nodes[at].via)
                            at = nodes[at].parent
                        }
                        return path.reversed()
                    }
                    guard nodes.count < budget else { return nil }
                    nodes.append((first, slot, next))
                }
            }
            next += 1
        }
        return nil
    }
}
