import CReadline
import Channel
import Glibc

/// The interactive shell: GNU readline in callback mode, driven by a poll loop over the
/// terminal and a signal pipe, so that Ctrl-C abandons the line being edited or the command in
/// flight, and nothing ever blocks on the daemon beyond --timeout.
///
/// Readline calls back through C function pointers, which cannot capture context; the shell's
/// state therefore lives in statics, touched only from vtysh's single thread.
enum Shell {
    nonisolated(unsafe) static var session: DaemonSession!
    nonisolated(unsafe) static var completions: [String] = []
    nonisolated(unsafe) static var completionIndex = 0
    nonisolated(unsafe) static var signalPipe: [Int32] = [-1, -1]
    nonisolated(unsafe) static var finished = false
    nonisolated(unsafe) static var exitStatus = ExitStatus.success
    nonisolated(unsafe) static var historyPath = ""
    nonisolated(unsafe) static var lastHistoryLine = ""
    nonisolated(unsafe) static var pager = Pager()
    static let historyLimit: Int32 = 1000

    static func run(_ session: DaemonSession) -> Int32 {
        Shell.session = session
        installSignalPipe()
        session.client.interruptFD = signalPipe[0]
        pager.interruptFD = signalPipe[0]
        session.output = { Shell.pager.length > 0 ? Shell.pager.feed($0) : Output.write($0) }
        historyPath = (getenv("HOME").map { String(cString: $0) } ?? ".") + "/.vtysh_history"

        vtysh_rl_setup(strdup("vtysh"), complete)
        rl_bind_key(Int32(UInt8(ascii: "?")), describeKey)
        // Ctrl-Z ends configuration mode, as on IOS: the terminal must hand it over as a key
        // rather than stop vtysh (its suspend character is switched off while the shell runs).
        var terminal = termios()
        let haveTerminal = tcgetattr(STDIN_FILENO, &terminal) == 0
        let savedTerminal = terminal
        if haveTerminal {
            withUnsafeMutableBytes(of: &terminal.c_cc) { $0[Int(VSUSP)] = 0 }  // _POSIX_VDISABLE
            tcsetattr(STDIN_FILENO, TCSANOW, &terminal)
        }
        defer {
            var restored = savedTerminal
            if haveTerminal { tcsetattr(STDIN_FILENO, TCSANOW, &restored) }
        }
        rl_bind_key(26, endKey)
        using_history()
        stifle_history(historyLimit)
        if read_history(historyPath) != 0 {
            // append_history needs an existing file; start one (mode 0600: commands can be private).
            let fd = open(historyPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            if fd >= 0 { close(fd) }
        }
        // Initialised first (inputrc read), so that the settings hold before the first prompt
        // is written: no bracketed-paste escape even around it.
        rl_initialize()
        vtysh_rl_after_init()
        rl_callback_handler_install(session.prompt, lineHandler)

        while !finished {
            var fds = [
                pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signalPipe[0], events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[1].revents != 0 { handleSignals() }
            if fds[0].revents != 0 && !finished { rl_callback_read_char() }
        }
        rl_callback_handler_remove()
        _ = history_truncate_file(historyPath, historyLimit)
        return exitStatus
    }

    // MARK: Readline callbacks

    /// A whole line was entered (nil: Ctrl-D on an empty line).
    static let lineHandler: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void = { pointer in
        guard let pointer else {
            Output.print("")
            finished = true
            return
        }
        let line = String(cString: pointer)
        free(pointer)
        execute(line)
        if !finished { rl_set_prompt(session.prompt) }
    }

    static func execute(_ line: String) {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        guard !trimmed.isEmpty else { return }
        // A line carrying a secret (`enable secret ...`) never goes to the history file.
        if line != lastHistoryLine && !SecretLines.carriesSecret(trimmed) {
            add_history(line)
            _ = append_history(1, historyPath)
            lastHistoryLine = line
        }
        // Longer than the daemon takes: said here, and the shell goes on.
        if let refusal = session.refusal(line) {
            Output.error("% " + refusal)
            return
        }
        pager.begin()
        do {
            switch try session.run(line, answer: { prompt, hidden in
                hidden ? Terminal.readHidden(prompt: prompt) : Terminal.readVisible(prompt: prompt)
            }) {
            case .finished(let status):
                pager.finish()
                if !status.isFailure, let length = terminalLength(line) { pager.length = length }
            case .noAnswer:
                pager.finish()
                Output.print("% vrrpd did not answer \"\(line)\" within \(formatTimeout(session.timeout)) s")
            case .interrupted:
                pager.abandon()
                drainSignals()
            }
        } catch {
            Output.print(describe(error, socket: session.client.path, line: line))
            exitStatus = ExitStatus.connectionFailed
            finished = true
        }
        if session.closed { finished = true }
    }

    /// N of a `terminal length N` line (abbreviated as the daemon accepts it), else nil.
    static func terminalLength(_ line: String) -> Int? {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { $0.lowercased() }
        guard words.count == 3, words[0].count >= 2, "terminal".hasPrefix(words[0]), "length".hasPrefix(words[1]) else { return nil }
        return Int(words[2])
    }

    /// Ctrl-Z: in a configuration mode, `end` (what is typed on the line is dropped); elsewhere
    /// nothing.
    static let endKey: @convention(c) (Int32, Int32) -> Int32 = { _, key in
        guard session.prompt.contains("(config") else { return 0 }
        rl_replace_line("end", 0)
        vtysh_rl_move_to_end()
        return rl_newline(1, key)
    }

    /// `?`: show what may come next, then redraw the line as it was.
    static let describeKey: @convention(c) (Int32, Int32) -> Int32 = { _, _ in
        let line = currentLine(upTo: Int(vtysh_rl_point()))
        Output.print("")
        do {
            let (items, error) = try session.describe(line)
            Output.write(Array((error ?? DaemonSession.formatHelp(items)).utf8))
        } catch {
            Output.print(describe(error, socket: session.client.path, line: line + "?"))
        }
        rl_on_new_line()
        return 0
    }

    /// TAB: complete the word under the cursor from the daemon's grammar.
    static let complete:
        @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = {
            text, _, end in
            vtysh_rl_completion_over()
            let line = currentLine(upTo: Int(end))
            completions = (try? session.complete(line)) ?? []
            completionIndex = 0
            guard !completions.isEmpty else { return nil }
            return rl_completion_matches(text, completionGenerator)
        }

    static let completionGenerator: @convention(c) (UnsafePointer<CChar>?, Int32) -> UnsafeMutablePointer<CChar>? = {
        _, state in
        if state == 0 { completionIndex = 0 }
        guard completionIndex < completions.count else { return nil }
        defer { completionIndex += 1 }
        return strdup(completions[completionIndex])
    }

    static func currentLine(upTo point: Int) -> String {
        guard let buffer = vtysh_rl_line_buffer() else { return "" }
        let bytes = UnsafeRawBufferPointer(start: buffer, count: strlen(buffer))
        return String(decoding: bytes.prefix(point), as: UTF8.self)
    }

    // MARK: Signals

    static func installSignalPipe() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        signalPipe = fds
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            var byte = UInt8(truncatingIfNeeded: number)
            _ = write(Shell.signalPipe[1], &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a wait in poll returns at once
        sigaction(SIGINT, &action, nil)
        sigaction(SIGWINCH, &action, nil)
        // A parent may have started us with these blocked (signal masks survive exec).
        var wanted = sigset_t()
        sigemptyset(&wanted)
        sigaddset(&wanted, SIGINT)
        sigaddset(&wanted, SIGWINCH)
        sigprocmask(SIG_UNBLOCK, &wanted, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    static func handleSignals() {
        var byte: UInt8 = 0
        while read(signalPipe[0], &byte, 1) == 1 {
            if Int32(byte) == SIGWINCH {
                rl_resize_terminal()
            } else if Int32(byte) == SIGINT {
                // Abandon the line being edited and start a fresh one.
                rl_free_line_state()
                rl_callback_sigcleanup()
                Output.print("")
                rl_replace_line("", 0)
                rl_on_new_line()
                rl_redisplay()
            }
        }
    }

    static func drainSignals() {
        var byte: UInt8 = 0
        while read(signalPipe[0], &byte, 1) == 1 {}
    }

    /// One line for a channel failure, naming the socket.
    static func describe(_ error: Error, socket: String, line: String) -> String {
        switch error as? ClientError {
        case .cannotConnect(let path, let reason): return "% cannot connect to vrrpd at \(path): \(reason)"
        case .closed: return "% vrrpd at \(socket) closed the connection (during \"\(line)\")"
        case .protocolError(let problem): return "% protocol error talking to vrrpd at \(socket): \(problem)"
        case .daemonError(let message): return message
        case .timedOut: return "% vrrpd did not answer \"\(line)\""
        case .interrupted: return "% interrupted"
        case .io(let call, let reason): return "% \(call) on \(socket) failed: \(reason)"
        case nil: return "% \(error)"
        }
    }
}
