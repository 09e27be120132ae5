import Atomics
import CLinux
import Glibc

/// The lock-order witness (after FreeBSD's WITNESS and Linux's lockdep): every thread's stack
/// of held HAL locks, and a global graph of "B was taken while A was held" edges. The first
/// acquisition that closes a cycle in that graph, or that goes down the declared ranks, is
/// reported with both orders, their threads and call sites, before any deadlock can happen.
///
/// On by default in debug builds (and so in tests, where a report is a failure); switchable at
/// run time (`debug hal witness`). Off, it costs one atomic load per lock operation.
public final class Witness: @unchecked Sendable {
    public static let shared = Witness()

    private let enabledFlag: ManagedAtomic<Bool>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // Guarded by `mutex`:
    private var edges: [Edge: Site] = [:]
    private var successors: [Int: Set<Int>] = [:]
    private var names: [Int: (name: String, rank: Int)] = [:]
    private var reported: Set<Edge> = []
    private var reportList: [WitnessReport] = []
    private var sink: (@Sendable (WitnessReport) -> Void)?
    private let nextID = ManagedAtomic<Int>(1)

    struct Edge: Hashable {
        var from: Int
        var to: Int
    }

    /// Where and by whom an order was first seen.
    struct Site {
        var thread: String
        var heldSite: String
        var takenSite: String
    }

    private init() {
        #if DEBUG
        enabledFlag = ManagedAtomic(true)
        #else
        enabledFlag = ManagedAtomic(false)
        #endif
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    public var isEnabled: Bool {
        get { enabledFlag.load(ordering: .relaxed) }
        set { enabledFlag.store(newValue, ordering: .relaxed) }
    }

    /// Where reports go (the daemon's log); they are also kept in `reports`.
    public func setSink(_ sink: (@Sendable (WitnessReport) -> Void)?) {
        locked { self.sink = sink }
    }

    /// Every report so far, oldest first.
    public var reports: [WitnessReport] { locked { reportList } }

    /// Forgets the learned orders and the reports (tests).
    public func reset() {
        locked {
            edges.removeAll()
            successors.removeAll()
            reported.removeAll()
            reportList.removeAll()
        }
    }

    func register(name: String, rank: Int) -> Int {
        let id = nextID.loadThenWrappingIncrement(ordering: .relaxed)
        locked { names[id] = (name, rank) }
        return id
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    // MARK: The per-thread stack

    /// The locks a thread holds, innermost last, with where each was taken (formatted into
    /// text only when a report needs it).
    final class HeldStack {
        var ids: [Int] = []
        var files: [StaticString] = []
        var lines: [UInt] = []

        init() {
            ids.reserveCapacity(8)
            files.reserveCapacity(8)
            lines.reserveCapacity(8)
        }
    }

    private static let stackKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in if let raw { Unmanaged<HeldStack>.fromOpaque(raw).release() } }
        return key
    }()

    private static var stack: HeldStack {
        if let raw = pthread_getspecific(stackKey) { return Unmanaged<HeldStack>.fromOpaque(raw).takeUnretainedValue() }
        let stack = HeldStack()
        pthread_setspecific(stackKey, Unmanaged.passRetained(stack).toOpaque())
        return stack
    }

