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
///
/// On the system clock, not the plane's: it measures the real thread, which a `TestClock`
/// standing still must not make look stalled (nor a jump of one hide a real stall).
final class ControlPlaneWatchdog: @unchecked Sendable {  // its state is in locked boxes; Linux's Dispatch does not mark its timer Sendable
    private let lastBeat = NIOLockedValueBox<Instant>(SystemClock.now)
    private let running = NIOLockedValueBox<(label: String, since: Instant)?>(nil)
    /// When the stall reported (and not yet over) began.
    private let reported = NIOLockedValueBox<Instant?>(nil)
    private let timer: DispatchSourceTimer
    private let threshold: Duration

    init(loop: EventLoop, threshold: Double, logger: Logger) {
        self.threshold = .nanoseconds(Int64(threshold * 1e9))
        let queue = DispatchQueue(label: "vrrpd.cp-watchdog")
        timer = DispatchSource.makeTimerSource(queue: queue)
        let lastBeat = self.lastBeat
        let running = self.running
        let reported = self.reported
        let threshold = self.threshold
        loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            lastBeat.withLockedValue { $0 = SystemClock.now }
        }
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        timer.setEventHandler {
            let beat = lastBeat.withLockedValue { $0 }
            let now = SystemClock.now
            let age = now.duration(since: beat)
            let stalledSince = reported.withLockedValue { $0 }
            if age > threshold + .milliseconds(100), stalledSince == nil {
                reported.withLockedValue { $0 = now - age }
                // The command as typed, but never a secret it carries (the log's rule would hide
                // the rest of this line with it).
                let what = running.withLockedValue { $0 }.map { "running \"\(SecretLines.redacted($0.label))\"" } ?? "between commands"
                logger.critical("control plane stalled: thread ctl-plane has not run its loop for \(formatSeconds(age.inSeconds)), \(what)")
            } else if age < .milliseconds(200), let since = stalledSince {
                reported.withLockedValue { $0 = nil }
                logger.notice("control plane running again after \(formatSeconds(now.duration(since: since).inSeconds))")
            }
        }
        timer.resume()
    }

    /// Called by the control plane around each command's synchronous part.
    func begin(_ label: String) { running.withLockedValue { $0 = (label, SystemClock.now) } }
    func end() { running.withLockedValue { $0 = nil } }

    /// How long ago the loop last beat, and what it is running.
    var status: String {
        let beat = lastBeat.withLockedValue { $0 }
        let now = SystemClock.now
        let age = now.duration(since: beat).inSeconds
        let what = running.withLockedValue { $0 }.map { "running \"\(SecretLines.redacted($0.label))\" for \(formatSeconds(now.duration(since: $0.since).inSeconds))" } ?? "idle"
        return "control plane (thread ctl-plane): last loop beat \(formatSeconds(age)) ago, \(what)"
    }

    func stop() { timer.cancel() }
}
