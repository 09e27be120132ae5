import Foundation
import Glibc
import Testing

/// Real hosts (network namespaces, veths with Linux's default offloads: TSO, checksum offload)
/// on `linux` ports of real vrrpd processes, carrying real TCP: 100 MB checksummed end to end
/// in the same VLAN, routed between SVIs, through PAT, and between two switches over a UDP
/// tunnel; tshark on the receiving host judges every checksum of what the switch forwarded or
/// built; packets larger than the egress MTU are dropped and counted by the switch, and
/// fragmented or refused with ICMP by the router.
///
/// Needs root, iproute2, python3, tshark and ping: CI has them; elsewhere skipped, saying why.
@Suite(.serialized) struct TrafficTests {
    static let tools = ["/usr/sbin/ip", "/usr/bin/python3", "/usr/bin/tshark", "/usr/bin/ping"]

    static var skipReason: String? {
        if getuid() != 0 { return "needs root (network namespaces and AF_PACKET); CI runs it as root" }
        if let missing = tools.first(where: { access($0, X_OK) != 0 }) {
            return "\(missing) is not installed (scripts/setup installs iproute2, python3, tshark and iputils-ping)"
        }
        return nil
    }

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"), arguments: TrafficLab.Topology.allCases)
    func aHundredMegabytesCrossIntactWithDefaultOffloads(_ topology: TrafficLab.Topology) throws {
        let lab = try TrafficLab(topology)
        defer { lab.tearDown() }
        let result = try lab.transfer(bytes: 100 << 20)
        #expect(result.sent.bytes == 100 << 20)
        #expect(result.received.bytes == result.sent.bytes, "\(topology): bytes lost or added")
        #expect(result.received.sha256 == result.sent.sha256, "\(topology): the data arrived changed")
        // Through PAT the server sees the pool's global address, not the inside host.
        #expect(result.peer == (topology == .nat ? TrafficLab.natGlobal : lab.h1Address), "\(topology): connection from \(result.peer)")
        if topology == .routed || topology == .nat {
            let l3 = try lab.vtysh(["-c", "show hal l3"]).stdout
            #expect(l3.contains("Routed by the chip"), "\(l3)")
            // Frames, most of them super-frames of up to 64 KiB: 100 MB is at least 1,600.
            let routed = Int(l3.split(separator: "Routed by the chip ").last?.prefix { $0.isNumber } ?? "") ?? 0
            let toCPU = Int(l3.split(separator: "to the CPU ").last?.prefix { $0.isNumber } ?? "") ?? 0
            #expect(routed >= 1_600 && routed > 20 * toCPU, "the bulk of the transfer was routed by the chip, not the CPU: \(l3)")
        }
    }

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"), arguments: TrafficLab.Topology.allCases)
    func tsharkFindsNoBadChecksumOnWhatTheSwitchForwardedOrBuilt(_ topology: TrafficLab.Topology) throws {
        let lab = try TrafficLab(topology)
        defer { lab.tearDown() }
        try lab.startCapture()
        // The switch's own frames: ARP and ping answers from the SVI (routed topologies).
        if let gateway = lab.h2Gateway { _ = try lab.run(in: lab.h2, "/usr/bin/ping", ["-c", "5", "-i", "0.2", "-W", "1", gateway]) }
        // Frames the switch must finish itself: TCP segments written small (no TSO), UDP
        // datagrams of every size (partial checksums, each left to the switch), and a bulk
        // transfer (super-frames, which only the UDP tunnel cuts into segments).
        _ = try lab.transfer(bytes: 2 << 20, smallWrites: true)
        try lab.sendDatagrams(2000)
        _ = try lab.transfer(bytes: 8 << 20)
        let judged = try lab.stopCaptureAndJudge()
        #expect(judged.checked > 2000, "\(topology): only \(judged.checked) frames from the switch were checked")
        #expect(judged.bad.isEmpty, "\(topology): bad checksums: \(judged.bad.prefix(5))")
        if lab.h2Gateway != nil { #expect(judged.icmpReplies >= 3, "the SVI's echo replies were captured and checked") }
    }

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func aPacketOverTheEgressMTUIsDroppedAndCountedBySwitching() throws {
        let lab = try TrafficLab(.l2)
        defer { lab.tearDown() }
        try lab.ip(["-n", lab.sw, "link", "set", "p2", "mtu", "1400"])
        // The switch follows the interface's MTU while the port is idle.
        #expect(try lab.waitUntil(3) { try lab.vtysh(["-c", "show interfaces eth2"]).stdout.contains("MTU 1400") })
        let fits = try lab.inH1("/usr/bin/ping", ["-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1372", lab.h2Address])
        #expect(fits.status == 0, "1,400 bytes fit: \(fits.stdout)")
        let big = try lab.inH1("/usr/bin/ping", ["-c", "3", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1472", lab.h2Address])
        #expect(big.status != 0, "1,500 bytes cannot leave by a port of MTU 1,400: \(big.stdout)")
        let eth2 = try lab.vtysh(["-c", "show interfaces eth2"]).stdout
        let dropped = Int(eth2.split(separator: "Dropped: ").last?.prefix { $0.isNumber } ?? "") ?? 0
        #expect(dropped >= 3, "the three were dropped and counted: \(eth2)")
    }

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func theRouterFragmentsOrAnswersFragmentationNeededPerDF() throws {
        let lab = try TrafficLab(.routed)
        defer { lab.tearDown() }
        // h2's link has an MTU of 1,400 (both ends); h1's is 1,500.
        try lab.ip(["-n", lab.h2, "link", "set", "h2e", "mtu", "1400"])
        try lab.ip(["-n", lab.sw, "link", "set", "p2", "mtu", "1400"])
        #expect(try lab.waitUntil(3) { try lab.vtysh(["-c", "show interfaces eth2"]).stdout.contains("MTU 1400") })
        // DF clear: h1 sends 1,500-byte fragments; the router cuts them to fit, h2 reassembles
        // and answers. (First: once h1 learns the path MTU it fragments to fit itself.)
        let fragmented = try lab.inH1("/usr/bin/ping", ["-c", "3", "-i", "0.2", "-W", "2", "-M", "dont", "-s", "3000", lab.h2Address])
        #expect(fragmented.status == 0, "\(fragmented.stdout)")
        // DF set: ICMP "fragmentation needed" with the MTU, from the router.
        let df = try lab.inH1("/usr/bin/ping", ["-c", "1", "-W", "2", "-M", "do", "-s", "1472", lab.h2Address])
        #expect(df.stdout.contains("Frag needed") && df.stdout.contains("mtu = 1400"), "\(df.stdout)\(df.stderr)")
        let stats = try lab.vtysh(["-c", "show ip nat statistics"]).stdout
        let fragmentedCount = Int(stats.split(separator: "fragmented ").last?.prefix { $0.isNumber } ?? "") ?? 0
        #expect(fragmentedCount >= 3, "\(stats)")
        #expect(stats.contains("\"fragmentation needed\" sent 1"), "\(stats)")
    }
}

/// Two hosts and the switch(es) between them, in network namespaces of their own.
final class TrafficLab: @unchecked Sendable {
    enum Topology: String, CaseIterable, Sendable, CustomStringConvertible {
        case l2, routed, nat, udp
        var description: String { rawValue }
    }

    static let natGlobal = "203.0.113.10"
    let topology: Topology
    let scratch: Scratch
    let h1: String, h2: String, sw: String
    let h1Address = "10.10.0.1"
    var h2Address: String { topology == .routed ? "10.20.0.1" : topology == .nat ? "203.0.113.1" : "10.10.0.2" }
    var h2Gateway: String? { topology == .routed ? "10.20.0.254" : topology == .nat ? "203.0.113.254" : nil }
    /// h2's MAC, so that the capture can tell what h2 received from what it sent.
    static let h2MAC = "02:00:00:00:0b:02"
    private var daemons: [DaemonProcess] = []
    private var capture: NamespaceCapture?

    init(_ topology: Topology) throws {
        self.topology = topology
        scratch = try Scratch()
        let id = "\(getpid() % 100000)\(topology.rawValue.prefix(2))"
        (h1, h2, sw) = ("vt-h1-\(id)", "vt-h2-\(id)", "vt-sw-\(id)")
        for ns in [h1, h2, sw] {
            try ip(["netns", "add", ns])
            try ip(["-n", ns, "link", "set", "lo", "up"])
        }
        try ip(["link", "add", "h1e", "netns", h1, "type", "veth", "peer", "name", "p1", "netns", sw])
        try ip(["link", "add", "h2e", "netns", h2, "address", TrafficLab.h2MAC, "type", "veth", "peer", "name", "p2", "netns", sw])
        try ip(["-n", h1, "addr", "add", "\(h1Address)/24", "dev", "h1e"])
        try ip(["-n", h2, "addr", "add", "\(h2Address)/24", "dev", "h2e"])
        for (ns, dev) in [(h1, "h1e"), (h2, "h2e"), (sw, "p1"), (sw, "p2")] { try ip(["-n", ns, "link", "set", dev, "up"]) }
        if topology == .routed || topology == .nat { try ip(["-n", h1, "route", "add", "default", "via", "10.10.0.254"]) }
        if topology == .routed { try ip(["-n", h2, "route", "add", "default", "via", "10.20.0.254"]) }
        let launcher = ["/usr/sbin/ip", "netns", "exec", sw]
        switch topology {
        case .l2:
            daemons = [try start("sw", Self.l2Config, ["--port", "eth1=linux:p1", "--port", "eth2=linux:p2"], launcher)]
        case .routed:
            daemons = [try start("sw", Self.routedConfig, ["--port", "eth1=linux:p1", "--port", "eth2=linux:p2"], launcher)]
        case .nat:
            daemons = [try start("sw", Self.natConfig, ["--port", "eth1=linux:p1", "--port", "eth2=linux:p2"], launcher)]
        case .udp:
            let base = 20000 + Int(getpid() % 20000)
            daemons = [
                try start("a", Self.l2Config, ["--port", "eth1=linux:p1", "--port", "eth2=udp:\(base):\(base + 1)"], launcher),
                try start("b", Self.l2Config, ["--port", "eth1=linux:p2", "--port", "eth2=udp:\(base + 1):\(base)"], launcher),
            ]
        }
        try scratch.write("transfer.py", Self.transferScript)
    }

    private func start(_ name: String, _ config: String, _ ports: [String], _ launcher: [String]) throws -> DaemonProcess {
        try DaemonProcess(arguments: ["--chip", "trident2"] + ports, config: config, launcher: launcher)
    }

    func tearDown() {
        capture?.kill()
        for daemon in daemons { _ = try? daemon.stop() }
        for ns in [h1, h2, sw] { _ = try? Spawned.run("/usr/sbin/ip", ["netns", "delete", ns]) }
    }

    func ip(_ arguments: [String]) throws {
        let result = try Spawned.run("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw TestFailure("ip \(arguments.joined(separator: " ")): \(result.stderr)") }
    }

    /// Runs a program in a host's namespace.
    func run(in namespace: String, _ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
        try Spawned.run("/usr/sbin/ip", ["netns", "exec", namespace, path] + arguments)
    }

    func inH1(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
        try run(in: h1, path, arguments)
    }

    /// vtysh on the (first) switch.
    func vtysh(_ arguments: [String]) throws -> VtyshResult { try daemons[0].vtysh(arguments) }

    func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return false
    }

    struct Digest: Equatable {
        var bytes: Int
        var sha256: String
    }

    /// TCP from h1 to h2: `bytes` of seeded random data; what each end counted and hashed, and
    /// the address h2 saw the connection from.
    func transfer(bytes: Int, smallWrites: Bool = false) throws -> (sent: Digest, received: Digest, peer: String) {
        let port = "5\(getpid() % 1000 + 100)"
        let out = open(scratch.file("receiver.out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(out)
            close(null)
        }
        let receiver = try Spawned(
            "/usr/sbin/ip", ["netns", "exec", h2, "/usr/bin/python3", scratch.file("transfer.py"), "receive", port], stdin: null, stdout: out,
            stderr: out)
        guard try waitUntil(10, { scratch.read("receiver.out")?.contains("listening") == true }) else {
            throw TestFailure("the receiver did not start: \(scratch.read("receiver.out") ?? "")")
        }
        let sender = try inH1("/usr/bin/python3", [scratch.file("transfer.py"), smallWrites ? "send-small" : "send", h2Address, port, String(bytes)])
        guard sender.status == 0 else { throw TestFailure("sender: \(sender.stdout)\(sender.stderr)") }
        guard receiver.wait(timeout: 30) != nil else { throw TestFailure("the receiver did not finish: \(scratch.read("receiver.out") ?? "")") }
        let sent = sender.stdout.split(separator: " ").map(String.init)
        let got = (scratch.read("receiver.out") ?? "").split(separator: "\n").last?.split(separator: " ").map(String.init) ?? []
        guard sent.count >= 2, got.count >= 3 else { throw TestFailure("unexpected output: \(sender.stdout) / \(got)") }
        return (
            Digest(bytes: Int(sent[0]) ?? -1, sha256: sent[1].trimmingCharacters(in: .whitespacesAndNewlines)),
            Digest(bytes: Int(got[1]) ?? -1, sha256: got[2]), got[0])
    }

    /// UDP datagrams of 1 to 1,472 bytes from h1 to h2 (nobody listens: h2 answers with ICMP).
    func sendDatagrams(_ count: Int) throws {
        let result = try inH1("/usr/bin/python3", [scratch.file("transfer.py"), "datagrams", h2Address, "9", String(count)])
        guard result.status == 0 else { throw TestFailure("datagrams: \(result.stdout)\(result.stderr)") }
    }

    // MARK: tshark on h2

    func startCapture() throws {
        capture = try NamespaceCapture(namespace: h2, interface: "h2e", scratch: scratch, name: "h2")
    }

    /// What h2 received, judged with every checksum check on. A super-frame (TSO: longer than
    /// the 1,500-byte MTU) is handed to h2's kernel with its checksum left partial, to finish,
    /// as a Linux bridge hands it; its checksum cannot be judged from a capture, so frames are
    /// judged up to the MTU's size: everything the switch segmented, completed or built.
    func stopCaptureAndJudge() throws -> (checked: Int, bad: [String], icmpReplies: Int) {
        guard let capture else { return (0, [], 0) }
        try capture.stop()
        let pcap = capture.pcap
        let fields = ["frame.number", "frame.len", "ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmp.type"]
        let result = try Spawned.run(
            "/usr/bin/tshark",
            ["-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
             "-Y", "eth.src != \(TrafficLab.h2MAC) && frame.len <= 1518 && ip", "-T", "fields", "-E", "separator=,"]
                + fields.flatMap { ["-e", $0] })
        guard result.status == 0 else { throw TestFailure("tshark -r: \(result.stderr)") }
        var checked = 0, replies = 0
        var bad: [String] = []
        for line in result.stdout.split(separator: "\n") {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 7 else { continue }
            checked += 1
            // Every checksum present must be judged good (1); a partial one left in a frame
            // is not "bad" (2) to tshark but unverified (0).
            if f[2] != "1" || f[3...5].contains(where: { !$0.isEmpty && $0 != "1" }) { bad.append(String(line)) }
            if f[6] == "0" { replies += 1 }
        }
        return (checked, bad, replies)
    }

    // MARK: Configurations and the transfer tool

    static let l2Config = """
        vlan 10
        interface eth1
         switchport access vlan 10
        exit
        interface eth2
         switchport access vlan 10
        exit

        """

    /// eth1 in VLAN 10, eth2 in VLAN 20, an SVI on each (with a NAT role when `nat`).
    static func twoSVIConfig(vlan20: String, nat: Bool) -> String {
        """
        vlan 10
        vlan 20
        interface eth1
         switchport access vlan 10
        exit
        interface eth2
         switchport access vlan 20
        exit
        interface vlan10
         ip address 10.10.0.254/24\(nat ? "\n ip nat inside" : "")
        exit
        interface vlan20
         ip address \(vlan20)\(nat ? "\n ip nat outside" : "")
        exit

        """
    }

    static let routedConfig = twoSVIConfig(vlan20: "10.20.0.254/24", nat: false)

    static let natConfig = twoSVIConfig(vlan20: "203.0.113.254/24", nat: true) + """
        access-list 1 permit 10.10.0.0 0.0.0.255
        ip nat pool PUBLIC \(natGlobal) \(natGlobal) prefix-length 24
        ip nat inside source list 1 pool PUBLIC overload

        """

    /// `receive PORT`: accepts one connection, prints "PEER BYTES SHA256" when it closes.
    /// `send HOST PORT BYTES`: sends seeded random bytes, prints "BYTES SHA256".
    static let transferScript = """
        import hashlib, random, socket, sys, time
        if sys.argv[1] == "receive":
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("0.0.0.0", int(sys.argv[2])))
            server.listen(1)
            print("listening", flush=True)
            server.settimeout(60)
            connection, peer = server.accept()
            connection.settimeout(60)
            digest, total = hashlib.sha256(), 0
            while True:
                chunk = connection.recv(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                total += len(chunk)
            print(peer[0], total, digest.hexdigest(), flush=True)
        elif sys.argv[1] == "datagrams":
            host, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            generator = random.Random(7)
            for index in range(count):
                sender.sendto(generator.randbytes(1 + index * 37 % 1472), (host, port))
                if index % 50 == 49:
                    time.sleep(0.002)
        else:
            host, port, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
            small = sys.argv[1] == "send-small"
            connection = socket.create_connection((host, port), timeout=60)
            if small:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            generator, digest, total = random.Random(9), hashlib.sha256(), 0
            while total < size:
                chunk = generator.randbytes(min(700 if small else 1 << 20, size - total))
                connection.sendall(chunk)
                digest.update(chunk)
                total += len(chunk)
            connection.shutdown(socket.SHUT_WR)
            connection.recv(1)
            connection.close()
            print(total, digest.hexdigest())

        """
}
