import Channel
import Foundation
import NIOCore
import Testing
import TestSupport

@testable import Daemon

/// Configuration files as vrrpd reads them (a bad byte is its line's error, a byte order mark is
/// not part of the first line) and SIGHUP's reload as one edit in the queue of edits.
@Suite struct ReloadTests {
    /// `bytes` as a file "test.conf" through the loader into a workspace of their own: what it
    /// renders and the errors.
    static func load(_ bytes: [UInt8], _ h: PlaneHarness) throws -> (rendered: String, errors: [String]) {
        let plane = h.plane
        return try h.group.next().flatSubmit { () -> EventLoopFuture<LoadBox> in
            let workspace = ConfigWorkspace()
            return ConfigLoader.apply(bytes, source: "test.conf", plane: plane.value, workspace: workspace).assumeIsolated().map { report in
                LoadBox(rendered: plane.value.renderConfig(workspace.config), errors: report.errors)
            }.nonisolated()
        }.wait().pair
    }

    /// A file's bytes through the loader: the line with a byte that is not UTF-8 fails, naming
    /// the byte and its column; the lines around it apply; a comment is one whatever its bytes.
    @Test func aFileIsDecodedLineByLine() throws {
        let h = try PlaneHarness()
        let bytes = TextLines.byteOrderMark + Array("hostname bom-first\ninterface eth1\n description caf".utf8) + [0xE9]
            + Array(" corner\n shutdown\n! caf".utf8) + [0xE9] + Array(" in a comment\nexit\n".utf8)
        let (rendered, errors) = try Self.load(bytes, h)
        #expect(errors == ["test.conf:3: not valid UTF-8: byte 0xE9 at column 17"])
        #expect(rendered.contains("hostname bom-first\n"), "\(rendered)")
        #expect(rendered.contains("interface eth1\n shutdown\nexit"), "\(rendered)")
    }

    /// A block whose first line fails (a bad byte in `interface vlan20`) applies none of its
    /// indented lines: they would otherwise land in the block before it. Each is named.
    @Test func theLinesOfABlockThatDidNotStartAreNotApplied() throws {
        let h = try PlaneHarness()
        let bytes = Array("interface vlan10\n ip address 10.0.0.1/24\nexit\ninterface vlan20 caf".utf8) + [0xE9]
            + Array("\n ip address 10.0.1.1/24\n description second\nexit\nhostname after\n".utf8)
        let (rendered, errors) = try Self.load(bytes, h)
        #expect(errors == [
            "test.conf:4: not valid UTF-8: byte 0xE9 at column 21",
            "test.conf:5: ip address 10.0.1.1/24: not applied: its block did not start (line 4 failed)",
            "test.conf:6: description second: not applied: its block did not start (line 4 failed)",
        ], "\(errors)")
        #expect(rendered.contains("interface vlan10\n ip address 10.0.0.1/24\nexit"), "\(rendered)")
        #expect(!rendered.contains("10.0.1.1") && !rendered.contains("description second"), "\(rendered)")
        #expect(rendered.contains("hostname after"), "\(rendered)")
    }

    /// The reload takes its turn in the queue of edits: what was queued before it lands first and
    /// is replaced where the file differs; what is queued after it is checked against the file
    /// and applies on top. Nothing queued before it lands after it.
    @Test func aReloadIsOneEditInTheQueue() throws {
        let h = try PlaneHarness(faults: true)
        try h.dir.write("vrrpd.conf", "hostname from-file\ninterface eth1\n description file-1\nexit\ninterface eth2\n description file-2\nexit\n")
        try h.configure(["enable", "configure terminal", "interface eth2", "description running-2", "end", "test fault hal stall l2x", "configure terminal"])
        let script = h.session
        let plane = h.plane
        let loop = h.group.next()
        // Queued before the reload: a HAL edit the stalled HAL holds, and edits in line behind it.
        let held = try h.start("mac address-table static 0000.1111.2222 vlan 1 interface eth1", in: script)
        let before = try ["interface eth3", "description before-reload", "exit"].map { try h.start($0, in: script) }
        try loop.submit { plane.value.reload() }.wait()
        // Once the file is read and built, the reload is queued: what comes next is checked
        // against the file's configuration.
        let deadline = Date().addingTimeInterval(10)
        while try loop.submit({ plane.value.committer.projected.hostname }).wait() != "from-file" {
            guard Date() < deadline else { throw TestFailure("the reload was not queued within 10 s") }
            usleep(1_000)
        }
        #expect(try loop.submit { plane.value.live.config.hostname }.wait() != "from-file", "it waits for the edits before it")
        let after = try ["interface eth4", "description after-reload", "exit", "hostname after"].map { try h.start($0, in: script) }
        let other = try h.openSession(client: "other")
        _ = try h.start("enable", in: other).wait()
        _ = try h.start("test fault hal stall clear", in: other).wait()
        _ = try held.wait()
        for edit in before + after { #expect(try edit.wait() == .success) }
        while try loop.submit({ plane.value.startup.reloading }).wait() {
            guard Date() < deadline else { throw TestFailure("the reload did not land within 10 s") }
            usleep(1_000)
        }
        let running = h.runningConfig
        // The file, with what was queued after the reload on top.
        #expect(running.contains("hostname after\n"), "\(running)")
        #expect(running.contains("interface eth1\n description file-1\nexit"), "\(running)")
        #expect(running.contains("interface eth2\n description file-2\nexit"), "\(running)")
        #expect(running.contains("interface eth4\n description after-reload\nexit"), "\(running)")
        // What was queued before it and is not in the file is gone (the log names each line).
        #expect(!running.contains("before-reload") && !running.contains("mac address-table static"), "\(running)")
        #expect(try loop.submit { plane.value.committer.projected == plane.value.live.config }.wait())
    }
}
