import Foundation
import Glibc
import Testing

/// scripts/lab as a newcomer used it (issue 18): `restart N` brought a switch back on the default
/// UDP ports (a split brain, or another user's lab) and `start` ignored $VRRPD_BIN_DIR. The lab's
/// parameters are saved by start and used by restart, status and vtysh.
@Suite struct LabScriptTests {
    static let script = ConsoleExample.repository.appendingPathComponent("scripts/lab").path

    /// Runs scripts/lab with `environment` over the test's own (VRRPD_BIN_DIR removed unless given).
    static func lab(_ arguments: [String], _ environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "VRRPD_BIN_DIR")
        env["VRRPD_LAB_DETACH"] = "1"
        env.merge(environment) { $1 }
        let result = try Spawned.run("/bin/bash", [script] + arguments, environment: env)
        return (result.status, result.stdout, result.stderr)
    }

    /// `count` consecutive UDP ports on 127.0.0.1 that were free a moment ago (the lab takes its
    /// ports from a base upwards).
    static func consecutiveFreePorts(_ count: Int) throws -> UInt16 {
        for _ in 0..<50 {
            let base = try freeUDPPorts(1)[0]
            guard base < 65000 else { continue }
            var sockets: [Int32] = []
            defer { sockets.forEach { close($0) } }
            var free = true
            for port in base..<(base + UInt16(count)) {
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                sockets.append(fd)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port.bigEndian
                address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
                }
                if !bound { free = false }
            }
            if free { return base }
        }
        throw TestFailure("no \(count) consecutive free UDP ports")
    }

    static func status(_ dir: String, _ index: Int) -> String? {
        let result = try? Vtysh.run(["--socket", "\(dir)/sw\(index).vty", "-c", "show vrrp interface vlan10 1 json"])
        guard let result, result.status == 0, let data = result.stdout.data(using: .utf8),
            let groups = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]],
            let v4 = groups.first?["v4"] as? [String: Any]
        else { return nil }
        return v4["status"] as? String
    }

    static func waitFor(_ dir: String, _ index: Int, _ wanted: String, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if status(dir, index) == wanted { return true }
            usleep(50_000)
        }
        return false
    }

    static func commandLine(_ dir: String, _ index: Int) -> [String] {
        guard let pid = (try? String(contentsOfFile: "\(dir)/sw\(index).pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines),
            let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return [] }
        return raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func restartKeepsTheLabsPortsAndBinaries() throws {
        let scratch = try Scratch()
        let dir = scratch.file("lab")
        let base = try Self.consecutiveFreePorts(2)
        let binaries = Binaries.directory
        defer { _ = try? Self.lab(["stop", "--dir", dir]) }

        // $VRRPD_BIN_DIR is what runs, and nothing is built for it.
        let start = try Self.lab(["start", "-n", "2", "--dir", dir, "--base-port", "\(base)", "--interval", "100"], ["VRRPD_BIN_DIR": binaries])
        #expect(start.status == 0, "\(start.stderr)")
        #expect(start.stderr.contains("vrrpd and vtysh from \(binaries)") && !start.stderr.contains("building"), "\(start.stderr)")
        #expect(Self.commandLine(dir, 1).first == binaries + "/vrrpd", "\(Self.commandLine(dir, 1))")
        #expect(Self.waitFor(dir, 1, "Master") && Self.waitFor(dir, 2, "Backup"))

        // Restarted with another $VRRPD_BIN_DIR in the environment: the lab's binaries and ports.
        #expect(try Self.lab(["kill", "1", "--dir", dir]).status == 0)
        #expect(Self.waitFor(dir, 2, "Master"))
        let restart = try Self.lab(["restart", "1", "--dir", dir], ["VRRPD_BIN_DIR": "/nonexistent"])
        #expect(restart.status == 0, "\(restart.stderr)")
        let arguments = Self.commandLine(dir, 1)
        #expect(arguments.first == binaries + "/vrrpd" && arguments.contains("eth2=udp:\(base):\(base + 1)"), "\(arguments)")
        // Wired to sw2 again: it preempts (a switch on other ports would be Master alone, and sw2 too).
        #expect(Self.waitFor(dir, 1, "Master") && Self.waitFor(dir, 2, "Backup"))

        // The lab's parameters are not restart's to change; status and vtysh find the lab.
        let moved = try Self.lab(["restart", "2", "--dir", dir, "--base-port", "47000"])
        #expect(moved.status != 0 && moved.stderr.contains("--base-port is a parameter of the lab, given to start"), "\(moved.stderr)")
        let status = try Self.lab(["status", "--dir", dir])
        #expect(status.status == 0 && status.stdout.contains("sw1 (pid") && status.stdout.contains("Master"), "\(status.stdout)\(status.stderr)")
        let vtysh = try Self.lab(["vtysh", "2", "--dir", dir, "-c", "show vrrp summary"], ["VRRPD_BIN_DIR": "/nonexistent"])
        #expect(vtysh.status == 0 && vtysh.stdout.contains("Backup"), "\(vtysh.stdout)\(vtysh.stderr)")
        let none = try Self.lab(["restart", "1", "--dir", scratch.file("nothing")])
        #expect(none.status != 0 && none.stderr.contains("no lab in"), "\(none.stderr)")
    }
}
