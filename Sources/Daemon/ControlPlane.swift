import CLI
import Channel
import Logging
import NAT
import NIOCore
import NIOPosix
import NetTypes
import SwitchHAL
import Time

/// The control plane: the running configuration, every session, and the command dispatcher.
///
/// The driver of the plane's state: its state values (`SessionTable`, `ConfigPushQueue`,
/// `StartupStatus`) and the live configuration are used on one event loop (`loop`; the entry
/// points assert it), so no state needs a lock. Anything that can take time (disk, key derivation, the HAL) runs
/// elsewhere and comes back as a future with a deadline; the loop itself never blocks, so one
/// stuck subsystem or client cannot delay another session's `show`.
public final class ControlPlane {
    /// The counters of commands and of the command channel (the sessions' own are
    /// `SessionTable.Statistics`).
    public struct Statistics {
        public var commands = 0
        public var commandTimeouts = 0
        public var protocolErrors = 0
    }

    public let loop: EventLoop
    public let options: DaemonOptions
    public let logger: Logger
    public let live = ConfigWorkspace()
    public let store: StartupConfigStore
    /// Threads for blocking work that is not a save or a key derivation: file reads, reload
    /// differences, renderings for `write file`.
    public let pool: NIOThreadPool
    /// The enable secret's key derivations (scrypt) on a thread of their own: file reads and
    /// renderings on `pool` never hold up a login.
    public let authPool: NIOThreadPool
    let registry: CommandRegistry
    /// The switch chip and its SDK.
    public let hal: HALService
    private(set) var committer: ConfigCommitter!
    /// The VRRP routers (on their own thread).
    public private(set) var vrrp: VRRPService!
    /// What the running configuration asks of VRRP, kept change by change.
    private(set) var sviDesired = SVIDesired()
    /// NAT: the translation engine and the HAL NAT table (on their own thread).
    public private(set) var nat: NATService!
    /// The router on the SVIs: its answers, the neighbour table, the routing path (on NAT's
    /// thread).
    private(set) var l3: L3Service!
    private(set) var cpuPath: CPUPath!
    /// The configuration changes on their way to the subsystems.
    private(set) var configPush = ConfigPushQueue()
    /// Reports the control plane's own loop if it ever stops running.
    private(set) var watchdog: ControlPlaneWatchdog!
    public internal(set) var sessions = SessionTable()
    /// The one source of time of the plane and its services (a `TestClock` in unit tests).
    public let clock: any Clock
    public let startedAt: Instant
    public var statistics = Statistics()
    /// Where the startup configuration stands (loading, loaded whole or not, reloading).
    public internal(set) var startup = StartupStatus()
    /// Lets long work step aside for other sessions (see `LoopYield`).
    let yielder: LoopYield
    /// What clients can make the log repeat, rate-limited per kind.
    let repeatedLines: RepeatedLogLines
    /// The enable secret's checks and their back-off.
    let secretChecks = EnableSecretChecks()
    /// When the last `test fault control-plane block` ended (they are spaced; see `FaultInjection`).
    var faultBlockEnded: Instant?

    public init(loop: EventLoop, options: DaemonOptions, logger: Logger, clock: any Clock = SystemClock()) throws {
        self.loop = loop
        self.clock = clock
        repeatedLines = RepeatedLogLines(clock: clock)
        startedAt = clock.now
        self.options = options
        self.logger = logger
        store = StartupConfigStore(path: options.configPath, clock: clock)
        hal = try HALService(
            chip: options.chip, baseMAC: options.baseMAC, callTimeout: options.halTimeout, logger: logger,
            traceFile: options.halTraceFile, lockThreshold: options.lockThreshold,
            backends: options.ports.map { ($0.port, $0.backend) })
        pool = NIOThreadPool(numberOfThreads: 2)
        pool._start(threadNamePrefix: "worker-#")
        authPool = NIOThreadPool(numberOfThreads: 1)
        authPool._start(threadNamePrefix: "auth-#")
        yielder = LoopYield(loop: loop)
        do {
            registry = try CommandRegistry(Commands.all)
        } catch {
            hal.shutdown()
            throw DaemonError("internal error in the command declarations: \(error)")
        }
        vrrp = VRRPService(hal: hal, routerMAC: options.baseMAC, portCount: options.chip.portCount, logger: logger, clock: clock)
        nat = NATService(hal: hal, logger: logger, clock: clock)
        l3 = L3Service(nat: nat, hal: hal, routerMAC: options.baseMAC, logger: logger, clock: clock)
        // Frames to the CPU: advertisements to VRRP, what the router answers or routes to L3.
        cpuPath = CPUPath(vrrp: vrrp, l3: l3)
        cpuPath.start(hal.hal)
        // Static mappings with VRRP redundancy, and the answers for virtual addresses, follow
        // this switch's Masters.
        vrrp.setMasterObserver { [nat, l3] updated, removed in
            func groups<S: Sequence>(_ keys: S) -> Set<GroupRef> where S.Element == VRRPService.Key {
                Set(keys.filter { !$0.ipv6 }.map { GroupRef(interface: $0.interface, vrid: $0.vrid) })
            }
            nat?.mastersChanged(added: groups(updated.keys), removed: groups(removed))
            l3?.mastersChanged(updated, removed: removed)
        }
        live.onChange = { [unowned self] change in configDidChange(change) }
        committer = ConfigCommitter(plane: self)
        watchdog = ControlPlaneWatchdog(loop: loop, threshold: options.lockThreshold, logger: logger)
        _ = yielder.start()
        // Made on its loop (the daemon, the offline plane and the tests all do).
        sampleUsage()
    }

