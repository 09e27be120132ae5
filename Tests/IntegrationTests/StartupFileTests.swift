import Channel
import Foundation
import Glibc
import Testing
import TestSupport

/// Configuration files as vrrpd and vtysh read them, through real processes: a byte that is not
/// UTF-8 is its line's error and the rest loads; a byte order mark is not part of the first line;
/// no message prints an invisible character; `write file` does not replace a startup file that
/// did not load whole unless forced; and SIGHUP's reload takes its turn among the edits of a
/// script running meanwhile, logging every line it drops.
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

    /// The issue's case: one bad byte on one line of the startup file. That line is refused,
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
            #expect(refused.stdout.contains("% Error: Not saved: \(path) was not loaded whole at start-up: 1 line failed, the first: \(error)"),
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
        #expect(checked.stdout.contains("\(site):9: Invalid input detected: Invisible characters are not allowed in a command: U+200B (ZERO WIDTH SPACE) at column 11"), "\(checked.stdout)")
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
        #expect(run.stdout.contains("% Invalid input detected: Invisible characters are not allowed in a command: U+200B (ZERO WIDTH SPACE) at column 12"), "\(run.stdout)")
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

    /// The issue's case: SIGHUP while a long `vtysh -f` script edits. The reload is one edit in
    /// the queue: the running configuration ends as the file with the script's edits queued after
    /// the reload on top (one split point in the script's order), the script's edits before it
    /// that the file does not have are replaced, and each of those is named in the log.
    @Test func aReloadDuringAScriptTakesItsTurnAndLogsEveryLineItDrops() throws {
        let interfaces = Array(2...1201)
        let passes = 4
        var file = "hostname reload-file\n"
        for n in interfaces { file += "vlan \(n)\nexit\n" }
        for n in interfaces { file += "interface vlan\(n)\n description file-\(n)\nexit\n" }
        let daemon = try DaemonProcess(config: file, waitForStartup: false)
        try daemon.waitUntilServing(timeout: 60)
        // Pass p sets description script-p-N on every interface, in order: edit number
        // p * count + (index of N).
        var script = "enable\nconfigure terminal\n"
        for pass in 0..<passes {
            for n in interfaces { script += "interface vlan\(n)\n description script-\(pass)-\(n)\n" }
        }
        script += "end\n"
        try daemon.scratch.write("script.txt", script)
        let output = open(daemon.scratch.file("script.out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(output)
            close(null)
        }
        let vtysh = try Spawned(
            Binaries.vtysh, ["--socket", daemon.socket, "-f", daemon.scratch.file("script.txt")], stdin: null, stdout: output, stderr: output)
        // SIGHUP once the script's first edits are running.
        let watcher = try ChannelClient(path: daemon.socket)
        _ = try watcher.request(.exec, "enable", timeout: 5) { _ in }
        let started = daemon.waitUntilTrue(30) {
            var text: [UInt8] = []
            _ = try? watcher.request(.exec, "show running-config interface vlan\(interfaces[20])", timeout: 5) { text += $0 }
            return String(decoding: text, as: UTF8.self).contains("script-0-")
        }
        #expect(started, "the script's edits did not show")
        kill(daemon.pid, SIGHUP)
        #expect(vtysh.wait(timeout: 120) == 0, "\(daemon.scratch.read("script.out") ?? "")")
        #expect(daemon.waitForLog("reload applied", timeout: 60))
        // Every dropped line is logged (in slices, after the summary).
        let summary = try #require(daemon.log.split(separator: "\n").first { $0.contains("reload applied:") })
        let removedCount = try #require(Int(summary.split(separator: " ").reversed().dropFirst().first ?? ""), "\(summary)")
        #expect(daemon.waitUntilTrue(30) { daemon.log.components(separatedBy: "reload: - ").count - 1 == removedCount })
        let log = daemon.log

        // The final descriptions, interface by interface.
        let running = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        var final: [Int: String] = [:]
        var current: Int?
        for line in running.split(separator: "\n") {
            if line.hasPrefix("interface vlan") { current = Int(line.dropFirst("interface vlan".count)) }
            else if line.hasPrefix(" description "), let n = current { final[n] = String(line.dropFirst(" description ".count)) }
        }
        #expect(running.contains("hostname reload-file\n"))
        #expect(final.count == interfaces.count, "\(final.count) interfaces with a description")
        // What the reload replaced, as logged: the description each interface had when it landed.
        var replaced: [Int: String] = [:]
        for line in log.split(separator: "\n") {
            guard let range = line.range(of: "reload: - interface vlan") else { continue }
            let rest = line[range.upperBound...].split(separator: ":", maxSplits: 1)
            guard rest.count == 2, let n = Int(rest[0]), rest[1].hasPrefix(" description ") else {
                Issue.record("an unexpected line replaced: \(line)")
                continue
            }
            replaced[n] = String(rest[1].dropFirst(" description ".count))
        }
        #expect(replaced.count == removedCount)
        // One point k in the script's edits explains both: each interface's description when the
        // reload landed is its last edit before k (none: nothing to replace, nothing logged), and
        // its description now is its last edit from k on, or the file's when it has none.
        func edit(_ pass: Int, _ index: Int) -> Int { pass * interfaces.count + index }
        let total = passes * interfaces.count
        var low = 0
        var high = total
        for (index, n) in interfaces.enumerated() {
            if let value = replaced[n] {
                guard let pass = (0..<passes).first(where: { value == "script-\($0)-\(n)" }) else {
                    Issue.record("vlan\(n): the reload replaced \(value), which the script never set")
                    continue
                }
                low = max(low, edit(pass, index) + 1)
                if pass + 1 < passes { high = min(high, edit(pass + 1, index)) }
            } else {
                high = min(high, edit(0, index))
            }
            let value = final[n] ?? ""
            if value == "file-\(n)" {
                low = max(low, edit(passes - 1, index) + 1)
            } else if value == "script-\(passes - 1)-\(n)" {
                high = min(high, edit(passes - 1, index))
            } else {
                Issue.record("vlan\(n): \(value) is neither the file's description nor the script's last")
            }
        }
        #expect(low <= high, "no single point in the script's order explains the result (\(low) > \(high))")
        print("reload during a script: it took its turn after edit \(low)...\(high) of \(total); it replaced \(removedCount) line(s), each logged")
    }
}
