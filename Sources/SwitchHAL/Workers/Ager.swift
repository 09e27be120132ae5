import Glibc
import Time
/// The "ager" thread: every age time, one hardware aging pass (delete dynamic entries whose hit
/// bits are clear, clear the others' hit bits), so an idle entry is gone within twice the age
/// time. An age time of 0 turns aging off.
final class Ager {
    private let state: L2State
    private let lock: HALLock
    private let fanout: EventFanout
    private let faults: FaultInjector
    private let wakeup = Wakeup()
    private var thread: HALThread?

    init(state: L2State, lock: HALLock, fanout: EventFanout, faults: FaultInjector) {
        self.state = state
        self.lock = lock
        self.fanout = fanout
        self.faults = faults
    }

    func start() -> HALThread {
        let thread = HALThread.spawn(name: "ager") { [self] me in run(me) }
        self.thread = thread
        return thread
    }

    /// Wakes the ager so it picks up a new age time at once.
    func ageTimeChanged() { wakeup.signal() }

    func stop() {
        thread?.requestStop()
        wakeup.signal()
        thread?.join()
    }

    private func run(_ me: HALThread) {
        var lastPass = SystemClock.now
        var events: [HALEvent] = []
        while !me.shouldStop {
            if faults.stalled(faults.stallAger) {
                // Injected fault: hold the table lock mid-pass until the stall ends.
                lock.withLock("ager-pass") {
                    me.set(.stalled)
                    while faults.stalled(faults.stallAger) && !me.shouldStop { usleep(5_000) }
                }
                continue
            }
            let seconds = lock.withLock("ager-read-age") { state.ageSeconds }
            let interval = Duration.seconds(seconds)
            let now = SystemClock.now
            let since = now.duration(since: lastPass)
            if seconds == 0 || since < interval {
                me.set(.sleeping)
                let remaining = seconds == 0 ? .seconds(1) : min(.seconds(1), interval - since)
                wakeup.wait(timeout: min(remaining, .milliseconds(100))) { true }
                if seconds == 0 { lastPass = SystemClock.now }
                continue
            }
            me.set(.working)
            lastPass = now
            let wantEvents = fanout.hasSubscribers
            lock.withLock("ager-pass") {
                let started = SystemClock.now
                let aged = state.table.agePass(collect: wantEvents ? { events.append(.aged($0)) } : nil)
                state.counters.aged &+= UInt64(aged)
                state.counters.agePasses &+= 1
                state.counters.lastAgePass = SystemClock.elapsed(since: started)
            }
            if !events.isEmpty {
                fanout.publish(events[...])
                events.removeAll(keepingCapacity: true)
            }
        }
    }
}