    /// The CPU this process and its threads used, and when it was read (`show processes cpu`).
    private(set) var usage = ProcessUsage()
    private var usageTimer: ClockTimer?

    /// Reads /proc now and every `ProcessUsage.interval` after (a few small files, on this loop).
    private func sampleUsage() {
        loop.assertInEventLoop()
        if let read = ProcessUsage.readProc() { usage.record(now: clock.now, process: read.process, threads: read.threads) }
        usageTimer = loop.scheduleTask(after: ProcessUsage.interval, clock: clock) { [weak self] in self?.sampleUsage() }
    }

    /// Runs `body` once the loop has served whatever other sessions are waiting for.
    func yield(_ body: @escaping () -> Void) { yielder.yield(body) }

    public func shutdown() {
        usageTimer?.cancel()
        watchdog.stop()
        yielder.stop()
        cpuPath.stop(hal.hal)
        // Masters send priority 0 while the ports still work.
        vrrp.shutdown()
        l3.shutdown()
        nat.shutdown()
        committer.stop()
        store.shutdown()
        hal.shutdown()
        try? pool.syncShutdownGracefully()
        try? authPool.syncShutdownGracefully()
    }

    /// The live configuration changed: the subsystems that follow it hear what changed (the
    /// keys, never a copy to diff), once per turn of the loop (`ConfigPushQueue`), and each
    /// redoes only what the keys cover.
    private func configDidChange(_ change: ConfigChange) {
        loop.assertInEventLoop()
        if configPush.add(change) { schedulePush() }
    }

    private func schedulePush() {
        loop.assumeIsolated().execute { [self] in
            switch configPush.start() {
            case .whole(let change): finishPush(change, sviDesired.update(change, live.config, routerMAC: options.baseMAC))
            case .sliced: pushInSlices()
            }
        }
    }

    /// A push of many keys (a reload) is worked out in slices; the next push waits for it.
    private func pushInSlices() {
        var delta = SVIDesired.Delta()
        func step() {
            let slice = Slice()
            while !slice.isOver, let keys = configPush.nextSlice() {
                delta.formUnion(sviDesired.update(keys, live.config, routerMAC: options.baseMAC))
            }
            guard !configPush.slicesLeft else { return yield { step() } }
            let (change, scheduleAgain) = configPush.finish()
            finishPush(change, delta)
            if scheduleAgain { schedulePush() }
        }
        step()
    }

    private func finishPush(_ change: ConfigChange, _ delta: SVIDesired.Delta) {
        let config = live.config
        vrrp.configure(sviDesired, delta)
        l3.configure(sviDesired, config.index.environment, change)
        let natChange = NATChange(change, config)
        if !natChange.isEmpty { nat.configure(config.nat, config.index.environment, changed: natChange) }
    }

    // MARK: Sessions

    /// A new session, or nil when every slot this client may take is taken (the rule:
    /// `SessionTable`). A silent session that makes room for it is closed.
    func openSession(client: String, administrator: Bool = true, identity: ClientIdentity = .unidentified) -> Session? {
        loop.assertInEventLoop()
        switch sessions.open(client: client, administrator: administrator, identity: identity, now: clock.now) {
        case .opened(let session, let displaced):
            displaced?.makeRoom?()
            return session
        case .refused:
            return nil
        }
    }

    func closeSession(_ session: Session) {
        loop.assertInEventLoop()
        sessions.close(session)
    }

    /// The prompt for a session's current mode.
    public func prompt(for session: Session) -> String {
        if session.mode == Modes.configInterface, session.interfaceRange != nil { return live.config.hostname + "(config-if-range)#" }
        return Modes.prompt(session.mode, hostname: live.config.hostname)
    }

    // MARK: Commands

