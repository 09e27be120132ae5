import Time
/// A min-heap of deadlines, one per key: the one scheduler for every virtual router (no timer
/// object or thread per instance). Rescheduling a key replaces its deadline; stale heap entries
/// are skipped lazily.
public struct TimerHeap<Key: Hashable & Sendable>: Sendable {
    private var heap: [(deadline: Instant, key: Key, generation: UInt64)] = []
    private var current: [Key: (deadline: Instant, generation: UInt64)] = [:]
    private var nextGeneration: UInt64 = 0

    public init() {}

    /// Sets (or with nil clears) the deadline of `key`.
    public mutating func schedule(_ key: Key, at deadline: Instant?) {
        guard let deadline else {
            current[key] = nil
            return
        }
        if let existing = current[key], existing.deadline == deadline { return }
        nextGeneration += 1
        current[key] = (deadline, nextGeneration)
        heap.append((deadline, key, nextGeneration))
        siftUp(heap.count - 1)
        // Keep stale entries from piling up.
        if heap.count > 64 && heap.count > current.count * 4 { rebuild() }
    }

    /// The earliest live deadline.
    public mutating func peek() -> Instant? {
        dropStale()
        return heap.first?.deadline
    }

    /// Removes and returns every key due at `now`, earliest first.
    public mutating func popDue(_ now: Instant) -> [Key] {
        var due: [Key] = []
        while true {
            dropStale()
            guard let top = heap.first, top.deadline <= now else { break }
            due.append(top.key)
            current[top.key] = nil
            removeTop()
        }
        return due
    }

    public var count: Int { current.count }

    private mutating func dropStale() {
        while let top = heap.first, current[top.key]?.generation != top.generation { removeTop() }
    }

    private mutating func removeTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private mutating func rebuild() {
        heap = current.map { ($0.value.deadline, $0.key, $0.value.generation) }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
