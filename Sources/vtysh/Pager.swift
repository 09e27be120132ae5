import Glibc

/// IOS's `--More--` for the interactive shell, once `terminal length N` (N > 0) was set in it:
/// a command's output stops after N - 1 lines; SPACE shows the next page, RETURN the next line,
/// any other key (q) drops the rest. `terminal length 0` turns it off (what automation sends).
///
/// The reply is still read as fast as the daemon sends it (the daemon closes a connection that
/// does not read for 30 s); what the screen has not shown yet waits here.
struct Pager {
    /// Lines per screen; 0: no paging.
    var length = 0
    /// Readable when Ctrl-C was pressed (the shell's signal pipe): a wait for a key ends.
    var interruptFD: Int32 = -1
    private var pending: [UInt8] = []
    private var shown = 0
    private var waiting = false
    private var dropped = false

    static let more = Array(" --More-- ".utf8)
    /// Back over the prompt, blank it, back again.
    static let erase = Array(repeating: UInt8(8), count: more.count) + Array(repeating: UInt8(32), count: more.count)
        + Array(repeating: UInt8(8), count: more.count)

    /// A new command's output starts.
    mutating func begin() {
        pending = []
        shown = 0
        waiting = false
        dropped = false
    }

    /// Output as it arrives: shown up to the end of the page; keys typed meanwhile are read
    /// without waiting.
    mutating func feed(_ bytes: [UInt8]) {
        guard !dropped else { return }
        pending += bytes
        show(wait: false)
    }

    /// The reply is complete: page through the rest, waiting for keys.
    mutating func finish() {
        show(wait: true)
        if !dropped && !pending.isEmpty { Output.write(pending) }
        begin()
    }

    /// Ctrl-C: nothing more is shown.
    mutating func abandon() {
        if waiting { Output.write(Pager.erase) }
        begin()
    }

    private mutating func show(wait: Bool) {
        while !dropped {
            if shown >= max(1, length - 1) {
                guard pending.contains(10) else { return }
                if !waiting {
                    Output.write(Pager.more)
                    waiting = true
                }
                guard let key = Pager.readKey(wait: wait, interruptFD: interruptFD) else { return }
                Output.write(Pager.erase)
                waiting = false
                switch key {
                case 32: shown = 0
                case 10, 13: shown = max(0, length - 2)
                default:
                    dropped = true
                    pending = []
                    return
                }
            }
            guard let newline = pending.firstIndex(of: 10) else { return }
            Output.write(Array(pending[...newline]))
            pending.removeFirst(newline + 1)
            shown += 1
        }
    }

    /// One key from the terminal, read with echo and line editing off; nil when `wait` is false
    /// and none was typed. The end of input or Ctrl-C count as `q`.
    private static func readKey(wait: Bool, interruptFD: Int32) -> UInt8? {
        Terminal.byKey(STDIN_FILENO) { () -> UInt8? in nextKey(wait: wait, interruptFD: interruptFD) } ?? nil
    }

    private static func nextKey(wait: Bool, interruptFD: Int32) -> UInt8? {
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: interruptFD, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, interruptFD >= 0 ? 2 : 1, wait ? -1 : 0)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            if fds[0].revents == 0 { return 113 }
            var key: UInt8 = 0
            let n = read(STDIN_FILENO, &key, 1)
            if n < 0 && errno == EINTR { continue }
            return n == 1 ? key : 113  // end of input: as if q
        }
    }
}
