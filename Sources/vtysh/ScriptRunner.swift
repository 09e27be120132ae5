import Channel
import Glibc

/// Exit statuses of vtysh.
enum ExitStatus {
    static let success: Int32 = 0
    /// A command failed (unknown, ambiguous, incomplete, error, timeout reported by vrrpd).
    static let commandFailed: Int32 = 1
    /// vrrpd could not be reached, closed the connection, or spoke nonsense.
    static let connectionFailed: Int32 = 2
    /// vrrpd did not answer within --timeout.
    static let noAnswer: Int32 = 3
    /// Arguments vtysh does not take (ArgumentParser's EX_USAGE, and the login shell's).
    static let usage: Int32 = 64
}

/// Runs lines as if typed at the prompt: `-c` commands, a `-f` file, or stdin. `!` and `#` start
/// comments. `-c` stops at the first failing command (as FRR's vtysh does); a file goes on and
/// reports every failing line. A daemon that does not answer ends the run at once.
///
/// A file's lines are sent ahead of their replies (up to `window` of them, the daemon runs them in
/// order), so a long script costs one round trip per window, not per line; replies and errors are
/// still printed in line order, each failing line named with its number, and the modes change
/// exactly as they would if the lines were typed (the daemon keeps the session's mode). `-c` sends
/// one line at a time: a later command must not run after one that failed.
struct ScriptRunner {
    let session: DaemonSession
    let echo: Bool
    let stopOnFailure: Bool
    let source: String
    /// Lines sent ahead of their replies at most (1: one at a time).
    var window = ScriptRunner.defaultWindow

    /// Within the daemon's limit of requests sent ahead (ChannelLimits.maxPipelinedRequests).
    static let defaultWindow = 128
    /// Bytes of requests sent ahead at most, so the socket buffers never hold both directions
    /// full.
    static let maxBytesAhead = 128 * 1024
    /// The window is refilled this many lines at a time: one write, one wake-up of the daemon.
    static let refillBatch = 16

    private struct Sent {
        var number: Int
        var line: String
        var id: UInt32
        var describe: Bool
        var bytes: Int
        /// Not sent: why (reported in its turn, as a failing line).
        var refused: String? = nil
    }

