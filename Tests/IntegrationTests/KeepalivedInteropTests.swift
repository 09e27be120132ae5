import Foundation
import Glibc
import Testing

/// A simulated switch and a real keepalived (Debian's) on one Ethernet segment: a veth pair
/// between two network namespaces, the switch's eth1 an AF_PACKET port on one end. tshark
/// captures the segment and judges the packets; failover times come from its timestamps.
///
/// Needs root (namespaces, AF_PACKET), keepalived and tshark: CI has them; elsewhere the test is
/// skipped and says why.
@Suite(.serialized) struct KeepalivedInteropTests {
    static let tools = ["/usr/sbin/ip", "/usr/sbin/keepalived", "/usr/bin/tshark"]

    static var skipReason: String? {
        if getuid() != 0 { return "needs root (network namespaces and AF_PACKET); CI runs it as root" }
        if let missing = tools.first(where: { access($0, X_OK) != 0 }) {
            return "\(missing) is not installed (scripts/setup installs keepalived, tshark and iproute2)"
        }
        return nil
    }

    struct Case: Sendable, CustomStringConvertible {
        var version: Int
        var intervalMs: Int
        var description: String { "VRRPv\(version), \(intervalMs) ms" }

        /// Master_Down_Interval and Skew_Time in seconds for `priority` (v2: skew in seconds).
        func masterDown(_ priority: Int) -> Double { 3 * Double(intervalMs) / 1000 + skew(priority) }
        func skew(_ priority: Int) -> Double {
            version == 2 ? Double(256 - priority) / 256 : Double(256 - priority) * Double(intervalMs) / 1000 / 256
        }
        /// How late a takeover may be before it means something else: a quarter of an advert
        /// interval (a missed advert would add a whole one; Master_Down instead of Skew_Time
        /// adds three).
        var tolerance: Double { Double(intervalMs) / 1000 / 4 }
    }

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"), arguments: [
        Case(version: 3, intervalMs: 1000), Case(version: 2, intervalMs: 1000), Case(version: 3, intervalMs: 100),
    ])
    func electionsAndFailoverBothWays(_ c: Case) throws {
        let lab = try InteropLab(tag: "v\(c.version)i\(c.intervalMs)")
        defer { lab.tearDown() }
        try lab.startCapture()

        // 1. Our 200 against keepalived's 100: we are Master, keepalived Backup.
        var ours = try lab.startSwitch(priority: 200, c)
        let keepalived = try lab.startKeepalived(priority: 100, c)
        _ = try VRRPLabTests.waitFor(ours, status: "Master", timeout: 10, vrid: 51)
        #expect(lab.waitForKeepalived("Entering BACKUP STATE", count: 1, timeout: 10))

        // 2. We crash: keepalived takes over after its Master_Down_Interval.
        let crash = Date()
        try ours.stop(SIGKILL)
        #expect(lab.waitForKeepalived("Entering MASTER STATE", count: 1, timeout: 10))

        // 3. We come back and preempt.
        ours = try lab.startSwitch(priority: 200, c)
        _ = try VRRPLabTests.waitFor(ours, status: "Master", timeout: 10, vrid: 51)
        #expect(lab.waitForKeepalived("Entering BACKUP STATE", count: 2, timeout: 10))

        // 4. We stop cleanly: priority 0, keepalived takes over after its skew time.
        let graceful = Date()
        try ours.stop(SIGTERM)
        #expect(lab.waitForKeepalived("Entering MASTER STATE", count: 2, timeout: 10))

        // 5. We come back with priority 50 and stay Backup to keepalived's 100.
        ours = try lab.startSwitch(priority: 50, c)
        let backup = try VRRPLabTests.waitFor(ours, status: "Backup", timeout: 10, vrid: 51)
        usleep(UInt32(3 * c.intervalMs * 1000))
        let settled = try VRRPLabTests.v4(ours, vrid: 51)
        #expect(settled["status"] as? String == "Backup")
        #expect(settled["masterAddress"] as? String == InteropLab.keepalivedIP, "\(backup)")

        // 6. keepalived crashes: we take over after our Master_Down_Interval.
        let keepalivedCrash = Date()
        keepalived.kill()
        _ = try VRRPLabTests.waitFor(ours, status: "Master", timeout: 10, vrid: 51)
        usleep(UInt32(2 * c.intervalMs * 1000))
        try ours.stop(SIGTERM)
        let packets = try lab.stopCapture()

        // What tshark says about our packets.
        let adverts = packets.filter { $0.ipSource == InteropLab.switchIP && $0.vrrpVersion != nil }
        #expect(adverts.count >= 4, "\(adverts.count) adverts of ours captured")
        for advert in adverts {
            #expect(advert.ethSource == InteropLab.vmac, "advert from \(advert.ethSource)")
            #expect(advert.ttl == 255 && advert.vrrpVersion == c.version && advert.checksumStatus == 1, "\(advert)")
        }
        #expect(adverts.contains { $0.priority == 0 }, "no priority-0 advert on graceful stop")
        let garps = packets.filter { $0.ethSource == InteropLab.vmac && $0.gratuitousARP }
        #expect(garps.count >= 3, "\(garps.count) gratuitous ARPs (one per Master transition expected)")

        // Failover times from the capture, against theory.
        let keepalivedTakeover = try Self.takeover(packets, after: crash, from: InteropLab.switchIP, to: InteropLab.keepalivedIP)
        let keepalivedGraceful = try Self.takeover(packets, after: graceful, from: InteropLab.switchIP, to: InteropLab.keepalivedIP)
        let ourTakeover = try Self.takeover(packets, after: keepalivedCrash, from: InteropLab.keepalivedIP, to: InteropLab.switchIP)
        let report = "\(c): keepalived takes over \(fixed3(keepalivedTakeover)) s after our last advert (theory \(fixed3(c.masterDown(100)))), "
            + "\(fixed3(keepalivedGraceful)) s after our priority 0 (theory \(fixed3(c.skew(100)))); "
            + "we take over \(fixed3(ourTakeover)) s after keepalived's last advert (theory \(fixed3(c.masterDown(50))))"
        print("interop: \(report)")
        // Never early (that would be a protocol error); late only by scheduling, bounded well
        // short of the next thing it could be confused with (a missed advert interval, or a
        // Master_Down_Interval instead of Skew_Time). The exact figures are reported above and
        // in BENCHMARKS.md; a loaded machine must not turn them into failures.
        let slack = c.tolerance
        #expect(keepalivedTakeover >= c.masterDown(100) - 0.01 && keepalivedTakeover <= c.masterDown(100) + slack, "\(report)")
        #expect(keepalivedGraceful <= c.skew(100) + slack, "\(report)")
        #expect(ourTakeover >= c.masterDown(50) - 0.001 && ourTakeover <= c.masterDown(50) + slack, "\(report)")
        #expect(ours.witnessFindings.isEmpty, "\(ours.witnessFindings)")
    }

    /// The time from `from`'s last advert before `to`'s first advert after `after`.
    static func takeover(_ packets: [CapturedPacket], after: Date, from: String, to: String) throws -> Double {
        let start = after.timeIntervalSince1970
        guard let first = packets.first(where: { $0.time > start && $0.ipSource == to && $0.vrrpVersion != nil && $0.priority != 0 }) else {
            throw TestFailure("no advert from \(to) after \(start)")
        }
        guard let last = packets.last(where: { $0.time < first.time && $0.ipSource == from && $0.vrrpVersion != nil }) else {
            throw TestFailure("no advert from \(from) before \(first.time)")
        }
        return first.time - last.time
    }
}

