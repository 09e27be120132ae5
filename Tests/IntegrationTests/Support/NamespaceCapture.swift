import Foundation
import Glibc

/// tshark capturing one interface of a network namespace into a pcapng file, from when `init`
/// returns (it waits for "Capturing on") until `stop`.
final class NamespaceCapture: @unchecked Sendable {
    let pcap: String
    private let scratch: Scratch
    private let log: String
    private let process: Spawned

    init(namespace: String, interface: String, scratch: Scratch, name: String) throws {
        self.scratch = scratch
        pcap = scratch.file("\(name).pcapng")
        log = "\(name).tshark.log"
        let out = open(scratch.file(log), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(out)
            close(null)
        }
        // Written to /tmp as root: dumpcap must be allowed to create the file.
        chmod(scratch.path, 0o777)
        process = try Spawned(
            "/usr/sbin/ip", ["netns", "exec", namespace, "tshark", "-i", interface, "-w", pcap, "-q"], stdin: null, stdout: out, stderr: out)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if (scratch.read(log) ?? "").contains("Capturing on") { return }
            usleep(50_000)
        }
        kill()
        throw TestFailure("tshark did not start capturing: \(scratch.read(log) ?? "")")
    }

    /// Ends the capture (SIGINT, as a user would); the file is complete when this returns.
    func stop() throws {
        usleep(200_000)
        Glibc.kill(process.pid, SIGINT)
        if process.wait(timeout: 10) == nil {
            kill()
            throw TestFailure("tshark did not stop within 10 s of SIGINT")
        }
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.pid, SIGKILL)
        process.wait()
    }
}
