import CLI
import Channel
import Logging
import NIOCore
import SwitchHAL
import Time

/// Brings configuration edits into the running configuration and the HAL, in order, each all or
/// nothing.
///
/// A command describes its edit as a closure over a `ConfigEdit`. The committer runs it on the
/// configuration as it will be once everything queued has landed (`projected`), works out which
/// HAL objects it changes from the keys it touched (never by comparing whole configurations), and
/// hands those changes to the HAL reconciler as one transaction. Only when the HAL accepted them
/// is the edit made to the live configuration (run again on it, so that an earlier edit that
/// failed is not built upon), and the subsystems that follow the configuration hear of the keys.
/// An edit that touches no HAL object lands at once when nothing is queued before it, else in
/// its turn. A refused transaction is undone in the HAL and the live configuration is left as it
/// was; one a timeout left unknown is brought back to the live configuration's state by the
/// reconciler, with back-off, so a HAL that recovers from a stall catches up without a restart.
final class ConfigCommitter {
    typealias Edit = (inout ConfigEdit) -> String?

    /// The plane owns the committer (unowned: no cycle).
    private unowned let plane: ControlPlane
    private let portCount: Int
    let reconciler: HALReconciler<HALObject, HALState>
    /// The live configuration with every queued edit applied: what the next command is checked
    /// against.
    private(set) var projected: RunningConfig
    private var pending: [Pending] = []
    /// Edits queued so far and landed so far (each edit gets the next number), and who waits
    /// for an edit to have landed.
    private var queuedCount: UInt64 = 0
    private var landedCount: UInt64 = 0
    private var barriers: [(edit: UInt64, promise: EventLoopPromise<Void>)] = []

    /// Bumped whenever what landed departs from what was projected (an edit failed or was
    /// abandoned, the configuration was replaced): projections older than it are redone.
    private var generation: UInt64 = 0

    private final class Pending {
        let context: CommandContext
        let edit: Edit
        let promise: EventLoopPromise<Status>
        var result: HALGroupResult?
        let queued: Instant
        /// The configuration once this edit has landed, and what it touched, as projected in
        /// `generation`: while that is current, landing is taking this value (no second run).
        var projection: ConfigEdit
        var generation: UInt64
        var number: UInt64 = 0
        /// Projected again since its HAL part was planned.
        var reprojected = false
        /// Set for a reload: the whole configuration replaced in this edit's turn (`replace`).
        var replacement: Replacement?

        init(context: CommandContext, edit: @escaping Edit, promise: EventLoopPromise<Status>, result: HALGroupResult?,
             projection: ConfigEdit, generation: UInt64) {
            self.context = context
            queued = context.plane.clock.now
            self.edit = edit
            self.promise = promise
            self.result = result
            self.projection = projection
            self.generation = generation
        }
    }

    init(plane: ControlPlane) {
        self.plane = plane
        portCount = plane.hal.hal.chip.portCount
        projected = plane.live.config
        let live = plane.live
        reconciler = HALReconciler(driver: HALState.driver, hal: plane.hal, loop: plane.loop, clock: plane.clock) { object in
            HALState.desired(object, in: live.config)
        }
        let logger = plane.logger
        let repeated = plane.repeatedLines
        // Each refused command makes a new problem (its own words); the session was told.
        reconciler.onProblem = { repeated.log(.halRefusal, logger, .error, "HAL: \($0)") }
        reconciler.onRecovered = { _ in logger.notice("HAL configuration in step again") }
        reconciler.onRepair = { objects in
            for object in objects.prefix(20) { logger.warning("HAL: \(object) was not as configured; applied again") }
            if objects.count > 20 { logger.warning("HAL: \(objects.count - 20) more object(s) were not as configured; applied again") }
        }
        scheduleVerification()
    }

    /// How often the HAL is read back against the configuration (what a stall or a fault may
    /// have lost is applied again).
    static let verifyInterval = Duration.seconds(30)

    private var verification: ClockTimer?

    private func scheduleVerification() {
        // Weakly: a test clock outlives the plane, and holds the wake-up until it is advanced.
        verification = plane.loop.scheduleTask(after: Self.verifyInterval, clock: plane.clock) { [weak self] in
            self?.verify()
            self?.scheduleVerification()
        }
    }

    /// Reads every object the configuration has back from the HAL and repairs what differs
    /// (the NAT table's slot reservations aside: their number grows with the configuration, and
    /// this runs on the loop; the NAT service programs and resynchronises that table).
    func verify() {
        plane.loop.assertInEventLoop()
        reconciler.verify(Array(HALObject.all(in: plane.live.config, portCount: portCount, natReservations: false)))
    }

