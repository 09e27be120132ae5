import Channel
import Foundation
import Glibc
import Testing

/// The field bug, re-enacted against the real daemon: the l2x thread stalls holding the L2
/// table lock while configuration that deletes MAC entries keeps coming. Nothing may hang,
/// every failure must name the culprit, the log must name it within about a second, and when
/// the stall ends everything must work again without a restart.
@Suite struct HangProofTests {
    static let fieldScript: [String] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs/field-script-hal.vtysh")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init).filter {
            let trimmed = $0.trimmingCharacters(in: .whitespaces)
            return !trimmed.isEmpty && !trimmed.hasPrefix("!")
        }
    }()

    static var repository: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Timestamp (seconds since midnight) of a log line `2026-11-26T17:10:33.819Z ...`.
    func timestamp(_ line: Substring) -> Double? {
        guard let t = line.firstIndex(of: "T") else { return nil }
        let clock = line[line.index(after: t)...].prefix(12)
        let parts = clock.split(separator: ":")
        guard parts.count == 3, let h = Double(parts[0]), let m = Double(parts[1]), let s = Double(parts[2].prefix(6)) else { return nil }
        return h * 3600 + m * 60 + s
    }

    @Test func fieldScenarioStalledL2XThenRecovery() throws {
        let commandTimeout = 5.0
        let daemon = try DaemonProcess(arguments: ["--command-timeout", "5", "--hal-timeout", "1", "--lock-threshold", "1"], config: "vlan 10\nexit\n", faults: true)
        #expect(Self.fieldScript.count > 10)
        // Clean first.
        let before = try Spawned.run(Self.repository + "/scripts/config-loop", [Self.repository + "/configs/field-script-hal.vtysh", "--socket", daemon.socket, "--iterations", "2"],
                                     environment: ProcessInfo.processInfo.environment.merging(["VRRPD_BIN_DIR": Binaries.directory]) { $1 })
        #expect(before.status == 0, "\(before.stdout)\(before.stderr)")

        #expect(try daemon.vtysh(["-c", "enable", "-c", "test fault hal stall l2x"]).status == 0)

        // Every command of the field script, timed on one session.
        let client = try ChannelClient(path: daemon.socket, timeout: 5)
        var failures: [String] = []
        for line in Self.fieldScript {
            let started = Date()
            var output: [UInt8] = []
            let end = try client.request(.exec, line, timeout: commandTimeout + 3) { output += $0 }
            let seconds = Date().timeIntervalSince(started)
            let text = String(decoding: output, as: UTF8.self)
            #expect(seconds < commandTimeout + 1, "\"\(line)\" took \(seconds) s")
            #expect(end.status != .timeout, "\"\(line)\": \(text)")
            if end.status.isFailure && text.contains("HAL") {
                failures.append(text)
                #expect(text.contains("held by thread l2x"), "\"\(line)\": \(text)")
                #expect(text.contains("lock l2.table"), "\"\(line)\": \(text)")
                #expect(text.contains("(L2Worker.swift:"), "\"\(line)\": \(text)")
            }
        }
        #expect(!failures.isEmpty, "the stall changed nothing: the test proves nothing")
        #expect(failures.first?.hasPrefix("% Error: HAL timeout: ") == true)

        // What does not need the HAL answers at once: blocked on the stalled lock it would wait
        // for the 5 s command timeout (the stall lasts until cleared).
        for lines in [["enable", "show running-config"], ["show hal locks"], ["show hal threads"],
                      ["enable", "write file"], ["show version"]] {
            let result = try daemon.timedSession(lines)
            #expect(result.succeeded, "\(lines): \(result.statuses) \(result.output)")
            #expect(result.seconds < 2.5, "\(lines) took \(result.seconds) s")
        }
        let locks = try daemon.vtysh(["-c", "show hal locks"]).stdout
        #expect(locks.contains("l2.table         rank 20  held by l2x (l2x-scan)"))
        let threads = try daemon.vtysh(["-c", "show hal threads"]).stdout
        #expect(threads.contains("stalled (fault injected)"))

        // SIGUSR1: the dump names the stalled thread and the lock.
        kill(daemon.pid, SIGUSR1)
        #expect(daemon.waitForLog("=== end of dump ==="))
        #expect(daemon.log.contains("l2.table (rank 20): held by l2x"))

        // The watchdog named the holder about a second after the stall began.
        let log = daemon.log.split(separator: "\n")
        let injected = try #require(log.first { $0.contains("fault injected: l2x stalls holding l2.table") })
        let named = try #require(log.first { $0.contains("HAL watchdog: lock l2.table held by thread l2x") })
        #expect(named.contains("at L2Worker.swift:"))
        let delay = try #require(timestamp(named)) - (try #require(timestamp(injected)))
        #expect(delay >= 0.9 && delay < 1.6, "the watchdog spoke \(delay) s after the stall began (threshold 1 s)")

        // The stall ends: no restart, the loop runs clean again.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test fault hal stall clear"]).status == 0)
        #expect(daemon.waitForLog("HAL watchdog: lock l2.table released by thread l2x"))
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try daemon.vtysh(["-c", "show version"]).stdout.contains("HAL configuration: in sync") { break }
            usleep(200_000)
        }
        let after = try Spawned.run(Self.repository + "/scripts/config-loop", [Self.repository + "/configs/field-script-hal.vtysh", "--socket", daemon.socket, "--iterations", "3"],
                                    environment: ProcessInfo.processInfo.environment.merging(["VRRPD_BIN_DIR": Binaries.directory]) { $1 })
        #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
        #expect(daemon.witnessFindings.isEmpty, "\(daemon.witnessFindings)")
    }

    @Test func injectedInversionIsReportedAndNothingDeadlocks() throws {
        let daemon = try DaemonProcess(faults: true)
        let result = try daemon.vtysh(["-c", "enable", "-c", "test fault hal inversion"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("the witness reported"))
        #expect(daemon.waitForLog("HAL witness: lock order reversal: l2.table (rank 20) then hal.ports (rank 10) by thread fault-inversion"))
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("lock order reversal") })
        #expect(line.contains("established order hal.ports (rank 10) then l2.table (rank 20) by thread fault-order"))
        #expect(line.split(separator: "Switch.swift:").count >= 3, "both orders' call sites: \(line)")
        let witness = try daemon.vtysh(["-c", "show hal witness"]).stdout
        #expect(witness.contains("lock rank violation: hal.ports (rank 10) taken while holding l2.table (rank 20)"))
        // Nothing deadlocked: the HAL still takes both locks.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "vlan 99", "-c", "end"]).status == 0)
        #expect(try daemon.vtysh(["-c", "show vlan brief"]).stdout.contains("99   VLAN0099"))
    }

    @Test func injectedFailureRollsBackTheWholeChange() throws {
        let daemon = try DaemonProcess(faults: true)
        // A change of two HAL operations (create VLAN 40, set the port) whose second fails.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test fault hal fail port_set count 1 error resource"]).status == 0)
        let change = try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface eth6", "-c", "switchport access vlan 40"])
        #expect(change.status == 1)
        #expect(change.stdout.contains("% Invalid input detected: HAL error RESOURCE (-14): injected fault"))
        let config = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(!config.contains("vlan 40"))
        #expect(!config.contains("switchport access vlan 40"))
        #expect(!(try daemon.vtysh(["-c", "show vlan brief"]).stdout.contains("40   ")))  // the VLAN was undone in the HAL
        // The fault was used up: the same change now works.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface eth6", "-c", "switchport access vlan 40"]).status == 0)
        #expect(try daemon.vtysh(["-c", "show vlan brief"]).stdout.contains("40   VLAN0040                         active    eth6"))
    }

    @Test func halCallTraceToFileAndLog() throws {
        let scratch = try Scratch()
        let trace = scratch.file("hal.trace")
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--trace-hal", trace])
        #expect(try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "vlan 12", "-c", "end", "-c", "debug hal calls",
                                  "-c", "show mac address-table count"]).status == 0)
        let lines = (scratch.read("hal.trace") ?? "").split(separator: "\n")
        #expect(lines.contains { $0.contains("hal-api-#") && $0.contains("vlan_create(vlan=12) = 0 <0.") }, "\(lines)")
        #expect(daemon.waitForLog("hal-call: hal-api-#"))
        #expect(daemon.log.contains("l2_count(vlan=all) = 0 <"))
        #expect(try daemon.vtysh(["-c", "enable", "-c", "no debug hal calls"]).status == 0)
    }

    @Test func aBlockedControlPlaneIsNamed() throws {
        let daemon = try DaemonProcess(arguments: ["--lock-threshold", "0.5"], faults: true)
        let started = Date()
        #expect(try daemon.vtysh(["-c", "enable", "-c", "test fault control-plane block 1500"]).status == 0)
        #expect(Date().timeIntervalSince(started) >= 1.4)
        #expect(daemon.waitForLog("control plane running again"))
        #expect(daemon.log.contains("control plane stalled: thread ctl-plane has not run its loop for"))
        #expect(daemon.log.contains("running \"test fault control-plane block 1500\""))
    }
}