    func run<S: LineSource>(_ lines: S) -> Int32 {
        var lines = lines
        var failed: [Int] = []
        var sent: [Sent] = []
        var head = 0
        var bytesAhead = 0
        var ended = false
        while true {
            // Send ahead while the window has room and lines are at hand (stdin: without waiting
            // for more while replies are due). The window is refilled a batch at a time, so lines
            // leave together (one write, one wake-up of the daemon).
            let refill = sent.count == head || sent.count - head <= window - ScriptRunner.refillBatch
            sending: while refill, !ended, sent.count - head < max(1, window), bytesAhead < Self.maxBytesAhead {
                let waiting = sent.count == head
                if waiting {
                    // Nothing is due: what was queued goes out before stdin is waited on.
                    do { try session.flush() } catch {
                        Output.error(Shell.describe(error, socket: session.client.path, line: ""))
                        return ExitStatus.connectionFailed
                    }
                }
                let number: Int
                var line: String
                switch lines.next(waiting: waiting) {
                case .line(let n, let text):
                    (number, line) = (n, text)
                case .invalid(let n, let invalid):
                    // Not UTF-8: it cannot be sent (a frame carries text), and it is this line's
                    // error only; a comment is one whatever follows its `!`.
                    if ScriptRunner.isCommand(invalid.prefix) {
                        sent.append(Sent(number: n, line: invalid.text, id: 0, describe: false, bytes: 0, refused: invalid.message))
                    }
                    continue
                case .notReady:
                    break sending
                case .end:
                    ended = true
                    break sending
                }
                if line.hasSuffix("\r") { line.removeLast() }
                guard ScriptRunner.isCommand(line) else { continue }
                let describe = line.hasSuffix("?")
                if let refusal = session.refusal(line) {
                    sent.append(Sent(number: number, line: line, id: 0, describe: false, bytes: 0, refused: refusal))
                    continue
                }
                do {
                    let id = try describe ? session.startDescribe(String(line.dropLast()), queued: true) : session.start(line, queued: true)
                    sent.append(Sent(number: number, line: line, id: id, describe: describe, bytes: line.utf8.count + Frame.headerSize))
                    bytesAhead += line.utf8.count + Frame.headerSize
                } catch {
                    Output.error(Shell.describe(error, socket: session.client.path, line: line))
                    return ExitStatus.connectionFailed
                }
            }
            guard head < sent.count else {
                if ended { break }
                continue
            }
            let item = sent[head]
            head += 1
            bytesAhead -= item.bytes
            if head > 256 {
                sent.removeFirst(head)
                head = 0
            }
            if echo { Output.print(session.prompt + item.line) }
            if let refused = item.refused {
                failed.append(item.number)
                Output.error("% vtysh: \(location(item.number)) \(refused)")
                if stopOnFailure { return ExitStatus.commandFailed }
                continue
            }
            do {
                if item.describe {
                    try describe(item.id)
                    continue
                }
                // The secret from the environment is given once: asked again, it was wrong. A
                // confirmation (`Destination filename [startup-config]?`) takes its default, as
                // IOS's `file prompt quiet` does.
                var asked = false
                let answer = { (prompt: String, hidden: Bool) -> String? in
                    guard hidden else { return "" }
                    defer { asked = true }
                    return asked && getenv("VTYSH_ENABLE_SECRET") != nil ? nil : ScriptRunner.secret(prompt: prompt)
                }
                switch try session.complete(item.id, answer: answer) {
                case .finished(let status):
                    if status.isFailure {
                        failed.append(item.number)
                        let shown = item.line.drop { $0 == " " || $0 == "\t" }
                        // `ssh HOST 'show a; show b'` is one line that does not parse, as on IOS
                        // and FRR: say why.
                        let unparsed = status == .unknown || status == .ambiguous || status == .incomplete
                        let hint = source == "-c" && unparsed && shown.contains(";") ? "; ';' does not separate commands: one command per line" : ""
                        Output.error("% vtysh: \(location(item.number)) \"\(shown)\" failed (\(status))\(hint)")
                        if stopOnFailure { return ExitStatus.commandFailed }
                    }
                case .noAnswer:
                    Output.error("% vrrpd did not answer \"\(item.line)\" within \(formatTimeout(session.timeout)) s")
                    return ExitStatus.noAnswer
                case .interrupted:
                    return ExitStatus.commandFailed
                }
            } catch {
                Output.error(Shell.describe(error, socket: session.client.path, line: item.line))
                return ExitStatus.connectionFailed
            }
            // `exit` at the top: the daemon closed the session; the lines after it never run.
            // Quietly so when it was the last; a script that goes on is told, and fails.
            if session.closed {
                var notRun = sent.count - head
                while case .line(_, let rest) = lines.next(waiting: false) {
                    if ScriptRunner.isCommand(rest) { notRun += 1 }
                }
                if notRun > 0 {
                    Output.error("% vtysh: \(location(item.number)) \"\(item.line.drop { $0 == " " || $0 == "\t" })\" ended the session; the \(notRun) line(s) after it were not run")
                    failed.append(item.number)
                }
                break
            }
        }
        if failed.count > 1 {
            Output.error("% vtysh: \(failed.count) lines failed in \(source): \(failed.map(String.init).joined(separator: ", "))")
        }
        return failed.isEmpty ? ExitStatus.success : ExitStatus.commandFailed
    }

    /// Whether a line is a command: not blank, not a `!` or `#` comment.
    static func isCommand(_ line: String) -> Bool {
        guard let first = line.first(where: { $0 != " " && $0 != "\t" }) else { return false }
        return first != "!" && first != "#"
    }

    private func location(_ number: Int) -> String {
        source == "-c" ? "command \(number):" : "\(source):\(number):"
    }

    private func describe(_ id: UInt32) throws(ClientError) {
        let (items, error) = try session.completeDescribe(id)
        if let error { Output.write(Array(error.utf8)) } else { Output.write(Array(DaemonSession.formatHelp(items).utf8)) }
    }

    /// The enable secret for scripts: $VTYSH_ENABLE_SECRET, else asked on the terminal if
    /// there is one.
    static func secret(prompt: String) -> String? {
        if let value = getenv("VTYSH_ENABLE_SECRET") { return String(cString: value) }
        guard let secret = Terminal.readHidden(prompt: prompt) else {
            Output.error("% vtysh: enable needs the secret: set VTYSH_ENABLE_SECRET or run vtysh on a terminal")
            return nil
        }
        return secret
    }
}

/// What reading the next line of a script gave.
enum LineRead {
    case line(Int, String)
    /// A line that is not UTF-8 (reported, never sent).
    case invalid(Int, InvalidUTF8)
    /// Nothing at hand without waiting (stdin, asked not to wait).
    case notReady
    case end
}

/// Where a script's lines come from.
protocol LineSource {
    /// The next line; when `waiting` is false, `.notReady` rather than block.
    mutating func next(waiting: Bool) -> LineRead
}

