import Atomics
import Glibc

/// The receive path's buffers: one slab allocated at start, `count` buffers of `size` bytes
/// and `reservedCount` more kept for VRRP adverts (below), and a second slab of `jumboCount`
/// buffers of `jumboSize` bytes for the super-frames (GSO, up to 64 KiB) a Linux port hands
/// over with their offload work still to do; each kind handed out and back through its own
/// lock-free free list. Nothing here allocates after `init`. Buffer indices `0..<count` are
/// the small buffers, `count..<count + reservedCount` the reserved ones, then the jumbo ones.
///
/// The reserve is the chip's guaranteed buffers for its highest ingress priority group: when
/// a flood on some port has taken every other buffer (the data path behind), a VRRP advert
/// still gets one (`takeReserved`), so no flood costs the router its Master's adverts.
///
/// Ownership is explicit: a buffer index taken with `take()` belongs to its taker until it is
/// passed on (enqueued for l2x, for the CPU) or given back with `give(_:)`. Every path gives it
/// back exactly once; the soak test checks the count.
public final class PacketPool: @unchecked Sendable {
    public let count: Int
    public let size: Int
    public let reservedCount: Int
    public let jumboCount: Int
    public let jumboSize: Int
    let slab: UnsafeMutableRawPointer
    let jumboSlab: UnsafeMutableRawPointer
    /// Frame length and ingress port of each buffer (written by the owner only).
    let lengths: UnsafeMutablePointer<UInt32>
    let ports: UnsafeMutablePointer<UInt16>
    /// The VLAN l2x classified the frame into (for the CPU path).
    let vlans: UnsafeMutablePointer<UInt16>
    /// The offload work the frame still carries (a Linux port's checksum and GSO state).
    let offloads: UnsafeMutablePointer<FrameOffload>
    private let free: FreeList
    private let reservedFree: FreeList
    private let jumboFree: FreeList
    private let inUse = ManagedAtomic<Int>(0)
    private let highWater = ManagedAtomic<Int>(0)

    public init(count: Int, size: Int, reservedCount: Int = 0, jumboCount: Int = 0, jumboSize: Int = 65_664) {
        self.count = count
        self.size = size
        self.reservedCount = reservedCount
        self.jumboCount = jumboCount
        self.jumboSize = jumboCount > 0 ? jumboSize : 0
        slab = .allocate(byteCount: (count + reservedCount) * size, alignment: 64)
        jumboSlab = .allocate(byteCount: max(1, jumboCount * self.jumboSize), alignment: 64)
        let total = count + reservedCount + jumboCount
        lengths = .allocate(capacity: total)
        lengths.initialize(repeating: 0, count: total)
        ports = .allocate(capacity: total)
        ports.initialize(repeating: 0, count: total)
        vlans = .allocate(capacity: total)
        vlans.initialize(repeating: 0, count: total)
        offloads = .allocate(capacity: total)
        offloads.initialize(repeating: .none, count: total)
        // Free lists that never refuse a buffer given back (FreeList: a queue's enqueue can
        // report "full" while a preempted taker holds a cell, and `give` trapped: the l2x crash
        // the traffic soak found).
        free = FreeList(capacity: count)
        for index in (0..<count).reversed() { free.push(UInt32(index)) }
        reservedFree = FreeList(capacity: count + reservedCount)
        for index in (0..<reservedCount).reversed() { reservedFree.push(UInt32(count + index)) }
        jumboFree = FreeList(capacity: count + reservedCount + jumboCount)
        for index in (0..<jumboCount).reversed() { jumboFree.push(UInt32(count + reservedCount + index)) }
    }

    deinit {
        slab.deallocate()
        jumboSlab.deallocate()
        lengths.deallocate()
        ports.deallocate()
        vlans.deallocate()
        offloads.deallocate()
    }

    /// Every buffer, small, reserved and jumbo.
    public var totalCount: Int { count + reservedCount + jumboCount }

    /// The small buffers, regular and reserved: the indices below are in the first slab.
    @inline(__always)
    private var smallCount: Int { count + reservedCount }

    /// The largest frame a buffer holds.
    public var largestFrame: Int { max(size, jumboSize) }

    /// A free buffer that holds `length` bytes (a small one when it fits), or nil when there
    /// is none. Never blocks.
    @inline(__always)
    func take(length: Int = 0) -> UInt32? {
        guard let index = length <= size ? free.pop() : jumboFree.pop() else { return nil }
        return taken(index)
    }

    /// A reserved buffer (for a VRRP advert when `take` found none), or nil.
    func takeReserved() -> UInt32? {
        guard let index = reservedFree.pop() else { return nil }
        return taken(index)
    }

    @inline(__always)
    private func taken(_ index: UInt32) -> UInt32 {
        let now = inUse.wrappingIncrementThenLoad(ordering: .relaxed)
        var high = highWater.load(ordering: .relaxed)
        while now > high {
            let (exchanged, original) = highWater.weakCompareExchange(expected: high, desired: now, ordering: .relaxed)
            if exchanged { break }
            high = original
        }
        return index
    }

    /// Gives a buffer back.
    @inline(__always)
    func give(_ index: UInt32) {
        inUse.wrappingDecrement(ordering: .relaxed)
        offloads[Int(index)] = .none
        if Int(index) < count {
            free.push(index)
        } else if Int(index) < smallCount {
            reservedFree.push(index)
        } else {
            jumboFree.push(index)
        }
    }

    @inline(__always)
    func bytes(_ index: UInt32) -> UnsafeMutableRawPointer {
        Int(index) < smallCount ? slab + Int(index) * size : jumboSlab + (Int(index) - smallCount) * jumboSize
    }

    /// The frame in a buffer.
    public func frame(_ index: UInt32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes(index), count: Int(lengths[Int(index)]))
    }

    /// The frame in a buffer, writable (by its owner).
    func mutableFrame(_ index: UInt32) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: bytes(index), count: Int(lengths[Int(index)]))
    }

    public var buffersInUse: Int { inUse.load(ordering: .relaxed) }
    public var highWaterMark: Int { highWater.load(ordering: .relaxed) }
}
