import Atomics
import Glibc

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
