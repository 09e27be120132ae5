import Foundation
import Glibc
import Testing

/// A simulated switch and a real FRR vrrpd (Debian's frr 8.4) on one Ethernet segment: the
/// keepalived test's lab (a veth pair between two network namespaces, the switch's eth1 an
/// AF_PACKET port on one end, tshark on the other), with FRR's zebra and vrrpd in the peer's
/// namespace instead of keepalived. FRR is started by hand, not by frrinit/systemd: its own
/// configuration files, pid files, vty sockets and zebra API socket in a temporary directory.
///
/// FRR wants, per FRR's VRRP docs, a macvlan per virtual router on the interface VRRP runs on
/// (bridge mode, the virtual MAC, the virtual address on it, a random IPv6 link-local), and the
/// primary IPv4 address on the parent interface; it keeps the macvlan protodown while Backup.
///
/// FRR's timers are in centiseconds and it truncates Skew_Time: at priority 100 and 1 s its
/// Master_Down_Interval is 3.600 s where RFC 5798 says 3.609 s. Its takeovers are judged against
/// its own figures (from `show vrrp json`); ours against RFC 5798's.
///
/// Needs root, FRR and tshark; elsewhere the test is skipped and says why.
@Suite(.serialized) struct FRRInteropTests {
    static let tools = ["/usr/sbin/ip", "/usr/lib/frr/zebra", "/usr/lib/frr/vrrpd", "/usr/bin/vtysh", "/usr/bin/tshark"]

    static var skipReason: String? {
        if getuid() != 0 { return "needs root (network namespaces, AF_PACKET, FRR); CI runs it as root" }
        if let missing = tools.first(where: { access($0, X_OK) != 0 }) {
            return "\(missing) is not installed (scripts/setup installs frr, tshark and iproute2)"
        }
        return nil
    }

