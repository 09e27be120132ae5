import CLI
import Channel
import Dispatch
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import SwitchHAL

/// Runs vrrpd: takes the socket, applies the startup configuration, serves sessions, and handles
/// SIGTERM/SIGINT (clean shutdown) and SIGHUP (reload) until told to stop.
public final class DaemonRuntime: Sendable {
    public struct Settings: Sendable {
        public var socketPath: String
        public var configPath: String
        public var pidFile: String?
        public var commandTimeout: Double
        public var chip = ChipProfile.trident2
        public var baseMAC = MACAddress(0x0200_0000_0000)
        public var halTimeout = 2.0
        public var halTraceFile: String?
        public var lockThreshold = 1.0
        public var ports: [PortAttachment] = []
        /// `--copy-dir`: where `copy FILE running-config` may read.
        public var copyDirectories: [String] = []
        /// `--socket-group`: a group whose members may use the socket (SSH logins into vtysh).
        public var socketGroup: gid_t?
        /// Reopens the log file (SIGHUP); returns a problem, or nil.
        public var reopenLog: (@Sendable () -> String?)?
        /// Where the log goes and the buffer of its last messages (`show logging`).
        public var log = LogSettings()
        /// `--allow-fault-injection`: the `test fault` commands run.
        public var allowFaultInjection = false

        public init(socketPath: String, configPath: String, pidFile: String?, commandTimeout: Double) {
            self.socketPath = socketPath
            self.configPath = configPath
            self.pidFile = pidFile
            self.commandTimeout = commandTimeout
        }
    }

    /// The longest a clean shutdown may take before vrrpd exits regardless.
    static let shutdownLimitSeconds = 5

