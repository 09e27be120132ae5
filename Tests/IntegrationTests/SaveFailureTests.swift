import Foundation
import Glibc
import Testing

/// `write file` against a real full disk and a real read-only file system: a clear error, and the
/// previous startup configuration exactly as it was.
@Suite struct SaveFailureTests {
    /// A tmpfs of 64 KiB, mounted for the test (needs root: CI runs as root).
    final class SmallDisk {
        let path: String
        init(_ path: String) throws {
            self.path = path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let result = try Spawned.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", path])
            guard result.status == 0 else { throw TestFailure("mount failed: \(result.stderr)") }
        }
        deinit { _ = try? Spawned.run("/bin/umount", ["-l", path]) }

        func remount(_ options: String) throws {
            let result = try Spawned.run("/bin/mount", ["-o", "remount,\(options)", path])
            guard result.status == 0 else { throw TestFailure("remount failed: \(result.stderr)") }
        }

        /// Fills the file system with one file; returns its path.
        func fill() -> String {
            let filler = path + "/filler"
            let fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            defer { close(fd) }
            let block = [UInt8](repeating: 0x55, count: 4096)
            while write(fd, block, block.count) > 0 {}
            // Use up the last partial block too.
            while write(fd, block, 1) > 0 {}
            return filler
        }
    }

    static let isRoot = getuid() == 0

    @Test(.enabled(if: isRoot, "mounting a small tmpfs needs root; CI runs as root"))
    func fullDiskAndReadOnlyFileSystem() throws {
        let scratch = try Scratch()
        let disk = try SmallDisk(scratch.file("disk"))
        let config = disk.path + "/vrrpd.conf"
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["-f", config])
        #expect(try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "hostname before-full", "-c", "end", "-c", "write"]).status == 0)
        let saved = try #require(try? String(contentsOfFile: config, encoding: .utf8))

        // Disk full: the new file cannot be written.
        let filler = disk.fill()
        var lines = ["enable", "configure terminal"]
        for n in 1...200 { lines += ["interface vlan\(n)", "description a long description for SVI \(n) to fill the disk", "exit"] }
        lines += ["end"]
        #expect(try daemon.vtysh([], stdin: lines.joined(separator: "\n")).status == 0)
        let full = try daemon.vtysh(["-c", "enable", "-c", "write file"])
        #expect(full.status == 1)
        #expect(full.stdout.contains("% Error: Configuration NOT saved"))
        #expect(full.stdout.contains("No space left on device"))
        #expect(!full.stdout.contains("[OK]"))
        #expect((try? String(contentsOfFile: config, encoding: .utf8)) == saved)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: disk.path).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty)

        // Space again: the save works.
        unlink(filler)
        #expect(try daemon.vtysh(["-c", "enable", "-c", "write file"]).status == 0)
        let bigger = try #require(try? String(contentsOfFile: config, encoding: .utf8))
        #expect(bigger.contains("interface vlan200"))

        // Read-only file system: refused, file intact.
        try disk.remount("ro")
        let readOnly = try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "hostname after-ro", "-c", "end", "-c", "write file"])
        #expect(readOnly.status == 1)
        #expect(readOnly.stdout.contains("Read-only file system"))
        #expect((try? String(contentsOfFile: config, encoding: .utf8)) == bigger)
        // The daemon serves on regardless.
        #expect(try daemon.vtysh(["-c", "show version"]).status == 0)
        try disk.remount("rw")
    }

    @Test(.enabled(if: !isRoot, "file permissions do not bind root; the tmpfs test covers root"))
    func unwritableDirectory() throws {
        let scratch = try Scratch()
        let directory = scratch.file("locked")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/vrrpd.conf"
        try "hostname old\n".write(toFile: config, atomically: false, encoding: .utf8)
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["-f", config])
        chmod(directory, 0o500)
        defer { chmod(directory, 0o700) }
        let result = try daemon.vtysh(["-c", "enable", "-c", "write file"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("Permission denied"))
        #expect((try? String(contentsOfFile: config, encoding: .utf8)) == "hostname old\n")
    }
}