    typealias Case = KeepalivedInteropTests.Case

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"), arguments: [
        Case(version: 3, intervalMs: 1000), Case(version: 3, intervalMs: 100),
    ])
    func electionsAndFailoverBothWays(_ c: Case) throws {
        let lab = try FRRLab(tag: "f\(c.version)i\(c.intervalMs)", c)
        defer { lab.tearDown() }
        try lab.peer.startCapture()

        // 1. Our 200 against FRR's 100, started together: we are Master, FRR stays Backup for
        //    longer than its Master_Down_Interval, on our adverts.
        var ours = try lab.peer.startSwitch(priority: 200, c)
        try lab.startFRR(priority: 100)
        _ = try lab.waitForFRR(timeout: 10) { $0.status == "Backup" }
        let frrBackupSince = Date()
        _ = try VRRPLabTests.waitFor(ours, status: "Master", timeout: 10, vrid: 51)
        var frr = try lab.waitForFRR(timeout: 10) { $0.status == "Backup" && $0.adverRx >= 2 }
        let frrMasterDown = Double(frr.masterDownInterval) / 1000
        let frrSkew = Double(frr.skewTime) / 1000
        usleep(UInt32(max(0, frrMasterDown + Double(c.intervalMs) / 1000 - Date().timeIntervalSince(frrBackupSince)) * 1_000_000))
        frr = try lab.frrState()
        #expect(frr.status == "Backup", "FRR: \(frr)")
        #expect(frr.masterAdverInterval == c.intervalMs, "FRR learned our interval: \(frr)")

        // 2. We crash: FRR takes over after its Master_Down_Interval.
        let crash = Date()
        try ours.stop(SIGKILL)
        _ = try lab.waitForFRR(timeout: 10) { $0.status == "Master" }

        // 3. We come back and preempt.
        ours = try lab.peer.startSwitch(priority: 200, c)
        _ = try VRRPLabTests.waitFor(ours, status: "Master", timeout: 10, vrid: 51)
        _ = try lab.waitForFRR(timeout: 10) { $0.status == "Backup" }
        #expect(lab.frrLog.contains("Received advertisement from \(InteropLab.switchIP) w/ priority 200; switching to Backup"))

        // 4. We stop cleanly: priority 0, FRR takes over after its skew time.
        let graceful = Date()
        try ours.stop(SIGTERM)
        _ = try lab.waitForFRR(timeout: 10) { $0.status == "Master" }

        // 5. We come back with priority 50 and stay Backup to FRR's 100.
        ours = try lab.peer.startSwitch(priority: 50, c)
        let backup = try VRRPLabTests.waitFor(ours, status: "Backup", timeout: 10, vrid: 51)
        usleep(UInt32(3 * c.intervalMs * 1000))
        let settled = try VRRPLabTests.v4(ours, vrid: 51)
        #expect(settled["status"] as? String == "Backup")
        #expect(settled["masterAddress"] as? String == FRRLab.frrIP, "\(backup)")
        let discards = (settled["stats"] as? [String: Any])?["discards"] as? [String: Any]
        #expect(discards?.isEmpty == true, "we discarded adverts of FRR's: \(discards ?? [:])")

        // 6. FRR's vrrpd crashes: we take over after our Master_Down_Interval.
        let frrCrash = Date()
        lab.killVRRPD()
        _ = try VRRPLabTests.waitFor(ours, status: "Master", timeout: 10, vrid: 51)
        usleep(UInt32(2 * c.intervalMs * 1000))
        try ours.stop(SIGTERM)
        let packets = try lab.peer.stopCapture()

        // What tshark says about our packets.
        let adverts = packets.filter { $0.ipSource == InteropLab.switchIP && $0.vrrpVersion != nil }
        #expect(adverts.count >= 4, "\(adverts.count) adverts of ours captured")
        for advert in adverts {
            #expect(advert.ethSource == InteropLab.vmac, "advert from \(advert.ethSource)")
            #expect(advert.ttl == 255 && advert.vrrpVersion == c.version && advert.checksumStatus == 1, "\(advert)")
        }
        #expect(adverts.contains { $0.priority == 0 }, "no priority-0 advert on graceful stop")
        // FRR sends its gratuitous ARPs from the virtual MAC too: ours are the ones between our
        // first advert as a new Master and the next advert.
        let vrrp = packets.filter { $0.vrrpVersion != nil }
        let ourTakeovers = vrrp.indices.filter { i in
            vrrp[i].ipSource == InteropLab.switchIP && vrrp[i].priority != 0
                && (i == 0 || vrrp[i - 1].ipSource != InteropLab.switchIP || vrrp[i - 1].priority == 0)
        }
        #expect(ourTakeovers.count == 3, "we became Master \(ourTakeovers.count) times (3 expected)")
        for i in ourTakeovers {
            let next = i + 1 < vrrp.count ? vrrp[i + 1].time : .infinity
            #expect(packets.contains { $0.gratuitousARP && $0.ethSource == InteropLab.vmac && $0.time >= vrrp[i].time && $0.time < next },
                    "no gratuitous ARP after our takeover at \(vrrp[i].time)")
        }

        // What FRR says about our packets: every one parsed (version, TTL, checksum, length).
        let invalid = lab.invalidAdverts
        #expect(invalid.isEmpty, "FRR discarded adverts: \(invalid.prefix(5).joined(separator: "\n"))")

        // Failover times from the capture: FRR against its own figures, we against RFC 5798.
        let frrTakeover = try KeepalivedInteropTests.takeover(packets, after: crash, from: InteropLab.switchIP, to: FRRLab.frrIP)
        let frrGraceful = try KeepalivedInteropTests.takeover(packets, after: graceful, from: InteropLab.switchIP, to: FRRLab.frrIP)
        let ourTakeover = try KeepalivedInteropTests.takeover(packets, after: frrCrash, from: FRRLab.frrIP, to: InteropLab.switchIP)
        let report = "\(c): FRR takes over \(fixed3(frrTakeover)) s after our last advert (FRR's figure \(fixed3(frrMasterDown)), RFC \(fixed3(c.masterDown(100)))), "
            + "\(fixed3(frrGraceful)) s after our priority 0 (FRR's \(fixed3(frrSkew)), RFC \(fixed3(c.skew(100)))); "
            + "we take over \(fixed3(ourTakeover)) s after FRR's last advert (theory \(fixed3(c.masterDown(50))))"
        print("interop: \(report)")
        // As with keepalived: never early, late only within a quarter interval (figures reported).
        let slack = c.tolerance
        #expect(frrTakeover >= frrMasterDown - 0.01 && frrTakeover <= frrMasterDown + slack, "\(report)")
        #expect(frrGraceful <= frrSkew + slack, "\(report)")
        #expect(ourTakeover >= c.masterDown(50) - 0.001 && ourTakeover <= c.masterDown(50) + slack, "\(report)")
        #expect(ours.witnessFindings.isEmpty, "\(ours.witnessFindings)")
    }
}

