import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import SwitchHAL

/// The control plane's door to the HAL. Every HAL call runs on one of the `hal-api` threads,
/// never on the control-plane loop, with a deadline on every lock it takes; the loop only ever
/// waits on a future. A stuck HAL therefore fails the commands that need it, with a message
/// naming the lock and its holder, and nothing else.
public final class HALService: Sendable {
    public let hal: Switch
    /// How long one HAL call may wait for a lock.
    public let callTimeout: Double
    private let pool: NIOThreadPool
    private let inFlight = NIOLockedValueBox<[Int: (operation: String, since: UInt64)]>([:])
    private let nextCall = NIOLockedValueBox(0)

    private let subscription = NIOLockedValueBox<EventFanout.Subscription?>(nil)

    public init(chip: ChipProfile, baseMAC: MACAddress, callTimeout: Double, logger: Logger) {
        hal = Switch(chip: chip, baseMAC: baseMAC)
        self.callTimeout = callTimeout
        pool = NIOThreadPool(numberOfThreads: 2)
        pool._start(threadNamePrefix: "hal-api-#")
        hal.start()
        // The control plane's own subscriber: link changes and station moves go to the log
        // (moves at debug level, and rate-limited: a loop can move a MAC thousands of times).
        let moves = LogRateLimiter(burst: 10, intervalSeconds: 10)
        subscription.withLockedValue {
            $0 = hal.subscribe(name: "ctl", capacity: 16384) { event in
                switch event {
                case .link(let port, let up):
                    logger.notice("eth\(port) link \(up ? "up" : "down")")
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

    public func shutdown() {
        subscription.withLockedValue { $0?.cancel() }
        hal.stop()
        try? pool.syncShutdownGracefully()
    }

    /// Runs `body` on a HAL thread with a deadline `callTimeout` from when it starts; the future
    /// completes on `loop`.
    public func call<T: Sendable>(
        _ operation: String, on loop: EventLoop, _ body: @escaping @Sendable (Switch, UInt64) throws -> T
    ) -> EventLoopFuture<T> {
        let hal = self.hal
        let timeout = callTimeout
        let inFlight = self.inFlight
        let id = nextCall.withLockedValue { n -> Int in
            n += 1
            return n
        }
        return pool.runIfActive(eventLoop: loop) {
            inFlight.withLockedValue { $0[id] = (operation, HALClock.now) }
            defer { inFlight.withLockedValue { $0[id] = nil } }
            return try body(hal, HALClock.deadline(after: timeout))
        }
    }

    /// What HAL work is under way, and which locks are held with others waiting: for the
    /// message of a command that timed out waiting on the HAL.
    public var activity: String {
        let calls = inFlight.withLockedValue { Array($0.values) }
        var parts = calls.sorted { $0.since < $1.since }.map {
            "HAL call \($0.operation) running for \(formatSeconds(HALClock.seconds(since: $0.since)))"
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
