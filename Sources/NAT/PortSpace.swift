/// The L4 ports (or ICMP ids) of one global address and protocol that translations use:
/// 1024-65535 are handed out, a port is free again only once its translation is gone.
/// A bitset (8 KiB per address and protocol) with a rotating cursor, so a freed port is not
/// reused at once while others are free.
struct PortSpace: Sendable {
    static let first: UInt16 = 1024
    static let capacity = 65536 - Int(first)

    private var words = [UInt64](repeating: 0, count: 1024)
    private(set) var used = 0
    private var cursor = Int(first)

    func isUsed(_ port: UInt16) -> Bool { words[Int(port) >> 6] & (1 << UInt64(port & 63)) != 0 }

    mutating func take(_ port: UInt16) {
        guard !isUsed(port) else { return }
        words[Int(port) >> 6] |= 1 << UInt64(port & 63)
        used += 1
    }

    mutating func release(_ port: UInt16) {
        guard isUsed(port) else { return }
        words[Int(port) >> 6] &= ~(1 << UInt64(port & 63))
        used -= 1
    }

    /// The next free port from the cursor on (wrapping), without taking it.
    func nextFree() -> UInt16? {
        guard used < PortSpace.capacity + countBelowFirst else { return nil }
        var port = cursor
        var scanned = 0
        while scanned <= 65536 {
            if port > 65535 { port = Int(PortSpace.first) }
            let word = words[port >> 6]
            if word == UInt64.max {
                let next = (port | 63) + 1
                scanned += next - port
                port = next
                continue
            }
            if word & (1 << UInt64(port & 63)) == 0 { return UInt16(port) }
            port += 1
            scanned += 1
        }
        return nil
    }

    /// Takes a port chosen by `nextFree` and moves the cursor past it (never below 1024: a
    /// static PAT mapping's low port is taken with `take`, and dynamic ports stay 1024-65535).
    mutating func allocate(_ port: UInt16) {
        take(port)
        cursor = max(Int(port) + 1, Int(PortSpace.first))
    }

    /// Ports below 1024 taken by static PAT mappings (they do not count against the range).
    private var countBelowFirst: Int {
        var n = 0
        for index in 0..<16 { n += words[index].nonzeroBitCount }
        return n
    }

    var isEmpty: Bool { used == 0 }
}
