import CLI
import CLinux
import Channel
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Time

/// One client connection: decodes frames, runs its session's requests in order under the
/// command deadline, and streams the replies back in the same order.
///
/// A request runs when the one before it has finished, with one exception: a configuration edit
/// queued in order behind others (`.pending(..., pipelined: true)`) lets the next request run at
/// once (it is checked against the configuration as it will be), so a script sent ahead has many
/// of its HAL changes carried by one HAL call. Replies still go out in request order, each with
/// the prompt of the mode its command left the session in.
///
/// Defences, each limited to this connection: a frame over the size limit, garbage, invalid
/// UTF-8 or too many requests sent ahead get an ERROR frame and the connection is closed; a
/// frame started and not finished within `partialFrameTimeoutSeconds` closes it; a client that
/// stops reading its replies for `stalledWriterTimeoutSeconds` is closed; one that has not sent
/// HELLO within `helloTimeoutSeconds` is closed (sooner if every slot is taken and another
/// client connects). None of them can delay another session: nothing here blocks the loop,
/// and long work goes in slices.
final class Connection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let plane: ControlPlane
    private var session: Session?
    private var decoder = FrameDecoder(maxPayload: ChannelLimits.maxRequestPayload)
    private var queue: [Frame] = []
    /// Requests before this index have been taken (the queue is trimmed now and then).
    private var queueHead = 0
    /// Replies not sent yet, in request order.
    private var replies: [Reply] = []
    private var partialFrameTimer: Scheduled<Void>?
    private var helloTimer: Scheduled<Void>?
    private var idleTimer: ClockTimer?
    private var stallTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// A finished command whose long output is still being streamed.
    private var streaming: (id: UInt32, context: CommandContext, status: Status, mode: Mode)?
    private var needsFlush = false
    private var closing = false
    /// A command ended the session (`exit` at the top): nothing after it runs.
    private var ended = false

    /// A command whose reply has not gone out: it is still running (waiting for a future) or it
    /// finished behind one that is.
    private final class Reply {
        let id: UInt32
        let line: String
        let context: CommandContext
        let started: Instant
        /// The session's mode once the command ran: its END carries that prompt. A command that
        /// waits without letting others run (a password check) may change it when it finishes.
        var mode: Mode
        var waitingFor: (() -> String)?
        var deadline: FutureDeadline?
        /// Lets the next request run while this one waits.
        let pipelined: Bool
        var status: Status?
        /// The command asks for input (a password) once its turn comes.
        var input: (prompt: String, hidden: Bool)?

        init(id: UInt32, line: String, context: CommandContext, mode: Mode, pipelined: Bool) {
            self.id = id
            self.line = line
            self.context = context
            started = context.plane.clock.now
            self.mode = mode
            self.pipelined = pipelined
        }
    }

    /// Replies at most waiting to go out (commands run ahead of their replies).
    static let maxRunningAhead = 128

    init(plane: ControlPlane) {
        self.plane = plane
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        let peer = Self.peerCredentials(context.channel)
        // Root or vrrpd's own user; unknown counts as not.
        let administrator = peer.map { $0.uid == 0 || $0.uid == geteuid() } ?? false
        let client = peer.map { "pid \($0.pid), uid \($0.uid)" } ?? "unidentified client"
        guard let session = plane.openSession(client: client, administrator: administrator, identity: ClientIdentity(uid: peer?.uid)) else {
            plane.repeatedLines.log(.refusedConnection, plane.logger, .warning, "refusing connection: \(ChannelLimits.maxSessions) sessions already open")
            protocolFailure(id: 0, "too many sessions (\(ChannelLimits.maxSessions)); try again later", log: false)
            return
        }
        self.session = session
        // Weak: the session must not keep its connection alive once it is gone.
        session.makeRoom = { [weak self] in self?.closeSilent("no HELLO yet, and a new client needed the slot") }
        plane.logger.debug("session opened", metadata: ["session": "\(session.id)", "client": "\(client)"])
        armHelloCheck()
        armIdleCheck()
        context.fireChannelActive()
    }

    /// The peer's credentials (SO_PEERCRED; read on the loop, so the answer is there at once),
    /// or nil if they cannot be read.
    static func peerCredentials(_ channel: Channel) -> clinux_credentials? {
        guard let provider = channel as? SocketOptionProvider else { return nil }
        let peer: EventLoopFuture<clinux_credentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let answer = NIOLockedValueBox<clinux_credentials?>(nil)
        peer.whenSuccess { credentials in answer.withLockedValue { $0 = credentials } }
        return answer.withLockedValue { $0 }
    }

    /// A connection must greet within `helloTimeoutSeconds`: a silent one holds a slot for
    /// seconds, not for the exec-timeout. One in the middle of a frame is looked at again a
    /// period later (its frame has the partial-frame deadline), so a byte now and then, or
    /// frames that are not HELLO, never keep an ungreeted connection open.
    private func armHelloCheck() {
        let seconds = ChannelLimits.helloTimeoutSeconds
        helloTimer = plane.loop.assumeIsolated().scheduleTask(in: .seconds(Int64(seconds))) { [self] in
            guard let session, !session.greeted, !closing else { return }
            if decoder.hasPartialFrame { return armHelloCheck() }
            closeSilent("no HELLO within \(seconds) s")
        }
    }

    /// Closes a connection that has not greeted, saying why; the log says so once per interval
    /// with the count (a few hundred silent connections are not a few hundred lines).
    private func closeSilent(_ why: String) {
        guard let session, !closing else { return }
        plane.sessions.statistics.silentClosed += 1
        plane.repeatedLines.log(
            .silentConnection, plane.logger, .notice, "connection closed: \(why)",
            metadata: ["session": "\(session.id)", "client": "\(session.client)", "closed-without-hello": "\(plane.sessions.statistics.silentClosed)"])
        protocolFailure(id: 0, "\(why): closed (a session opens with HELLO; docs/channel.md)", log: false)
    }

    /// `exec-timeout`: a session that has sent nothing for that long, with nothing of its own
    /// under way, is closed (IOS's default: 10 minutes), so idle connections cannot hold every
    /// slot. Checked every 2 s.
    private func armIdleCheck() {
        idleTimer = plane.loop.scheduleTask(after: .seconds(2), clock: plane.clock) { [self] in
            guard let session, !closing else { return }
            let limit = plane.live.config.execTimeout ?? RunningConfig.defaultExecTimeout
            // Whole seconds, as the limit is given and the message says.
            let idle = plane.clock.elapsed(since: session.lastActivity).components.seconds
            if limit > 0, idle >= limit, replies.isEmpty, streaming == nil {
                plane.logger.info("session idle: closed (exec-timeout)", metadata: ["session": "\(session.id)", "idle-s": "\(idle)"])
                protocolFailure(id: 0, "session idle for \(idle) s: closed (exec-timeout \(limit / 60) \(limit % 60))", log: false)
                return
            }
            armIdleCheck()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partialFrameTimer?.cancel()
        helloTimer?.cancel()
        idleTimer?.cancel()
        stallTimer?.cancel()
        for reply in replies {
            reply.deadline?.cancel()
            if reply.status == nil { reply.context.abandoned = true }
        }
        replies.removeAll()
        queue.removeAll()
        queueHead = 0
        if let session {
            session.makeRoom = nil
            plane.closeSession(session)
            plane.logger.debug("session closed", metadata: ["session": "\(session.id)"])
        }
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, session != nil else { return }
        let buffer = unwrapInboundIn(data)
        decoder.append(buffer.readableBytesView)
        // An ERROR about a frame carries that frame's request id (0 only when its header never
        // got that far).
        do {
            while let frame = try decoder.next() {
                do {
                    try accept(frame)
                } catch let error as ProtocolError {
                    protocolFailure(id: frame.id, error.description)
                    return
                }
                if closing { return }
            }
        } catch let error as ProtocolError {
            protocolFailure(id: decoder.headerID, error.description)
            return
        } catch {
            protocolFailure(id: decoder.headerID, ErrorText.describe(error))
            return
        }
        watchPartialFrame()
        pump()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
            pumpStream()
            pump()
            flushIfNeeded()
        } else if stallTimer == nil {
            let seconds = ChannelLimits.stalledWriterTimeoutSeconds
            stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(seconds))) { [self] in
                logClientProblem("client has not read its replies for \(seconds) s; closing")
                close()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A client that went away (killed mid-reply) is no problem of anyone's: noted, not warned.
        if ErrorText.isClientGone(error) {
            plane.repeatedLines.log(.clientGone, plane.logger, .info, "\(session?.name ?? "a connection"): \(ErrorText.describe(error))")
        } else {
            logClientProblem("connection error: \(ErrorText.describe(error))")
        }
        close()
    }

    // MARK: Requests

    /// Takes one decoded frame: cancellations act at once, and so does the answer to a prompt
    /// (requests sent ahead wait behind a command asking for input); everything else is queued in
    /// order.
    private func accept(_ frame: Frame) throws {
        guard frame.type.isRequest else { throw ProtocolError.unexpected(frame.type) }
        if frame.type == .cancel {
            cancel(frame.id)
            return
        }
        if frame.type == .input, session?.pendingInput != nil, replies.isEmpty, streaming == nil {
            guard frame.text != nil else {
                throw ProtocolError.malformed("\(frame.type) payload is not valid UTF-8 text (or contains NUL)")
            }
            handle(frame)
            return
        }
        guard queue.count - queueHead < ChannelLimits.maxPipelinedRequests else {
            throw ProtocolError.malformed("more than \(ChannelLimits.maxPipelinedRequests) requests sent ahead of their replies")
        }
        guard frame.text != nil else {
            throw ProtocolError.malformed("\(frame.type) payload is not valid UTF-8 text (or contains NUL)")
        }
        queue.append(frame)
    }

    /// Whether the next request may run now: nothing before it is still running (but edits
    /// queued in order), no stream is going out, the client reads.
    private var canRunNext: Bool {
        guard !closing, !ended, streaming == nil, let context, context.channel.isWritable else { return false }
        guard let last = replies.last else { return true }
        return replies.count < Self.maxRunningAhead && (last.status != nil || last.pipelined) && last.input == nil
    }

    /// Runs queued requests until one has to wait, the client stops reading, or the slice is
    /// over: then the loop serves the other sessions before the rest (a script sent ahead never
    /// delays anyone by more than a slice). While a command waits for input (a password), the
    /// requests behind it wait too.
    private func pump() {
        let slice = Slice()
        while canRunNext, queueHead < queue.count {
            if session?.pendingInput != nil {
                // Only the answer may go ahead (sent after requests that were sent ahead).
                guard replies.isEmpty, let index = queue[queueHead...].firstIndex(where: { $0.type == .input }) else { break }
                let frame = queue.remove(at: index)
                handle(frame)
                continue
            }
            if slice.isOver {
                scheduleResume()
                break
            }
            let frame = queue[queueHead]
            queueHead += 1
            if queueHead > 64 && queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            handle(frame)
        }
        flushIfNeeded()
    }

    private var resumeScheduled = false

    /// Goes on with the queued requests (or a stream) after the loop served everyone else.
    private func scheduleResume() {
        guard !resumeScheduled else { return }
        resumeScheduled = true
        plane.yield { [self] in
            resumeScheduled = false
            guard !closing, context != nil else { return }
            if streaming != nil { pumpStream() }
            pump()
        }
    }

    private func handle(_ frame: Frame) {
        guard let session else { return }
        session.lastActivity = plane.clock.now
        let text = frame.text ?? ""
        // A session opens with HELLO: any other request before it is refused (and changes nothing).
        if !session.greeted, frame.type != .hello, frame.type != .cancel {
            reply(frame.id, output: "% Send HELLO first: the session is not open (docs/channel.md)\n", status: .error)
            return
        }
        switch frame.type {
        case .hello:
            session.greeted = true
            session.makeRoom = nil
            helloTimer?.cancel()
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == "client" { session.client = String(parts[1].prefix(64)) }
            }
            let welcome = [
                "daemon=vrrpd", "version=\(plane.options.version)", "protocol=\(Frame.version)",
                "hostname=\(plane.live.config.hostname)", "prompt=\(plane.prompt(for: session))",
                "session=\(session.id)", "max-request=\(ChannelLimits.maxRequestPayload)",
            ].joined(separator: "\n")
            reply(frame.id, frame: Frame(.welcome, id: frame.id, text: welcome))
        case .exec:
            guard !text.contains("\n"), !text.contains("\r") else {
                reply(frame.id, output: "% A command is one line; send each line as its own request\n", status: .error)
                return
            }
            let (commandContext, outcome) = plane.execute(text, session: session, workspace: plane.live, loading: false)
            finish(frame.id, line: text, context: commandContext, outcome: outcome)
        case .input:
            guard let continuation = session.pendingInput, let commandContext = session.pendingInputContext else {
                reply(frame.id, output: "% No input was asked for\n", status: .error)
                return
            }
            session.pendingInput = nil
            session.pendingInputContext = nil
            finish(frame.id, line: commandContext.line, context: commandContext, outcome: continuation(commandContext, text))
        case .describe:
            let (status, output) = plane.describe(text, session: session)
            reply(frame.id, output: output, status: status)
        case .complete:
            reply(frame.id, output: plane.complete(text, session: session), status: .success)
        case .cancel, .welcome, .data, .end, .error:
            break
        }
    }

    /// Sends the reply of a finished command (or queues it behind replies still due), or arms
    /// its deadline if it has to wait.
    private func finish(_ id: UInt32, line: String, context commandContext: CommandContext, outcome: CommandOutcome) {
        guard let session else { return }
        if commandContext.endsSession { ended = true }
        let item = Reply(id: id, line: line, context: commandContext, mode: session.mode, pipelined: outcome.isPipelined)
        switch outcome {
        case .done(let status):
            item.status = status
        case .input(let prompt, let hidden, let then):
            session.pendingInput = then
            session.pendingInputContext = commandContext
            item.input = (prompt, hidden)
            item.status = .inputRequired
        case .pending(let future, let waitingFor, _):
            item.waitingFor = waitingFor
            // Whichever comes first, the result or the deadline; an interrupt silences both.
            item.deadline = future.race(deadline: plane.options.commandTimeout, on: plane.loop, clock: plane.clock, onTimeout: { [self] in
                timedOut(item)
            }) { [self] result in
                if !item.pipelined { item.mode = session.mode }
                switch result {
                case .success(.inputRequired):
                    // The work asks a question after all (a password again).
                    guard let ask = commandContext.nextInput else {
                        item.status = .error
                        break
                    }
                    commandContext.nextInput = nil
                    session.pendingInput = ask.then
                    session.pendingInputContext = commandContext
                    item.input = (ask.prompt, ask.hidden)
                    item.status = .inputRequired
                case .success(let status):
                    item.status = status
                case .failure(let error):
                    commandContext.print(FailureText.failed(ErrorText.describe(error)))
                    item.status = .error
                }
                sendReplies()
                // Many edits land in one turn (one HAL call carried them): the requests behind
                // them run after the loop has served everyone else, not inside this turn.
                scheduleResume()
            }
        }
        replies.append(item)
        sendReplies()
    }

    /// Sends the replies at the head that are complete, in order; the head that is still running
    /// gets out what it printed so far ("Building configuration...").
    private func sendReplies() {
        while let head = replies.first, streaming == nil {
            guard let status = head.status else {
                sendOutput(head.id, head.context.takeOutput(final: false))
                break
            }
            replies.removeFirst()
            if let input = head.input {
                sendOutput(head.id, head.context.takeOutput(final: true))
                send(Frame(.end, id: head.id, payload: EndOfReply(status: .inputRequired, prompt: input.prompt, hideInput: input.hidden).payload))
                continue
            }
            complete(head.id, head.context, status, mode: head.mode)
        }
        scheduleFlush()
    }

    private var flushScheduled = false

    /// Flushes once this turn of the loop is over: many replies that complete together (one HAL
    /// call carried their edits) go out in one write.
    private func scheduleFlush() {
        guard needsFlush, !flushScheduled else { return }
        flushScheduled = true
        plane.loop.assumeIsolated().execute { [self] in
            flushScheduled = false
            flushIfNeeded()
        }
    }

    private func complete(_ id: UInt32, _ commandContext: CommandContext, _ status: Status, mode: Mode) {
        guard !closing else { return }
        if commandContext.stream != nil {
            sendOutput(id, commandContext.takeOutput(final: false))
            streaming = (id, commandContext, status, mode)
            pumpStream()
            return
        }
        sendOutput(id, commandContext.takeOutput(final: true))
        let end = EndOfReply(
            status: status, prompt: Modes.prompt(mode, hostname: plane.live.config.hostname), sessionClosed: commandContext.endsSession)
        send(Frame(.end, id: id, payload: end.payload))
        if commandContext.endsSession {
            flushIfNeeded()
            close()
        }
    }

    /// Sends chunks of a streamed reply while the client keeps up (resuming on writability) and
    /// the slice lasts (resuming after the loop served everyone else).
    private func pumpStream() {
        guard let current = streaming, let context else { return }
        let slice = Slice()
        while context.channel.isWritable {
            if slice.isOver {
                scheduleResume()
                return
            }
            guard let chunk = current.context.stream?() else {
                current.context.stream = nil
                streaming = nil
                complete(current.id, current.context, current.status, mode: current.mode)
                sendReplies()
                pump()
                return
            }
            current.context.write(chunk)
            sendOutput(current.id, current.context.takeOutput(final: false))
            flushIfNeeded()
        }
    }

    private func timedOut(_ item: Reply) {
        guard item.status == nil else { return }
        item.context.abandoned = true
        plane.statistics.commandTimeouts += 1
        let waited = formatSeconds(plane.clock.elapsed(since: item.started).inSeconds)
        let what = item.waitingFor?() ?? "?"
        item.context.print(FailureText.failed("timed out after \(waited): \"\(item.line)\" is waiting for \(what)"))
        if let session {
            plane.repeatedLines.log(
                .commandTimeout, plane.logger, .warning, "command timed out",
                // (The log hides what follows a secret in the command: `LineLogHandler`.)
                metadata: ["session": "\(session.id)", "command": "\(item.line)", "waited": "\(waited)", "waiting-for": "\(what)"])
        }
        item.status = .timeout
        sendReplies()
        pump()
    }

    private func cancel(_ id: UInt32) {
        if let current = streaming, current.id == id {
            current.context.stream = nil
            streaming = nil
            current.context.print("% Interrupted")
            complete(id, current.context, .cancelled, mode: current.mode)
            sendReplies()
            pump()
        } else if let item = replies.first(where: { $0.id == id }), item.status == nil {
            item.deadline?.cancel()
            item.context.abandoned = true
            item.context.print("% Interrupted while waiting for \(item.waitingFor?() ?? "?")")
            item.status = .cancelled
            sendReplies()
            pump()
        } else if let index = queue[queueHead...].firstIndex(where: { $0.id == id }) {
            queue.remove(at: index)
            reply(id, output: "% Interrupted\n", status: .cancelled)
        } else if session?.pendingInput != nil {
            // A request waiting for its password: it ends here, with its own END.
            session?.pendingInputContext?.abandoned = true
            session?.pendingInput = nil
            session?.pendingInputContext = nil
            reply(id, output: "% Interrupted\n", status: .cancelled)
        }
    }

    // MARK: Output

    /// A reply that needs no command context (help, completion, a refused frame), in its turn.
    private func reply(_ id: UInt32, output: String, status: Status) {
        guard let session else { return }
        let context = CommandContext(plane: plane, session: session, workspace: plane.live, line: "", loading: false)
        context.write(output)
        let item = Reply(id: id, line: "", context: context, mode: session.mode, pipelined: false)
        item.status = status
        replies.append(item)
        sendReplies()
    }

    /// A WELCOME: at once (the client matches it by its id).
    private func reply(_ id: UInt32, frame: Frame) {
        send(frame)
    }

    /// Streams output as DATA frames of at most `replyChunk` bytes.
    private func sendOutput(_ id: UInt32, _ text: String) {
        guard !text.isEmpty else { return }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + ChannelLimits.replyChunk, bytes.count)
            send(Frame(.data, id: id, payload: Array(bytes[offset..<end])))
            offset = end
        }
    }

    private func send(_ frame: Frame) {
        guard let context, !closing else { return }
        var buffer = context.channel.allocator.buffer(capacity: Frame.headerSize + frame.payload.count)
        buffer.writeBytes(frame.encoded)
        context.write(wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
    }

    private func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    // MARK: Misbehaving clients

    /// A frame that started must finish within the limit, however slowly its bytes trickle in.
    private func watchPartialFrame() {
        if decoder.hasPartialFrame {
            guard partialFrameTimer == nil, let context else { return }
            let seconds = ChannelLimits.partialFrameTimeoutSeconds
            partialFrameTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(seconds))) {
                [self] in
                protocolFailure(id: 0, "incomplete frame: \(decoder.bufferedByteCount) bytes, then nothing for \(seconds) s")
            }
        } else {
            partialFrameTimer?.cancel()
            partialFrameTimer = nil
        }
    }

    private func protocolFailure(id: UInt32, _ message: String, log: Bool = true) {
        guard !closing else { return }
        plane.statistics.protocolErrors += log ? 1 : 0
        if log { logClientProblem("protocol error: \(message); closing connection") }
        send(Frame(.error, id: id, text: "% " + message))
        flushIfNeeded()
        close()
    }

    /// `session 5 (vtysh pid 4711): problem`: who, then what.
    private func logClientProblem(_ message: String) {
        plane.repeatedLines.log(.protocolError, plane.logger, .warning, "\(session?.name ?? "a connection"): \(message)")
    }

    private func close() {
        guard !closing, let context else { return }
        closing = true
        partialFrameTimer?.cancel()
        helloTimer?.cancel()
        stallTimer?.cancel()
        context.close(promise: nil)
    }
}