    private let settings: Settings
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let stopped: EventLoopPromise<Void>
    private let planeBox = NIOLockedValueBox<NIOLoopBound<ControlPlane>?>(nil)
    /// The thread-safe parts of the plane, for the signal thread's dump.
    private let halBox = NIOLockedValueBox<HALService?>(nil)
    private let watchdogBox = NIOLockedValueBox<ControlPlaneWatchdog?>(nil)

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        // One thread: the control plane is a single serial executor.
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        stopped = group.next().makePromise()
    }

    /// Starts serving; `ready` is called once the socket accepts connections (or with the error
    /// that prevented it). Returns after a clean shutdown.
    public func run(ready: (Result<Void, Error>) -> Void) throws {
        let listener: SocketListener
        let plane: NIOLoopBound<ControlPlane>
        do {
            listener = try SocketListener(path: settings.socketPath, group: settings.socketGroup, logger: logger)
        } catch {
            ready(.failure(error))
            stopped.succeed(())
            try? group.syncShutdownGracefully()
            throw error
        }
        // Signals are handled before anyone can see the daemon (the socket): a SIGTERM sent as
        // soon as it answers must not find the default action, or no handler at all.
        let signals = installSignalHandlers()
        do {
            plane = try startControlPlane()
            planeBox.withLockedValue { $0 = plane }
            let (hal, watchdog) = try group.next().submit { (plane.value.hal, plane.value.watchdog) }.wait()
            halBox.withLockedValue { $0 = hal }
            watchdogBox.withLockedValue { $0 = watchdog }
            // Loading from the first answer on: whoever connects before the file is read sees
            // "(reading)" and has configuration commands refused, never a daemon that looks
            // ready with an empty configuration.
            try group.next().submit { plane.value.beginStartupLoad() }.wait()
            // The pid file exists before the socket accepts: whoever sees the daemon answer
            // finds its pid.
            try writePidFile()
            try listener.bind(group: group, plane: plane)
        } catch {
            signals.forEach { $0.cancel() }
            if let pidFile = settings.pidFile { unlink(pidFile) }
            listener.shutdown()
            ready(.failure(error))
            stopped.succeed(())
            try? group.syncShutdownGracefully()
            throw error
        }
        logger.info(
            "vrrpd \(DaemonVersion.string) ready", metadata: ["socket": "\(settings.socketPath)", "pid": "\(getpid())"])
        // The socket answers from now on; the startup configuration loads behind it (show
        // commands answer meanwhile, with the progress in `show version`). Whoever waits for
        // vrrpd to be ready (`-d`) waits for the configuration too.
        if let loaded = try? group.next().submit({ plane.value.loadStartupConfig() }).wait() { try? loaded.wait() }
        ready(.success(()))

        try? stopped.futureResult.wait()

        logger.info("shutting down")
        // Stopping must not hang either: if it takes too long, say so and leave.
        let logger = self.logger
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Self.shutdownLimitSeconds)) {
            logger.critical("shutdown did not finish within \(Self.shutdownLimitSeconds) s; exiting anyway")
            _exit(1)
        }
        signals.forEach { $0.cancel() }
        listener.shutdown()
        if let pidFile = settings.pidFile { unlink(pidFile) }
        try? group.next().submit { plane.value.shutdown() }.wait()
        try? group.syncShutdownGracefully()
        logger.info("stopped")
    }

    /// Asks the daemon to stop (what SIGTERM does): a startup configuration still loading stops
    /// where it is.
    public func stop() {
        if let plane = planeBox.withLockedValue({ $0 }) { plane.eventLoop.execute { plane.value.stopping = true } }
        stopped.succeed(())
    }

    private func startControlPlane() throws -> NIOLoopBound<ControlPlane> {
        let loop = group.next()
        let settings = self.settings
        let logger = self.logger
        let plane = try loop.submit {
            ThreadName.setCurrent("ctl-plane")
            var options = ControlPlane.Options(socketPath: settings.socketPath, configPath: settings.configPath)
            options.commandTimeout = .nanoseconds(Int64(settings.commandTimeout * 1e9))
            options.chip = settings.chip
            options.baseMAC = settings.baseMAC
            options.halTimeout = settings.halTimeout
            options.halTraceFile = settings.halTraceFile
            options.lockThreshold = settings.lockThreshold
            options.ports = settings.ports
            options.copyDirectories = settings.copyDirectories
            options.log = settings.log
            options.allowFaultInjection = settings.allowFaultInjection
            return NIOLoopBound(try ControlPlane(loop: loop, options: options, logger: logger), eventLoop: loop)
        }.wait()
        return plane
    }

    private func writePidFile() throws {
        guard let path = settings.pidFile else { return }
        let temporary = path + ".tmp"
        let text = Array("\(getpid())\n".utf8)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DaemonError("cannot write pid file \(path): \(String(cString: strerror(errno)))") }
        _ = write(fd, text, text.count)
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw DaemonError("cannot write pid file \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func installSignalHandlers() -> [DispatchSourceSignal] {
        let queue = DispatchQueue(label: "vrrpd.signals")
        queue.async { ThreadName.setCurrent("signals") }
        var sources: [DispatchSourceSignal] = []
        signal(SIGPIPE, SIG_IGN)
        for number in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in
                switch number {
                case SIGUSR1:
                    guard let plane = planeBox.withLockedValue({ $0 }), let hal = halBox.withLockedValue({ $0 }) else { return }
                    for line in StateDump.lines(hal: hal, plane: plane, watchdog: watchdogBox.withLockedValue({ $0 })) {
                        logger.notice("\(line)")
                    }
                case SIGHUP:
                    if let reopen = settings.reopenLog {
                        if let problem = reopen() { logger.error("SIGHUP: \(problem)") } else { logger.notice("SIGHUP: log file reopened") }
                    }
                    logger.notice("SIGHUP: reloading \(settings.configPath)")
                    guard let plane = planeBox.withLockedValue({ $0 }) else { return }
                    plane.eventLoop.execute { plane.value.reload() }
                default:
                    logger.notice("\(number == SIGTERM ? "SIGTERM" : "SIGINT"): stopping")
                    stop()
                }
            }
            source.resume()
            sources.append(source)
        }
        return sources
    }
}

extension ControlPlane {
    /// Applies the startup configuration to the live configuration, in slices (the socket is
    /// already answering: `show` commands work, `show version` says how far it got, and
    /// configuration commands are refused until it is done); a bad line (a byte that is not
    /// UTF-8 included) is logged as `file:line: message` and the rest still applies, and
    /// `write file` then refuses to replace the file unless forced. The file is read off the
    /// loop.
    func beginStartupLoad() {
        guard startupLoad == nil else { return }
        startupLoad = ConfigLoadProgress()
        loadStatus = "reading"
    }

