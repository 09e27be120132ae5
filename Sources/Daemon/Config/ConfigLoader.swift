import CLI
import Channel
import NIOCore
import Time

/// What applying a configuration file did.
public struct ConfigLoadReport: Sendable {
    public var source: String
    public var lines = 0
    public var commands = 0
    /// `file:line: message` for every line that failed, in line order.
    public var errors: [String] = []
    public var seconds = 0.0

    public var summary: String {
        "\(commands) command\(commands == 1 ? "" : "s") from \(lines) line\(lines == 1 ? "" : "s"), "
            + "\(errors.count) error\(errors.count == 1 ? "" : "s")"
    }
}

/// How far a file being applied has come (for `show version` while the startup configuration
/// loads).
public struct ConfigLoadProgress: Sendable {
    public var done = 0
    public var total = 0
    public var errors = 0
}

/// Why the startup file is not in the running configuration whole: lines of it failed, or it
/// could not be read, at start-up or when it was last reloaded. `write file` names it when it
/// refuses to replace the file (a save would lose what did not load).
public struct StartupFileProblem: Sendable, Equatable {
    public enum Occasion: Sendable, Equatable {
        case startup
        case reload
    }

    public var path: String
    public var occasion: Occasion
    /// The lines that failed; 0: the file could not be read.
    public var failedLines: Int
    /// The first line that failed (`FILE:LINE: message`), or why the file could not be read.
    public var first: String

    /// A problem from a load's report, nil when every line applied.
    init?(_ report: ConfigLoadReport, occasion: Occasion) {
        guard let first = report.errors.first else { return nil }
        self.init(path: report.source, occasion: occasion, failedLines: report.errors.count, first: first)
    }

    init(path: String, occasion: Occasion, failedLines: Int, first: String) {
        self.path = path
        self.occasion = occasion
        self.failedLines = failedLines
        self.first = LineSafety.visible(first)
    }

    /// `2 lines failed`, or `unreadable`.
    var count: String {
        failedLines == 0 ? "unreadable" : "\(failedLines) line\(failedLines == 1 ? "" : "s") failed"
    }

    /// What `write file` answers instead of saving.
    var refusal: String {
        let when = occasion == .startup ? "at start-up" : "by the last reload (SIGHUP)"
        let why = failedLines == 0
            ? "could not be read \(when) (\(first))"
            : "was not loaded whole \(when): \(count), the first: \(first)"
        return "Not saved: \(path) \(why). Saving now would replace what did not load. Fix the file and load it "
            + "again (SIGHUP, or copy startup-config running-config), or replace it anyway: write memory force"
    }
}

/// Applies a configuration text line by line, as if typed in configuration mode: the startup
/// config at start, the file on SIGHUP, `copy FILE running-config`. A bad line is reported as
/// `file:line: message` and the lines after it still apply. The text is bytes as read from the
/// file, read as `TextLines` reads them: a leading byte order mark is dropped, and each line is
/// decoded on its own, so a byte that is not UTF-8 is its line's error (naming the byte and its
/// column) and no other line's.
///
/// It never holds the control plane for long: lines run in slices of at most
/// `LoopYield.slice`, and between slices every other session is served. A line that
/// queues a configuration edit behind others (a HAL change) does not hold up the next: lines go
/// on, each checked against the configuration as it will be, and many lines' HAL changes travel
/// in one HAL call; each still lands or fails on its own, and errors are reported in line order.
final class ConfigLoader {
    private let plane: ControlPlane
    private let workspace: ConfigWorkspace
    /// The text, read a line at a time as the slices go (never split whole on the loop).
    private var lines: TextLines
    private var lineNumber: Int { lines.number }
    private var report: ConfigLoadReport
    private let session: Session
    private let promise: EventLoopPromise<ConfigLoadReport>
    private let progress: ((ConfigLoadProgress) -> Void)?
    private let started: Instant
    /// Lines whose edits are queued and not yet landed, oldest first.
    private var outstanding: [Outstanding] = []

