/// What a chip offers: ports, the L2 table's geometry, the NAT table's size, the RX pool. vrrpd
/// picks one with `--chip NAME`; everything sized in the HAL comes from here.
///
/// The L2 table is hashed like the Trident/Tomahawk families: `banks` banks, each with its own
/// hash function, of `bucketsPerBank` buckets holding `entriesPerBucket` entries. A key may live
/// in one bucket per bank; an insert fails with FULL when all of its buckets are full, even if
/// other buckets have room.
public struct ChipProfile: Sendable, Equatable {
    public var name: String
    public var summary: String
    public var portCount: Int
    public var banks: Int
    public var bucketsPerBank: Int
    public var entriesPerBucket: Int
    /// Receive buffers (each `rxBufferSize` bytes), allocated once at start.
    public var rxPoolBuffers: Int
    public var rxBufferSize: Int
    /// Receive buffers of 64 KiB for super-frames (GSO) from Linux ports, which carry them
    /// whole and have them segmented where they leave (as a NIC's TSO does).
    public var rxJumboBuffers: Int
    /// Receive buffers kept for VRRP adverts when a flood has taken all the others (the
    /// guaranteed buffers of the highest ingress priority group).
    public var rxReservedBuffers: Int
    /// Entries of the NAT table (SNAT and DNAT entries together; `Switch.natAdd` fails with
    /// FULL beyond it). The sizes are a simulation choice, not a datasheet's: each translation
    /// uses two entries, one SNAT and one DNAT, because SAI never installs the reverse direction
    /// implicitly, so trident2's 256K entries hold 128K translations.
    public var natEntries: Int
    /// Entries of the L3 host table (routed destinations l2x forwards without the CPU).
    public var l3HostEntries: Int

    public var l2Capacity: Int { banks * bucketsPerBank * entriesPerBucket }

    /// Trident2-like: 288K L2 entries as 9 banks of 32K (8192 buckets of 4), 54 ports; 256K NAT
    /// entries (128K translations).
    public static let trident2 = ChipProfile(
        name: "trident2",
        summary: "Trident2-like, 54 ports, 288K L2 entries (9 banks x 8192 buckets x 4), 256K NAT entries (2 per translation)",
        portCount: 54, banks: 9, bucketsPerBank: 8192, entriesPerBucket: 4, rxPoolBuffers: 4096, rxBufferSize: 2048, rxJumboBuffers: 256,
        rxReservedBuffers: 64, natEntries: 262_144, l3HostEntries: 16_384)

    /// Tomahawk-like: 136K L2 entries (17 banks of 8K), 32 ports; 128K NAT entries (64K
    /// translations).
    public static let tomahawk = ChipProfile(
        name: "tomahawk",
        summary: "Tomahawk-like, 32 ports, 136K L2 entries (17 banks x 2048 buckets x 4), 128K NAT entries (2 per translation)",
        portCount: 32, banks: 17, bucketsPerBank: 2048, entriesPerBucket: 4, rxPoolBuffers: 4096, rxBufferSize: 2048, rxJumboBuffers: 256,
        rxReservedBuffers: 64, natEntries: 131_072, l3HostEntries: 8_192)

    /// Small, for tests: collisions are easy to provoke (2 banks x 16 buckets x 4 = 128 entries),
    /// and so is a full NAT table (64 entries, 32 translations).
    public static let small = ChipProfile(
        name: "small", summary: "test chip, 8 ports, 128 L2 entries (2 banks x 16 buckets x 4), 64 NAT entries (2 per translation)",
        portCount: 8, banks: 2, bucketsPerBank: 16, entriesPerBucket: 4, rxPoolBuffers: 64, rxBufferSize: 2048, rxJumboBuffers: 4,
        rxReservedBuffers: 8, natEntries: 64, l3HostEntries: 16)

    public static let all = [trident2, tomahawk, small]

    public static func named(_ name: String) -> ChipProfile? {
        all.first { $0.name == name.lowercased() }
    }
}