func fixed3(_ value: Double) -> String { String(format: "%.4f", value) }

/// One row of `tshark -T fields`.
struct CapturedPacket: CustomStringConvertible {
    var time: Double
    var ethSource: String
    var ipSource: String
    var ttl: Int?
    var vrrpVersion: Int?
    var priority: Int?
    var checksumStatus: Int?
    var gratuitousARP: Bool
    var description: String { "\(time) \(ethSource) \(ipSource) ttl \(ttl ?? -1) v\(vrrpVersion ?? -1) prio \(priority ?? -1) checksum \(checksumStatus ?? -1)" }
}

/// Two namespaces joined by a veth pair, keepalived in one, vrrpd (and tshark) in the other.
final class InteropLab: @unchecked Sendable {
    static let keepalivedIP = "10.99.0.11"
    static let switchIP = "10.99.0.2"
    static let vmac = "00:00:5e:00:01:33"

    let scratch: Scratch
    let switchScratch: Scratch
    let kaNamespace: String
    let swNamespace: String
    let kaInterface: String
    let swInterface: String
    private var capture: NamespaceCapture?
    private var keepalived: KeepalivedProcess?

    init(tag: String) throws {
        scratch = try Scratch()
        switchScratch = try Scratch()
        let id = "\(getpid() % 100000)\(tag)"
        kaNamespace = "vt-ka-\(id)"
        swNamespace = "vt-sw-\(id)"
        kaInterface = "vk\(id)".prefix(15).description
        swInterface = "vs\(id)".prefix(15).description
        try ip(["netns", "add", kaNamespace])
        try ip(["netns", "add", swNamespace])
        try ip(["link", "add", kaInterface, "type", "veth", "peer", "name", swInterface])
        try ip(["link", "set", kaInterface, "netns", kaNamespace])
        try ip(["link", "set", swInterface, "netns", swNamespace])
        try ip(["-n", kaNamespace, "addr", "add", "\(InteropLab.keepalivedIP)/24", "dev", kaInterface])
        try ip(["-n", kaNamespace, "link", "set", kaInterface, "up"])
        try ip(["-n", swNamespace, "link", "set", swInterface, "up"])
        try ip(["-n", kaNamespace, "link", "set", "lo", "up"])
    }