    /// Runs one line in a session. The output accumulates in the returned context.
    func execute(_ rawLine: String, session: Session, workspace: ConfigWorkspace, loading: Bool)
        -> (CommandContext, CommandOutcome)
    {
        loop.assertInEventLoop()
        // A line from a file with CRLF endings keeps its CR: it is a line end, not a character.
        let rawLine = rawLine.unicodeScalars.last == "\r" ? String(String.UnicodeScalarView(rawLine.unicodeScalars.dropLast())) : rawLine
        let (commandText, filterText) = OutputFilter.split(rawLine)
        let context = CommandContext(
            plane: self, session: session, workspace: workspace, line: commandText, loading: loading)
        session.lastActivity = clock.now
        if let refusal = LineSafety.refusal(in: rawLine) {
            context.print(FailureText.refused(refusal.reason))
            return (context, .done(.error))
        }
        let first = commandText.first { $0 != " " && $0 != "\t" }
        if first == "!" || first == "#" { return (context, .done(.success)) }
        if !loading { session.remember(rawLine) }
        if let filterText {
            do {
                context.filter = try OutputFilter(parsing: filterText)
            } catch {
                context.print(error.message)
                return (context, .done(.error))
            }
        }
        var result = registry.grammar.match(commandText, mode: session.mode)
        // A line that is not a command of a configuration sub-mode is tried in the enclosing
        // mode, which then becomes the session's mode (as in IOS, and FRR's config reader).
        if case .failure(let error) = result, Modes.subModes.contains(session.mode) {
            let parentResult = registry.grammar.match(commandText, mode: Modes.config)
            switch parentResult {
            case .command:
                session.mode = Modes.config
                session.clearContext()
                result = parentResult
            case .failure(let parentError) where parentError.column > error.column:
                result = parentResult
            default:
                break
            }
        }
        if case .failure(let error) = result, session.mode == Modes.view, isPrivileged(commandText, beyond: error) {
            context.print(Modes.privilegedMessage)
            return (context, .done(.error))
        }
        switch result {
        case .empty:
            return (context, .done(.success))
        case .failure(let error):
            context.print(error.message)
            switch error.kind {
            case .unknown: return (context, .done(.unknown))
            case .ambiguous: return (context, .done(.ambiguous))
            case .incomplete: return (context, .done(.incomplete))
            }
        case .command(let index, let arguments, _):
            session.commandCount += 1
            statistics.commands += 1
            let declaration = registry.declarations[index]
            // After the edits its session queued before it (a script sent ahead): what it reads
            // includes them.
            if !loading, workspace === live, declaration.readsConfiguration, let landed = committer.whenLanded(session: session) {
                let status = landed.assumeIsolated().flatMap { [self] () -> EventLoopFuture<Status> in
                    watchdog.begin(commandText)
                    defer { watchdog.end() }
                    switch declaration.invoke(context, arguments) {
                    case .done(let status): return loop.makeSucceededFuture(status)
                    case .pending(let future, _, _): return future
                    case .input: return loop.makeSucceededFuture(.error)
                    }
                }.nonisolated()
                return (context, .pending(status, waitingFor: { [committer] in committer?.activity ?? "the HAL commit queue" }))
            }
            watchdog.begin(commandText)
            defer { watchdog.end() }
            if let range = session.interfaceRange, declaration.modes.contains(Modes.configInterface), !declaration.modes.contains(Modes.config) {
                return (context, InterfaceCommands.runOverRange(range, declaration, arguments, context))
            }
            return (context, declaration.invoke(context, arguments))
        }
    }

    /// `?`: the possible next words, as `word<TAB>help` lines.
    func describe(_ line: String, session: Session) -> (Status, String) {
        loop.assertInEventLoop()
        let result: HelpResult
        if let filterText = OutputFilter.split(line).filter {
            result = OutputFilter.grammar.help(String(filterText.drop { $0 == " " }), mode: OutputFilter.mode)
        } else {
            result = registry.grammar.help(line, mode: session.mode)
        }
        switch result {
        case .options(let items):
            return (.success, items.map { "\($0.word)\t\($0.help)\n" }.joined())
        case .failure(let error):
            return (error.kind == .ambiguous ? .ambiguous : .unknown, error.message + "\n")
        }
    }

    /// TAB: the words the last word can complete to, one per line.
    func complete(_ line: String, session: Session) -> String {
        loop.assertInEventLoop()
        let words: [String]
        if let filterText = OutputFilter.split(line).filter {
            words = OutputFilter.grammar.complete(String(filterText.drop { $0 == " " }), mode: OutputFilter.mode)
        } else {
            let portCount = hal.hal.chip.portCount
            words = registry.grammar.complete(line, mode: session.mode) { [live] kind in
                guard kind == .interfaceName else { return [] }
                // Every port, and the SVIs that exist.
                let ports = (1...portCount).map { InterfaceID.port(UInt16($0)) }
                return (ports + live.config.sortedInterfaces.filter { $0.vlan != nil }).map(\.description)
            }
        }
        return words.map { $0 + "\n" }.joined()
    }

    /// The running configuration as text (what `write file` saves).
    public func renderConfig(_ config: RunningConfig) -> String {
        registry.render(config)
    }
}
