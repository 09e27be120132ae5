import Foundation
import Glibc
import Synchronization
import Testing

/// Every ```console example of README.md and docs/*.md, replayed against a real vrrpd through
/// vtysh and compared with what the document shows (issue 18: a newcomer typed the README's
/// VRRP example literally and it did not end as shown).
///
/// The lines typed at a prompt (`sw1(config-if)# vrrp 5 priority 200`) of one block are one
/// vtysh session, fed on stdin with -E (which echoes the prompt and the line, as a terminal
/// shows them); `enable` and `configure terminal` come first, unseen, when the first prompt
/// says the session is already there. `$ vtysh ARGS` runs vtysh as shown, `$ .../vrrpd ARGS`
/// starts the daemon the next blocks use and compares its first log lines. How a block is set
/// up, or why it is not replayed, is written before it in the document (ConsoleExample); an
/// unmarked block that does not replay as shown fails, and so does a `$` line this test
/// cannot run.
@Suite struct DocumentationTests {
    /// The blocks that share a daemon: one test case each (they run in parallel).
    struct Lab: Sendable, CustomTestStringConvertible {
        var examples: [ConsoleExample]
        var testDescription: String {
            let first = examples[0]
            return first.marker.daemon.map { "\(first.file) daemon \($0)" } ?? first.description
        }
    }

    /// The replayed blocks grouped by daemon, in document order; a document that cannot be
    /// read or whose markers are malformed becomes a lab that fails with the reason.
    static var labs: [Lab] {
        var labs: [Lab] = []
        for file in ConsoleExample.documents {
            guard let examples = try? ConsoleExample.read(file) else {
                labs.append(Lab(examples: [ConsoleExample(file: file, line: 0, lines: [], marker: DocTestMarker())]))
                continue
            }
            var named: [String: Int] = [:]
            for example in examples where example.marker.notReplayed == nil {
                if let name = example.marker.daemon, let index = named[name] {
                    labs[index].examples.append(example)
                } else {
                    if let name = example.marker.daemon { named[name] = labs.count }
                    labs.append(Lab(examples: [example]))
                }
            }
        }
        return labs
    }

    @Test(arguments: labs) func examplesReplayAsShown(_ lab: Lab) throws {
        if lab.examples[0].line == 0 {
            // The reason, from reading it again.
            _ = try ConsoleExample.read(lab.examples[0].file)
        }
        let replay = try ExampleReplay(lab)
        defer { replay.finish() }
        for example in lab.examples { try replay.run(example) }
    }

    /// Every console block is replayed or says why not; the reasons are printed.
    @Test func everyBlockIsReplayedOrSaysWhyNot() throws {
        var replayed = 0
        for file in ConsoleExample.documents {
            for example in try ConsoleExample.read(file) {
                if let reason = example.marker.notReplayed {
                    print("\(example): not replayed: \(reason)")
                    #expect(reason.count >= 10, "\(example): the reason is too short to be one: \(reason)")
                } else {
                    replayed += 1
                    #expect(!(try ExampleStep.steps(example)).isEmpty, "\(example): nothing typed in it")
                }
            }
        }
        #expect(replayed >= 5, "the documents' examples are replayed")
    }