    func stop() {
        verification?.cancel()
        reconciler.stop {}
    }

    /// The HAL holds what the live configuration asks for, and nothing is waiting.
    var isInSync: Bool { pending.isEmpty && reconciler.inSync }

    /// What the queue is doing, for timeout messages.
    var activity: String {
        var text = "the HAL commit queue"
        if let first = pending.first {
            text += " (\(pending.count) edit(s) waiting, the first \"\(first.context.line)\" from \(first.context.session.name) for "
                + "\(formatSeconds(plane.clock.elapsed(since: first.queued).inSeconds)))"
        }
        return text + "; " + reconciler.activity + "; " + plane.hal.activity
    }

    /// Applies `edit` to the configuration the command edits, through the HAL when it is the live
    /// one. `edit` returns an error message to refuse the change.
    func commit(_ ctx: CommandContext, _ edit: @escaping Edit) -> CommandOutcome {
        plane.loop.assertInEventLoop()
        guard ctx.workspace === plane.live else {
            var change = ConfigEdit(ctx.workspace.config)
            if let error = edit(&change) { return ctx.refuse(error) }
            if let capacity = ctx.workspace.capacity,
                let error = capacity.place(halChanges(change.change, from: ctx.workspace.config, to: change.config))
            {
                return ctx.refuse("\(error)")
            }
            ctx.workspace.apply(change)
            return .done(.success)
        }
        if !ctx.loading, let message = plane.startup.loadingMessage { return ctx.fail(message) }
        var change = ConfigEdit(projected)
        if let error = edit(&change) { return ctx.refuse(error) }
        let hal = halChanges(change.change, from: projected, to: change.config)
        if hal.isEmpty && pending.isEmpty {
            projected = change.config
            plane.live.apply(change)
            return .done(.success)
        }
        projected = change.config
        let promise = plane.loop.makePromise(of: Status.self)
        let item = Pending(
            context: ctx, edit: edit, promise: promise, result: hal.isEmpty ? .applied : nil, projection: change, generation: generation)
        queuedCount += 1
        item.number = queuedCount
        pending.append(item)
        if !hal.isEmpty {
            reconciler.transaction(hal, label: ctx.line, isCancelled: { ctx.abandoned }) { [self] result in
                item.result = result
                land()
            }
        }
        return .pending(promise.futureResult, waitingFor: { [self] in activity }, pipelined: true)
    }

    /// The HAL changes an edit makes, from the keys it touched.
    private func halChanges(_ change: ConfigChange, from old: RunningConfig, to new: RunningConfig) -> [HALChange<HALObject, HALState>] {
        var seen = Set<HALObject>()
        var out: [HALChange<HALObject, HALState>] = []
        for object in HALObject.objects(for: change) where seen.insert(object).inserted {
            let target = HALState.desired(object, in: new)
            let previous = HALState.desired(object, in: old)
            if target != previous { out.append(HALChange(object: object, target: target, previous: previous)) }
        }
        return out
    }

    /// A future that completes once every edit `session` queued so far has landed (and so every
    /// edit queued before those); nil: it has none queued. Another session's script never holds
    /// up a `show` of this one.
    func whenLanded(session: Session) -> EventLoopFuture<Void>? {
        plane.loop.assertInEventLoop()
        guard let last = pending.last(where: { $0.context.session === session }) else { return nil }
        let promise = plane.loop.makePromise(of: Void.self)
        barriers.append((last.number, promise))
        return promise.futureResult
    }

    /// Lands the edits at the head of the queue whose HAL part is done, in order.
    private func land() {
        let start = generation
        // After the subsystems hear of what landed (that is queued first): a `show vrrp`
        // waiting here sees it.
        defer { plane.loop.assumeIsolated().execute { [self] in releaseBarriers() } }
        while let head = pending.first, let result = head.result {
            pending.removeFirst()
            landedCount = head.number
            let ctx = head.context
            if let replacement = head.replacement {
                // What follows it was projected on its configuration: nothing to redo.
                land(replacement)
                head.promise.succeed(.success)
                continue
            }
            if ctx.abandoned {
                head.promise.succeed(.cancelled)
                generation += 1
                continue
            }
            if let error = result.error {
                // The chip refused the change (a full table, a value it does not take), or its
                // outcome is not known (a timeout).
                if case .refused = result { ctx.print(FailureText.refused("\(error)")) } else { ctx.print(FailureText.failed("\(error)")) }
                plane.repeatedLines.log(.halRefusal, plane.logger, .warning, "HAL change refused", metadata: ["command": "\(ctx.line)", "error": "\(error)"])
                head.promise.succeed(.error)
                generation += 1
                continue
            }
            if head.generation == generation {
                // Everything before it landed as projected: its projection is the live
                // configuration now.
                plane.live.apply(head.projection)
                // Projected again after an earlier edit failed: its HAL part was planned from the
                // first projection, so the HAL follows the live configuration for what it touched.
                if head.reprojected { reconciler.changed(HALObject.objects(for: head.projection.change)) }
            } else {
                // Again, on the live configuration (an edit before this one failed).
                var change = ConfigEdit(plane.live.config)
                if let error = head.edit(&change) {
                    ctx.print(FailureText.refused(error))
                    head.promise.succeed(.error)
                    generation += 1
                    continue
                }
                plane.live.apply(change)
                // What it changes now may not be what its HAL part was planned from: the HAL
                // follows the live configuration for every object it touched.
                reconciler.changed(HALObject.objects(for: change.change))
            }
            head.promise.succeed(.success)
        }
        if pending.isEmpty {
            projected = plane.live.config
        } else if generation != start {
            reproject()
        }
    }