/// Lines already in memory (`-c` commands).
struct ListedLines: LineSource {
    private let lines: [(Int, String)]
    private var index = 0

    init(_ lines: [(Int, String)]) { self.lines = lines }

    mutating func next(waiting: Bool) -> LineRead {
        guard index < lines.count else { return .end }
        defer { index += 1 }
        return .line(lines[index].0, lines[index].1)
    }
}

/// The lines of a `-f` file, read as vrrpd reads its files (`TextLines`: no byte order mark,
/// each line decoded on its own).
struct FileLines: LineSource {
    private var lines: TextLines

    init(_ bytes: [UInt8]) { lines = TextLines(bytes) }

    mutating func next(waiting: Bool) -> LineRead {
        switch lines.next() {
        case nil: return .end
        case .success(let text): return .line(lines.number, text)
        case .failure(let invalid): return .invalid(lines.number, invalid)
        }
    }
}

/// Lines of a file descriptor (stdin), read as they come: a line is sent as soon as it is there,
/// and reading never blocks while replies are due.
struct DescriptorLines: LineSource {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    private var number = 0

    init(fd: Int32) { self.fd = fd }

    mutating func next(waiting: Bool) -> LineRead {
        while true {
            // A byte order mark at the start of the input is not part of the first line (a part of
            // one holds no newline: the line waits for the rest).
            if number == 0, start == 0, TextLines.startsWithByteOrderMark(buffer) { start = TextLines.byteOrderMark.count }
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<newline]
                start = newline + 1
                number += 1
                let read = Self.decoded(number, line)
                if start > 65536 {
                    buffer.removeFirst(start)
                    start = 0
                }
                return read
            }
            if eof {
                guard start < buffer.count else { return .end }
                let line = buffer[start...]
                start = buffer.count
                number += 1
                return Self.decoded(number, line)
            }
            if !waiting {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 0) <= 0 { return .notReady }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                eof = true
                continue
            }
            buffer += chunk[0..<n]
        }
    }

    private static func decoded(_ number: Int, _ line: ArraySlice<UInt8>) -> LineRead {
        switch TextLines.decode(line.last == UInt8(ascii: "\r") ? line.dropLast() : line) {
        case .success(let text): return .line(number, text)
        case .failure(let invalid): return .invalid(number, invalid)
        }
    }
}

func formatTimeout(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}

/// Reading from the controlling terminal: a password (echo off), a confirmation, a key.
enum Terminal {
    /// Runs `body` with the terminal on `fd` handing over each key as typed, unechoed (no line
    /// editing), then puts it back; nil when `fd` is not a terminal.
    static func byKey<T>(_ fd: Int32, _ body: () -> T) -> T? {
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var keys = saved
        keys.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &keys.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(fd, TCSANOW, &keys)
        defer { tcsetattr(fd, TCSANOW, &saved) }
        return body()
    }

    /// A line typed at the terminal, echoed (a confirmation); nil without a terminal.
    static func readVisible(prompt: String) -> String? { readLine(prompt: prompt, echo: true) }

    /// A line typed at the terminal without echo (a password); nil without a terminal.
    static func readHidden(prompt: String) -> String? { readLine(prompt: prompt, echo: false) }

    /// Reads one line from the terminal a byte at a time, ending at CR or LF (what was typed
    /// ahead counts: Ansible sends `copy running-config startup-config\r` and its answer's CR
    /// together, as IOS takes them).
    private static func readLine(prompt: String, echo: Bool) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return byKey(fd) { () -> String? in readLine(fd, prompt: prompt, echo: echo) } ?? nil
    }

    /// The line, echoing what is typed itself (so that an erase erases on the screen too).
    private static func readLine(_ fd: Int32, prompt: String, echo: Bool) -> String? {
        Output.writeAll(fd, Array(prompt.utf8))
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            // Ctrl-C (a signal interrupts the read) or the end of input: no answer.
            guard read(fd, &byte, 1) == 1 else {
                Output.writeAll(fd, [UInt8(ascii: "\n")])
                return nil
            }
            if byte == 10 || byte == 13 { break }
            if byte == 127 || byte == 8 {  // erase
                if !bytes.isEmpty {
                    bytes.removeLast()
                    if echo { Output.writeAll(fd, [8, 32, 8]) }
                }
                continue
            }
            bytes.append(byte)
            if echo { Output.writeAll(fd, [byte]) }
        }
        Output.writeAll(fd, [UInt8(ascii: "\n")])
        return String(decoding: bytes, as: UTF8.self)
    }
}
