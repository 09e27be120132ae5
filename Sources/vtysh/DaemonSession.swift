import Channel
import Glibc
import Time

/// vtysh's end of one session with vrrpd: runs lines, asks for `?` help and TAB completions,
/// answers password prompts, and never waits longer than the timeout for anything.
final class DaemonSession {
    let client: ChannelClient
    let timeout: Double
    private(set) var prompt = ">"
    /// Where a reply's text goes (the terminal, or the shell's pager).
    var output: ([UInt8]) -> Void = { Output.write($0) }
    private(set) var closed = false
    /// The longest line the daemon takes (its WELCOME's `max-request`).
    private(set) var maxRequest = ChannelLimits.maxRequestPayload

    /// How a line ended, from vtysh's point of view.
    enum Outcome {
        case finished(Status)
        /// The daemon did not answer in time (the reply, if it ever comes, is discarded).
        case noAnswer
        /// Ctrl-C, and the daemon confirmed.
        case interrupted
    }

    /// Connects: HELLO, then WELCOME (which carries the first prompt and the line limit).
    static func connect(socket: String, timeout: Double) throws(ClientError) -> DaemonSession {
        let client = try ChannelClient(path: socket, timeout: timeout, hello: "client=vtysh pid \(getpid())")
        let session = DaemonSession(client: client, timeout: timeout)
        if let prompt = client.welcome["prompt"] { session.prompt = prompt }
        if let limit = client.welcome["max-request"].flatMap({ Int($0) }), limit > 0 { session.maxRequest = limit }
        return session
    }

    private init(client: ChannelClient, timeout: Double) {
        self.client = client
        self.timeout = timeout
    }

    /// Why the daemon would refuse `line` before running it (longer than it takes), or nil.
    func refusal(_ line: String) -> String? {
        let bytes = line.utf8.count
        return bytes > maxRequest ? "line too long (\(bytes) bytes; vrrpd takes at most \(maxRequest))" : nil
    }

    /// Runs one line; reply text goes to stdout as it arrives.
    /// `answer(prompt, hidden)`: the reply to a question the daemon asks (a password, hidden;
    /// a confirmation, shown), or nil to cancel the command.
    func run(_ line: String, answer: (String, Bool) -> String?) throws(ClientError) -> Outcome {
        let id = try start(line)
        return try complete(id, answer: answer)
    }

    /// Sends one line (its reply is collected by `complete`, in the order the lines were sent).
    /// Queued lines go out together with the next `flush` or before a reply is awaited.
    func start(_ line: String, queued: Bool = false) throws(ClientError) -> UInt32 {
        let id = client.makeID()
        let frame = Frame(.exec, id: id, text: line)
        if queued { client.queue(frame) } else { try client.send(frame, deadline: Instant.secondsFromNow(timeout)) }
        return id
    }

    /// Writes the lines queued by `start(_:queued:)`.
    func flush() throws(ClientError) {
        try client.flush(deadline: Instant.secondsFromNow(timeout))
    }

    /// Collects the reply of the line sent as `id` (stdout gets its text as it arrives), answering
    /// a question (a password, a confirmation) with `answer`. Waits at most the timeout from now.
    func complete(_ first: UInt32, answer: (String, Bool) -> String?) throws(ClientError) -> Outcome {
        var id = first
        var deadline = Instant.secondsFromNow(timeout)
        while true {
            let end: EndOfReply
            do {
                end = try client.awaitReply(id: id, deadline: deadline) { output($0) }
            } catch .timedOut {
                return .noAnswer
            } catch .interrupted {
                return try interrupt(id)
            }
            if end.sessionClosed { closed = true }
            guard end.status == .inputRequired else {
                prompt = end.prompt
                return .finished(end.status)
            }
            // The daemon asks for a secret (enable): answer with an INPUT frame (requests sent
            // ahead wait behind it in the daemon).
            guard let secret = answer(end.prompt, end.hideInput) else {
                // Tell the daemon to drop the prompt so the session is not left waiting.
                try client.send(Frame(.cancel, id: id), deadline: Instant.secondsFromNow(timeout))
                return .finished(.error)
            }
            id = client.makeID()
            deadline = Instant.secondsFromNow(timeout)
            try client.send(Frame(.input, id: id, text: secret), deadline: deadline)
        }
    }

    /// Ctrl-C during a command: ask the daemon to abandon it and wait briefly for the END.
    private func interrupt(_ id: UInt32) throws(ClientError) -> Outcome {
        let deadline = Instant.secondsFromNow(min(timeout, 2))
        try client.send(Frame(.cancel, id: id), deadline: deadline)
        let saved = client.interruptFD
        client.interruptFD = -1
        defer { client.interruptFD = saved }
        do {
            let end = try client.awaitReply(id: id, deadline: deadline) { output($0) }
            prompt = end.prompt
            return .interrupted
        } catch .timedOut {
            return .noAnswer
        }
    }

    /// `?`: the daemon's help for the words after the line, as (word, help) pairs, or the error
    /// text when the line so far does not match.
    func describe(_ line: String) throws(ClientError) -> (items: [(String, String)], error: String?) {
        try completeDescribe(try startDescribe(line))
    }

    func startDescribe(_ line: String, queued: Bool = false) throws(ClientError) -> UInt32 {
        let id = client.makeID()
        let frame = Frame(.describe, id: id, text: line)
        if queued { client.queue(frame) } else { try client.send(frame, deadline: Instant.secondsFromNow(timeout)) }
        return id
    }

    func completeDescribe(_ id: UInt32) throws(ClientError) -> (items: [(String, String)], error: String?) {
        var text: [UInt8] = []
        let end = try client.awaitReply(id: id, deadline: Instant.secondsFromNow(timeout)) { text += $0 }
        let output = String(decoding: text, as: UTF8.self)
        if end.status != .success { return ([], output) }
        let items = output.split(separator: "\n").map { row -> (String, String) in
            let parts = row.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        return (items, nil)
    }

    /// TAB: the words the last word of `line` can complete to.
    func complete(_ line: String) throws(ClientError) -> [String] {
        var text: [UInt8] = []
        _ = try client.request(.complete, line, timeout: timeout) { text += $0 }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Formats `?` output the way FRR and IOS do: words in a column, help beside them.
    static func formatHelp(_ items: [(String, String)]) -> String {
        let width = max(12, (items.map { $0.0.count }.max() ?? 0) + 2)
        return items.map { word, help in
            "  " + word + String(repeating: " ", count: width - word.count) + help + "\n"
        }.joined()
    }
}

/// Unbuffered writes to stdout and stderr (replies are streamed as they arrive).
enum Output {
    static func write(_ bytes: [UInt8]) { writeAll(STDOUT_FILENO, bytes) }
    static func print(_ text: String) { writeAll(STDOUT_FILENO, Array((text + "\n").utf8)) }
    /// A message: what it repeats (a script's line, a file name) never prints a control or
    /// invisible character (`LineSafety.visible`).
    static func error(_ text: String) { writeAll(STDERR_FILENO, Array((LineSafety.visible(text) + "\n").utf8)) }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
