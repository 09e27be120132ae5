import Channel
import Logging
import NIOCore
import SwitchHAL

/// Brings configuration changes into the HAL, one change at a time, all or nothing.
///
/// A command describes its change as a mutation of the running configuration. The committer
/// works out which HAL objects that changes (`HALOperation.plan`), applies them on the HAL
/// threads, and only when every one succeeded makes the change in the running configuration.
/// If one fails, the ones already applied are undone and the configuration is left as it was.
/// `applied` mirrors what the HAL holds; objects whose state a timeout left unknown are applied
/// again by the next commit or by the periodic resynchronisation, so a HAL that recovers from a
/// stall catches up without a restart.
final class HALCommitter {
    private let service: HALService
    private let plane: ControlPlane
    private let portCount: Int
    private(set) var applied: HALDesired
    private var queue: [Job] = []
    private var running: Job?
    private var resyncTask: Scheduled<Void>?
    private var stopped = false
    /// The resync interval backs off while the HAL keeps timing out (a stalled HAL is not
    /// hammered), up to 16 s, and returns to 2 s on success.
    private var resyncInterval: TimeAmount = .seconds(2)

    struct Job {
        let label: String
        let requester: String
        let work: () -> EventLoopFuture<Void>
        var started: UInt64 = 0
    }

    init(service: HALService, plane: ControlPlane) {
        self.service = service
        self.plane = plane
        portCount = service.hal.chip.portCount
        applied = HALDesired.initial(portCount: portCount)
    }

    /// Starts the periodic check that re-applies what a timeout left unknown.
    func startResync(every interval: TimeAmount) {
        guard !stopped else { return }
        resyncInterval = interval
        scheduleResync()
    }

    private func scheduleResync() {
        guard !stopped else { return }
        resyncTask = plane.loop.assumeIsolated().scheduleTask(in: resyncInterval) { [self] in
            guard running == nil, queue.isEmpty else { return scheduleResync() }
            let target = HALDesired(plane.live.config, portCount: portCount)
            guard !applied.unknown.isEmpty || applied != target else {
                resyncInterval = .seconds(2)
                return scheduleResync()
            }
            enqueue(Job(label: "resynchronise the HAL", requester: "vrrpd") { [self] in
                reconcile(reason: "resynchronise").assumeIsolated().always { [self] _ in
                    resyncInterval = applied.unknown.isEmpty ? .seconds(2) : min(resyncInterval * 2, .seconds(16))
                    scheduleResync()
                }.nonisolated()
            })
        }
    }

    func stop() {
        stopped = true
        resyncTask?.cancel()
    }

    var isInSync: Bool { applied.unknown.isEmpty && applied == HALDesired(plane.live.config, portCount: portCount) }

    /// What the queue is doing, for timeout messages.
    var activity: String {
        var text = "the HAL commit queue"
        if let running {
            text += " (busy with \"\(running.label)\" from \(running.requester) for \(formatSeconds(HALClock.seconds(since: running.started)))"
            if !queue.isEmpty { text += ", \(queue.count) more queued" }
            text += ")"
        }
        return text + "; " + service.activity
    }

    /// Applies `mutation` to the configuration the command edits, through the HAL when it is
    /// the live one. `mutation` returns an error message to refuse the change.
    func commit(_ ctx: CommandContext, _ mutation: @escaping (inout RunningConfig) -> String?) -> CommandOutcome {
        var after = ctx.config
        if let error = mutation(&after) { return ctx.fail(error) }
        guard ctx.workspace === plane.live else {
            ctx.config = after
            return .done(.success)
        }
        if HALDesired(after, portCount: portCount) == HALDesired(ctx.config, portCount: portCount) {
            ctx.config = after
            return .done(.success)
        }
        let promise = plane.loop.makePromise(of: Status.self)
        enqueue(Job(label: ctx.line, requester: ctx.session.name) { [self] in
            guard !ctx.abandoned else {
                promise.succeed(.cancelled)
                return plane.loop.makeSucceededVoidFuture()
            }
            // Again, on the configuration as it is now (other sessions may have changed it).
            var target = plane.live.config
            if let error = mutation(&target) {
                ctx.print("% " + error)
                promise.succeed(.error)
                return plane.loop.makeSucceededVoidFuture()
            }
            return apply(toward: target).assumeIsolated().flatMap { [self] report -> EventLoopFuture<Void> in
                guard let error = report.error else {
                    _ = mutation(&plane.live.config)
                    promise.succeed(.success)
                    return plane.loop.makeSucceededVoidFuture()
                }
                ctx.print("% \(error)")
                if let failed = report.failedOperation {
                    plane.logger.warning("HAL change refused", metadata: ["command": "\(ctx.line)", "operation": "\(failed)", "error": "\(error)"])
                }
                promise.succeed(.error)
                // Undo what was applied: back to the configuration as it stands.
                return reconcile(reason: "roll back \"\(ctx.line)\"")
            }.nonisolated()
        })
        return .pending(promise.futureResult, waitingFor: { [self] in activity })
    }

    /// Brings the HAL to the live configuration (after a reload, at start, on resync).
    func reconcile(reason: String) -> EventLoopFuture<Void> {
        let target = plane.live.config
        let before = applied
        return apply(toward: target).assumeIsolated().map { [self] report in
            let count = HALOperation.plan(from: before, to: HALDesired(target, portCount: portCount)).count
            if let error = report.error {
                plane.logger.error("HAL \(reason): \(error)")
            } else if count > 0 {
                plane.logger.notice("HAL \(reason): \(count) change(s) applied")
            }
        }.nonisolated()
    }

    /// Queues a full reconciliation (used after a reload replaced the configuration).
    func scheduleReconcile(reason: String) {
        enqueue(Job(label: reason, requester: "vrrpd") { [self] in reconcile(reason: reason) })
    }

    // MARK: Running jobs

    private func enqueue(_ job: Job) {
        queue.append(job)
        runNext()
    }

    private func runNext() {
        guard running == nil, !queue.isEmpty else { return }
        var job = queue.removeFirst()
        job.started = HALClock.now
        running = job
        job.work().hop(to: plane.loop).assumeIsolated().whenComplete { [self] _ in
            running = nil
            runNext()
        }
    }

    /// Applies the operations from `applied` to `config` on the HAL threads; updates `applied`
    /// with what succeeded and marks what timed out as unknown.
    private func apply(toward config: RunningConfig) -> EventLoopFuture<HALApplyReport> {
        let target = HALDesired(config, portCount: portCount)
        let ops = HALOperation.plan(from: applied, to: target)
        guard !ops.isEmpty else {
            return plane.loop.makeSucceededFuture(HALApplyReport(applied: applied))
        }
        let start = applied
        return service.call("apply \(ops.count) change(s)", on: plane.loop) { hal, deadline -> HALApplyReport in
            var state = start
            for op in ops {
                do {
                    try op.apply(to: hal, deadline: deadline)
                    op.record(in: &state)
                } catch let error as HALError {
                    if case .timeout = error { op.forget(in: &state) }
                    return HALApplyReport(applied: state, error: error, failedOperation: op.description)
                }
            }
            return HALApplyReport(applied: state)
        }.assumeIsolated().map { [self] report in
            applied = report.applied
            return report
        }.nonisolated()
    }
}
