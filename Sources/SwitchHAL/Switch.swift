import NetTypes
import Time

/// One simulated switch chip and its SDK: the L2 table, the NAT table, ports and VLANs, the RX
/// path and the threads that run them (`l2x`, `ager`, `rx`, `gen`, one `ev-NAME` per event
/// subscriber).
///
/// API calls are synchronous and take a deadline (an `Instant` on `SystemClock`, the clock the HAL's lock waits use): a lock
/// that cannot be had in time makes the call throw `HALError.timeout` naming the holder. The
/// control plane runs these calls on its own HAL threads, never on its event loop.
///
/// ```swift
/// let hal = Switch(chip: .small, baseMAC: MACAddress(0x0200_0000_0100))
/// hal.start()
/// try hal.createVLAN(10, deadline: SystemClock.deadline(after: .seconds(2)))
/// try hal.l2Add(L2Entry(mac: mac, vlan: 10, port: 3, flags: .static), deadline: SystemClock.deadline(after: .seconds(2)))
/// ```
public final class Switch: @unchecked Sendable {
    public let chip: ChipProfile
    public let baseMAC: MACAddress
    public let locks = HALLocks()
    public let rx: RxPath
    let state: L2State
    /// The NAT table, guarded by `locks.natTable` (public for benchmarks: whoever touches it
    /// directly holds that lock).
    public let nat: NATTable
    let ports: PortTable
    let fanout: EventFanout
    let cpu: CPUDispatcher
    let generator: TrafficGenerator
    let transmitter: Transmitter
    /// Injected faults (labs and tests).
    public let faults = FaultInjector()
    /// The strace-like call trace.
    public let trace = HALTrace()
    /// Reports locks held or waited for too long.
    public private(set) var watchdog: LockWatchdog!
    private let l2Worker: L2Worker
    let ager: Ager
    private var threads: [HALThread] = []
    private var started = false

    public init(chip: ChipProfile, baseMAC: MACAddress) {
        self.chip = chip
        self.baseMAC = baseMAC
        let pool = PacketPool(
            count: chip.rxPoolBuffers, size: chip.rxBufferSize, reservedCount: chip.rxReservedBuffers, jumboCount: chip.rxJumboBuffers)
        rx = RxPath(pool: pool)
        state = L2State(chip: chip)
        nat = NATTable(capacity: chip.natEntries)
        ports = PortTable(portCount: chip.portCount, baseMAC: baseMAC)
        fanout = EventFanout(lock: locks.subscribers)
        cpu = CPUDispatcher(pool: pool, capacity: max(16, chip.rxPoolBuffers / 4))
        generator = TrafficGenerator(rx: rx, lock: locks.generator)
        transmitter = Transmitter(portCount: chip.portCount)
        l2Worker = L2Worker(
            rx: rx, ports: ports, state: state, lock: locks.l2Table, fanout: fanout, cpu: cpu, faults: faults, transmitter: transmitter,
            nat: nat, natLock: locks.natTable)
        ager = Ager(state: state, lock: locks.l2Table, fanout: fanout, faults: faults)
        watchdog = LockWatchdog { [unowned self] in allLocks }
    }

    /// Starts the HAL's threads.
    public func start() {
        guard !started else { return }
        started = true
        threads = [l2Worker.start(), ager.start(), cpu.start(), watchdog.start()]
        for (port, backend) in transmitter.attached {
            let rx = self.rx
            backend.start { frame, offload in rx.receive(port: port, frame: frame, offload: offload) }
        }
    }

    /// Stops every thread; buffers in flight go back to the pool.
    public func stop() {
        guard started else { return }
        started = false
        for (_, backend) in transmitter.attached { backend.stop() }
        generator.stop()
        faults.clearStalls()
        watchdog.stop()
        l2Worker.stop()
        ager.stop()
        cpu.stop()
        fanout.stopAll()
        threads.removeAll()
    }

    deinit { stop() }

    // MARK: Introspection

    /// The HAL's named threads and what each is doing.
    public var threadStates: [(name: String, tid: Int32, activity: ThreadActivity, seconds: Double)] {
        var all = threads + fanout.threads
        if let gen = generatorThread { all.append(gen) }
        return all.map { thread in
            let state = thread.state
            return (thread.name, thread.tid, state.activity, state.seconds)
        }
    }

    var generatorThread: HALThread? { generator.currentThread }

    /// Every lock of this switch: the fixed ones, the CPU handler's, each subscriber's queue.
    public var allLocks: [HALLock] {
        locks.all + [cpu.handlerLock] + fanout.queueLocks
    }

    /// Every lock (and each subscriber's queue lock) with holder and waiters.
    public var lockSnapshots: [LockSnapshot] {
        allLocks.map { $0.snapshot() }
    }

    /// Subscribers and their delivery counters.
    public var subscriptions: [SubscriptionStatistics] { fanout.statistics }

    // MARK: Events and packets

    /// Subscribes to HAL events. `handler` runs on the subscription's own thread, never under a
    /// HAL lock; if it falls more than `capacity` events behind, events are dropped and counted.
    public func subscribe(name: String, capacity: Int = 65536, handler: @escaping @Sendable (HALEvent) -> Void)
        -> EventFanout.Subscription
    {
        fanout.subscribe(name: name, capacity: capacity, handler: handler)
    }

    /// Sets the handler for frames punted to the CPU (router MAC, broadcast, multicast), called
    /// with the ingress port, the VLAN and the frame, each class policed and in priority order
    /// (`setCPUPolicer`). It runs on the `rx` thread; the frame's memory is only valid during
    /// the call.
    public func setPacketHandler(_ handler: (@Sendable (PortID, UInt16, UnsafeRawBufferPointer) -> Void)?) {
        cpu.setHandler(handler)
    }

    /// Frames for the CPU that conformed to their policer but found their queue full.
    public var cpuQueueDrops: UInt64 { cpu.dropped }

    /// Frames for the CPU whose offload work (checksum, segments) could not be finished.
    public var cpuOffloadErrors: UInt64 { cpu.offloadErrors }

    // MARK: Faults

    /// Proves the witness: thread `fault-order` takes hal.ports then l2.table (the documented
    /// order); then thread `fault-inversion` takes l2.table then hal.ports. The second
    /// acquisition is reported (order reversal and rank violation) before it waits, and it
    /// waits with a deadline, so nothing can deadlock even if the order bites.
    public func injectInversion() {
        let locks = self.locks
        let first = HALThread.spawn(name: "fault-order") { _ in
            locks.ports.withLock("fault-order-ports") {
                locks.l2Table.withLock("fault-order-table") {}
            }
        }
        first.join()
        let second = HALThread.spawn(name: "fault-inversion") { _ in
            try? locks.l2Table.withLock("fault-inversion-table", deadline: SystemClock.deadline(after: .seconds(1))) {
                try locks.ports.withLock("fault-inversion-ports", deadline: SystemClock.deadline(after: .milliseconds(200))) {}
            }
        }
        second.join()
    }

    // MARK: Traffic generator

    /// Starts injecting frames (see `TrafficGenerator`).
    public func startGenerator(_ job: TrafficGenerator.Job) throws {
        guard ports.isValid(job.port) else { throw HALError.param("no port \(job.port) on this chip (1-\(chip.portCount))") }
        guard job.count > 0 else { throw HALError.param("count must be positive") }
        generator.start(job)
    }

    public func stopGenerator() { generator.stop() }

    public var generatorStatus: TrafficGenerator.Status { generator.status }
}
