import Atomics
import CLinux
import Time

/// An strace-like record of HAL API calls: thread, call, arguments, result, duration
/// (`hal-api-#0 l2_addr_add(mac=..., vlan=10, port=3) = 0 <0.000012>`). Off, a traced call
/// costs one atomic load; arguments are only formatted when on.
public final class HALTrace: @unchecked Sendable {
    private let enabledFlag = ManagedAtomic<Bool>(false)
    private let sinkLock = HALLock(name: "hal.trace-sink", rank: HALLocks.Rank.leaf, purpose: "where trace lines go")
    private var sink: (@Sendable (String) -> Void)?

    public var isEnabled: Bool {
        get { enabledFlag.load(ordering: .relaxed) }
        set { enabledFlag.store(newValue, ordering: .relaxed) }
    }

    public func setSink(_ sink: (@Sendable (String) -> Void)?) {
        sinkLock.withLock("set-sink") { self.sink = sink }
    }

    func record(_ call: StaticString, _ arguments: String, result: String, took: Duration) {
        let seconds = took.inSeconds
        var duration = String(Int((seconds * 1e6).rounded()))
        while duration.count < 7 { duration = "0" + duration }
        duration.insert(".", at: duration.index(duration.endIndex, offsetBy: -6))
        let line = "\(String(cString: clinux_thread_name())) \(call)(\(arguments)) = \(result) <\(duration)>"
        let current = sinkLock.withLock("read-sink") { sink }
        current?(line)
    }
}

extension Switch {
    /// Runs one API call: injected failures first, then the call, traced when tracing is on.
    @inline(__always)
    func traced<T>(_ call: StaticString, _ arguments: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
        if let failure = faults.injectedFailure(call) {
            if trace.isEnabled { trace.record(call, arguments(), result: "\(failure.code) \(failure.codeName) (injected)", took: .zero) }
            throw failure
        }
        guard trace.isEnabled else { return try body() }
        let started = SystemClock.now
        do {
            let result = try body()
            trace.record(call, arguments(), result: "0", took: SystemClock.elapsed(since: started))
            return result
        } catch let error as HALError {
            trace.record(call, arguments(), result: "\(error.code) \(error.codeName) (\(error.message))", took: SystemClock.elapsed(since: started))
            throw error
        }
    }
}
