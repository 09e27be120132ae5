import Channel
import Foundation
import Glibc
import Testing
import TestSupport

/// Configuration files as vrrpd and vtysh read them, through real processes: a byte that is not
/// UTF-8 is its line's error and the rest loads; a byte order mark is not part of the first line;
/// no message prints an invisible character; `write file` does not replace a startup file that
/// did not load whole unless forced.
@Suite struct StartupFileTests {
    static let badLine = Array(" description caf".utf8) + [0xE9] + Array(" corner".utf8)
    /// A byte order mark, then a line with byte 0xE9 (Latin-1's é) at line 3, column 17.
    static let badFile = TextLines.byteOrderMark + Array("hostname bom-ok\ninterface eth1\n".utf8) + badLine
        + Array("\n shutdown\nexit\ninterface eth2\n description fine\nexit\n".utf8)

    static func writeBytes(_ bytes: [UInt8], to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw TestFailure("cannot write \(path)") }
    }

    static func bytes(_ path: String) -> [UInt8] { FileManager.default.contents(atPath: path).map { Array($0) } ?? [] }

    /// Not a control or invisible character, but for the newlines between lines.
    static func allVisible(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\n" || LineSafety.kind(of: $0) == nil }
    }

    /// The case: one bad byte on one line of the startup file. That line is refused,
    /// named with the byte and its column; the rest (the first line behind its byte order mark
    /// included) loads; `write file` and its synonyms refuse to replace the file, naming why,
    /// until `write memory force`, which keeps the original as `.sav`.
    @Test func aBadByteCostsItsLineAndWriteFileRefusesUntilForced() throws {
        let scratch = try Scratch()
        try Self.writeBytes(Self.badFile, to: scratch.file("vrrpd.conf"))
        let daemon = try DaemonProcess(scratch: scratch)
        let path = daemon.config
        let error = "\(path):3: not valid UTF-8: byte 0xE9 at column 17"
        #expect(daemon.log.contains(error), "\(daemon.log)")
        let logBytes = Self.bytes(daemon.logPath)
        #expect(!logBytes.contains(0xE9) && !logBytes.contains(0xEF), "the log never prints the raw byte or the byte order mark")
        let running = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(running.contains("hostname bom-ok\n"), "the first line, behind its byte order mark, applied: \(running)")
        #expect(running.contains("interface eth1\n shutdown\nexit") && running.contains("interface eth2\n description fine\nexit"), "\(running)")
        let version = try daemon.vtysh(["-c", "show version"]).stdout
        #expect(version.contains("1 error") && version.contains("write file refuses to replace it (1 line failed)"), "\(version)")

        for command in ["write file", "write", "write memory", "wr f", "copy running-config startup-config"] {
            let refused = try daemon.vtysh(["-c", "enable", "-c", command])
            #expect(refused.status == 1, "\(command): \(refused)")
            #expect(refused.stdout.contains("% Not saved: \(path) was not loaded whole at start-up: 1 line failed, the first: \(error)"),
                    "\(command): \(refused.stdout)")
            #expect(refused.stdout.contains("write memory force"), "\(refused.stdout)")
            #expect(Self.bytes(path) == Self.badFile, "\(command) left the file as it was")
        }
        #expect(!scratch.exists("vrrpd.conf.sav"))

        let forced = try daemon.vtysh(["-c", "enable", "-c", "write memory force"])
        #expect(forced.status == 0 && forced.stdout.contains("[OK]"), "\(forced)")
        #expect(Self.bytes(scratch.file("vrrpd.conf.sav")) == Self.badFile, "the original is kept as .sav")
        #expect(scratch.read("vrrpd.conf")?.contains("hostname bom-ok") == true)
        #expect(daemon.waitForLog("replaced by write memory force"))
        // The file is the running configuration now: saving is ordinary again.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "write file"]).status == 0)
        #expect(!(try daemon.vtysh(["-c", "show version"]).stdout.contains("refuses")))
    }

    /// What loads the startup file whole again lets `write file` save again: `copy
    /// startup-config running-config` of the fixed file, or a SIGHUP reload of it. A reload of a
    /// bad file, or a file that cannot be read at start-up, makes it refuse again.
    @Test func loadingTheFileWholeAgainLetsWriteFileSave() throws {
        let scratch = try Scratch()
        try Self.writeBytes(Self.badFile, to: scratch.file("vrrpd.conf"))
        let daemon = try DaemonProcess(scratch: scratch)
        #expect(try daemon.vtysh(["-c", "enable", "-c", "write file"]).status == 1)
        // Fixed by hand, then merged: every line applies, so nothing of the file would be lost.
        try scratch.write("vrrpd.conf", "hostname fixed\ninterface eth1\n description cafe corner\nexit\n")
        let copy = try daemon.vtysh(["-c", "enable", "-c", "copy startup-config running-config"])
        #expect(copy.status == 0 && copy.stdout.contains("write file saves again"), "\(copy)")
        #expect(try daemon.vtysh(["-c", "enable", "-c", "write file"]).status == 0)

        // A reload of a bad file changes nothing and protects the file.
        try Self.writeBytes(Self.badFile, to: scratch.file("vrrpd.conf"))
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForLog("reload not applied"))
        let refused = try daemon.vtysh(["-c", "enable", "-c", "write memory"])
        #expect(refused.status == 1 && refused.stdout.contains("was not loaded whole by the last reload (SIGHUP): 1 line failed"), "\(refused.stdout)")
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("Hostname: fixed"))
        // Fixed again and reloaded: applied, and saving is allowed.
        try scratch.write("vrrpd.conf", "hostname reloaded\n")
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForLog("reload applied"))
        #expect(try daemon.vtysh(["-c", "enable", "-c", "write memory"]).status == 0)

        // A startup file that cannot be read is not replaced either.
        let unreadable = try Scratch()
        #expect(mkdir(unreadable.file("vrrpd.conf"), 0o700) == 0)
        let second = try DaemonProcess(scratch: unreadable)
        let answer = try second.vtysh(["-c", "enable", "-c", "write file"])
        #expect(answer.status == 1 && answer.stdout.contains("could not be read at start-up (\(second.config) is not a regular file)"), "\(answer.stdout)")
    }

    /// `vrrpd --check-config` and `copy FILE running-config` read a file the same way: the bad
    /// line is named, the others are checked or applied.
    @Test func checkConfigAndCopyReadTheFileLineByLine() throws {
        let scratch = try Scratch()
        let daemon = try DaemonProcess(scratch: scratch, config: "hostname before\n")
        let site = scratch.file("site.conf")
        try Self.writeBytes(Self.badFile + Array("hostname x\u{200B}y\n".utf8), to: site)
        let checked = try Spawned.run(Binaries.vrrpd, ["--check-config", "-f", site])
        #expect(checked.status == 1, "\(checked)")
        #expect(checked.stdout.contains("\(site):3: not valid UTF-8: byte 0xE9 at column 17"), "\(checked.stdout)")
        #expect(checked.stdout.contains("\(site):9: Invisible characters are not allowed in a command: U+200B (ZERO WIDTH SPACE) at column 11"), "\(checked.stdout)")
        #expect(checked.stdout.contains("2 errors") && Self.allVisible(checked.stdout), "\(checked.stdout.debugDescription)")

        let copy = try daemon.vtysh(["-c", "enable", "-c", "copy \(site) running-config"])
        #expect(copy.status == 1)
        #expect(copy.stdout.contains("% \(site):3: not valid UTF-8: byte 0xE9 at column 17"), "\(copy.stdout)")
        #expect(Self.allVisible(copy.stdout), "\(copy.stdout.debugDescription)")
        let running = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(running.contains("hostname bom-ok") && running.contains("interface eth2\n description fine"), "\(running)")
        // Merging another file does not make the startup file whole or not: saving still works.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "write file"]).status == 0)
    }

    /// vtysh reads `-f` scripts and piped input the same way: no byte order mark, a bad byte is
    /// its line's failure (the line is not sent), and no message prints an invisible character.
    @Test func vtyshScriptsAreReadLineByLine() throws {
        let daemon = try DaemonProcess(config: "hostname before\n")
        let script = daemon.scratch.file("script.txt")
        let bytes = TextLines.byteOrderMark + Array("enable\nconfigure terminal\n".utf8) + Self.badLine
            + Array("\n! a comment caf".utf8) + [0xE9] + Array("\nhostname zw\u{200B}sp\nhostname from-script\nend\n".utf8)
        try Self.writeBytes(bytes, to: script)
        let run = try daemon.vtysh(["-f", script])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains("% vtysh: \(script):3: not valid UTF-8: byte 0xE9 at column 17"), "\(run.stderr)")
        #expect(!run.stderr.contains(":4:"), "a comment is one whatever its bytes: \(run.stderr)")
        #expect(run.stdout.contains("% Invisible characters are not allowed in a command: U+200B (ZERO WIDTH SPACE) at column 12"), "\(run.stdout)")
        #expect(run.stderr.contains("% vtysh: \(script):5: \"hostname zw<U+200B>sp\" failed (error)"), "\(run.stderr)")
        #expect(Self.allVisible(run.stdout) && Self.allVisible(run.stderr), "\((run.stdout + run.stderr).debugDescription)")
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("Hostname: from-script"))

        // Piped: the same lines, the same answers.
        try daemon.scratch.write("reset.txt", "enable\nconfigure terminal\nhostname before\n")
        _ = try daemon.vtysh(["-f", daemon.scratch.file("reset.txt")])
        let piped = try Spawned.run("/bin/sh", ["-c", "exec \(Binaries.vtysh) --socket \(daemon.socket) < \(script)"])
        #expect(piped.status == 1, "\(piped)")
        #expect(piped.stderr.contains("% vtysh: stdin:3: not valid UTF-8: byte 0xE9 at column 17"), "\(piped.stderr)")
        #expect(Self.allVisible(piped.stdout) && Self.allVisible(piped.stderr), "\((piped.stdout + piped.stderr).debugDescription)")
        #expect(try daemon.vtysh(["-c", "show version"]).stdout.contains("Hostname: from-script"))
    }
}