    /// The comparison itself: elisions, wildcards and volatile fields, and nothing more.
    @Test func matcherTakesWhatIsDeclaredAndNothingElse() {
        let matcher = OutputMatcher()
        #expect(matcher.matches(["a", "...", "d"], ["a", "b", "c", "d"]))
        #expect(matcher.matches(["a", "...", "d"], ["a", "d"]))
        #expect(!matcher.matches(["a", "...", "d"], ["a", "b", "c"]))
        #expect(!matcher.matches(["a", "b"], ["a", "b", "c"]))
        #expect(!matcher.matches(["a", "b", "c"], ["a", "b"]))
        #expect(matcher.matches(["sw2 log: ... VRRP vlan10"], ["sw2 log: 2026-01-01 VRRP vlan10"]))
        #expect(!matcher.matches(["sw2 log: ... VRRP vlan10"], ["sw2 log: VRRP vlan11"]))
        #expect(matcher.matches([" vlan10   5   200   Master"], [" vlan10 5 200 Master  "]))
        #expect(!matcher.matches(["vlan10 5 200 Master"], ["vlan10 5 200 Backup"]))
        #expect(matcher.matches(["2026-11-26T16:26:28.104Z vrrpd[19845] info ready pid=19845 in 0.001 s"],
                                ["2027-01-02T03:04:05.678Z vrrpd[7] info ready pid=7 in 12.5 s"]))
        #expect(!matcher.matches(["100000 dynamic entries cleared"], ["99999 dynamic entries cleared"]))
        #expect(!matcher.matches(["Building configuration..."], ["Saving"]))
        #expect(OutputMatcher(masks: [#"^\S+ +(\d+) "#]).matches(["l2x 25213 stalled"], ["l2x 117 stalled"]))
        #expect(!OutputMatcher(masks: [#"^\S+ +(\d+) "#]).matches(["l2x 25213 stalled"], ["ager 117 stalled"]))
        #expect(matcher.matches(["held (L2Worker.swift:109)"], ["held (L2Worker.swift:410)"]))
        #expect(!OutputMatcher().matches(["l2x 25213 stalled"], ["l2x 117 stalled"]))
    }

    @Test func markersAreReadAsDeclared() throws {
        let text = """
            <!-- doc-test
            daemon: tour
            vrrpd: --chip small
            enter: interface vlan10; vrrp 5 ip 10.0.0.254
            settle: 5
            config:
              hostname sw1
              interface vlan10
               ip address 10.0.0.2/24
            -->
            ```console
            sw1# show vrrp
            ```
            <!-- doc-test: not-replayed: the output of a benchmark -->

            ```console
            $ scripts/bench
            ```
            """
        let examples = try ConsoleExample.parse(text, file: "x.md")
        #expect(examples.count == 2)
        #expect(examples[0].marker.daemon == "tour" && examples[0].marker.vrrpd == ["--chip", "small"])
        #expect(examples[0].marker.enter == ["interface vlan10", "vrrp 5 ip 10.0.0.254"] && examples[0].marker.settle == 5)
        #expect(examples[0].marker.config == ["hostname sw1", "interface vlan10", " ip address 10.0.0.2/24"])
        #expect(examples[1].marker.notReplayed == "the output of a benchmark")
        #expect(ConsoleLine("sw1(config-if)# vrrp 5 ip 10.0.0.254") == .prompt(hostname: "sw1", mode: "config-if", command: "vrrp 5 ip 10.0.0.254"))
        #expect(ConsoleLine("switch> en") == .prompt(hostname: "switch", mode: "view", command: "en"))
        #expect(ConsoleLine("edge-1# show ?") == .prompt(hostname: "edge-1", mode: "enable", command: "show ?"))
        #expect(ExampleStep(line: ConsoleLine("sw1(config)# vlan 10"), text: "sw1(config)# vlan 10", number: 1, expected: []).echo == "sw1(config)#vlan 10")
        #expect(ConsoleLine(" vlan10      5      200") == .output(" vlan10      5      200"))
        #expect(throws: TestFailure.self) { try ConsoleExample.parse("<!-- doc-test: daemon: x -->\ntext\n```console\n```\n", file: "x.md") }
        #expect(throws: TestFailure.self) { try ConsoleExample.parse("<!-- doc-test: deamon: x -->\n```console\n```\n", file: "x.md") }
        #expect(throws: TestFailure.self) { try ConsoleExample.parse("<!-- doc-test: not-replayed: -->\n```console\n```\n", file: "x.md") }
    }
}

/// The daemon of one lab and the replay of its blocks.
final class ExampleReplay {
    let scratch: Scratch
    let lab: DocumentationTests.Lab
    /// The example's directory (`dir:`) and the temporary one standing for it.
    let directory: (shown: String, real: String)?
    private var daemon: Spawned?
    private var socket: String
    private var logPath: String

    /// The longest a block's session may take (the slowest example waits 5 s for a timeout).
    static let sessionDeadline = 60.0

    init(_ lab: DocumentationTests.Lab) throws {
        self.lab = lab
        let scratch = try Scratch()
        self.scratch = scratch
        directory = lab.examples[0].marker.dir.map { ($0, scratch.path) }
        socket = scratch.file("vrrpd.vty")
        logPath = scratch.file("vrrpd.log")
    }

    func finish() {
        guard let daemon else { return }
        if !daemon.isRunning {
            Issue.record("vrrpd exited during the examples of \(lab.testDescription): \(tail)")
            return
        }
        kill(daemon.pid, SIGTERM)
        if daemon.wait(timeout: 10) == nil { kill(daemon.pid, SIGKILL) }
    }

