/// The Internet checksum (RFC 1071) over native-order words: the ones'-complement sum does not
/// depend on byte order, so a sum folded to 16 bits and stored natively is the network-order
/// checksum.
public enum InternetChecksum {
    @inline(__always)
    public static func add(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return sum &+ (overflow ? 1 : 0)
    }

    /// The ones'-complement sum of `count` bytes (an odd last byte padded with zero).
    public static func sum(_ base: UnsafeRawPointer, _ count: Int) -> UInt64 {
        var total: UInt64 = 0
        var index = 0
        while index + 32 <= count {
            total = add(total, base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            total = add(total, base.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self))
            total = add(total, base.loadUnaligned(fromByteOffset: index + 16, as: UInt64.self))
            total = add(total, base.loadUnaligned(fromByteOffset: index + 24, as: UInt64.self))
            index += 32
        }
        while index + 8 <= count {
            total = add(total, base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            index += 8
        }
        if index + 4 <= count {
            total = add(total, UInt64(base.loadUnaligned(fromByteOffset: index, as: UInt32.self)))
            index += 4
        }
        if index + 2 <= count {
            total = add(total, UInt64(base.loadUnaligned(fromByteOffset: index, as: UInt16.self)))
            index += 2
        }
        if index < count {
            // The pad byte follows the last one in memory: on a little-endian machine the last
            // byte is the low half of its native word.
            let byte = UInt64(base.load(fromByteOffset: index, as: UInt8.self))
            total = add(total, UInt16(1).littleEndian == 1 ? byte : byte << 8)
        }
        return total
    }

    /// Folds a 64-bit ones'-complement sum to 16 bits (not complemented).
    @inline(__always)
    public static func fold(_ value: UInt64) -> UInt16 {
        var sum = (value >> 32) + (value & 0xffff_ffff)
        sum = (sum >> 32) + (sum & 0xffff_ffff)
        sum = (sum >> 16) + (sum & 0xffff)
        sum = (sum >> 16) + (sum & 0xffff)
        return UInt16(truncatingIfNeeded: sum)
    }

    /// The checksum of `bytes` as a number (the first byte its high half): 0 when the bytes
    /// include a correct checksum.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        guard let base = bytes.baseAddress else { return 0xffff }
        return UInt16(bigEndian: ~fold(sum(base, bytes.count)))
    }

    /// A 16-bit ones'-complement sum (numeric, not complemented) after a 32-bit field it
    /// covers changed from `old` to `new` (RFC 1624): for a checksum field `c`, the new field
    /// is `~adjust(~c, ...)`; for a partial checksum's seed (the pseudo-header's sum, as
    /// `CHECKSUM_PARTIAL` leaves it) it is `adjust(seed, ...)`.
    @inline(__always)
    public static func adjust(_ sum: UInt16, from old: UInt32, to new: UInt32) -> UInt16 {
        var total = UInt32(sum) + UInt32(~UInt16(truncatingIfNeeded: old >> 16)) + UInt32(~UInt16(truncatingIfNeeded: old))
            + UInt32(UInt16(truncatingIfNeeded: new >> 16)) + UInt32(UInt16(truncatingIfNeeded: new))
        total = (total & 0xffff) + (total >> 16)
        total = (total & 0xffff) + (total >> 16)
        return UInt16(truncatingIfNeeded: total)
    }

    /// The same for a 16-bit field (a port).
    @inline(__always)
    public static func adjust(_ sum: UInt16, from old: UInt16, to new: UInt16) -> UInt16 {
        var total = UInt32(sum) + UInt32(~old) + UInt32(new)
        total = (total & 0xffff) + (total >> 16)
        total = (total & 0xffff) + (total >> 16)
        return UInt16(truncatingIfNeeded: total)
    }
}