/// The keepalived test's lab with FRR (zebra + vrrpd) in the peer namespace.
final class FRRLab: @unchecked Sendable {
    /// FRR's primary address on the parent interface: the source of its adverts.
    static let frrIP = InteropLab.keepalivedIP
    static let macvlan = "vrrp4-2-51"

    let peer: InteropLab
    let frr: Scratch
    let c: FRRInteropTests.Case
    private var zebra: Spawned?
    private var vrrpd: Spawned?

    init(tag: String, _ c: FRRInteropTests.Case) throws {
        self.c = c
        peer = try InteropLab(tag: tag)
        frr = try Scratch()
        // FRR drops to the frr user: it must be able to write its logs, pid files and sockets.
        chmod(frr.path, 0o777)
        do {
            // FRR's docs create it in one command (`ip link add ... addrgenmode random type
            // macvlan ...`); kernels that refuse IFLA_AF_SPEC on a new link ("Address family not
            // supported by protocol") need the address generation mode set afterwards, before
            // the link is up.
            let ns = peer.kaNamespace
            try peer.ip(["-n", ns, "link", "add", FRRLab.macvlan, "link", peer.kaInterface, "type", "macvlan", "mode", "bridge"])
            try peer.ip(["-n", ns, "link", "set", "dev", FRRLab.macvlan, "addrgenmode", "random"])
            try peer.ip(["-n", ns, "link", "set", "dev", FRRLab.macvlan, "address", InteropLab.vmac])
            try peer.ip(["-n", ns, "addr", "add", "10.99.0.100/24", "dev", FRRLab.macvlan])
            try peer.ip(["-n", ns, "link", "set", "dev", FRRLab.macvlan, "up"])
        } catch {
            peer.tearDown()
            throw error
        }
    }

    func tearDown() {
        // SIGTERM first: FRR then removes its /var/tmp/frr/NAME.PID directory itself.
        for daemon in [vrrpd, zebra].compactMap({ $0 }) where daemon.isRunning {
            kill(daemon.pid, SIGTERM)
            if daemon.wait(timeout: 5) == nil {
                kill(daemon.pid, SIGKILL)
                daemon.wait()
            }
        }
        for (name, daemon) in [("vrrpd", vrrpd), ("zebra", zebra)] {
            if let daemon { try? FileManager.default.removeItem(atPath: "/var/tmp/frr/\(name).\(daemon.pid)") }
        }
        peer.tearDown()
    }

    // MARK: FRR

    var api: String { frr.file("zserv.api") }