    func ip(_ arguments: [String]) throws {
        let result = try Spawned.run("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw TestFailure("ip \(arguments.joined(separator: " ")): \(result.stderr)") }
    }

    func tearDown() {
        keepalived?.kill()
        capture?.kill()
        _ = try? Spawned.run("/usr/sbin/ip", ["netns", "delete", kaNamespace])
        _ = try? Spawned.run("/usr/sbin/ip", ["netns", "delete", swNamespace])
    }

    // MARK: tshark

    func startCapture() throws {
        capture = try NamespaceCapture(namespace: kaNamespace, interface: kaInterface, scratch: scratch, name: "segment")
    }

    func stopCapture() throws -> [CapturedPacket] {
        guard let capture else { return [] }
        try capture.stop()
        let pcap = capture.pcap
        let result = try Spawned.run(
            "/usr/bin/tshark",
            ["-r", pcap, "-Y", "vrrp || arp", "-T", "fields", "-E", "separator=,", "-e", "frame.time_epoch", "-e", "eth.src", "-e", "ip.src",
             "-e", "ip.ttl", "-e", "vrrp.version", "-e", "vrrp.prio", "-e", "vrrp.checksum.status", "-e", "arp.isgratuitous"])
        guard result.status == 0 else { throw TestFailure("tshark -r: \(result.stderr)") }
        return result.stdout.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 8, let time = Double(f[0]) else { return nil }
            return CapturedPacket(
                time: time, ethSource: f[1], ipSource: f[2], ttl: Int(f[3]), vrrpVersion: Int(f[4]), priority: Int(f[5]),
                checksumStatus: Int(f[6]), gratuitousARP: f[7] == "1" || f[7] == "True")
        }
    }

    // MARK: The switch

    func startSwitch(priority: Int, _ c: KeepalivedInteropTests.Case) throws -> DaemonProcess {
        var lines = [
            "vlan 10", "exit", "interface eth1", " switchport access vlan 10", "exit", "interface vlan10", " ip address \(InteropLab.switchIP)/24",
        ]
        lines.append(c.version == 2 ? " vrrp 51 version 2" : " vrrp 51")
        lines += [" vrrp 51 priority \(priority)", " vrrp 51 advertisement-interval \(c.intervalMs)", " vrrp 51 ip 10.99.0.100", "exit"]
        try switchScratch.write("vrrpd.conf", lines.joined(separator: "\n") + "\n")
        return try DaemonProcess(
            scratch: switchScratch, arguments: ["--chip", "small", "--port", "eth1=linux:\(swInterface)"],
            launcher: ["/usr/sbin/ip", "netns", "exec", swNamespace])
    }

    // MARK: keepalived

    func startKeepalived(priority: Int, _ c: KeepalivedInteropTests.Case) throws -> KeepalivedProcess {
        let interval = c.intervalMs >= 1000 ? "\(c.intervalMs / 1000)" : "0.\(c.intervalMs / 100)"
        let config = """
            global_defs {
                router_id interop
                vrrp_version \(c.version)
                script_user root
                enable_script_security
            }
            vrrp_instance VI {
                state BACKUP
                interface \(kaInterface)
                virtual_router_id 51
                priority \(priority)
                advert_int \(interval)
                virtual_ipaddress {
                    10.99.0.100/24
                }
            }

            """
        try scratch.write("keepalived.conf", config)
        let process = try KeepalivedProcess(lab: self)
        keepalived = process
        return process
    }

    var keepalivedLog: String { scratch.read("keepalived.log") ?? "" }

    func waitForKeepalived(_ text: String, count: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if keepalivedLog.components(separatedBy: text).count - 1 >= count { return true }
            usleep(20_000)
        }
        return false
    }
}

/// keepalived in the lab's namespace, in the foreground (`-n`), VRRP only.
final class KeepalivedProcess: @unchecked Sendable {
    let process: Spawned
    let childPidFile: String

    init(lab: InteropLab) throws {
        childPidFile = lab.scratch.file("keepalived-vrrp.pid")
        let log = open(lab.scratch.file("keepalived.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(log)
            close(null)
        }
        process = try Spawned(
            "/usr/sbin/ip",
            ["netns", "exec", lab.kaNamespace, "/usr/sbin/keepalived", "-n", "-l", "-D", "--vrrp", "-f", lab.scratch.file("keepalived.conf"),
             "-p", lab.scratch.file("keepalived.pid"), "-r", childPidFile],
            stdin: null, stdout: log, stderr: log)
    }

    /// SIGKILL to the VRRP child (the one that sends adverts) and the parent: a crash.
    func kill() {
        if let text = try? String(contentsOfFile: childPidFile, encoding: .utf8), let child = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            Glibc.kill(child, SIGKILL)
        }
        if process.isRunning {
            Glibc.kill(process.pid, SIGKILL)
            process.wait()
        }
    }
}
