import Channel
import Foundation
import Glibc
import Testing
import Time

/// Misbehaving clients and a stuck daemon: nothing hangs, nothing spreads to other sessions.
@Suite struct ChannelRobustnessTests {
    /// Each kind of bad input gets an ERROR frame and a closed connection.
    @Test(arguments: [
        ("garbage", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
        ("oversized", Array(Frame(.exec, id: 1, payload: []).encoded[0..<8]) + [0, 1, 0, 0]),
        ("bad version", [0x76, 0x79, 7, 2, 0, 0, 0, 1, 0, 0, 0, 0]),
        ("invalid UTF-8", Frame(.exec, id: 1, payload: [0x73, 0x68, 0xff, 0xfe]).encoded),
        ("reply type from client", Frame(.data, id: 1, payload: []).encoded),
    ] as [(String, [UInt8])])
    func badInputGetsErrorAndClose(name: String, bytes: [UInt8]) throws {
        let daemon = try DaemonProcess()
        let raw = try RawSocket(path: daemon.socket)
        raw.send(bytes)
        let frames = RawSocket.frames(raw.readUntilClosed())
        #expect(frames.count == 1, "\(name)")
        #expect(frames.first?.type == .error, "\(name)")
        #expect(frames.first?.text?.hasPrefix("% ") == true, "\(name)")
        // The daemon still serves everyone else.
        #expect(try daemon.vtysh(["-c", "show version"]).status == 0)
    }

    @Test func halfFrameThenSilenceIsClosedWithoutDelayingOthers() throws {
        let daemon = try DaemonProcess()
        let raw = try RawSocket(path: daemon.socket)
        raw.send(Array(Frame(.exec, id: 1, text: "show version").encoded.prefix(15)))
        // Meanwhile another client is served at once.
        let other = try daemon.timedSession(["show version"])
        #expect(other.succeeded)
        #expect(other.seconds < 2.5, "show version took \(other.seconds) s beside a half frame (closed after 5 s)")
        let started = Date()
        let frames = RawSocket.frames(raw.readUntilClosed())
        let waited = Date().timeIntervalSince(started)
        #expect(frames.first?.type == .error)
        #expect(frames.first?.text?.contains("incomplete frame") == true)
        #expect(waited > 3 && waited < 8)
    }

    @Test func garbageFloodIsLoggedAtABoundedRate() throws {
        let daemon = try DaemonProcess()
        for _ in 0..<200 {
            let raw = try RawSocket(path: daemon.socket)
            raw.send(Array("garbage".utf8))
            _ = raw.readUntilClosed()
        }
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("protocol errors: 200"))
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("protocol error") }
        #expect(lines.count <= 25)
        #expect(lines.count >= 1)
    }

    /// A client that asks for megabytes and never reads them: vrrpd stops working for it (its
    /// output stays bounded) and everyone else is served as usual. The same for every kind of
    /// long output (each streams as the client reads).
    @Test(arguments: ["show running-config", "show access-lists", "show ip route", "show vlan"])
    func clientThatStopsReadingDelaysNoOneAndIsBounded(command: String) throws {
        var config = ""
        for n in 1...400 { config += "interface eth\(n)\n description \(String(repeating: "x", count: 60)) port \(n)\nexit\n" }
        for v in 2...1000 { config += "vlan \(v)\nexit\n" }
        config += "interface vlan2\n ip address 10.2.0.1/16\nexit\n"
        for n in 0..<3000 { config += "access-list 1 permit 10.\(n / 250).\(n % 250).0 0.0.0.255\n" }
        for n in 0..<3000 { config += "ip route 172.\(16 + n / 250).\(n % 250).0/24 10.2.0.9\n" }
        let daemon = try DaemonProcess(config: config)
        let before = residentKiB(daemon.pid)
        let raw = try RawSocket(path: daemon.socket)
        var bytes: [UInt8] = []
        Frame(.hello, id: 1000, text: "client=test").encode(into: &bytes)
        Frame(.exec, id: 1, text: "enable").encode(into: &bytes)
        for id in 2...100 { Frame(.exec, id: UInt32(id), text: command).encode(into: &bytes) }
        raw.send(bytes)  // megabytes of replies, never read
        usleep(500_000)
        // Served while the other client's replies pile up: a daemon blocked on that client
        // would answer only when it gives up on it (30 s).
        let fast = try daemon.timedSession(["show version"])
        #expect(fast.succeeded)
        #expect(fast.seconds < 3, "show version took \(fast.seconds) s")
        #expect(try daemon.vtysh(["-c", "show version"]).status == 0)
        let growth = residentKiB(daemon.pid) - before
        #expect(growth < 20_000, "vrrpd grew by \(growth) KiB for a client that does not read")
    }

    private func residentKiB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let daemon = try DaemonProcess()
        let raw = try RawSocket(path: daemon.socket)
        var bytes: [UInt8] = []
        Frame(.hello, id: 1000, text: "client=test").encode(into: &bytes)
        for id in 1...50 { Frame(.exec, id: UInt32(id), text: id % 2 == 0 ? "show version" : "bogus").encode(into: &bytes) }
        Frame(.exec, id: 51, text: "exit").encode(into: &bytes)
        raw.send(bytes)
        let ends = RawSocket.frames(raw.readUntilClosed()).filter { $0.type == .end }
        #expect(ends.map(\.id) == (1...51).map { UInt32($0) })
        let statuses = try ends.map { try EndOfReply(payload: $0.payload).status }
        #expect(statuses.prefix(4) == [.unknown, .success, .unknown, .success])
    }

    /// The FRR failure this project exists to avoid: a stopped daemon must not hang vtysh.
    @Test func stoppedDaemonTimesOutVtysh() throws {
        let daemon = try DaemonProcess()
        kill(daemon.pid, SIGSTOP)
        defer { kill(daemon.pid, SIGCONT) }
        let result = try daemon.vtysh(["--timeout", "1", "-c", "show version"])
        #expect(result.status == 3)
        #expect(result.seconds < 4, "vtysh --timeout 1 took \(result.seconds) s")
        #expect(result.stderr.contains("did not accept the connection or answer within 1 s"))
        // Even with its listen queue full, so that connect() itself cannot complete.
        var parked: [ChannelClient] = []
        while parked.count < 1000, let client = try? ChannelClient(path: daemon.socket, timeout: 0.05) {
            parked.append(client)
        }
        #expect(parked.count < 1000)
        let queued = try daemon.vtysh(["--timeout", "1", "-c", "show version"])
        #expect(queued.status == 3)
        #expect(queued.seconds < 4, "vtysh --timeout 1 took \(queued.seconds) s")
        #expect(queued.stderr.contains("did not accept the connection"))
        parked.removeAll()
        kill(daemon.pid, SIGCONT)
        #expect(try daemon.vtysh(["-c", "show version"]).status == 0)
    }

    /// A command waiting on a slow subsystem answers with a timeout naming what it waits for,
    /// and every other session keeps being served meanwhile.
    @Test func slowSaveTimesOutAndOthersAreServed() throws {
        let daemon = try DaemonProcess(arguments: ["--command-timeout", "2"], faults: true)
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test fault config-write delay 6000"]).status == 0)
        let group = DispatchGroup()
        nonisolated(unsafe) var slow: VtyshResult?
        group.enter()
        DispatchQueue.global().async {
            slow = try? daemon.vtysh(["-c", "enable", "-c", "write file"])
            group.leave()
        }
        usleep(200_000)
        // Served while the save is stuck: queued behind it, it would wait for the save's
        // timeout (2 s) or the save itself (6 s).
        let fast = try daemon.timedSession(["show version"])
        #expect(fast.succeeded)
        #expect(fast.seconds < 1.5, "show version took \(fast.seconds) s")
        group.wait()
        let result = try #require(slow)
        #expect(result.status == 1)
        #expect(result.seconds < 5, "write file took \(result.seconds) s with a 2 s command timeout")
        #expect(result.stdout.contains("% Error: timed out after 2.0 s: \"write file\" is waiting for startup-config writer: fsync"))
        #expect(daemon.log.contains("command timed out"))
        // The save still completes in the background; the file is whole.
        usleep(6_000_000)
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test fault config-write clear", "-c", "write"]).status == 0)
        #expect(daemon.scratch.read("vrrpd.conf")?.hasSuffix("end\n") == true)
    }

    @Test func concurrentWritersAreSerialised() throws {
        let daemon = try DaemonProcess()
        let statuses = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 6)
        defer { statuses.deallocate() }
        nonisolated(unsafe) let shared = statuses
        DispatchQueue.concurrentPerform(iterations: 6) { n in
            let r = try? daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "hostname writer\(n)", "-c", "end", "-c", "write"])
            shared[n] = r?.status ?? -1
        }
        #expect(statuses.allSatisfy { $0 == 0 })
        let text = try #require(daemon.scratch.read("vrrpd.conf"))
        #expect(text.hasSuffix("end\n"))
        #expect(text.contains("hostname writer"))
    }

    /// Every session slot taken (by clients that greeted: a silent one would make room), then a
    /// flood of connections: each refused with an ERROR frame, and the log says so at a bounded
    /// rate, not once per refusal.
    @Test func refusedConnectionsAreLoggedAtABoundedRate() throws {
        let daemon = try DaemonProcess()
        let holders = try (0..<ChannelLimits.maxSessions).map { _ in try ChannelClient(path: daemon.socket) }
        for _ in 0..<300 {
            guard let raw = try? RawSocket(path: daemon.socket) else { continue }
            _ = raw.readUntilClosed()
        }
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("refusing connection") }
        #expect(lines.count >= 1 && lines.count <= 21, "\(lines.count) lines for 300 refusals")
        withExtendedLifetime(holders) {}
    }

    /// `exec-timeout`: a session idle for that long is closed and told why; one that is used
    /// stays; `show running-config` shows the setting.
    @Test func idleSessionsAreClosedAfterTheExecTimeout() throws {
        let daemon = try DaemonProcess(config: "exec-timeout 0 3\n")
        let idle = try RawSocket(path: daemon.socket)
        idle.send(Frame(.hello, id: 1, text: "client=idle test").encoded)
        let busy = try ChannelClient(path: daemon.socket)
        let started = Date()
        var closedAt: Date?
        while Date().timeIntervalSince(started) < 12 {
            _ = try busy.request(.exec, "show version", timeout: 5) { _ in }
            if closedAt == nil, !idle.isOpen { closedAt = Date() }
            if closedAt != nil && Date().timeIntervalSince(started) > 7 { break }
            usleep(500_000)
        }
        let after = try #require(closedAt.map { $0.timeIntervalSince(started) }, "the idle session was never closed")
        #expect(after >= 2.5 && after < 8, "\(after)")
        let told = RawSocket.frames(idle.received).first { $0.type == .error }?.text ?? ""
        #expect(told.contains("closed (exec-timeout 0 3)"), "\(told)")
        #expect(try busy.request(.exec, "show version", timeout: 5) { _ in }.status == .success, "a session in use stays open")
        #expect(try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout.contains("exec-timeout 0 3"))
    }

    /// A session opens with HELLO: a request before it is refused, answered in its turn, and
    /// changes nothing; after HELLO the same request runs.
    @Test func requestsBeforeHelloAreRefused() throws {
        let daemon = try DaemonProcess(config: "hostname before\n")
        let client = try ChannelClient(path: daemon.socket, hello: nil)
        var output: [UInt8] = []
        let refused = try client.request(.exec, "show version", timeout: 5) { output += $0 }
        #expect(refused.status == .error)
        #expect(String(decoding: output, as: UTF8.self).contains("Send HELLO first"))
        let greeted = try ChannelClient(path: daemon.socket)
        #expect(greeted.welcome["daemon"] == "vrrpd" && greeted.welcome["max-request"] == "8192")
        #expect(try greeted.request(.exec, "show version", timeout: 5) { _ in }.status == .success)
    }

    /// An ERROR about a frame names that frame's request id (an oversized EXEC, a reply type
    /// sent by a client).
    @Test func errorFramesCarryTheRequestID() throws {
        let daemon = try DaemonProcess()
        for (name, bytes) in [("oversized", Frame(.exec, id: 4242, text: String(repeating: "x", count: 9000)).encoded),
                              ("reply type", Frame(.end, id: 4243, payload: [0, 0]).encoded)] {
            let raw = try RawSocket(path: daemon.socket)
            raw.send(bytes)
            let error = RawSocket.frames(raw.readUntilClosed()).first { $0.type == .error }
            #expect(error?.id == (name == "oversized" ? 4242 : 4243), "\(name): \(String(describing: error))")
        }
    }

    /// CANCEL of a request that waits for its password (Ctrl-C at `Password:`): that request
    /// ends with its own END, `cancelled`, and the session goes on.
    @Test func cancelAtAPasswordPromptEndsThatRequest() throws {
        let daemon = try DaemonProcess(config: "enable secret 0 right-one\n")
        let client = try ChannelClient(path: daemon.socket)
        let id = client.makeID()
        try client.send(Frame(.exec, id: id, text: "enable"), deadline: Instant.secondsFromNow(5))
        #expect(try client.awaitReply(id: id, deadline: Instant.secondsFromNow(5)) { _ in }.status == .inputRequired)
        try client.send(Frame(.cancel, id: id), deadline: Instant.secondsFromNow(5))
        let end = try client.awaitReply(id: id, deadline: Instant.secondsFromNow(5)) { _ in }
        #expect(end.status == .cancelled)
        let next = try client.request(.exec, "show version", timeout: 5) { _ in }
        #expect(next.status == .success && !next.prompt.contains("#"), "still in view mode: \(next.prompt.debugDescription)")
    }

    /// Wrong enable secrets in a row: each answer waits twice as long as the one before; as on
    /// IOS, one `enable` asks three times, then says `% Bad secrets`.
    @Test func wrongSecretsInARowWaitLongerEachTime() throws {
        let daemon = try DaemonProcess(config: "enable secret 0 right-one\n")
        let client = try ChannelClient(path: daemon.socket)
        var waits: [Double] = []
        var texts: [String] = []
        var ends: [Status] = []
        let id = client.makeID()
        try client.send(Frame(.exec, id: id, text: "enable"), deadline: Instant.secondsFromNow(10))
        var prompt = try client.awaitReply(id: id, deadline: Instant.secondsFromNow(10)) { _ in }
        #expect(prompt.status == .inputRequired && prompt.prompt == "Password: ")
        for _ in 0..<3 {
            let started = Date()
            let answer = client.makeID()
            try client.send(Frame(.input, id: answer, text: "wrong"), deadline: Instant.secondsFromNow(10))
            var text: [UInt8] = []
            prompt = try client.awaitReply(id: answer, deadline: Instant.secondsFromNow(40)) { text += $0 }
            waits.append(Date().timeIntervalSince(started))
            texts.append(String(decoding: text, as: UTF8.self))
            ends.append(prompt.status)
        }
        #expect(ends == [.inputRequired, .inputRequired, .error], "\(ends)")
        #expect(texts == ["% Access denied\n", "% Access denied\n", "% Bad secrets\n"], "\(texts)")
        #expect(waits[0] >= 0.9 && waits[1] >= 1.9 && waits[2] >= 3.9, "\(waits)")
        // The next enable asks again, and the right secret works (the back-off goes on: 8 s).
        let again = client.makeID()
        try client.send(Frame(.exec, id: again, text: "enable"), deadline: Instant.secondsFromNow(10))
        #expect(try client.awaitReply(id: again, deadline: Instant.secondsFromNow(10)) { _ in }.status == .inputRequired)
        let right = client.makeID()
        try client.send(Frame(.input, id: right, text: "right-one"), deadline: Instant.secondsFromNow(10))
        let entered = try client.awaitReply(id: right, deadline: Instant.secondsFromNow(10)) { _ in }
        #expect(entered.status == .success && entered.prompt.hasSuffix("#"), "\(entered)")
        // Another session is not slowed by it.
        #expect(try daemon.vtysh(["-c", "show version"]).seconds < 3)
    }

    @Test func manySimultaneousSessions() throws {
        let daemon = try DaemonProcess()
        let clients = try (0..<100).map { _ in try ChannelClient(path: daemon.socket) }
        for (index, client) in clients.enumerated() {
            let end = try client.request(.exec, index % 2 == 0 ? "enable" : "show users", timeout: 5) { _ in }
            #expect(end.status == .success)
        }
        let users = try daemon.vtysh(["-c", "show users"])
        #expect(users.stdout.split(separator: "\n").count >= 101)
    }
}