    /// zebra, then vrrpd, each in the foreground in the peer namespace (`ip netns exec` execs,
    /// so the pid is the daemon's). Returns when vrrpd's vty socket answers.
    func startFRR(priority: Int) throws {
        try frr.write("zebra.conf", "hostname frr-lab\nlog file \(frr.file("zebra.log")) informational\n")
        let config = """
            hostname frr-lab
            log file \(frr.file("vrrpd.log")) debugging
            debug vrrp
            interface \(peer.kaInterface)
             vrrp 51 version \(c.version)
             vrrp 51 priority \(priority)
             vrrp 51 advertisement-interval \(c.intervalMs)
             vrrp 51 ip 10.99.0.100
            exit

            """
        try frr.write("vrrpd.conf", config)
        zebra = try daemon("zebra")
        let deadline = Date().addingTimeInterval(10)
        while !frr.exists("zserv.api") {
            if !(zebra?.isRunning ?? false) || Date() > deadline { throw TestFailure("zebra did not start: \(frr.read("zebra.out") ?? "")") }
            usleep(20_000)
        }
        vrrpd = try daemon("vrrpd")
        while !frr.exists("vrrpd.vty") || (try? frrState()) == nil {
            if !(vrrpd?.isRunning ?? false) || Date() > deadline { throw TestFailure("FRR's vrrpd did not start: \(frr.read("vrrpd.out") ?? "")") }
            usleep(20_000)
        }
    }

    private func daemon(_ name: String) throws -> Spawned {
        let out = open(frr.file("\(name).out"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(out)
            close(null)
        }
        return try Spawned(
            "/usr/sbin/ip",
            ["netns", "exec", peer.kaNamespace, "/usr/lib/frr/\(name)", "-f", frr.file("\(name).conf"), "-i", frr.file("\(name).pid"),
             "-z", api, "--vty_socket", frr.path, "-P", "0"],
            stdin: null, stdout: out, stderr: out)
    }

    /// SIGKILL to FRR's vrrpd: a crash (zebra stays).
    func killVRRPD() {
        guard let vrrpd, vrrpd.isRunning else { return }
        kill(vrrpd.pid, SIGKILL)
        vrrpd.wait()
        try? FileManager.default.removeItem(atPath: "/var/tmp/frr/vrrpd.\(vrrpd.pid)")
    }

    var frrLog: String { frr.read("vrrpd.log") ?? "" }

    /// FRR's reasons for packets it threw away (logged with `debug vrrp`).
    var invalidAdverts: [Substring] { frrLog.split(separator: "\n").filter { $0.contains("Datagram invalid") } }

    struct State: CustomStringConvertible {
        var status: String
        var adverRx: Int
        var masterAdverInterval: Int
        var masterDownInterval: Int
        var skewTime: Int
        var description: String {
            "\(status), adverRx \(adverRx), masterAdverInterval \(masterAdverInterval) ms, masterDownInterval \(masterDownInterval) ms, skewTime \(skewTime) ms"
        }
    }

    /// FRR's `show vrrp 51 json`, IPv4 part, through FRR's own vtysh (not ours: same name).
    func frrState() throws -> State {
        let result = try Spawned.run("/usr/bin/vtysh", ["--vty_socket", frr.path, "-d", "vrrpd", "-c", "show vrrp 51 json"])
        guard result.status == 0, let data = result.stdout.data(using: .utf8),
            let groups = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]], let v4 = groups.first?["v4"] as? [String: Any]
        else { throw TestFailure("FRR's show vrrp json: \(result.stdout)\(result.stderr)") }
        let stats = v4["stats"] as? [String: Any] ?? [:]
        return State(
            status: v4["status"] as? String ?? "?", adverRx: stats["adverRx"] as? Int ?? -1,
            masterAdverInterval: v4["masterAdverInterval"] as? Int ?? -1, masterDownInterval: v4["masterDownInterval"] as? Int ?? -1,
            skewTime: v4["skewTime"] as? Int ?? -1)
    }

    func waitForFRR(timeout: Double, until condition: (State) -> Bool) throws -> State {
        let deadline = Date().addingTimeInterval(timeout)
        var last = try frrState()
        while !condition(last) {
            guard Date() < deadline else {
                throw TestFailure("FRR's vrrpd did not get there within \(timeout) s: \(last)\(invalidAdverts.last.map { "; its log: \($0)" } ?? "")")
            }
            usleep(20_000)
            last = try frrState()
        }
        return last
    }
}
