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
    /// The longest a clean shutdown may take before vrrpd exits regardless.
    static let shutdownLimitSeconds = 5

    private let options: DaemonOptions
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let stopped: EventLoopPromise<Void>
    private let planeBox = NIOLockedValueBox<NIOLoopBound<ControlPlane>?>(nil)
    /// The thread-safe parts of the plane, for the signal thread's dump.
    private let halBox = NIOLockedValueBox<HALService?>(nil)
    private let watchdogBox = NIOLockedValueBox<ControlPlaneWatchdog?>(nil)

    public init(options: DaemonOptions, logger: Logger) {
        self.options = options
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
            listener = try SocketListener(path: options.socketPath, group: options.socketGroup, logger: logger)
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
            if let pidFile = options.pidFile { unlink(pidFile) }
            listener.shutdown()
            ready(.failure(error))
            stopped.succeed(())
            try? group.syncShutdownGracefully()
            throw error
        }
        logger.info(
            "vrrpd \(DaemonVersion.string) ready", metadata: ["socket": "\(options.socketPath)", "pid": "\(getpid())"])
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
        if let pidFile = options.pidFile { unlink(pidFile) }
        try? group.next().submit { plane.value.shutdown() }.wait()
        try? group.syncShutdownGracefully()
        logger.info("stopped")
    }

    /// Asks the daemon to stop (what SIGTERM does): a startup configuration still loading stops
    /// where it is.
    public func stop() {
        if let plane = planeBox.withLockedValue({ $0 }) { plane.eventLoop.execute { plane.value.startup.stopping = true } }
        stopped.succeed(())
    }

    private func startControlPlane() throws -> NIOLoopBound<ControlPlane> {
        let loop = group.next()
        let options = self.options
        let logger = self.logger
        let plane = try loop.submit {
            ThreadName.setCurrent("ctl-plane")
            return NIOLoopBound(try ControlPlane(loop: loop, options: options, logger: logger), eventLoop: loop)
        }.wait()
        return plane
    }

    private func writePidFile() throws {
        guard let path = options.pidFile else { return }
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
                    if let reopen = options.reopenLog {
                        if let problem = reopen() { logger.error("SIGHUP: \(problem)") } else { logger.notice("SIGHUP: log file reopened") }
                    }
                    logger.notice("SIGHUP: reloading \(options.configPath)")
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
