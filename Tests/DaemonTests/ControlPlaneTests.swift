import CLI
import Foundation
import Channel
import Logging
import NIOCore
import NIOPosix
import SwitchHAL
import Testing
import TestSupport
import Time

@testable import Daemon

/// A control plane on its own event loop, driven line by line as a session would.
final class PlaneHarness: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let dir: Scratch
    let plane: NIOLoopBound<ControlPlane>
    let session: NIOLoopBound<Session>

    /// `faults`: the plane allows `test fault ...` (vrrpd's `--allow-fault-injection`); `clock`:
    /// the plane's time (a `TestClock` drives its timers).
    init(chip: ChipProfile = .trident2, faults: Bool = false, clock: any Clock = SystemClock()) throws {
        dir = try Scratch()
        let loop = group.next()
        var options = DaemonOptions(socketPath: dir.file("vty"), configPath: dir.file("vrrpd.conf"))
        options.chip = chip
        options.allowFaultInjection = faults
        options.halTraceFile = ProcessInfo.processInfo.environment["VRRPD_TEST_TRACE"]
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let built = logger
        let planeOptions = options
        (plane, session) = try loop.submit {
            let plane = try ControlPlane(loop: loop, options: planeOptions, logger: built, clock: clock)
            let session = plane.openSession(client: "test")!
            return (NIOLoopBound(plane, eventLoop: loop), NIOLoopBound(session, eventLoop: loop))
        }.wait()
    }

    deinit {
        let plane = self.plane
        try? group.next().submit { plane.value.shutdown() }.wait()
        try? group.syncShutdownGracefully()
    }

    /// Runs one line in the harness session; returns the status and output. A question the
    /// command asks (a password, a confirmation) gets the next of `answers`; with none left the
    /// status is `inputRequired`.
    @discardableResult
    func run(_ line: String, answering answers: [String] = []) throws -> (Status, String) {
        let plane = self.plane
        let session = self.session
        let loop = group.next()
        return try loop.flatSubmit { () -> EventLoopFuture<ResultBox> in
            let (context, outcome) = plane.value.execute(
                line, session: session.value, workspace: plane.value.live, loading: false)
            // A streamed reply (show running-config) is drained as a client would read it.
            func output() -> String { context.drainOutput() }
            func resolve(_ outcome: CommandOutcome, _ answers: ArraySlice<String>) -> EventLoopFuture<ResultBox> {
                switch outcome {
                case .done(let status):
                    return loop.makeSucceededFuture(ResultBox(status: status, output: output()))
                case .pending(let future, _, _):
                    return future.hop(to: loop).assumeIsolated().map { status in
                        ResultBox(status: status, output: output())
                    }.nonisolated()
                case .input(_, _, let then):
                    guard let answer = answers.first else {
                        return loop.makeSucceededFuture(ResultBox(status: .inputRequired, output: context.takeOutput(final: true)))
                    }
                    return resolve(then(context, answer), answers.dropFirst())
                }
            }
            return resolve(outcome, answers[...])
        }.wait().pair
    }

    /// Opens another session on the same control plane.
    func openSession(client: String) throws -> NIOLoopBound<Session> {
        let plane = self.plane
        let loop = group.next()
        return try loop.submit { NIOLoopBound(plane.value.openSession(client: client)!, eventLoop: loop) }.wait()
    }

    /// Starts a line in `session` without waiting for it; the future completes with its status.
    func start(_ line: String, in session: NIOLoopBound<Session>) throws -> EventLoopFuture<Status> {
        let plane = self.plane
        let loop = group.next()
        return try loop.submit { () -> EventLoopFuture<Status> in
            let (_, outcome) = plane.value.execute(line, session: session.value, workspace: plane.value.live, loading: false)
            switch outcome {
            case .done(let status): return loop.makeSucceededFuture(status)
            case .pending(let future, _, _): return future
            case .input: return loop.makeSucceededFuture(.inputRequired)
            }
        }.wait()
    }

    /// Runs lines; every one must succeed.
    func configure(_ lines: [String]) throws {
        for line in lines {
            let (status, output) = try run(line)
            #expect(!status.isFailure, "\(line): \(output)")
        }
    }

    var mode: String {
        let session = self.session
        return (try? group.next().submit { session.value.mode.name }.wait()) ?? "?"
    }

    var runningConfig: String {
        let plane = self.plane
        return (try? group.next().submit { plane.value.renderConfig(plane.value.live.config) }.wait()) ?? ""
    }

    /// Applies a configuration text to a fresh workspace and renders it.
    func loadIntoFresh(_ text: String) throws -> (String, [String]) {
        let plane = self.plane
        let loop = group.next()
        return try loop.flatSubmit { () -> EventLoopFuture<LoadBox> in
            let workspace = ConfigWorkspace()
            return ConfigLoader.apply(text, source: "test.conf", plane: plane.value, workspace: workspace)
                .assumeIsolated().map { report in LoadBox(rendered: plane.value.renderConfig(workspace.config), errors: report.errors) }.nonisolated()
        }.wait().pair
    }
}

