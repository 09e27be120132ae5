import Channel
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Time

/// Watches the control plane itself: the event loop beats every 100 ms; if a beat is late by
/// more than the threshold, the log says so once, naming the thread and the command it is
/// running, and again when it recovers. The loop should never block; this is the proof, and the
/// alarm if a bug ever makes it.
final class ControlPlaneWatchdog: @unchecked Sendable {
    private let lastBeat = NIOLockedValueBox<UInt64>(SystemClock.now.nanoseconds)
    private let running = NIOLockedValueBox<(label: String, since: UInt64)?>(nil)
    private let reported = NIOLockedValueBox<UInt64?>(nil)
    private let timer: DispatchSourceTimer
    private let thresholdNanos: UInt64

    init(loop: EventLoop, threshold: Double, logger: Logger) {
        thresholdNanos = UInt64(threshold * 1e9)
        let queue = DispatchQueue(label: "vrrpd.cp-watchdog")
        timer = DispatchSource.makeTimerSource(queue: queue)
        let lastBeat = self.lastBeat
        let running = self.running
        let reported = self.reported
        let threshold = thresholdNanos
        loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            lastBeat.withLockedValue { $0 = SystemClock.now.nanoseconds }
        }
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        timer.setEventHandler {
            let beat = lastBeat.withLockedValue { $0 }
            let now = SystemClock.now.nanoseconds
            let age = now > beat ? now - beat : 0
            let stalledSince = reported.withLockedValue { $0 }
            if age > threshold + 100_000_000, stalledSince == nil {
                reported.withLockedValue { $0 = now - age }
                // The command as typed, but never a secret it carries (the log's rule would hide
                // the rest of this line with it).
                let what = running.withLockedValue { $0 }.map { "running \"\(SecretLines.redacted($0.label))\"" } ?? "between commands"
                logger.critical("control plane stalled: thread ctl-plane has not run its loop for \(formatSeconds(Double(age) / 1e9)), \(what)")
            } else if age < 200_000_000, let since = stalledSince {
                reported.withLockedValue { $0 = nil }
                logger.notice("control plane running again after \(formatSeconds(Double(now &- since) / 1e9))")
            }
        }
        timer.resume()
    }

    /// Called by the control plane around each command's synchronous part.
    func begin(_ label: String) { running.withLockedValue { $0 = (label, SystemClock.now.nanoseconds) } }
    func end() { running.withLockedValue { $0 = nil } }

    /// How long ago the loop last beat, and what it is running.
    var status: String {
        let beat = lastBeat.withLockedValue { $0 }
        let now = SystemClock.now.nanoseconds
        let age = Double(now > beat ? now - beat : 0) / 1e9
        let what = running.withLockedValue { $0 }.map { "running \"\(SecretLines.redacted($0.label))\" for \(formatSeconds(Double(now > $0.since ? now - $0.since : 0) / 1e9))" } ?? "idle"
        return "control plane (thread ctl-plane): last loop beat \(formatSeconds(age)) ago, \(what)"
    }

    func stop() { timer.cancel() }
}