    private final class Outstanding {
        let future: EventLoopFuture<Status>
        var landed = false
        init(_ future: EventLoopFuture<Status>) { self.future = future }
    }
    private var outstandingHead = 0
    private var errors: [(line: Int, text: String)] = []
    private var waitingForOutstanding = false
    /// The line of a block's first line (not indented) that failed: the indented lines under
    /// it are not applied (they would land in whatever block came before). Nil once a line
    /// that is not indented succeeds.
    private var failedBlock: Int?

    /// At most this many lines queued and not landed; then the loader waits for the oldest.
    static let maxOutstanding = 4096

    private init(plane: ControlPlane, bytes: [UInt8], source: String, workspace: ConfigWorkspace, progress: ((ConfigLoadProgress) -> Void)?) {
        self.plane = plane
        self.workspace = workspace
        self.progress = progress
        lines = TextLines(bytes)
        report = ConfigLoadReport(source: source)
        session = Session(id: 0, mode: Modes.config, client: "config file \(source)", connectedAt: plane.clock.now)
        started = plane.clock.now
        promise = plane.loop.makePromise()
    }

    /// Applies `bytes` (a file's, as read) to `workspace`; the future completes (on the
    /// control-plane loop) when every line has run. `progress` hears how far it got after every
    /// slice.
    static func apply(
        _ bytes: [UInt8], source: String, plane: ControlPlane, workspace: ConfigWorkspace,
        progress: ((ConfigLoadProgress) -> Void)? = nil
    ) -> EventLoopFuture<ConfigLoadReport> {
        plane.loop.preconditionInEventLoop()
        let loader = ConfigLoader(plane: plane, bytes: bytes, source: source, workspace: workspace, progress: progress)
        loader.run()
        return loader.promise.futureResult
    }

    /// Applies a text already in memory (tests, the offline plane).
    static func apply(
        _ text: String, source: String, plane: ControlPlane, workspace: ConfigWorkspace,
        progress: ((ConfigLoadProgress) -> Void)? = nil
    ) -> EventLoopFuture<ConfigLoadReport> {
        apply(Array(text.utf8), source: source, plane: plane, workspace: workspace, progress: progress)
    }

    /// The lines that are not blank (what `total` counts). O(n): call it off the loop.
    static func countLines(_ bytes: [UInt8]) -> Int { TextLines.countNonBlank(bytes) }

    private func run() {
        let slice = Slice()
        if plane.startup.stopping && !lines.isAtEnd {
            errors.append((lineNumber + 1, "\(report.source): vrrpd is stopping: the lines from \(lineNumber + 1) on were not applied"))
            lines.skipRest()
        }
        while !lines.isAtEnd {
            if slice.isOver {
                announceProgress()
                plane.yield { [self] in run() }
                return
            }
            if outstanding.count - outstandingHead >= Self.maxOutstanding {
                return waitForOldest()
            }
            guard let read = lines.next() else { break }
            let line: String
            switch read {
            case .success(let text):
                line = text
            case .failure(let invalid):
                // A comment is one whatever bytes follow its `!`; any other line is not applied.
                report.lines += 1
                let start = invalid.prefix.drop { $0 == " " || $0 == "\t" }
                if start.hasPrefix("!") || start.hasPrefix("#") { continue }
                report.commands += 1
                errors.append((lineNumber, "\(report.source):\(lineNumber): \(invalid.message)"))
                if start.count == invalid.prefix.count { failedBlock = lineNumber }
                continue
            }
            guard line.contains(where: { $0 != " " && $0 != "\t" }) else { continue }
            report.lines += 1
            // Indentation only shows structure; the line runs as if typed without it.
            let text = String(line.drop { $0 == " " || $0 == "\t" })
            if text.hasPrefix("!") || text.hasPrefix("#") { continue }
            report.commands += 1
            let lineNumber = self.lineNumber
            let indented = text.count != line.count
            if indented, let block = failedBlock {
                let shown = LineSafety.visible(LineSafety.excerpt(text.trimmed, around: 0).text)
                errors.append((lineNumber, "\(report.source):\(lineNumber): \(shown): not applied: its block did not start (line \(block) failed)"))
                continue
            }
            if failedBlock != nil, text.trimmed == "exit" {
                // The failed block's own end: the session never entered it, so this would leave
                // configuration mode instead.
                failedBlock = nil
                continue
            }
            let (context, outcome) = plane.execute(text, session: session, workspace: workspace, loading: true)
            if !indented, case .done(let status) = outcome { failedBlock = status.isFailure ? lineNumber : nil }
            if !indented, case .pending = outcome { failedBlock = nil }
            switch outcome {
            case .done(let status):
                record(status, context, lineNumber)
            case .input:
                errors.append((lineNumber, "\(report.source):\(lineNumber): \(text.trimmed): needs interactive input"))
            case .pending(let future, _, pipelined: true):
                let item = Outstanding(future)
                outstanding.append(item)
                future.hop(to: plane.loop).assumeIsolated().whenComplete { [self] result in
                    item.landed = true
                    record((try? result.get()) ?? .error, context, lineNumber)
                }
            case .pending(let future, let waitingFor, pipelined: false):
                // Wait for this line before the next: lines may depend on each other.
                return wait(for: future, line: lineNumber, context: context, waitingFor: waitingFor)
            }
        }
        finishWhenLanded()
    }

