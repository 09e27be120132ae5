import Atomics
import Glibc
import NetTypes
import Time

/// The "gen" thread: injects frames into a port's RX path, as if stations sent them, so learning,
/// moves, limits and aging can be driven without hosts. Each frame has a new source MAC
/// (`base`, `base+1`, ...), an unknown unicast destination, and an 802.1Q tag when the port is a
/// trunk. A frame the RX path drops (no free buffer) is offered again, so `count` stations are
/// learned in the end; the drops still show in the RX counters.
public final class TrafficGenerator: @unchecked Sendable {
    public struct Job: Sendable, Equatable {
        public var count: Int
        public var port: PortID
        public var vlan: UInt16
        public var tagged: Bool
        /// Frames per second; 0 = as fast as the RX path takes them.
        public var rate: Int
        public var base: MACAddress

        public init(count: Int, port: PortID, vlan: UInt16, tagged: Bool, rate: Int, base: MACAddress) {
            self.count = count
            self.port = port
            self.vlan = vlan
            self.tagged = tagged
            self.rate = rate
            self.base = base
        }
    }

    public struct Status: Sendable {
        public var job: Job?
        public var running: Bool
        public var sent: Int
        public var retries: UInt64
        public var seconds: Double
    }

    private let rx: RxPath
    private let lock: HALLock
    private var thread: HALThread?
    private var job: Job?
    private var startedAt = Instant.zero
    private var finishedAt: Instant?
    private let sent = ManagedAtomic<Int>(0)
    private let retries = ManagedAtomic<UInt64>(0)
    private let running = ManagedAtomic<Bool>(false)

    init(rx: RxPath, lock: HALLock) {
        self.rx = rx
        self.lock = lock
    }

    /// The running generator thread, if any.
    var currentThread: HALThread? { lock.withLock("gen-thread") { thread } }

    /// Starts a job, replacing (stopping) any running one.
    func start(_ job: Job) {
        stop()
        lock.withLock("gen-start") {
            self.job = job
            startedAt = SystemClock.now
            finishedAt = nil
        }
        sent.store(0, ordering: .relaxed)
        retries.store(0, ordering: .relaxed)
        running.store(true, ordering: .relaxed)
        let spawned = HALThread.spawn(name: "gen") { [self] me in
            generate(job, me)
            lock.withLock("gen-finish") { finishedAt = SystemClock.now }
            running.store(false, ordering: .relaxed)
        }
        lock.withLock("gen-thread-set") { thread = spawned }
    }

    func stop() {
        let current = lock.withLock("gen-stop") { () -> HALThread? in
            defer { thread = nil }
            return thread
        }
        current?.requestStop()
        current?.join()
    }

    var status: Status {
        lock.withLock("gen-status") {
            let end = finishedAt ?? SystemClock.now
            return Status(
                job: job, running: running.load(ordering: .relaxed), sent: sent.load(ordering: .relaxed),
                retries: retries.load(ordering: .relaxed), seconds: job == nil ? 0 : end.duration(since: startedAt).inSeconds)
        }
    }

    private func generate(_ job: Job, _ me: HALThread) {
        me.set(.working)
        var frame = [UInt8](repeating: 0, count: job.tagged ? 68 : 64)
        // Destination: a locally administered unicast address nobody has.
        let destination: [UInt8] = [0x02, 0x00, 0x5e, 0xff, 0xff, 0xfe]
        for (index, byte) in destination.enumerated() { frame[index] = byte }
        var offset = 12
        if job.tagged {
            frame[12] = 0x81
            frame[13] = 0x00
            frame[14] = UInt8(job.vlan >> 8 & 0x0f)
            frame[15] = UInt8(job.vlan & 0xff)
            offset = 16
        }
        frame[offset] = 0x08  // IPv4 ethertype; the payload is zeros
        frame[offset + 1] = 0x00
        let started = SystemClock.now
        var index = 0
        frame.withUnsafeMutableBytes { raw in
            while index < job.count && !me.shouldStop {
                let source = job.base.value &+ UInt64(index)
                for byte in 0..<6 { raw[6 + byte] = UInt8(truncatingIfNeeded: source >> UInt64(40 - 8 * byte)) }
                if rx.receive(port: job.port, frame: UnsafeRawBufferPointer(raw)) {
                    index += 1
                    if index & 1023 == 0 { sent.store(index, ordering: .relaxed) }
                } else {
                    retries.wrappingIncrement(ordering: .relaxed)
                    sched_yield()
                }
                if job.rate > 0 {
                    // Pace: frame i is due at started + i/rate (in nanoseconds: this runs per frame,
                    // where a Duration's conversion would cost more than the frame).
                    let due = started.nanoseconds &+ UInt64(index) &* 1_000_000_000 / UInt64(job.rate)
                    let now = SystemClock.now.nanoseconds
                    if due > now &+ 50_000 { usleep(useconds_t((due &- now) / 1000)) }
                }
            }
        }
        sent.store(index, ordering: .relaxed)
        me.set(.idle)
    }
}
