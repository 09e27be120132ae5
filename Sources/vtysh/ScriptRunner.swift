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
}

/// Runs lines as if typed at the prompt: `-c` commands, a `-f` file, or stdin. `!` and `#` start
/// comments. `-c` stops at the first failing command (as FRR's vtysh does); a file goes on and
/// reports every failing line. A daemon that does not answer ends the run at once.
struct ScriptRunner {
    let session: DaemonSession
    let echo: Bool
    let stopOnFailure: Bool
    let source: String

    func run<S: Sequence>(_ lines: S) -> Int32 where S.Element == (Int, String) {
        var failed: [Int] = []
        for (number, raw) in lines {
            var line = raw
            if line.hasSuffix("\r") { line.removeLast() }
            let first = line.first { $0 != " " && $0 != "\t" }
            guard let first, first != "!", first != "#" else { continue }
            if echo { Output.print(session.prompt + line) }
            do {
                if line.hasSuffix("?") {
                    try describe(String(line.dropLast()))
                    continue
                }
                switch try session.run(line, askSecret: ScriptRunner.secret) {
                case .finished(let status):
                    if status.isFailure {
                        failed.append(number)
                        let shown = line.drop { $0 == " " || $0 == "\t" }
                        Output.error("% vtysh: \(location(number)) \"\(shown)\" failed (\(status))")
                        if stopOnFailure { return ExitStatus.commandFailed }
                    }
                case .noAnswer:
                    Output.error("% vrrpd did not answer \"\(line)\" within \(formatTimeout(session.timeout)) s")
                    return ExitStatus.noAnswer
                case .interrupted:
                    return ExitStatus.commandFailed
                }
            } catch {
                Output.error(Shell.describe(error, socket: session.client.path, line: line))
                return ExitStatus.connectionFailed
            }
            if session.closed { break }
        }
        if failed.count > 1 {
            Output.error("% vtysh: \(failed.count) lines failed in \(source): \(failed.map(String.init).joined(separator: ", "))")
        }
        return failed.isEmpty ? ExitStatus.success : ExitStatus.commandFailed
    }

    private func location(_ number: Int) -> String {
        source == "-c" ? "command \(number):" : "\(source):\(number):"
    }

    private func describe(_ line: String) throws(ClientError) {
        let (items, error) = try session.describe(line)
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

func formatTimeout(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}

/// Reading a secret from the controlling terminal with echo off.
enum Terminal {
    static func readHidden(prompt: String) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(fd, TCSAFLUSH, &quiet)
        defer { tcsetattr(fd, TCSAFLUSH, &saved) }
        Output.writeAll(fd, Array(prompt.utf8))
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != UInt8(ascii: "\n") { bytes.append(byte) }
        Output.writeAll(fd, [UInt8(ascii: "\n")])
        return String(decoding: bytes, as: UTF8.self)
    }
}