    func loadStartupConfig() -> EventLoopFuture<Void> {
        let path = options.configPath
        beginStartupLoad()
        // Read, and its lines counted, off the loop; what a killed save left is removed first.
        let logger = self.logger
        let read = pool.runIfActive(eventLoop: loop) { () -> ([UInt8], Int)? in
            let stale = StartupConfigStore.removeStaleTemporaries(of: path)
            if !stale.isEmpty { logger.notice("removed what an interrupted save left: \(stale.sorted().joined(separator: ", "))") }
            return try StartupConfigStore.readFile(path).map { ($0, ConfigLoader.countLines($0)) }
        }
        return read.hop(to: loop).assumeIsolated().flatMap { [self] read -> EventLoopFuture<Void> in
            guard let (bytes, total) = read else {
                logger.notice("no startup configuration at \(path); starting with defaults")
                loadStatus = "not found; defaults in use"
                startupLoad = nil
                return loop.makeSucceededVoidFuture()
            }
            startupLoad?.total = total
            logger.info("applying the startup configuration: \(total) lines", metadata: ["path": "\(path)"])
            return ConfigLoader.apply(bytes, source: path, plane: self, workspace: live) { [self] progress in
                startupLoad?.done = progress.done
                startupLoad?.errors = progress.errors
            }.assumeIsolated().map { [self] report in
                for error in report.errors { logger.error("\(error)") }
                startupLoad = nil
                loadStatus = "loaded: \(report.summary) in \(formatSeconds(report.seconds))"
                logger.notice("startup configuration applied: \(report.summary) in \(formatSeconds(report.seconds))", metadata: ["path": "\(path)"])
                startupNotWhole = StartupFileProblem(report, occasion: .startup)
                if let problem = startupNotWhole {
                    logger.warning("write file will not replace \(path) until it loads whole (\(problem.count)); write memory force overrides")
                }
            }.nonisolated()
        }.recover { [self] error in
            logger.error("cannot read startup configuration: \(error)")
            loadStatus = "unreadable: \(error)"
            startupNotWhole = StartupFileProblem(path: path, occasion: .startup, failedLines: 0, first: "\(error)")
            logger.warning("write file will not replace \(path) until it can be read; write memory force overrides")
            startupLoad = nil
        }.nonisolated()
    }

    /// SIGHUP: re-reads the startup configuration (off the loop) and, if every line is valid,
    /// makes the running configuration the file's, logging every line that changes; the
    /// subsystems and the HAL redo only what differs. Otherwise logs why not, keeps the running
    /// configuration as it is, and `write file` refuses to replace the file unless forced.
    ///
    /// The file's configuration takes the running one's place as one edit in the queue of edits
    /// (`HALCommitter.replace`), at the moment the reload has the file ready: edits accepted
    /// before that land first and, where the file differs, are replaced (each such line logged
    /// `reload: - ...`); edits accepted after it apply on top of the file. The difference is
    /// taken against the running configuration as it is when the replacement lands.
    func reload() {
        let path = options.configPath
        if let load = startupLoad {
            logger.error("reload not applied: the startup configuration is still loading (\(load.done) of \(load.total) lines)")
            return
        }
        guard !reloading else {
            logger.error("reload not applied: a reload is already under way")
            return
        }
        reloading = true
        // The file, and the chip's tables to hold it to (14 MB on trident2: made off the loop).
        let chip = options.chip
        let read = pool.runIfActive(eventLoop: loop) { () -> ([UInt8], CapacityModel)? in
            try StartupConfigStore.readFile(path).map { ($0, CapacityModel(chip: chip)) }
        }
        read.hop(to: loop).assumeIsolated().whenComplete { [self] result in
            let bytes: [UInt8]
            let capacity: CapacityModel
            switch result {
            case .failure(let error):
                reloading = false
                logger.error("reload not applied: \(error); running configuration unchanged")
                startupNotWhole = StartupFileProblem(path: path, occasion: .reload, failedLines: 0, first: "\(error)")
                return
            case .success(nil):
                reloading = false
                logger.error("reload not applied: \(path) does not exist; running configuration unchanged")
                return
            case .success(let value?):
                (bytes, capacity) = value
            }
            let candidate = ConfigWorkspace(placingIn: capacity)
            ConfigLoader.apply(bytes, source: path, plane: self, workspace: candidate).assumeIsolated().whenSuccess { [self] report in
                if let problem = StartupFileProblem(report, occasion: .reload) {
                    reloading = false
                    logger.error("reload not applied: \(report.errors.count) error(s) in \(path); running configuration unchanged")
                    for error in report.errors { logger.error("\(error)") }
                    startupNotWhole = problem
                    logger.warning("write file will not replace \(path) until it loads whole (\(problem.count)); write memory force overrides")
                    return
                }
                replaceRunning(with: candidate.config, report: report)
            }
        }
    }