struct ResultBox: Sendable {
    var status: Status
    var output: String
    var pair: (Status, String) { (status, output) }
}

struct LoadBox: Sendable {
    var rendered: String
    var errors: [String]
    var pair: (String, [String]) { (rendered, errors) }
}

@Suite struct ControlPlaneTests {
    /// Every declared command's bindings are in the argument catalogue with the types handlers
    /// read, and no catalogue entry is dead; a declaration that breaks this stops the build of
    /// the command set, not a user's command.
    @Test func everyCommandsBindingsAreCheckedWhenDeclared() throws {
        _ = try CommandRegistry(Commands.all)
        let wrongType = CommandDeclaration("vrrp A.B.C.D$vrid", help: ["VRRP", "Address"], modes: [Modes.configInterface]) { _, _ in
            .done(.success)
        }
        #expect(throws: SyntaxError.self) { try CommandRegistry(Commands.all + [wrongType]) }
        let unknownKeyword = CommandDeclaration(
            "test nat flow <tcp|sctp>$proto", help: ["Test", "NAT", "Flow", "TCP", "SCTP"], modes: [Modes.enable]
        ) { _, _ in .done(.success) }
        do {
            _ = try CommandRegistry(Commands.all + [unknownKeyword])
            Issue.record("a keyword naming no L4Protocol was accepted")
        } catch {
            #expect(error.message == "$proto reads L4Protocol but sctp names no L4Protocol")
        }
    }

    /// Every slot taken: a connection that has not greeted makes room for a new client, but
    /// only for one that then gets the slot, and an administrator's never for someone else's.
    @Test func aSilentConnectionMakesRoomOnlyForAClientThatGetsItsSlot() throws {
        let h = try PlaneHarness()
        let plane = h.plane
        let loop = h.group.next()
        let outcome = try loop.submit { () -> [String] in
            var closed: [String] = []
            func open(_ name: String, administrator: Bool, greeted: Bool) -> Session? {
                let session = plane.value.openSession(client: name, administrator: administrator)
                session?.greeted = greeted
                if !greeted { session?.makeRoom = { closed.append(name) } }
                return session
            }
            // The harness's own session, then others up to the last slot but one.
            while plane.value.sessions.count < ChannelLimits.maxSessions - 2 { _ = open("busy", administrator: false, greeted: true) }
            var results: [String] = []
            // Every slot but the reserved one taken, one silently: it makes room for someone else.
            _ = open("silent-other", administrator: false, greeted: false)
            results.append(open("other-1", administrator: false, greeted: true) == nil ? "refused" : "opened")
            // The reserved slot taken by an administrator's connection that has not greeted yet:
            // someone else is refused (closing it would not give them a slot) and it stays.
            _ = open("silent-admin", administrator: true, greeted: false)
            results.append(open("other-2", administrator: false, greeted: true) == nil ? "refused" : "opened")
            // Another administrator's connection: the silent one makes room.
            results.append(open("admin", administrator: true, greeted: true) == nil ? "refused" : "opened")
            return results + closed
        }.wait()
        #expect(outcome == ["opened", "refused", "opened", "silent-other", "silent-admin"], "\(outcome)")
    }

