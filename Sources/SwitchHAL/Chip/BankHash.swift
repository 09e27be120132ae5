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
}
