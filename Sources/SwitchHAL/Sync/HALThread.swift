import Atomics
import CLinux
import Glibc
import Time

/// A named HAL thread (`l2x`, `ager`, `rx`, ...), visible by that name in `top -H`, `ps -L`, gdb
/// and `strace -f`, and registered so `show hal threads` can list it with what it is doing.
public final class HALThread: @unchecked Sendable {
    public let name: String
    /// What the thread runs; dropped when it returns, so a worker that owns its thread and is
    /// captured by its body is not kept alive by it (no cycle outlives the thread).
    private var body: ((HALThread) -> Void)?
    private var thread: pthread_t?
    private let tidStorage = ManagedAtomic<Int32>(0)
    private let stopRequested = ManagedAtomic<Bool>(false)
    /// What the thread says it is doing, for `show hal threads` (set by the thread itself).
    private let activity = ManagedAtomic<Int>(0)
    private let activitySince = ManagedAtomic<UInt64>(0)

    public var tid: pid_t { tidStorage.load(ordering: .relaxed) }
    public var shouldStop: Bool { stopRequested.load(ordering: .relaxed) }

    private init(name: String, body: @escaping (HALThread) -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts a thread running `body`; the body should return soon after `shouldStop` is set.
    public static func spawn(name: String, body: @escaping (HALThread) -> Void) -> HALThread {
        let instance = HALThread(name: name, body: body)
        let context = Unmanaged.passRetained(instance).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { raw in
            let me = Unmanaged<HALThread>.fromOpaque(raw!).takeRetainedValue()
            clinux_set_thread_name(me.name)
            me.tidStorage.store(clinux_gettid(), ordering: .relaxed)
            me.body?(me)
            me.body = nil
            return nil
        }, context)
        precondition(result == 0, "cannot start HAL thread \(name): \(result)")
        instance.thread = handle
        return instance
    }

    public func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    public func join() {
        guard let thread else { return }
        pthread_join(thread, nil)
        self.thread = nil
    }

    /// Records what the thread is doing now (one of `ThreadActivity`).
    @inline(__always)
    public func set(_ state: ThreadActivity) {
        activity.store(state.rawValue, ordering: .relaxed)
        activitySince.store(SystemClock.now.nanoseconds, ordering: .relaxed)
    }

    public var state: (activity: ThreadActivity, seconds: Double) {
        let since = activitySince.load(ordering: .relaxed)
        return (ThreadActivity(rawValue: activity.load(ordering: .relaxed)) ?? .idle, since == 0 ? 0 : SystemClock.elapsed(since: Instant(nanoseconds: since)).inSeconds)
    }
}

/// The coarse states HAL threads report.
public enum ThreadActivity: Int, Sendable, CustomStringConvertible {
    case idle, working, sleeping, stalled

    public var description: String {
        switch self {
        case .idle: return "idle"
        case .working: return "working"
        case .sleeping: return "sleeping"
        case .stalled: return "stalled (fault injected)"
        }
    }
}
