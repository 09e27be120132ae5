import CLI
import Foundation
import Logging
import NIOCore
import NIOPosix
import Channel
import NetTypes
import SwitchHAL

/// A control plane that nobody connects to: no socket, no startup file, nothing wired. It
/// checks configuration text exactly as vrrpd would apply it (`vrrpd --check-config FILE`),
/// and gives the fuzzers the daemon's real grammar, loader and receive path.
///
/// Calls block the calling thread until the plane's own event loop has answered; they must not
/// be made from that loop.
public final class OfflinePlane: @unchecked Sendable {  // the plane is loop-bound; the grammar, not Sendable, is only read
    public struct CheckResult: Sendable {
        public var report: ConfigLoadReport
        /// The configuration the text builds, as `show running-config` would print it.
        public var rendered: String
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let scratch: String
    private let plane: NIOLoopBound<ControlPlane>
    /// The daemon's command grammar (every mode's commands).
    public let grammar: Grammar
    /// The switch (for frames injected into its receive path).
    public let hal: Switch
    private let options: DaemonOptions

    public init(chip: ChipProfile = .small, logLevel: Logger.Level = .critical) throws {
        let template = NSTemporaryDirectory() + "vrrpd-offline.XXXXXX"
        var path = Array(template.utf8CString)
        guard mkdtemp(&path) != nil else { throw DaemonError("cannot create a scratch directory in \(NSTemporaryDirectory())") }
        scratch = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var options = DaemonOptions(socketPath: scratch + "/unused.vty", configPath: scratch + "/unused.conf")
        options.chip = chip
        self.options = options
        let planeOptions = options
        var logger = Logger(label: "vrrpd.offline")
        logger.logLevel = logLevel
        let built = logger
        let loop = group.next()
        do {
            plane = try loop.submit { NIOLoopBound(try ControlPlane(loop: loop, options: planeOptions, logger: built), eventLoop: loop) }.wait()
        } catch {
            try? group.syncShutdownGracefully()
            rmdir(scratch)
            throw error
        }
        let plane = self.plane
        hal = try loop.submit { plane.value.hal.hal }.wait()
        grammar = try CommandRegistry(Commands.all).grammar
    }

    deinit {
        let plane = self.plane
        try? group.next().submit { plane.value.shutdown() }.wait()
        try? group.syncShutdownGracefully()
        rmdir(scratch)
    }

    /// Runs a line in the plane's own administrator session on its running configuration (as
    /// typed at vtysh; a prompt for input answers as a failure). Returns the status and output.
    @discardableResult
    public func run(_ line: String) -> (status: Status, output: String) {
        let plane = self.plane
        let loop = group.next()
        let result = try? loop.flatSubmit { () -> EventLoopFuture<(Status, String)> in
            let session = plane.value.sessions[1] ?? plane.value.openSession(client: "offline")!
            let (context, outcome) = plane.value.execute(line, session: session, workspace: plane.value.live, loading: false)
            func output() -> String { context.drainOutput() }
            switch outcome {
            case .done(let status): return loop.makeSucceededFuture((status, output()))
            case .pending(let future, _, _): return future.hop(to: loop).assumeIsolated().map { ($0, output()) }.nonisolated()
            case .input: return loop.makeSucceededFuture((.error, context.takeOutput(final: true)))
            }
        }.wait()
        return result.map { (status: $0.0, output: $0.1) } ?? (status: .error, output: "% the control plane did not answer\n")
    }

    /// The router's MAC (the SVIs' address).
    public var routerMAC: MACAddress { options.baseMAC }

    /// Applies `text` to an empty configuration of its own (the running configuration and the
    /// HAL are not touched) and reports every failing line as `source:line: message`.
    public func check(_ text: String, source: String) -> CheckResult {
        check(bytes: Array(text.utf8), source: source)
    }

    /// The same for a file's bytes as read: a leading byte order mark dropped, each line decoded
    /// on its own (a byte that is not UTF-8 is its line's error), as vrrpd reads its files.
    public func check(bytes: [UInt8], source: String) -> CheckResult {
        let plane = self.plane
        let loop = group.next()
        let result = try? loop.flatSubmit { () -> EventLoopFuture<CheckResult> in
            let workspace = ConfigWorkspace(checkingCapacityOf: plane.value.options.chip)
            return ConfigLoader.apply(bytes, source: source, plane: plane.value, workspace: workspace).assumeIsolated().map { report in
                CheckResult(report: report, rendered: plane.value.renderConfig(workspace.config))
            }.nonisolated()
        }.wait()
        return result ?? CheckResult(report: ConfigLoadReport(source: source, errors: ["\(source): the check did not finish"]), rendered: "")
    }
}
