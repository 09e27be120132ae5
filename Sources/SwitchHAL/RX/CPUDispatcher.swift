import Atomics
import Time

/// The path to the CPU: the policers l2x meets before a frame is queued for the CPU, one queue
/// per `CPUClass`, and the "rx" thread, which serves the queues in strict priority (VRRP
/// first) and hands each frame to the registered packet handler with no HAL lock held, then
/// returns the buffer to the pool. The handler must copy what it wants to keep.
///
/// A frame over its class's rate is dropped in l2x, its buffer back in the pool at once: a
/// flood costs the CPU nothing past its policer, never holds buffers in a queue, and never
/// delays another class (docs/hal.md, "Control-plane policing").
final class CPUDispatcher: @unchecked Sendable {
    private let pool: PacketPool
    /// One queue per class, indexed by `CPUClass.rawValue`: the order of service.
    private let queues: [BoundedQueue]
    private let wakeup = Wakeup()
    let policer = CPUPolicer()
    let handlerLock = HALLock(name: "hal.rx-handler", rank: HALLocks.Rank.subscribers, purpose: "the CPU packet handler")
    private var handler: (@Sendable (PortID, UInt16, UnsafeRawBufferPointer) -> Void)?
    private var thread: HALThread?
    private let offloadErrorCount = ManagedAtomic<UInt64>(0)
    /// Frames that conformed to their policer but found their queue full.
    var dropped: UInt64 { policer.queueFullTotal }
    /// Frames for the CPU whose offload work could not be finished (dropped).
    var offloadErrors: UInt64 { offloadErrorCount.load(ordering: .relaxed) }

    /// How many frames the rx thread hands over before it looks at the handler again.
    static let burst = 64

    /// `capacity`: each class's queue.
    init(pool: PacketPool, capacity: Int) {
        self.pool = pool
        queues = CPUClass.allCases.map { _ in BoundedQueue(capacity: capacity) }
    }

    var hasHandler: Bool { handlerLock.withLock("peek") { handler != nil } }

    func setHandler(_ handler: (@Sendable (PortID, UInt16, UnsafeRawBufferPointer) -> Void)?) {
        handlerLock.withLock("set-handler") { self.handler = handler }
    }

    /// l2x only (the policers' one writer): polices each frame by its class and queues those
    /// that conform; the others go back to the pool. Takes ownership of every buffer.
    func punt(_ buffers: [UInt32]) {
        guard !buffers.isEmpty else { return }
        let now = SystemClock.now
        var queued = false
        for buffer in buffers {
            let cpuClass = CPUClass.classify(UnsafeRawPointer(pool.bytes(buffer)), length: Int(pool.lengths[Int(buffer)]))
            guard policer.admit(cpuClass, now: now) else {
                pool.give(buffer)
                continue
            }
            guard queues[cpuClass.rawValue].enqueue(buffer) else {
                policer.countQueueFull(cpuClass)
                pool.give(buffer)
                continue
            }
            queued = true
        }
        if queued { wakeup.signal() }
    }

    /// The next frame in priority order: the highest class with one queued.
    @inline(__always)
    private func next() -> UInt32? {
        for queue in queues {
            if let buffer = queue.dequeue() { return buffer }
        }
        return nil
    }

    func queued(_ cpuClass: CPUClass) -> Int { queues[cpuClass.rawValue].count }

    func start() -> HALThread {
        let thread = HALThread.spawn(name: "rx") { [self] me in
            var scratch: [UInt8] = []
            while !me.shouldStop {
                guard let buffer = next() else {
                    me.set(.sleeping)
                    wakeup.wait(timeout: .milliseconds(50)) { queues.allSatisfy { $0.count == 0 } }
                    continue
                }
                me.set(.working)
                // The handler is looked up once per burst, not per frame; each frame of the
                // burst is again the highest-priority one queued.
                let current = handlerLock.withLock("take-handler") { handler }
                var frame: UInt32? = buffer
                var handled = 0
                while let taken = frame {
                    if let current { deliver(taken, to: current, scratch: &scratch) }
                    pool.give(taken)
                    handled += 1
                    frame = handled < Self.burst ? next() : nil
                }
            }
            while let buffer = next() { pool.give(buffer) }
        }
        self.thread = thread
        return thread
    }

    func stop() {
        thread?.requestStop()
        wakeup.signal()
        thread?.join()
    }

    /// The router sees finished frames, as from a NIC: a partial checksum is filled in (in
    /// place), a super-frame is cut into its segments, each handed over in turn.
    private func deliver(
        _ buffer: UInt32, to handler: @Sendable (PortID, UInt16, UnsafeRawBufferPointer) -> Void, scratch: inout [UInt8]
    ) {
        let port = pool.ports[Int(buffer)], vlan = pool.vlans[Int(buffer)]
        let offload = pool.offloads[Int(buffer)]
        if offload.isNone { return handler(port, vlan, pool.frame(buffer)) }
        do {
            if offload.segmentation == .none {
                try SoftwareOffload.completeChecksum(pool.mutableFrame(buffer), offload)
                pool.offloads[Int(buffer)] = .none
                return handler(port, vlan, pool.frame(buffer))
            }
            try SoftwareOffload.segment(pool.frame(buffer), offload, scratch: &scratch) { handler(port, vlan, $0) }
        } catch {
            offloadErrorCount.wrappingIncrement(ordering: .relaxed)
        }
    }
}