    private var tail: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)).map { $0.split(separator: "\n").suffix(15).joined(separator: "\n") } ?? ""
    }

    /// A path of the example as it is here, and back.
    func real(_ text: String) -> String {
        directory.map { text.replacingOccurrences(of: $0.shown, with: $0.real) } ?? text
    }

    func shown(_ text: String) -> String {
        directory.map { text.replacingOccurrences(of: $0.real, with: $0.shown) } ?? text
    }

    func run(_ example: ConsoleExample) throws {
        let marker = example.marker
        if example.line != lab.examples[0].line && (!marker.vrrpd.isEmpty || marker.config != nil || marker.dir != nil) {
            throw TestFailure("\(example): vrrpd:, config: and dir: belong to the first block of daemon \(marker.daemon ?? "")")
        }
        let steps = try ExampleStep.steps(example)
        let matcher = OutputMatcher(masks: example.marker.masks)
        var index = 0
        while index < steps.count {
            let step = steps[index]
            switch step.line {
            case .shell(let command):
                let words = command.split(separator: " ").map(String.init)
                if words.first?.hasSuffix("vrrpd") == true {
                    try startDaemon(Array(words.dropFirst()), step, matcher)
                    index += 1
                } else if words.first == "vtysh" {
                    let session = steps[(index + 1)...].prefix { if case .prompt = $0.line { true } else { false } }
                    try startDaemonIfNeeded(example, firstPrompt: session.first)
                    if session.isEmpty {
                        try runOnce(Array(words.dropFirst()), step, matcher)
                    } else {
                        try runSession(Array(words.dropFirst()), prefix: [], Array(session), example, matcher, opening: step)
                    }
                    index += 1 + session.count
                } else {
                    throw TestFailure("\(example.file):\(step.number): cannot replay \"\(step.text)\": mark the block not-replayed: REASON")
                }
            case .prompt(_, let mode, _):
                let session = Array(steps[index...].prefix { if case .prompt = $0.line { true } else { false } })
                try startDaemonIfNeeded(example, firstPrompt: step)
                let entry: [String]
                switch mode {
                case "view": entry = []
                case "enable": entry = ["enable"]
                case "config": entry = ["enable", "configure terminal"]
                default:
                    guard !example.marker.enter.isEmpty else {
                        throw TestFailure("\(example.file):\(step.number): the block starts in \(mode) mode: say how it gets there (enter: ...)")
                    }
                    entry = ["enable", "configure terminal"]
                }
                try runSession([], prefix: entry + example.marker.enter, session, example, matcher, opening: nil)
                index += session.count
            case .output:
                index += 1
            }
        }
    }

    // MARK: The daemon

    private func startDaemon(_ arguments: [String], _ step: ExampleStep, _ matcher: OutputMatcher) throws {
        guard daemon == nil else { throw TestFailure("\(lab.testDescription): \(step.text): vrrpd is started once per daemon") }
        let mapped = arguments.map(real)
        guard let at = mapped.firstIndex(of: "--socket"), at + 1 < mapped.count else {
            throw TestFailure("line \(step.number): the example's vrrpd needs --socket PATH (in its dir:)")
        }
        socket = mapped[at + 1]
        try spawn(mapped)
        // Serving is not the end of start-up's log lines (the startup file is read behind the
        // socket): what is shown may take a moment more.
        var printed = ""
        let deadline = Date().addingTimeInterval(2)
        repeat {
            printed = shown((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
            if matcher.matches(step.expected, lines(printed)) { break }
            usleep(20_000)
        } while Date() < deadline
        expect(step, printed, matcher)
    }

    /// The lab's daemon, started by the test as the first block's marker says.
    private func startDaemonIfNeeded(_ example: ConsoleExample, firstPrompt: ExampleStep?) throws {
        guard daemon == nil else { return }
        let marker = example.marker
        var config = marker.config ?? []
        if case .prompt(let hostname, _, _)? = firstPrompt?.line, hostname != "switch",
            !config.contains(where: { $0.hasPrefix("hostname ") }) {
            config.insert("hostname \(hostname)", at: 0)
        }
        try scratch.write("vrrpd.conf", config.map(real).joined(separator: "\n") + "\n")
        try spawn(["-f", scratch.file("vrrpd.conf"), "--socket", socket] + marker.vrrpd.map(real))
    }

    private func spawn(_ arguments: [String]) throws {
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(log)
            close(null)
        }
        let process = try Spawned(Binaries.vrrpd, arguments, stdin: null, stdout: log, stderr: log)
        daemon = process
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let version = try? Vtysh.run(["--socket", socket, "-c", "show version"]), version.status == 0,
                !version.stdout.contains("(loading:"), !version.stdout.contains("(reading)") {
                return
            }
            if !process.isRunning { throw TestFailure("vrrpd \(arguments.joined(separator: " ")) exited: \(tail)") }
            usleep(20_000)
        }
        throw TestFailure("vrrpd did not serve within 15 s: \(tail)")
    }

    // MARK: vtysh

    private func environment() -> [String: String] { ["VRRPD_SOCKET": socket] }

    /// `$ vtysh ARGS` with no session after it: its stdout and stderr, as a terminal shows them.
    private func runOnce(_ arguments: [String], _ step: ExampleStep, _ matcher: OutputMatcher) throws {
        let result = try Spawned.run(Binaries.vtysh, arguments.map(real), environment: ProcessInfo.processInfo.environment.merging(environment()) { $1 })
        expect(step, shown(result.stdout + result.stderr), matcher)
    }

    /// One vtysh session: `prefix` unseen, then the typed lines of `steps`, each compared with
    /// the output shown under it. A `show` line of a block with `settle:` waits (in another
    /// session) until its output is the one shown, then runs.
    private func runSession(
        _ arguments: [String], prefix: [String], _ steps: [ExampleStep], _ example: ConsoleExample, _ matcher: OutputMatcher,
        opening: ExampleStep?
    ) throws {
        let input = try PipePair()
        let output = try PipePair()
        let errors = try PipePair()
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "VTYSH_ENABLE_SECRET")
        environment.merge(self.environment()) { $1 }
        // stderr apart: what a script is told there (`% vtysh: stdin:5: ... failed`) a terminal
        // session does not print.
        let child = try Spawned(Binaries.vtysh, arguments.map(real) + ["-E"], stdin: input.read, stdout: output.write,
                                stderr: errors.write, environment: environment)
        input.closeRead()
        output.closeWrite()
        errors.closeWrite()
        let transcript = Mutex<[UInt8]>([])
        let complaints = Mutex<[UInt8]>([])
        let reader = Thread {
            let bytes = output.readAll()
            transcript.withLock { $0 = bytes }
        }
        let errorReader = Thread {
            let bytes = errors.readAll()
            complaints.withLock { $0 = bytes }
        }
        reader.start()
        errorReader.start()
        defer {
            input.closeWrite()
            if child.wait(timeout: Self.sessionDeadline) == nil { kill(child.pid, SIGKILL) }
            while !reader.isFinished || !errorReader.isFinished { usleep(5_000) }
        }
        for line in prefix { input.writeAll(Array(real(line + "\n").utf8)) }
        for step in steps {
            guard case .prompt(_, _, let command) = step.line else { continue }
            if example.marker.settle > 0, let show = step.showCommand {
                awaitOutput(show, step.expected, within: example.marker.settle, matcher)
            }
            input.writeAll(Array(real(command + "\n").utf8))
        }
        input.closeWrite()
        guard child.wait(timeout: Self.sessionDeadline) != nil else {
            kill(child.pid, SIGKILL)
            throw TestFailure("\(example): the session did not end within \(Self.sessionDeadline) s")
        }
        while !reader.isFinished || !errorReader.isFinished { usleep(5_000) }
        let text = shown(String(decoding: transcript.withLock { $0 }, as: UTF8.self))
        let stderr = String(decoding: complaints.withLock { $0 }, as: UTF8.self)
        compare(steps, opening: opening, transcript: text, stderr: stderr, example, matcher)
    }

    /// Polls `show` in sessions of its own until its output is `expected` or `seconds` pass.
    private func awaitOutput(_ show: String, _ expected: [String], within seconds: Double, _ matcher: OutputMatcher) {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if let result = try? Vtysh.run(["--socket", socket, "-c", "enable", "-c", real(show)]),
                matcher.matches(expected, lines(shown(result.stdout))) {
                return
            }
            usleep(100_000)
        } while Date() < deadline
    }

    /// Splits the session's transcript at the echo of each typed line (prompt and line, as
    /// shown) and compares each part with the output shown under the line. What the unseen
    /// prefix printed comes before the first echo.
    private func compare(
        _ steps: [ExampleStep], opening: ExampleStep?, transcript: String, stderr: String, _ example: ConsoleExample, _ matcher: OutputMatcher
    ) {
        var printed = lines(transcript)
        if let opening {
            // `$ vtysh`'s own output, if any, is what comes before the first prompt.
            let first = printed.firstIndex(of: steps[0].echo) ?? printed.count
            expect(opening, printed[..<first].joined(separator: "\n"), matcher)
        }
        for (offset, step) in steps.enumerated() {
            guard let echo = printed.firstIndex(of: step.echo) else {
                Issue.record(Comment(rawValue: """
                    \(example.file):\(step.number): "\(step.text)" was not echoed as shown (the prompt or mode differ); the session printed:
                    \(printed.joined(separator: "\n"))
                    ---- and on stderr:
                    \(stderr)
                    """))
                return
            }
            printed.removeFirst(echo + 1)
            let next = offset + 1 < steps.count ? printed.firstIndex(of: steps[offset + 1].echo) ?? printed.count : printed.count
            expect(step, printed[..<next].joined(separator: "\n"), matcher)
            printed.removeFirst(next)
        }
    }

    private func expect(_ step: ExampleStep, _ printed: String, _ matcher: OutputMatcher) {
        let actual = lines(printed)
        guard !matcher.matches(step.expected, actual) else { return }
        let file = lab.examples[0].file
        Issue.record(Comment(rawValue: """
            \(file):\(step.number): "\(step.text)" printed:
            \(actual.joined(separator: "\n"))
            ---- the document shows:
            \(step.expected.joined(separator: "\n"))
            """))
    }

    private func lines(_ text: String) -> [String] {
        var all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if all.last == "" { all.removeLast() }
        return all
    }
}
