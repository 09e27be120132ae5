import Atomics

/// Mind the capacity: an enqueue that reaches the cell of a dequeue still under way (a
/// consumer between taking its position and releasing the cell) reports "full" although the
/// queue has room. A queue that must never refuse (a free list) needs room for everything it
/// can hold twice over.
///
/// A fixed-capacity, lock-free, multi-producer multi-consumer queue of `UInt32` (D. Vyukov's
/// bounded queue). Enqueue and dequeue never allocate and never block: a full queue refuses,
/// an empty one returns nil. This is what lets the RX producer run "in interrupt context".
public final class BoundedQueue: @unchecked Sendable {
    public let capacity: Int
    private let mask: Int
    private let sequences: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>
    private let values: UnsafeMutablePointer<UInt32>
    private let enqueuePosition = UnsafeAtomic<Int>.create(0)
    private let dequeuePosition = UnsafeAtomic<Int>.create(0)

    /// `capacity` is rounded up to a power of two.
    public init(capacity: Int) {
        var size = 2
        while size < capacity { size <<= 1 }
        self.capacity = size
        mask = size - 1
        sequences = .allocate(capacity: size)
        for index in 0..<size { (sequences + index).initialize(to: UnsafeAtomic<Int>.Storage(index)) }
        values = .allocate(capacity: size)
        values.initialize(repeating: 0, count: size)
    }

    deinit {
        sequences.deallocate()
        values.deallocate()
        enqueuePosition.destroy()
        dequeuePosition.destroy()
    }

    @inline(__always)
    private func sequence(_ index: Int) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: sequences + index)
    }

    /// Adds a value; false when the queue is full.
    @inline(__always)
    public func enqueue(_ value: UInt32) -> Bool {
        var position = enqueuePosition.load(ordering: .relaxed)
        while true {
            let cell = position & mask
            let sequence = sequence(cell).load(ordering: .acquiring)
            let difference = sequence &- position
            if difference == 0 {
                let (exchanged, original) = enqueuePosition.weakCompareExchange(
                    expected: position, desired: position &+ 1, ordering: .relaxed)
                if exchanged {
                    values[cell] = value
                    self.sequence(cell).store(position &+ 1, ordering: .releasing)
                    return true
                }
                position = original
            } else if difference < 0 {
                return false
            } else {
                position = enqueuePosition.load(ordering: .relaxed)
            }
        }
    }

    /// Takes the oldest value; nil when the queue is empty.
    @inline(__always)
    public func dequeue() -> UInt32? {
        var position = dequeuePosition.load(ordering: .relaxed)
        while true {
            let cell = position & mask
            let sequence = sequence(cell).load(ordering: .acquiring)
            let difference = sequence &- (position &+ 1)
            if difference == 0 {
                let (exchanged, original) = dequeuePosition.weakCompareExchange(
                    expected: position, desired: position &+ 1, ordering: .relaxed)
                if exchanged {
                    let value = values[cell]
                    self.sequence(cell).store(position &+ mask &+ 1, ordering: .releasing)
                    return value
                }
                position = original
            } else if difference < 0 {
                return nil
            } else {
                position = dequeuePosition.load(ordering: .relaxed)
            }
        }
    }

    /// Approximate number of queued values (exact when nothing runs concurrently).
    public var count: Int {
        max(0, enqueuePosition.load(ordering: .relaxed) &- dequeuePosition.load(ordering: .relaxed))
    }
}
