import CLI
import Channel
import NIOCore

/// What applying a configuration file did.
public struct ConfigLoadReport: Sendable {
    public var source: String
    public var lines = 0
    public var commands = 0
    /// `file:line: message` for every line that failed.
    public var errors: [String] = []

    public var summary: String {
        "\(commands) command\(commands == 1 ? "" : "s") from \(lines) line\(lines == 1 ? "" : "s"), "
            + "\(errors.count) error\(errors.count == 1 ? "" : "s")"
    }
}

/// Applies a configuration text line by line, as if typed in configuration mode: the startup
/// config at start, the file on SIGHUP, `copy FILE running-config`. A bad line is reported as
/// `file:line: message` and the lines after it still apply.
final class ConfigLoader {
    private let plane: ControlPlane
    private let workspace: ConfigWorkspace
    private let lines: [Substring]
    private var report: ConfigLoadReport
    private let session: Session
    private let promise: EventLoopPromise<ConfigLoadReport>
    private var index = 0

    private init(plane: ControlPlane, text: String, source: String, workspace: ConfigWorkspace) {
        self.plane = plane
        self.workspace = workspace
        lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        report = ConfigLoadReport(source: source)
        session = Session(id: 0, mode: Modes.config, client: "config file \(source)")
        promise = plane.loop.makePromise()
    }

    /// Applies `text` to `workspace`; the future completes (on the control-plane loop) when
    /// every line has run.
    static func apply(_ text: String, source: String, plane: ControlPlane, workspace: ConfigWorkspace)
        -> EventLoopFuture<ConfigLoadReport>
    {
        plane.loop.preconditionInEventLoop()
        let loader = ConfigLoader(plane: plane, text: text, source: source, workspace: workspace)
        loader.run()
        return loader.promise.futureResult
    }

    private func run() {
        while index < lines.count {
            var line = lines[index]
            if line.hasSuffix("\r") { line = line.dropLast() }
            index += 1
            guard line.contains(where: { $0 != " " && $0 != "\t" }) else { continue }
            report.lines += 1
            // Indentation only shows structure; the line runs as if typed without it.
            let text = String(line.drop { $0 == " " || $0 == "\t" })
            if text.hasPrefix("!") || text.hasPrefix("#") { continue }
            report.commands += 1
            let lineNumber = index
            let (context, outcome) = plane.execute(text, session: session, workspace: workspace, loading: true)
            switch outcome {
            case .done(let status):
                record(status, context, lineNumber)
            case .input:
                report.errors.append("\(report.source):\(lineNumber): \(text.trimmed): needs interactive input")
            case .pending(let future, let waitingFor):
                // Wait for this line before the next: lines may depend on each other.
                let deadline = plane.loop.assumeIsolated().scheduleTask(in: plane.options.commandTimeout) {}
                var finished = false
                deadline.futureResult.assumeIsolated().whenSuccess { [self] in
                    guard !finished else { return }
                    finished = true
                    report.errors.append("\(report.source):\(lineNumber): timed out waiting for \(waitingFor())")
                    run()
                }
                future.hop(to: plane.loop).assumeIsolated().whenComplete { [self] result in
                    guard !finished else { return }
                    finished = true
                    deadline.cancel()
                    record((try? result.get()) ?? .error, context, lineNumber)
                    run()
                }
                return
            }
        }
        promise.succeed(report)
    }

    private func record(_ status: Status, _ context: CommandContext, _ lineNumber: Int) {
        guard status.isFailure else { return }
        let output = context.takeOutput(final: true)
        let message = output.split(separator: "\n").first.map {
            $0.hasPrefix("% ") ? String($0.dropFirst(2)) : String($0)
        } ?? "\(status)"
        report.errors.append("\(report.source):\(lineNumber): \(message)")
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\n" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" || c == "\r" { s = s.dropLast() }
        return String(s)
    }
}
