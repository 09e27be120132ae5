import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import SwitchHAL
import Time

/// The control plane's door to the HAL. Every HAL call runs on one of the `hal-api` threads,
/// never on the control-plane loop, with a deadline on every lock it takes; the loop only ever
/// waits on a future. A stuck HAL therefore fails the commands that need it, with a message
/// naming the lock and its holder, and nothing else.
public final class HALService: Sendable {
    public let hal: Switch
    /// How long one HAL call may wait for a lock.
    public let callTimeout: Double
    private let pool: NIOThreadPool
    /// NAT's calls run on their own thread (`hal-nat-#0`): a wedged NAT table can hold it, never
    /// the threads that install VRRP virtual MACs and L2 configuration.
    private let natPool: NIOThreadPool
    private let inFlight = NIOLockedValueBox<[Int: (operation: String, since: Instant)]>([:])
    private let nextCall = NIOLockedValueBox(0)

    private let subscription = NIOLockedValueBox<EventFanout.Subscription?>(nil)
    /// Told of every port that goes up or down (VRRP tracking and SVI state), from the HAL's
    /// event thread.
    private let linkObserver = NIOLockedValueBox<(@Sendable (PortID, Bool) -> Void)?>(nil)

    /// Where `--trace-hal` lines go (besides the log, with `debug hal calls`).
    private let traceFile: LogSink?
    /// Whether trace lines go to the log (`debug hal calls`).
    public let traceToLog = NIOLockedValueBox(false)

    public init(
        chip: ChipProfile, baseMAC: MACAddress, callTimeout: Double, logger: Logger, traceFile: String? = nil,
        lockThreshold: Double = 1, backends: [(PortID, PortBackend)] = []
    ) throws {
        hal = Switch(chip: chip, baseMAC: baseMAC)
        self.callTimeout = callTimeout
        self.traceFile = try traceFile.map { try LogSink(.file($0)) }
        pool = NIOThreadPool(numberOfThreads: 2)
        pool._start(threadNamePrefix: "hal-api-#")
        natPool = NIOThreadPool(numberOfThreads: 1)
        natPool._start(threadNamePrefix: "hal-nat-#")
        hal.watchdog.threshold = lockThreshold
        // Findings of the witness and the watchdog go to the log at once, from their threads.
        Witness.shared.setSink { report in logger.error("HAL witness: \(report.message)") }
        hal.watchdog.setSink { alert in
            switch alert.kind {
            case .released: logger.notice("HAL watchdog: \(alert.message)")
            default: logger.warning("HAL watchdog: \(alert.message)")
            }
        }
        let file = self.traceFile
        let toLog = traceToLog
        hal.trace.setSink { line in
            file?.write(level: .info, text: line)
            if toLog.withLockedValue({ $0 }) { logger.info("hal-call: \(line)") }
        }
        hal.trace.isEnabled = traceFile != nil
        for (port, backend) in backends { try hal.attach(backend, to: port) }
        hal.start()
        // The control plane's own subscriber: link changes and station moves go to the log
        // (moves at debug level, and rate-limited: a loop can move a MAC thousands of times).
        let moves = LogRateLimiter(burst: 10, interval: .seconds(10))
        let links = linkObserver
        subscription.withLockedValue {
            $0 = hal.subscribe(name: "ctl", capacity: 16384) { event in
                switch event {
                case .link(let port, let up):
                    logger.notice("eth\(port) link \(up ? "up" : "down")")
                    links.withLockedValue { $0 }?(port, up)
                case .moved(let entry, let from):
                    guard let suppressed = moves.admit() else { return }
                    logger.debug(
                        "station move", metadata: ["mac": "\(entry.mac)", "vlan": "\(entry.vlan)", "from": "eth\(from)",
                        "to": "eth\(entry.port)", "suppressed": "\(suppressed)"])
                case .flushed(let filter, let count, let reason) where reason != .api && count > 0:
                    logger.info("flushed \(count) MAC entries (\(filter)) on \(reason.rawValue)")
                default:
                    break
                }
            }
        }
    }

    public func setLinkObserver(_ observer: (@Sendable (PortID, Bool) -> Void)?) {
        linkObserver.withLockedValue { $0 = observer }
    }

    /// Turns `debug hal calls` on or off (the trace file, if any, keeps receiving).
    public func setTraceToLog(_ on: Bool) {
        traceToLog.withLockedValue { $0 = on }
        hal.trace.isEnabled = on || traceFile != nil
    }

    public func shutdown() {
        Witness.shared.setSink(nil)
        subscription.withLockedValue { $0?.cancel() }
        hal.stop()
        try? pool.syncShutdownGracefully()
        try? natPool.syncShutdownGracefully()
    }

    /// Runs `body` on a HAL thread with a deadline `callTimeout` from when it starts; the future
    /// completes on `loop`.
    public func call<T: Sendable>(
        _ operation: String, on loop: EventLoop, _ body: @escaping @Sendable (Switch, Instant) throws -> T
    ) -> EventLoopFuture<T> {
        run(operation, on: loop, pool: pool, body)
    }

    /// The same, on the NAT thread (`hal-nat-#0`).
    public func callNAT<T: Sendable>(
        _ operation: String, on loop: EventLoop, _ body: @escaping @Sendable (Switch, Instant) throws -> T
    ) -> EventLoopFuture<T> {
        run(operation, on: loop, pool: natPool, body)
    }

    private func run<T: Sendable>(
        _ operation: String, on loop: EventLoop, pool: NIOThreadPool, _ body: @escaping @Sendable (Switch, Instant) throws -> T
    ) -> EventLoopFuture<T> {
        let hal = self.hal
        let timeout = callTimeout
        let inFlight = self.inFlight
        let id = nextCall.withLockedValue { n -> Int in
            n += 1
            return n
        }
        return pool.runIfActive(eventLoop: loop) {
            inFlight.withLockedValue { $0[id] = (operation, SystemClock.now) }
            defer { inFlight.withLockedValue { $0[id] = nil } }
            return try body(hal, SystemClock.deadline(after: .seconds(timeout)))
        }
    }

    /// What HAL work is under way, and which locks are held with others waiting: for the
    /// message of a command that timed out waiting on the HAL.
    public var activity: String {
        let calls = inFlight.withLockedValue { Array($0.values) }
        var parts = calls.sorted { $0.since < $1.since }.map {
            "HAL call \($0.operation) running for \(formatSeconds(SystemClock.elapsed(since: $0.since).inSeconds))"
        }
        for lock in hal.lockSnapshots {
            guard let holder = lock.holder, holder.seconds > 0.5 || !lock.waiters.isEmpty else { continue }
            parts.append(
                "lock \(lock.name) held by thread \(holder.thread) for \(formatSeconds(holder.seconds))"
                    + (holder.site.map { " (\($0))" } ?? "") + (lock.waiters.isEmpty ? "" : ", \(lock.waiters.count) waiting"))
        }
        return parts.isEmpty ? "the HAL" : "the HAL: " + parts.joined(separator: "; ")
    }
}
