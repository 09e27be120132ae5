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

/// The producer side of the RX path: where port backends and the traffic generator deliver
/// frames. `receive` copies into a pool buffer and queues it for the l2x worker; it never
/// allocates, never blocks and never takes a lock. With no free buffer the frame is dropped and
/// counted.
///
/// VRRP adverts are the chip's highest ingress priority group: when the others have taken
/// every buffer they get a kept one (`PacketPool.takeReserved`), and when l2x is behind (more
/// than a batch queued) they go to a queue of their own that l2x takes first, so a flood that
/// the data path cannot keep up with delays an advert by at most one batch. While l2x keeps up
/// nothing is looked at: the cost is one queue-length check a frame.
public final class RxPath: @unchecked Sendable {
    public let pool: PacketPool
    let toL2: BoundedQueue
    /// VRRP adverts that arrived while l2x was behind or in a kept buffer.
    let toL2Priority: BoundedQueue
    /// Queued frames beyond which l2x is behind: one batch.
    static let backlog = L2Worker.batchSize
    let wakeup = Wakeup()
    private let offered = ManagedAtomic<UInt64>(0)
    private let accepted = ManagedAtomic<UInt64>(0)
    private let droppedNoBuffer = ManagedAtomic<UInt64>(0)
    private let droppedTooLong = ManagedAtomic<UInt64>(0)
    private let acceptedReserved = ManagedAtomic<UInt64>(0)
    /// Fault injection: while set, `receive` behaves as if the pool were empty.
    let exhausted = ManagedAtomic<Bool>(false)

    public func setExhausted(_ on: Bool) { exhausted.store(on, ordering: .relaxed) }

    public init(pool: PacketPool) {
        self.pool = pool
        toL2 = BoundedQueue(capacity: 2 * pool.totalCount)
        toL2Priority = BoundedQueue(capacity: max(64, 2 * pool.reservedCount))
    }

    /// Delivers one frame received on `port`, with the offload work it still carries.
    /// Returns false when it was dropped.
    @inline(__always)
    @discardableResult
    public func receive(port: PortID, frame: UnsafeRawBufferPointer, offload: FrameOffload = .none) -> Bool {
        offered.wrappingIncrement(ordering: .relaxed)
        guard frame.count <= pool.largestFrame else {
            droppedTooLong.wrappingIncrement(ordering: .relaxed)
            return false
        }
        var urgent = false
        guard !exhausted.load(ordering: .relaxed), let buffer = pool.take(length: frame.count) ?? takeReserved(frame, urgent: &urgent) else {
            droppedNoBuffer.wrappingIncrement(ordering: .relaxed)
            return false
        }
        if let base = frame.baseAddress { pool.bytes(buffer).copyMemory(from: base, byteCount: frame.count) }
        pool.lengths[Int(buffer)] = UInt32(frame.count)
        pool.ports[Int(buffer)] = port
        pool.offloads[Int(buffer)] = offload
        if !urgent && toL2.count > Self.backlog, let base = frame.baseAddress {
            urgent = CPUClass.classify(base, length: frame.count) == .vrrp
        }
        // The queue has room for every buffer twice over, but an enqueue can still be refused
        // while l2x is preempted half way through taking one: then the frame is dropped and
        // counted, its buffer back in the pool. (A full priority queue: the regular one.)
        guard (urgent && toL2Priority.enqueue(buffer)) || toL2.enqueue(buffer) else {
            pool.give(buffer)
            droppedNoBuffer.wrappingIncrement(ordering: .relaxed)
            return false
        }
        accepted.wrappingIncrement(ordering: .relaxed)
        wakeup.signal()
        return true
    }

    /// With every other buffer taken: a reserved one, for a VRRP advert only (the frame is
    /// looked at only then, so the reserve costs nothing while buffers are free).
    private func takeReserved(_ frame: UnsafeRawBufferPointer, urgent: inout Bool) -> UInt32? {
        guard let base = frame.baseAddress, pool.reservedCount > 0, frame.count <= pool.size, CPUClass.classify(base, length: frame.count) == .vrrp,
            let buffer = pool.takeReserved()
        else { return nil }
        acceptedReserved.wrappingIncrement(ordering: .relaxed)
        urgent = true
        return buffer
    }

    /// Frames waiting for l2x.
    var queuedForL2: Int { toL2.count + toL2Priority.count }

    public var statistics: RxStatistics {
        RxStatistics(
            poolBuffers: pool.count, bufferSize: pool.size, reservedBuffers: pool.reservedCount, jumboBuffers: pool.jumboCount, jumboSize: pool.jumboSize,
            inUse: pool.buffersInUse, highWater: pool.highWaterMark,
            queued: queuedForL2, offered: offered.load(ordering: .relaxed), accepted: accepted.load(ordering: .relaxed),
            acceptedReserved: acceptedReserved.load(ordering: .relaxed),
            droppedNoBuffer: droppedNoBuffer.load(ordering: .relaxed), droppedTooLong: droppedTooLong.load(ordering: .relaxed),
            exhaustedByFault: exhausted.load(ordering: .relaxed))
    }
}

/// What `show hal rx` prints.
public struct RxStatistics: Sendable {
    public var poolBuffers: Int
    public var bufferSize: Int
    /// Buffers kept for VRRP adverts when the others are all taken.
    public var reservedBuffers: Int
    public var jumboBuffers: Int
    public var jumboSize: Int
    public var inUse: Int
    public var highWater: Int
    public var queued: Int
    public var offered: UInt64
    public var accepted: UInt64
    /// Adverts that found every other buffer taken and got a reserved one.
    public var acceptedReserved: UInt64
    public var droppedNoBuffer: UInt64
    public var droppedTooLong: UInt64
    public var exhaustedByFault: Bool
}