    /// A `show` waits for the edits its own session queued (a script's `write file` saves what
    /// the script did), never for another session's: a script stuck behind a stalled HAL holds
    /// up nobody else's `show version` or `show running-config`.
    @Test func aShowWaitsForItsOwnSessionsEditsOnly() throws {
        let h = try PlaneHarness(faults: true)
        try h.configure(["enable", "test fault hal stall l2x", "configure terminal"])
        let own = h.session
        let edit = try h.start("mac address-table static 0000.1111.2222 vlan 1 interface eth1", in: own)
        let ownShow = try h.start("do show running-config", in: own)
        let other = try h.openSession(client: "other")
        _ = try h.start("enable", in: other).wait()
        #expect(try h.start("show version", in: other).wait() == .success)
        #expect(try h.start("show running-config", in: other).wait() == .success)
        // The stalled edit and the show behind it in its own session are still waiting.
        let loop = h.group.next()
        let waiting = try loop.submit { () -> Bool in
            let done = NIOLoopBoundBox(false, eventLoop: loop)
            edit.whenComplete { _ in done.value = true }
            ownShow.whenComplete { _ in done.value = true }
            return !done.value
        }.wait()
        #expect(waiting)
        _ = try h.start("test fault hal stall clear", in: other).wait()
        #expect(try edit.wait() == .success)
        #expect(try ownShow.wait() == .success)
        #expect(h.runningConfig.contains("mac address-table static 00:00:11:11:22:22 vlan 1 interface eth1"))
    }

    /// A handler that asks for a value its line did not bind gets an error reply; the daemon
    /// goes on serving.
    @Test func aMissingRequiredValueIsAnErrorNotACrash() throws {
        let h = try PlaneHarness()
        let plane = h.plane
        let session = h.session
        let (status, output) = try h.group.next().submit { () -> (Status, String) in
            let declaration = CommandDeclaration("show vrrp statistics", help: ["S", "V", "Stats"], modes: Modes.exec) { ctx, args in
                ctx.print("vrid \(try args.value(\.vrid))")
                return .done(.success)
            }
            let context = CommandContext(
                plane: plane.value, session: session.value, workspace: plane.value.live, line: "show vrrp statistics", loading: false)
            guard case .done(let status) = declaration.invoke(context, Arguments()) else { return (.success, "not finished") }
            return (status, context.takeOutput(final: true))
        }.wait()
        #expect(status == .error)
        #expect(output == "% Error: internal error: the command bound no value for $vrid\n")
        #expect(try h.run("show version").0 == .success)
    }

    @Test func modesAndPrompts() throws {
        let h = try PlaneHarness()
        #expect(h.mode == "view")
        // Not in view mode, and it says so (where `?` in view mode does not show it).
        #expect(try h.run("configure terminal") == (.error, Modes.privilegedMessage + "\n"))
        #expect(try h.run("configure").0 == .error)
        #expect(try h.run("configure bogus").0 == .error)
        #expect(try h.run("bogus").0 == .unknown)
        try h.configure(["enable", "conf t"])
        #expect(h.mode == "config")
        try h.configure(["interface eth1"])
        #expect(h.mode == "config-if")
        try h.configure(["exit"])
        #expect(h.mode == "config")
        try h.configure(["interface eth2", "end"])
        #expect(h.mode == "enable")
        try h.configure(["disable"])
        #expect(h.mode == "view")
    }

