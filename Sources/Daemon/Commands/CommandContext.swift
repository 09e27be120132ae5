import CLI
import Channel
import NIOCore
import SwitchHAL
import Time

/// Everything a running command can reach: its session, the configuration it edits, the
/// control plane's services, and its output.
public final class CommandContext {
    public let plane: ControlPlane
    public let session: Session
    /// The configuration the command edits: the live one, or a candidate being built by a
    /// reload.
    public let workspace: ConfigWorkspace
    /// The command line as typed (without an output filter).
    public let line: String
    /// True while a configuration file is being applied (startup, reload, `copy`).
    public let loading: Bool
    public private(set) var output = ""
    var filter: OutputFilter?
    /// Set by `exit` in the top mode: the daemon closes the connection after the reply.
    public var endsSession = false
    /// Set when the command's deadline passed or it was cancelled: work it queued should not
    /// start any more.
    public internal(set) var abandoned = false
    /// Output too long to build at once (a 288K-entry MAC table): pulled one chunk at a time,
    /// only as fast as the client reads, after the command finished. nil ends it.
    public var stream: (() -> String?)?
    /// Set by work that finished with `Status.inputRequired`: the question to ask next (the
    /// enable secret again after a wrong one) and what to do with the answer.
    var nextInput: (prompt: String, hidden: Bool, then: (CommandContext, String) -> CommandOutcome)?

    init(plane: ControlPlane, session: Session, workspace: ConfigWorkspace, line: String, loading: Bool) {
        self.plane = plane
        self.session = session
        self.workspace = workspace
        self.line = line
        self.loading = loading
    }

    public var loop: EventLoop { plane.loop }

    /// The configuration the command reads: for the live one, as it will be once the edits
    /// queued before this command have landed.
    public var config: RunningConfig {
        workspace === plane.live ? plane.committer.projected : workspace.config
    }

    /// Appends a line (a newline is added).
    public func print(_ text: String) {
        output += text
        output += "\n"
    }

    /// Appends text as is.
    public func write(_ text: String) { output += text }

    /// Applies a configuration edit, through the HAL when the live configuration is edited: all
    /// or nothing, in order (see `ConfigCommitter`). `edit` returns an error message to refuse.
    public func commit(_ edit: @escaping (inout ConfigEdit) -> String?) -> CommandOutcome {
        plane.committer.commit(self, edit)
    }

    /// Runs a HAL call for this command on the HAL threads (NAT table calls on the HAL's NAT
    /// thread); `then` turns its result into the command's output and status.
    public func hal<T: Sendable>(
        _ operation: String, nat: Bool = false, _ call: @escaping @Sendable (Switch, Instant) throws -> T, then: @escaping (T) -> Status
    ) -> CommandOutcome {
        let service = plane.hal
        let future = nat ? service.callNAT(operation, on: loop, call) : service.call(operation, on: loop, call)
        return after(future, waitingFor: { service.activity }, then: then)
    }

    /// Waits, without blocking, for work done on another thread: `then` turns its result into
    /// the command's output and status, on the control plane; a failure prints `% error`. If the
    /// command's deadline comes first, the reply is a timeout naming `waitingFor()`.
    public func after<T: Sendable>(
        _ future: EventLoopFuture<T>, waitingFor: @escaping () -> String, then: @escaping (T) -> Status
    ) -> CommandOutcome {
        let status = future.hop(to: loop).assumeIsolated().map { then($0) }.recover { error in
            self.print(FailureText.failed(ErrorText.describe(error)))
            return Status.error
        }.nonisolated()
        return .pending(status, waitingFor: waitingFor)
    }

    /// Waits for work on another thread, then continues with another outcome (a commit after a
    /// key derivation).
    public func after<T: Sendable>(
        _ future: EventLoopFuture<T>, waitingFor: @escaping () -> String, continue next: @escaping (T) -> CommandOutcome
    ) -> CommandOutcome {
        let status = future.hop(to: loop).assumeIsolated().flatMap { value -> EventLoopFuture<Status> in
            switch next(value) {
            case .done(let status): return self.loop.makeSucceededFuture(status)
            case .pending(let inner, _, _): return inner
            case .input: return self.loop.makeSucceededFuture(.error)
            }
        }.recover { error in
            self.print(FailureText.failed(ErrorText.describe(error)))
            return Status.error
        }.nonisolated()
        return .pending(status, waitingFor: waitingFor)
    }

    /// Streams `items`, `chunk` of them at a time, as the client reads (a 288K-entry table is
    /// never built whole), then `footer`. `render` gives each item's text, newline included.
    public func streamItems<T>(_ items: [T], chunk: Int = 2000, footer: String? = nil, render: @escaping (T) -> String) {
        var index = 0
        var footerSent = footer == nil
        stream = {
            if index == items.count {
                guard !footerSent else { return nil }
                footerSent = true
                return footer
            }
            let end = min(items.count, index + chunk)
            var text = ""
            for item in items[index..<end] { text += render(item) }
            index = end
            return text
        }
    }

    /// Refuses the line: `% Invalid input detected: message` (IOS's words, which every tool
    /// that drives a switch catches), and an error outcome. For what the switch does not take:
    /// a value, a name, a combination.
    public func refuse(_ message: String, status: Status = .error) -> CommandOutcome {
        print(FailureText.refused(message))
        return .done(status)
    }

    /// A command that was right but could not be carried out (a file, a stop, the startup
    /// configuration still loading): `% Error: message`, and an error outcome.
    public func fail(_ message: String, status: Status = .error) -> CommandOutcome {
        print(FailureText.failed(message))
        return .done(status)
    }

    /// Takes the accumulated output, passed through the output filter if there is one.
    func takeOutput(final: Bool) -> String {
        var text = output
        output = ""
        if var f = filter {
            text = f.feed(text)
            if final { text += f.finish() }
            filter = f
        }
        return text
    }

    /// The whole output at once, a streamed reply drained as a client would read it (for
    /// callers that are not a connection: the offline plane, tests).
    func drainOutput() -> String {
        var text = takeOutput(final: stream == nil)
        while let chunk = stream?() {
            write(chunk)
            text += takeOutput(final: false)
        }
        if stream != nil {
            stream = nil
            text += takeOutput(final: true)
        }
        return text
    }
}