    private func releaseBarriers() {
        guard barriers.contains(where: { $0.edit <= landedCount }) else { return }
        // Each session waits for its own edits: the barriers are not in order.
        let due = barriers.filter { $0.edit <= landedCount }
        barriers.removeAll { $0.edit <= landedCount }
        for barrier in due { barrier.promise.succeed(()) }
    }

    /// What is still queued was checked against a projection that included what failed:
    /// project again from what landed.
    private func reproject() {
        var config = plane.live.config
        for item in pending {
            if let replacement = item.replacement {
                config = replacement.config
                item.generation = generation
                continue
            }
            var change = ConfigEdit(config)
            guard item.edit(&change) == nil else { continue }
            config = change.config
            item.projection = change
            item.generation = generation
            item.reprojected = true
        }
        projected = config
    }

    /// A whole configuration taking the live one's place, and who hears what it replaced.
    struct Replacement {
        let config: RunningConfig
        /// What differs between the configuration it replaces (given) and `config`.
        let keys: (RunningConfig) -> ConfigChange
        let replaced: EventLoopPromise<RunningConfig>
    }

    /// Replaces the live configuration with `config` (a reload) as one edit in the queue: after
    /// every edit queued before it has landed (those the file does not have are replaced), before
    /// every edit queued after it (checked against `config`, they apply on top of it). No edit
    /// straddles it: each was checked against the configuration it lands on. `keys(before)` says
    /// what differs from the configuration it replaces, known only then; the HAL follows those
    /// objects in the background. The future gives the configuration replaced (what the reload's
    /// log compares with).
    func replace(with config: RunningConfig, label: String, keys: @escaping (RunningConfig) -> ConfigChange) -> EventLoopFuture<RunningConfig> {
        plane.loop.assertInEventLoop()
        let replaced = plane.loop.makePromise(of: RunningConfig.self)
        let replacement = Replacement(config: config, keys: keys, replaced: replaced)
        guard !pending.isEmpty else {
            land(replacement)
            projected = plane.live.config
            return replaced.futureResult
        }
        projected = config
        let session = Session(id: 0, mode: Modes.config, client: label, connectedAt: plane.clock.now)
        let context = CommandContext(plane: plane, session: session, workspace: plane.live, line: label, loading: true)
        let item = Pending(
            context: context, edit: { _ in nil }, promise: plane.loop.makePromise(), result: .applied,
            projection: ConfigEdit(config), generation: generation)
        item.replacement = replacement
        queuedCount += 1
        item.number = queuedCount
        pending.append(item)
        return replaced.futureResult
    }

    /// A replacement's turn: the live configuration becomes its configuration; the subsystems
    /// hear what differs, and the HAL gets it as one transaction in the reconciler's queue (the
    /// removals before the additions, in phase order), so that what is queued after the reload
    /// reaches the HAL after it: a mapping typed during a reload cannot take the slots the file's
    /// mappings were checked to have (the file was held to the chip's tables when it was read).
    /// Refused or timed out, the reconciler brings the objects to the running configuration
    /// again in the background, and the log says so.
    private func land(_ replacement: Replacement) {
        let before = plane.live.config
        let change = plane.live.replace(with: replacement.config, change: replacement.keys(before))
        let hal = halChanges(change, from: before, to: replacement.config)
        let logger = plane.logger
        reconciler.transaction(hal, label: "reload") { result in
            if let error = result.error {
                logger.error("reload: the HAL did not take \(hal.count) change(s) (\(error)); they are applied again in the background")
            }
        }
        replacement.replaced.succeed(before)
    }
}