    /// Waits for a line whose work runs elsewhere (a key derivation, a file), at most the command
    /// deadline, then goes on.
    private func wait(for future: EventLoopFuture<Status>, line lineNumber: Int, context: CommandContext, waitingFor: @escaping () -> String) {
        future.race(deadline: plane.options.commandTimeout, on: plane.loop, clock: plane.clock, onTimeout: { [self] in
            context.abandoned = true
            errors.append((lineNumber, "\(report.source):\(lineNumber): timed out waiting for \(waitingFor())"))
            run()
        }) { [self] result in
            record((try? result.get()) ?? .error, context, lineNumber)
            run()
        }
    }

    /// Too many lines queued: go on once the oldest has landed.
    private func waitForOldest() {
        let oldest = outstanding[outstandingHead].future
        oldest.hop(to: plane.loop).assumeIsolated().whenComplete { [self] _ in
            trimOutstanding()
            run()
        }
    }

    private func trimOutstanding() {
        while outstandingHead < outstanding.count, outstanding[outstandingHead].landed { outstandingHead += 1 }
        if outstandingHead > 1024 {
            outstanding.removeFirst(outstandingHead)
            outstandingHead = 0
        }
    }

    /// Every line has run: once the queued ones have landed, the report.
    private func finishWhenLanded() {
        trimOutstanding()
        guard outstandingHead == outstanding.count else {
            return outstanding[outstandingHead].future.hop(to: plane.loop).assumeIsolated().whenComplete { [self] _ in
                finishWhenLanded()
            }
        }
        errors.sort { $0.line < $1.line }
        report.errors = errors.map(\.text)
        report.seconds = plane.clock.elapsed(since: started).inSeconds
        announceProgress()
        promise.succeed(report)
    }

    private func announceProgress() {
        progress?(ConfigLoadProgress(done: report.lines, total: 0, errors: errors.count))
    }

    private func record(_ status: Status, _ context: CommandContext, _ lineNumber: Int) {
        guard status.isFailure else { return }
        let output = context.takeOutput(final: true)
        // One line for the report: what the `% ` lines say (a line the grammar did not take
        // prints itself and a marker first: it is named instead).
        var said = output.split(separator: "\n").filter { $0.hasPrefix("% ") }.map { String($0.dropFirst(2)) }
        var message: String
        switch status {
        case .unknown:
            message = "Invalid input detected in \"\(LineSafety.excerpt(context.line.trimmed, around: 0).text)\""
            said = Array(said.dropFirst())
        case .incomplete:
            message = "Incomplete command: \"\(context.line.trimmed)\""
            said = []
        default:
            message = said.first ?? output.split(separator: "\n").first.map(String.init) ?? "\(status)"
            said = Array(said.dropFirst())
        }
        if !said.isEmpty { message += " (" + said.joined(separator: "; ") + ")" }
        errors.append((lineNumber, "\(report.source):\(lineNumber): \(message)"))
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