    /// The reload's second half: the file's configuration replaces the running one in its turn
    /// in the queue of edits. Most of the difference is worked out off the loop, against a copy
    /// of the running configuration; the keys edited meanwhile (kept in the live workspace's
    /// journal) are added when the replacement lands, so the difference is the one with what is
    /// running then, at the cost of what changed, not of the whole configuration.
    private func replaceRunning(with file: RunningConfig, report: ConfigLoadReport) {
        let path = options.configPath
        let copy = live.config
        live.startJournal()
        let diff = pool.runIfActive(eventLoop: loop) { ConfigChange.between(copy, file) }
        diff.hop(to: loop).assumeIsolated().whenComplete { [self] result in
            guard case .success(var keys) = result else {
                _ = live.takeJournal()
                reloading = false
                logger.error("reload not applied: vrrpd is stopping")
                return
            }
            committer.replace(with: file, label: "reload of \(path)") { [self] _ in
                keys.formUnion(live.takeJournal())
                return keys
            }.assumeIsolated().whenSuccess { [self] replaced in
                reloading = false
                loadStatus = "reloaded: \(report.summary)"
                startupNotWhole = nil
                logDifferences(replaced, file)
            }
        }
    }

    /// Logs what a reload changed, every line (the running configuration it replaced against
    /// the file's), rendering both off the loop and logging in slices. Lines removed are edits
    /// that were running and are no more: each is named. A line that carries a secret is named
    /// without it.
    private func logDifferences(_ before: RunningConfig, _ after: RunningConfig) {
        let registry = self.registry
        let diff = pool.runIfActive(eventLoop: loop) { () -> (removed: [String], added: [String]) in
            let old = ControlPlane.qualifiedLines(registry.render(before))
            let new = ControlPlane.qualifiedLines(registry.render(after))
            let oldSet = Set(old)
            let newSet = Set(new)
            return (old.filter { !newSet.contains($0) }, new.filter { !oldSet.contains($0) })
        }
        diff.hop(to: loop).assumeIsolated().whenSuccess { [self] diff in
            logger.notice("reload applied: \(diff.added.count) line(s) added, \(diff.removed.count) removed")
            // Every line that went is named (an edit that disappears says so); of those that came
            // from the file, the first `reloadAddedLinesLogged` (the file has them all).
            var removed = diff.removed[...]
            var added = diff.added.prefix(ControlPlane.reloadAddedLinesLogged)
            let unlisted = diff.added.count - added.count
            func step() {
                let slice = Slice()
                while !slice.isOver, let line = removed.popFirst() { logger.notice("reload: - \(line)") }
                while !slice.isOver, let line = added.popFirst() { logger.info("reload: + \(line)") }
                if !removed.isEmpty || !added.isEmpty { return yield { step() } }
                if unlisted > 0 { logger.info("reload: \(unlisted) more added line(s) not listed (they are the file's)") }
            }
            step()
        }
    }


    /// At most this many lines a reload added are logged one by one (every removed one is).
    static let reloadAddedLinesLogged = 1000

    /// Configuration lines with their block (`interface eth1: shutdown`), for diffs.
    static func qualifiedLines(_ text: String) -> [String] {
        var block: String?
        var out: [String] = []
        for line in text.split(separator: "\n") {
            if line == "!" || line == "end" || line.hasPrefix("! ") { continue }
            if line == "exit" {
                block = nil
                continue
            }
            if line.hasPrefix(" ") {
                out.append("\(block ?? ""): \(String(line).trimmed)")
            } else {
                out.append(String(line))
                block = String(line)
            }
        }
        return out
    }
}