    @Test func globalLineInInterfaceModeFallsBackToConfig() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "interface eth1", "hostname core1"])
        #expect(h.mode == "config")
        #expect(h.runningConfig.contains("hostname core1"))
        // And a line unknown in both modes keeps the session where it was.
        try h.configure(["interface eth1"])
        #expect(try h.run("bogus line").0 == .unknown)
        #expect(h.mode == "config-if")
    }

    @Test func controlCharactersAreRefusedAndNothingChanges() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "interface eth1", "description uplink"])
        let before = h.runningConfig
        for evil in ["description \u{1B}[2J\u{1B}]0;owned\u{07}", "description a\u{7F}b", "description \u{9B}31m", "hostname x\u{00}y"] {
            let (status, output) = try h.run(evil)
            #expect(status == .error, "\(evil.debugDescription)")
            #expect(output.hasPrefix("% Invalid input detected: Control characters are not allowed in a command: U+"), "\(output.debugDescription)")
            #expect(!output.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "the message repeats no control character")
        }
        #expect(h.runningConfig == before)
        // A CRLF line end is a line end; a TAB is a space.
        #expect(try h.run("description core\tlink\r").0 == .success)
        #expect(h.runningConfig.contains(" description core\tlink\n") || h.runningConfig.contains(" description core link\n"))
    }

    @Test func addressesNoHostCouldHaveAreRefusedAsIOSDoes() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "vlan 10", "vlan 20", "exit", "interface vlan10", "ip address 10.1.0.1/24", "vrrp 5 ip 10.1.0.254", "exit",
                         "interface vlan20", "exit"])
        let before = h.runningConfig
        let refused: [(String, String)] = [
            ("interface vlan20\n ip address 10.9.0.1/0", "Bad mask /0"),
            ("interface vlan20\n ip address 127.0.0.1/8", "loopback"),
            ("interface vlan20\n ip address 224.0.0.5/24", "multicast"),
            ("interface vlan20\n ip address 0.0.0.0/24", "not a host address"),
            ("interface vlan20\n ip address 10.1.0.2/24", "overlaps with vlan10"),
            ("interface vlan20\n ip address 10.1.0.129/25", "overlaps with vlan10"),
            ("interface vlan20\n ip address 10.0.0.1/8", "overlaps with vlan10"),
            // A /23 (≥ /17) over another SVI's /24: found by the config fuzzer.
            ("interface vlan20\n ip address 10.1.0.2/23", "overlaps with vlan10 (10.1.0.0/24)"),
            ("interface vlan20\n ip address 10.1.1.2/20", "overlaps with vlan10"),
            ("interface vlan10\n vrrp 5 ip 0.0.0.0", "Invalid virtual address"),
            ("interface vlan10\n vrrp 5 ip 255.255.255.255", "broadcast"),
            ("interface vlan10\n vrrp 5 ip 239.1.1.1", "multicast"),
            ("ip nat outside source static 10.4.0.1 0.0.0.0", "Invalid outside local address"),
            ("ip nat inside source static 10.1.0.9 224.1.1.1", "Invalid global address"),
        ]
        for (lines, message) in refused {
            var last: (Status, String) = (.success, "")
            for line in lines.split(separator: "\n") { last = try h.run(String(line)) }
            #expect(last.0 == .error, "\(lines)")
            #expect(last.1.contains(message), "\(lines): \(last.1)")
            _ = try h.run("end")
            _ = try h.run("conf t")
        }
        #expect(h.runningConfig == before, "nothing changed")
        // What is fine still is.
        try h.configure(["interface vlan20", "ip address 10.2.0.1/24", "exit", "ip nat outside source static 198.51.100.9 10.2.0.99"])
        #expect(h.runningConfig.contains("ip address 10.2.0.1/24"))
    }

    /// IOS's `ip address A.B.C.D M.M.M.M [secondary]` is the same address as `/M`; a mask whose
    /// ones do not come first is refused.
    @Test func ipAddressWithANetmask() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "interface vlan30", "ip address 10.30.0.2 255.255.255.0", "ip address 10.31.0.2 255.255.254.0 secondary"])
        #expect(h.runningConfig.contains(" ip address 10.30.0.2/24\n ip address 10.31.0.2/23 secondary\n"), "\(h.runningConfig)")
        let bad = try h.run("ip address 10.32.0.2 255.0.255.0")
        #expect(bad.0 == .error && bad.1.contains("Bad mask"), "\(bad.1)")
        try h.configure(["no ip address 10.31.0.2 255.255.254.0 secondary"])
        #expect(!h.runningConfig.contains("10.31.0.2"))
    }

    /// `interface range`: each line of the sub-mode applies to every interface of the range,
    /// lists and ranges alike; a line that fails for them changes none; bad ranges are refused.
    @Test func interfaceRangeAppliesEachLineToEveryInterface() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "vlan 10", "exit", "interface range eth1 - 3 , eth5", "description edge", "switchport access vlan 10"])
        for port in ["eth1", "eth2", "eth3", "eth5"] {
            #expect(h.runningConfig.contains("interface \(port)\n description edge\n switchport access vlan 10\n"), "\(port): \(h.runningConfig)")
        }
        #expect(!h.runningConfig.contains("interface eth4"))
        let before = h.runningConfig
        let refused = try h.run("ip address 10.9.0.1/24")
        #expect(refused.0 == .error && refused.1.contains("L2 links"), "\(refused.1)")
        #expect(h.runningConfig == before)
        _ = try h.run("exit")
        try h.configure(["interface range vlan20-22", "shutdown", "exit"])
        #expect(h.runningConfig.contains("interface vlan21\n shutdown\n"))
        for (range, message) in [("eth3-1", "the end must be"), ("eth99", "No such interface"), ("eth1,,eth2", "Invalid interface range"),
                                 ("eth1-vlan3", "the end must be")] {
            let result = try h.run("interface range \(range)")
            #expect(result.0 == .error && result.1.contains(message), "\(range): \(result.1)")
        }
    }

    /// The last session slot is the local administrator's: others are refused one slot
    /// earlier, so connections they hold open can never lock the administrator out.
    @Test func theLastSlotIsKeptForTheAdministrator() throws {
        let h = try PlaneHarness()
        let plane = h.plane
        let outcome = try h.group.next().submit { () -> (others: Int, lastForOthers: Bool, lastForAdmin: Bool, full: Bool) in
            var others = 0
            while plane.value.openSession(client: "someone", administrator: false) != nil { others += 1 }
            let lastForOthers = plane.value.openSession(client: "someone", administrator: false) != nil
            let lastForAdmin = plane.value.openSession(client: "root", administrator: true) != nil
            let full = plane.value.openSession(client: "root", administrator: true) == nil
            return (plane.value.sessions.count, lastForOthers, lastForAdmin, full)
        }.wait()
        #expect(outcome.others == ChannelLimits.maxSessions)
        #expect(!outcome.lastForOthers && outcome.lastForAdmin && outcome.full)
    }

    @Test func aRejectedLineIsRepeatedOnlyInPart() throws {
        let h = try PlaneHarness()
        let secret = String(repeating: "s3cr3t", count: 50)
        let (status, output) = try h.run("root:\(secret):19000:0:99999:7:::")
        #expect(status == .unknown)
        let first = try #require(output.split(separator: "\n").first)
        #expect(first.count <= LineSafety.excerptLimit + 6, "\(first)")
        #expect(output.contains(FailureText.invalidInputAtMarker))
        #expect(!output.contains(secret), "the whole line is never printed back")
    }

    @Test func doRunsExecCommands() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "hostname dotest"])
        let (status, output) = try h.run("do show running-config | include hostname")
        #expect(status == .success)
        #expect(output == "hostname dotest\n")
        #expect(h.mode == "config")
    }

    @Test func outputFilterErrors() throws {
        let h = try PlaneHarness()
        try h.configure(["enable"])
        let (status, output) = try h.run("show running-config | include [unclosed")
        #expect(status == .error)
        #expect(output.contains("Invalid regular expression"))
    }

    @Test func hostnameValidation() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t"])
        let (status, output) = try h.run("hostname -bad")
        #expect(status == .error)
        #expect(output.hasPrefix("% Invalid input detected: Invalid hostname"))
        #expect(h.runningConfig.contains("hostname switch"))
        try h.configure(["hostname ok-1", "no hostname"])
        #expect(h.runningConfig.contains("hostname switch"))
    }

    @Test func interfaceAddresses() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "interface vlan10", "ip address 10.0.0.1/24", "ip address 10.0.1.1/24 secondary"])
        #expect(try h.run("ip address 10.0.0.0/24").1.contains("network address"))
        #expect(try h.run("ip address 10.0.0.255/24").1.contains("broadcast address"))
        #expect(try h.run("no ip address 10.0.0.1/24").1.contains("secondary addresses"))
        #expect(h.runningConfig.contains(" ip address 10.0.0.1/24\n ip address 10.0.1.1/24 secondary\n"))
        try h.configure(["no ip address"])
        #expect(!h.runningConfig.contains("ip address"))
    }

    @Test func enableSecretIsStoredHashed() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "enable secret Sup3r-secret"])
        let config = h.runningConfig
        #expect(!config.contains("Sup3r-secret"))
        let line = try #require(config.split(separator: "\n").first { $0.hasPrefix("enable secret 9 $9$") })
        let stored = String(line.dropFirst("enable secret 9 ".count))
        #expect(EnableSecret.verify("Sup3r-secret", against: stored))
        #expect(try h.run("enable secret 9 $9$nonsense").0 == .error)
        // With a secret set, enable from view mode asks for it.
        try h.configure(["end", "disable"])
        #expect(try h.run("enable").0 == .inputRequired)
    }

    /// Every configuration line the daemon prints loads back to the same configuration.
    @Test func runningConfigRoundTrips() throws {
        let h = try PlaneHarness()
        try h.configure([
            "enable", "configure terminal", "hostname edge-7", "enable secret 9 $9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6",
            "interface eth10", "description downlink to rack 10", "shutdown", "exit",
            "interface vlan2", "ip address 192.0.2.1/24", "ip address 198.51.100.1/24 secondary", "exit",
            "interface vlan100", "description svi", "end",
        ])
        let rendered = h.runningConfig
        #expect(rendered.contains("interface eth10\n description downlink to rack 10\n shutdown\nexit\n!\ninterface vlan2\n ip address 192.0.2.1/24\n ip address 198.51.100.1/24 secondary\nexit\n"))
        let (reloaded, errors) = try h.loadIntoFresh(rendered)
        #expect(errors.isEmpty)
        #expect(reloaded == rendered)
    }

    @Test func loaderReportsFileAndLineAndGoesOn() throws {
        let h = try PlaneHarness()
        let text = """
            hostname good
            ! a comment
            bogus command here
            interface eth1
             description first
             vrrp 300 ip 1.2.3.4
            exit
            hostname
            """
        let (rendered, errors) = try h.loadIntoFresh(text)
        #expect(errors.count == 3)
        #expect(errors[0].hasPrefix("test.conf:3: Invalid input detected in \"bogus command here\""), "\(errors[0])")
        #expect(errors[1].hasPrefix("test.conf:6: "))
        #expect(errors[2].hasPrefix("test.conf:8: Incomplete command: "), "\(errors[2])")
        #expect(rendered.contains("hostname good"))
        #expect(rendered.contains(" description first"))
    }

    @Test func writeFileAndShowStartup() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "hostname saved", "end"])
        let (status, output) = try h.run("write file")
        #expect(status == .success)
        #expect(output.hasSuffix("[OK]\n"))
        let (_, startup) = try h.run("show startup-config")
        #expect(startup.contains("hostname saved"))
        #expect(h.dir.read("vrrpd.conf")?.contains("hostname saved") == true)
    }

    @Test func writeFailureIsReportedAndOldFileKept() throws {
        let h = try PlaneHarness(faults: true)
        try h.configure(["enable", "conf t", "hostname first", "end", "write memory"])
        try h.configure(["test fault config-write fail rename enospc", "conf t", "hostname second", "end"])
        let (status, output) = try h.run("copy running-config startup-config", answering: [""])
        #expect(status == .error)
        #expect(output.contains("NOT saved"))
        #expect(output.contains("No space left on device"))
        #expect(h.dir.read("vrrpd.conf")?.contains("hostname first") == true)
        try h.configure(["test fault config-write clear", "write"])
        #expect(h.dir.read("vrrpd.conf")?.contains("hostname second") == true)
    }

    /// `copy running-config startup-config` asks for the destination as IOS does: RETURN or
    /// `startup-config` saves, anything else saves nothing.
    @Test func copyRunningStartupAsksForTheDestination() throws {
        let h = try PlaneHarness()
        try h.configure(["enable", "conf t", "hostname asked", "end"])
        let asked = try h.run("copy running-config startup-config")
        #expect(asked.0 == .inputRequired)
        #expect(h.dir.read("vrrpd.conf") == nil, "nothing saved before the answer")
        let other = try h.run("copy running-config startup-config", answering: ["flash:backup.cfg"])
        #expect(other.0 == .error && other.1.contains("nothing saved"), "\(other.1)")
        #expect(h.dir.read("vrrpd.conf") == nil)
        let saved = try h.run("copy running-config startup-config", answering: [""])
        #expect(saved.0 == .success && saved.1.hasSuffix("[OK]\n"), "\(saved.1)")
        #expect(h.dir.read("vrrpd.conf")?.contains("hostname asked") == true)
    }

    @Test func copyFileMergesIntoRunning() throws {
        let h = try PlaneHarness()
        try h.dir.write("extra.conf", "interface eth5\n description merged\nexit\nnot a command\n")
        try h.configure(["enable"])
        let (status, output) = try h.run("copy \(h.dir.file("extra.conf")) running-config")
        #expect(status == .error, "a line failed: the command fails, the good lines stay")
        #expect(output.contains("extra.conf:4: Invalid input detected in \"not a command\""), "\(output)")
        #expect(h.runningConfig.contains(" description merged"))
        #expect(try h.run("copy extra.conf running-config").1.contains("as a path"))
    }

    /// A file as FRR 8.4's `write file` writes it loads with no error: the global lines FRR
    /// writes for itself are accepted and ignored, what has a meaning here (exec-timeout under
    /// `line vty`) is kept, and typed at the prompt each ignored line says so.
    @Test func anFRRWrittenFileLoadsWithNoError() throws {
        let h = try PlaneHarness(chip: .small)
        let text = """
            frr version 8.4.4
            frr defaults traditional
            hostname r1
            log syslog informational
            no ip forwarding
            no ipv6 forwarding
            service integrated-vtysh-config
            !
            vlan 10
            exit
            interface vlan10
             ip address 10.0.10.2/24
             vrrp 5 version 3
             vrrp 5 priority 200
             vrrp 5 ip 10.0.10.1
            exit
            !
            agentx
            !
            line vty
             exec-timeout 0 0
            !
            end
            """
        let (rendered, errors) = try h.loadIntoFresh(text)
        #expect(errors.isEmpty, "\(errors)")
        #expect(rendered.contains("hostname r1") && rendered.contains(" vrrp 5 priority 200") && rendered.contains("exec-timeout 0 0"), "\(rendered)")
        #expect(!rendered.contains("frr ") && !rendered.contains("forwarding") && !rendered.contains("agentx"), "\(rendered)")
        try h.configure(["enable", "configure terminal"])
        let (status, output) = try h.run("frr defaults traditional")
        #expect(!status.isFailure && output.contains("% Note: \"frr defaults traditional\" ignored"), "\(output)")
    }

    /// IOS habits: `no` of a line exactly as show running-config prints it, `interface vlan 10`
    /// with a space, show running-config output that pastes back (its header is comments),
    /// show startup-config of a missing file failing.
    @Test func iosHabitsWork() throws {
        let h = try PlaneHarness(chip: .small)
        try h.configure(["enable", "configure terminal", "vlan 10", "exit", "interface eth1", "switchport mode trunk"])
        #expect(h.runningConfig.contains(" switchport mode trunk"))
        try h.configure(["no switchport mode trunk", "exit"])
        #expect(!h.runningConfig.contains("switchport mode trunk"), "\(h.runningConfig)")
        try h.configure(["interface vlan 10", "ip address 10.0.0.2/24", "vrrp 10 ip 10.0.0.1",
                         "vrrp 10 track interface eth1 decrement 50", "vrrp 10 preempt delay minimum 30"])
        #expect(h.mode == "config-if" && h.runningConfig.contains("interface vlan10\n ip address 10.0.0.2/24"))
        #expect(h.runningConfig.contains(" vrrp 10 track interface eth1 decrement 50") && h.runningConfig.contains(" vrrp 10 preempt delay minimum 30"))
        try h.configure(["no vrrp 10 track interface eth1 decrement 50", "no vrrp 10 preempt delay minimum 30", "end"])
        let running = h.runningConfig
        #expect(!running.contains("track") && !running.contains("preempt"), "the delay went, preemption stayed on: \(running)")
        // The whole output of show running-config, pasted in configuration mode: no error.
        let (_, shown) = try h.run("show running-config")
        #expect(shown.hasPrefix("! Building configuration..."))
        try h.configure(["configure terminal"])
        for line in shown.split(separator: "\n") {
            let (status, output) = try h.run(String(line))
            #expect(!status.isFailure, "pasting \"\(line)\": \(output)")
        }
        #expect(h.mode == "enable", "the pasted text ends with end")
        let (missing, text) = try h.run("show startup-config")
        #expect(missing.isFailure && text.contains("does not exist"), "\(text)")
    }
}