    /// Called before a thread waits for lock `id`: checks the order against everything the
    /// thread holds. Never blocks on anything but the witness's own short mutex.
    func willAcquire(_ id: Int, name: String, rank: Int, file: StaticString, line: UInt) {
        guard isEnabled else { return }
        let stack = Witness.stack
        guard !stack.ids.isEmpty else { return }
        var newReports: [WitnessReport] = []
        let currentSink: (@Sendable (WitnessReport) -> Void)? = locked {
            for index in stack.ids.indices where stack.ids[index] != id {
                let holding = stack.ids[index]
                let edge = Edge(from: holding, to: id)
                let heldRank = names[holding]?.rank ?? 0
                // Known orders in the hierarchy cost one dictionary lookup.
                if edges[edge] != nil && rank >= heldRank { continue }
                let site = HALLock.site(file, line) ?? "?"
                let heldSite = HALLock.site(stack.files[index], stack.lines[index]) ?? "?"
                let thread = String(cString: clinux_thread_name())
                if edges[edge] == nil {
                    // Does the reverse order already exist (directly or through other locks)?
                    if let path = path(from: id, to: holding), !reported.contains(edge) {
                        reported.insert(edge)
                        let first = edges[Edge(from: path[0], to: path[1])]!
                        let report = WitnessReport(
                            kind: .orderReversal,
                            message: "lock order reversal: \(label(holding)) then \(label(id)) by thread \(thread) "
                                + "(\(label(holding)) taken at \(heldSite), \(label(id)) at \(site)); "
                                + "established order \(path.map(label).joined(separator: " then ")) by thread \(first.thread) "
                                + "(\(first.heldSite), then \(first.takenSite))",
                            thread: thread, site: site, otherThread: first.thread, otherSite: first.takenSite)
                        reportList.append(report)
                        newReports.append(report)
                    }
                    edges[edge] = Site(thread: thread, heldSite: heldSite, takenSite: site)
                    successors[holding, default: []].insert(id)
                }
                // The declared hierarchy: never take a lock of lower rank than one held.
                if rank < heldRank, !reported.contains(Edge(from: -holding, to: -id)) {
                    reported.insert(Edge(from: -holding, to: -id))
                    let report = WitnessReport(
                        kind: .rankViolation,
                        message: "lock rank violation: \(label(id)) taken while holding \(label(holding)) by thread \(thread) "
                            + "(\(label(holding)) taken at \(heldSite), \(label(id)) at \(site))",
                        thread: thread, site: site, otherThread: thread, otherSite: heldSite)
                    reportList.append(report)
                    newReports.append(report)
                }
            }
            return sink
        }
        for report in newReports { currentSink?(report) }
    }

    func didAcquire(_ id: Int, file: StaticString, line: UInt) {
        guard isEnabled else { return }
        let stack = Witness.stack
        stack.ids.append(id)
        stack.files.append(file)
        stack.lines.append(line)
    }

    func didRelease(_ id: Int) {
        guard isEnabled else {
            // Turned off while held: forget what this thread had, so turning it on again is clean.
            if let raw = pthread_getspecific(Witness.stackKey) {
                let stack = Unmanaged<HeldStack>.fromOpaque(raw).takeUnretainedValue()
                stack.ids.removeAll(keepingCapacity: true)
                stack.files.removeAll(keepingCapacity: true)
                stack.lines.removeAll(keepingCapacity: true)
            }
            return
        }
        let stack = Witness.stack
        if stack.ids.last == id {
            stack.ids.removeLast()
            stack.files.removeLast()
            stack.lines.removeLast()
        } else if let index = stack.ids.lastIndex(of: id) {
            stack.ids.remove(at: index)
            stack.files.remove(at: index)
            stack.lines.remove(at: index)
        }
    }

    /// A path of edges from `start` to `goal` (with `mutex` held), as the list of lock ids.
    private func path(from start: Int, to goal: Int) -> [Int]? {
        var previous: [Int: Int] = [:]
        var queue = [start]
        var visited: Set<Int> = [start]
        while !queue.isEmpty {
            let node = queue.removeFirst()
            for next in successors[node] ?? [] where !visited.contains(next) {
                previous[next] = node
                if next == goal {
                    var path = [goal]
                    var current = goal
                    while let p = previous[current] {
                        path.insert(p, at: 0)
                        current = p
                    }
                    return path
                }
                visited.insert(next)
                queue.append(next)
            }
        }
        return nil
    }

    private func label(_ id: Int) -> String {
        guard let entry = names[id] else { return "lock#\(id)" }
        return "\(entry.name) (rank \(entry.rank))"
    }
}

/// One witness finding.
public struct WitnessReport: Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case orderReversal, rankViolation }
    public var kind: Kind
    public var message: String
    public var thread: String
    public var site: String
    public var otherThread: String
    public var otherSite: String
    public var description: String { message }
}
