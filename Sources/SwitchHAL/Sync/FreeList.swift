import Atomics

/// A lock-free free list of buffer indices `0..<capacity` (a Treiber stack with a tagged head):
/// push and pop are one compare-and-swap each and never fail for lack of room, whatever another
/// thread is doing (a Vyukov queue's enqueue can report "full" while a dequeue that was
/// preempted half way holds a cell: a free list must never do that). The tag, counted up by
/// every change of the head, keeps a pop from being fooled by an index popped and pushed back
/// in between (ABA).
final class FreeList: @unchecked Sendable {
    let capacity: Int
    /// The next index below each one on the stack (`empty` for the bottom).
    private let next: UnsafeMutablePointer<UInt32>
    /// tag (high 32 bits) | index on top (low 32 bits).
    private let head: UnsafeAtomic<UInt64>
    private let depth = ManagedAtomic<Int>(0)
    static let empty = UInt32.max

    /// A list holding nothing; `push` what it is to hand out.
    init(capacity: Int) {
        self.capacity = capacity
        next = .allocate(capacity: max(1, capacity))
        next.initialize(repeating: FreeList.empty, count: max(1, capacity))
        head = .create(UInt64(FreeList.empty))
    }

    deinit {
        next.deallocate()
        head.destroy()
    }

    @inline(__always)
    func push(_ index: UInt32) {
        var current = head.load(ordering: .relaxed)
        while true {
            next[Int(index)] = UInt32(truncatingIfNeeded: current)
            let desired = (current >> 32 &+ 1) << 32 | UInt64(index)
            let (exchanged, original) = head.weakCompareExchange(expected: current, desired: desired, ordering: .releasing)
            if exchanged { break }
            current = original
        }
        depth.wrappingIncrement(ordering: .relaxed)
    }

    @inline(__always)
    func pop() -> UInt32? {
        var current = head.load(ordering: .acquiring)
        while true {
            let top = UInt32(truncatingIfNeeded: current)
            if top == FreeList.empty { return nil }
            let below = next[Int(top)]
            let desired = (current >> 32 &+ 1) << 32 | UInt64(below)
            let (exchanged, original) = head.weakCompareExchange(expected: current, desired: desired, ordering: .acquiringAndReleasing)
            if exchanged {
                depth.wrappingDecrement(ordering: .relaxed)
                return top
            }
            current = original
        }
    }

    /// How many indices it holds (exact when nothing runs concurrently).
    var count: Int { depth.load(ordering: .relaxed) }
}
