import ArgumentParser
import Channel
import Glibc

@main
struct VtyshCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vtysh",
        abstract: "The shell of vrrpd: an interactive CLI, or a script runner with -c, -f or stdin.",
        discussion: """
            Lines run as if typed at the prompt: start with 'enable', 'configure terminal', ... \
            '!' and '#' start comments. A line ending in '?' shows help instead of running. \
            A -c command may hold several lines (one command per line, as FRR's vtysh takes them; \
            ';' is text, not a separator).
            Exit status: 0 every command succeeded; 1 a command failed; 2 vrrpd unreachable or \
            the connection broke; 3 vrrpd did not answer within --timeout.
            Enable secret for scripts: $VTYSH_ENABLE_SECRET, else asked on the terminal.
            """,
        version: "vtysh 0.1.0"
    )

    @Option(name: .customShort("c"), help: ArgumentHelp("Run a command (repeatable; stops at the first failure).", valueName: "CMD"))
    var commands: [String] = []

    @Option(name: .customShort("f"), help: ArgumentHelp("Run the lines of a file (every line runs; failures are listed).", valueName: "FILE"))
    var file: String?

    @Flag(name: .customShort("E"), help: "Echo the prompt and each command before its output.")
    var echo = false

    @Option(help: ArgumentHelp("Path of vrrpd's socket (default: $\(SocketPath.environmentVariable) or the runtime default).", valueName: "PATH"))
    var socket: String?

    @Option(help: ArgumentHelp("Seconds to wait for vrrpd's answer to one command before giving up.", valueName: "SECONDS"))
    var timeout: Double = 10

    /// As an account's login shell (scripts/ssh-access) vtysh takes a session or `-c COMMAND`
    /// and nothing else (LoginShell); otherwise its arguments are parsed as usual.
    static func main() {
        guard LoginShell.isCallersShell else {
            main(nil)
            return
        }
        switch LoginShell.invocation(Array(CommandLine.arguments.dropFirst())) {
        case .session:
            main([])
        case .command(let text):
            // Verbatim, never parsed as options: a COMMAND starting with '-' is a (bad) CLI line.
            do {
                var command = try parse([])
                command.commands = [text]
                try command.run()
            } catch {
                exit(withError: error)
            }
        case .refused(let reason):
            Output.error(reason)
            Glibc.exit(ExitStatus.usage)
        }
    }

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let path = SocketPath.resolve(socket)
        // Nothing (a secret least of all) goes to a socket another user could have put there.
        if let problem = SocketPath.directoryProblem(path) ?? SocketPath.socketProblem(path) {
            Output.error("% vtysh: refusing \(path): \(problem)")
            throw ExitCode(ExitStatus.connectionFailed)
        }
        let session: DaemonSession
        do {
            session = try DaemonSession.connect(socket: path, timeout: timeout)
        } catch .timedOut {
            Output.error("% vrrpd at \(path) did not accept the connection or answer within \(formatTimeout(timeout)) s")
            throw ExitCode(ExitStatus.noAnswer)
        } catch {
            Output.error(Shell.describe(error, socket: path, line: "hello"))
            throw ExitCode(ExitStatus.connectionFailed)
        }

        var status = ExitStatus.success
        if !commands.isEmpty {
            var runner = ScriptRunner(session: session, echo: echo, stopOnFailure: true, source: "-c")
            runner.window = 1
            // Each -c command's lines, in order (FRR's vtysh splits on newlines too).
            let lines = commands.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
            status = runner.run(ListedLines(lines.enumerated().map { ($0.offset + 1, $0.element) }))
            if status != ExitStatus.success || session.closed { throw ExitCode(status) }
        }
        if let file {
            guard let bytes = readFile(file) else { throw ExitCode(ExitStatus.commandFailed) }
            let runner = ScriptRunner(session: session, echo: echo, stopOnFailure: false, source: file)
            status = runner.run(FileLines(bytes))
        } else if commands.isEmpty {
            if isatty(STDIN_FILENO) != 0 {
                status = Shell.run(session)
            } else {
                let runner = ScriptRunner(session: session, echo: echo, stopOnFailure: false, source: "stdin")
                status = runner.run(DescriptorLines(fd: STDIN_FILENO))
            }
        }
        if status != ExitStatus.success { throw ExitCode(status) }
    }

    /// The file's bytes (each line is decoded on its own: `FileLines`).
    private func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            Output.error("% vtysh: cannot read \(path): \(String(cString: strerror(errno)))")
            return nil
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                Output.error("% vtysh: cannot read \(path): \(String(cString: strerror(errno)))")
                return nil
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }
}
