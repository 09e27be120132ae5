import Channel
import Foundation
import HashTreeCollections
import NAT
import NIOCore
import NetTypes
import SwitchHAL
import Testing
import TestSupport
import VRRP

@testable import Daemon

/// Every subsystem keeps its state change by change (the configuration's indexes, VRRP's desired
/// routers and answers, the NAT engine and its environment, the HAL's configuration); this test
/// holds each to the from-scratch derivation of the running configuration after every step of a
/// random command sequence: adds, changes, `no` forms, interface and VLAN removal, NAT edits,
/// link flaps, refusals injected into the HAL, `copy FILE running-config` and SIGHUP reloads. A
/// failing seed replays exactly (the message names it and the steps that led there).
@Suite struct IncrementalConfigTests {
    /// `VRRPD_SEED=N` replays one seed; `VRRPD_SEEDS=N` runs seeds 1...N (CI: 60).
    static let seeds: [UInt64] = {
        let environment = ProcessInfo.processInfo.environment
        if let seed = environment["VRRPD_SEED"].flatMap({ UInt64($0) }) { return [seed] }
        return Array(1...(environment["VRRPD_SEEDS"].flatMap { UInt64($0) } ?? 60))
    }()
    static let steps = 120

    @Test(arguments: seeds) func incrementalStateEqualsTheFromScratchDerivation(seed: UInt64) throws {
        let h = try PlaneHarness(chip: .small, faults: true)
        var rng = SeededGenerator(seed: seed)
        var history: [String] = []
        var seen = Set<HALObject>()
        try h.configure(["enable", "configure terminal"])
        for step in 0..<Self.steps {
            let op = RandomOps.next(&rng, dir: h.dir)
            history.append(op.description)
            switch op {
            case .lines(let lines):
                for line in lines { _ = try h.run(line) }
            case .exec(let lines):
                _ = try h.run("end")
                for line in lines { _ = try h.run(line) }
                _ = try h.run("configure terminal")
            case .copy(let path, _):
                _ = try h.run("end")
                _ = try h.run("copy \(path) running-config")
                _ = try h.run("configure terminal")
            case .reload(let text, let during):
                try text.write(toFile: h.dir.file("vrrpd.conf"), atomically: true, encoding: .utf8)
                try h.reload(during: during)
            }
            let failures = try h.checkIncrementalState(seen: &seen)
            if !failures.isEmpty {
                Issue.record(
                    "seed \(seed) step \(step): \(failures.joined(separator: "; "))\nsteps:\n\(history.suffix(Int(ProcessInfo.processInfo.environment["VRRPD_HISTORY"] ?? "12") ?? 12).joined(separator: "\n"))")
                return
            }
        }
    }
}

/// One random step.
enum RandomOp: CustomStringConvertible {
    /// Configuration-mode lines.
    case lines([String])
    /// Enable-mode lines (back to configuration mode after).
    case exec([String])
    /// The startup file replaced with this text, then SIGHUP; these lines typed meanwhile
    /// (each lands before or after the reload's turn in the queue).
    case reload(String, during: [String])
    /// `copy FILE running-config` of these lines.
    case copy(String, [String])

    var description: String {
        switch self {
        case .lines(let l): return l.joined(separator: " | ")
        case .exec(let l): return "exec: " + l.joined(separator: " | ")
        case .reload(let t, let during):
            return "reload:\n    " + t.split(separator: "\n").joined(separator: "\n    ")
                + (during.isEmpty ? "" : "\n  typed meanwhile:\n    " + during.joined(separator: "\n    "))
        case .copy(_, let lines): return "copy:\n    " + lines.joined(separator: "\n    ")
        }
    }
}

/// A small universe (VLANs 2-6, ports eth1-eth6, SVIs vlan1-vlan6, VRIDs 1-3, a few NAT
/// objects) so that random steps keep meeting what earlier ones made.
enum RandomOps {
    static func pick<T>(_ values: [T], _ rng: inout SeededGenerator) -> T { values[Int.random(in: 0..<values.count, using: &rng)] }
    static func chance(_ percent: Int, _ rng: inout SeededGenerator) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    static func svi(_ rng: inout SeededGenerator) -> Int { Int.random(in: 1...6, using: &rng) }

    /// One configuration line (for files) or a block.
    static func block(_ rng: inout SeededGenerator) -> [String] {
        let no = chance(25, &rng) ? "no " : ""
        let v = svi(&rng)
        let vrid = Int.random(in: 1...3, using: &rng)
        let port = Int.random(in: 1...6, using: &rng)
        switch Int.random(in: 0..<26, using: &rng) {
        case 0: return ["\(no)vlan \(Int.random(in: 2...6, using: &rng))"]
        case 1: return ["vlan \(Int.random(in: 2...6, using: &rng))", " \(no)name v\(Int.random(in: 0...9, using: &rng))", "exit"]
        case 2: return ["\(chance(15, &rng) ? "no " : "")interface vlan\(v)"]
        case 3: return ["interface vlan\(v)", " \(no)ip address 10.\(v).0.\(Int.random(in: 1...3, using: &rng))/24", "exit"]
        case 4: return ["interface vlan\(v)", " \(no)ip address 10.\(v).1.1/24 secondary", "exit"]
        case 5: return ["interface vlan\(v)", " \(no)shutdown", "exit"]
        case 6: return ["interface vlan\(v)", " \(no)ip nat \(pick(["inside", "outside"], &rng))", "exit"]
        case 7: return ["interface vlan\(v)", " \(no)vrrp \(vrid) ip 10.\(v).0.\(250 + vrid)", "exit"]
        case 8: return ["interface vlan\(v)", " \(no)vrrp \(vrid) ip 10.\(v).0.\(240 + vrid)", "exit"]
        case 9: return ["interface vlan\(v)", " \(no)vrrp \(vrid) priority \(Int.random(in: 50...250, using: &rng))", "exit"]
        case 10: return ["interface vlan\(v)", " vrrp \(vrid) advertisement-interval \(pick([50, 100, 1000], &rng))", "exit"]
        case 11: return ["interface vlan\(v)", " \(no)vrrp \(vrid) shutdown", "exit"]
        case 12: return ["interface vlan\(v)", " \(no)vrrp \(vrid) track interface eth\(port) decrement 20", "exit"]
        case 13: return ["interface vlan\(v)", " \(no)vrrp \(vrid)", "exit"]
        case 14: return ["interface eth\(port)", " \(no)switchport access vlan \(Int.random(in: 1...6, using: &rng))", "exit"]
        case 15: return ["interface eth\(port)", " \(no)switchport mode trunk", "exit"]
        case 16: return ["interface eth\(port)", " switchport trunk allowed vlan \(pick(["1-3", "2,4,6", "all", "add 5", "remove 2"], &rng))", "exit"]
        case 17: return ["interface eth\(port)", " \(no)shutdown", "exit"]
        case 18: return ["\(no)mac address-table static 0200.0000.00\(Int.random(in: 10...30, using: &rng)) vlan \(Int.random(in: 1...6, using: &rng)) interface eth\(port)"]
        case 19: return [pick(["mac address-table aging-time 600", "no mac address-table aging-time", "mac address-table limit maximum 50",
                              "no mac address-table limit", "mac address-table limit maximum 9 vlan 3", "mac address-table limit maximum 7 interface eth2",
                              "control-plane police arp rate 300 pps burst 40 packets", "no control-plane police arp",
                              "control-plane police \(pick(["icmp", "other"], &rng)) rate \(pick([50, 1000], &rng)) pps"], &rng)]
        case 20: return ["\(no)access-list \(Int.random(in: 1...3, using: &rng)) \(pick(["permit", "deny"], &rng)) 10.\(v).0.0 0.0.0.255"]
        case 21: return ["\(no)ip nat pool P\(Int.random(in: 1...2, using: &rng)) 203.0.113.\(pick([10, 20], &rng)) 203.0.113.\(pick([15, 25], &rng)) prefix-length 24"]
        case 22:
            let acl = Int.random(in: 1...3, using: &rng)
            return [chance(30, &rng) ? "no ip nat inside source list \(acl)"
                : "ip nat inside source list \(acl) \(chance(50, &rng) ? "pool P\(Int.random(in: 1...2, using: &rng))" : "interface vlan\(v)") overload"]
        case 23:
            let redundancy = pick(["", " redundancy vrrp \(vrid)", " redundancy vrrp \(vrid) interface vlan\(v)"], &rng)
            return ["\(no)ip nat inside source static 10.\(v).0.\(Int.random(in: 5...7, using: &rng)) 203.0.113.\(Int.random(in: 30...34, using: &rng))\(redundancy)"]
        case 24: return ["\(no)ip nat inside source static tcp 10.\(v).0.9 \(pick([22, 80], &rng)) 203.0.113.40 \(pick([2222, 8080], &rng))"]
        default: return ["\(no)ip route 11.\(Int.random(in: 0...3, using: &rng)).0.0/16 10.\(v).0.\(pick([9, 10], &rng))"]
        }
    }

    static func next(_ rng: inout SeededGenerator, dir: Scratch) -> RandomOp {
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<80:
            return .lines(block(&rng))
        case 80..<85:
            return .exec(["test interface eth\(Int.random(in: 1...6, using: &rng)) link \(pick(["up", "down"], &rng))"])
        case 85..<89:
            // The next HAL call of one kind is refused: the edit that needs it fails and is undone.
            let call = pick(["vlan_create", "port_set", "svi_set", "l2_addr_add", "vlan_destroy", "svi_destroy"], &rng)
            return .exec(["test fault hal fail \(call) count 1 error \(pick(["full", "busy", "internal"], &rng))"])
        case 89..<95:
            // A file merged: its lines pipelined, some failing.
            var lines: [String] = []
            for _ in 0..<Int.random(in: 3...25, using: &rng) { lines += block(&rng) }
            let path = dir.file("merge-\(rng.next() % 1000).conf")
            try? (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return .copy(path, lines)
        default:
            // A whole new startup configuration, reloaded (refused as a whole if a line fails).
            var lines: [String] = []
            for _ in 0..<Int.random(in: 5...40, using: &rng) { lines += block(&rng).map { $0.replacingOccurrences(of: "no ", with: "") } }
            var during: [String] = []
            if chance(50, &rng) { for _ in 0..<Int.random(in: 1...6, using: &rng) { during += block(&rng) } }
            return .reload(lines.joined(separator: "\n") + "\n", during: during)
        }
    }
}

extension PlaneHarness {
    /// SIGHUP, as the signal thread posts it, with `during` typed meanwhile in the harness
    /// session; returns once they have landed and the reload has been applied or refused.
    ///
    /// The lines are typed in the reload's narrowest window: its file read and built, its
    /// difference from a copy of the running configuration being worked out off the loop (held
    /// there by blocking the plane's worker threads until they are typed), so they land between
    /// the copy and the reload's turn (the keys it must look at again), or queue before its turn
    /// behind a HAL call.
    func reload(during: [String] = []) throws {
        let plane = self.plane
        let session = self.session
        let loop = group.next()
        let deadline = Date().addingTimeInterval(10)
        if !during.isEmpty {
            // Both worker threads held; the file read gets one back, then a third hold takes it,
            // so the difference waits.
            let pool = try loop.submit { plane.value.pool }.wait()
            let gate = DispatchSemaphore(value: 0)
            let holds = [pool.runIfActive(eventLoop: loop) { gate.wait() }, pool.runIfActive(eventLoop: loop) { gate.wait() }]
            try loop.submit { plane.value.reload() }.wait()
            let third = pool.runIfActive(eventLoop: loop) { gate.wait() }
            gate.signal()
            while try loop.submit({ plane.value.live.journal == nil && plane.value.startup.reloading }).wait() {
                guard Date() < deadline else { throw TestFailure("the reload did not build the file within 10 s") }
                usleep(1_000)
            }
            // One turn of the loop: the edits queue together (a HAL call carries them).
            let typed = try loop.submit { () -> [EventLoopFuture<Status>] in
                during.map { line in
                    switch plane.value.execute(line, session: session.value, workspace: plane.value.live, loading: false).1 {
                    case .done(let status): return loop.makeSucceededFuture(status)
                    case .pending(let future, _, _): return future
                    case .input: return loop.makeSucceededFuture(.inputRequired)
                    }
                }
            }.wait()
            gate.signal()
            gate.signal()
            for hold in holds + [third] { try hold.wait() }
            for line in typed { _ = try line.wait() }
        } else {
            try loop.submit { plane.value.reload() }.wait()
        }
        while try loop.submit({ plane.value.startup.reloading }).wait() {
            guard Date() < deadline else { throw TestFailure("the reload did not finish within 10 s") }
            usleep(2_000)
        }
    }

    /// Waits until the HAL, the VRRP thread and the NAT thread have taken every change, then
    /// compares what each keeps incrementally with the from-scratch derivation. Returns what
    /// differs.
    func checkIncrementalState(seen: inout Set<HALObject>) throws -> [String] {
        let plane = self.plane
        let loop = group.next()
        var failures: [String] = []
        // The HAL commit queue and reconciler have nothing left (retries of refusals included).
        let (vrrpService, natService, hal, ports, routerMAC) = try loop.submit {
            (plane.value.vrrp!, plane.value.nat!, plane.value.hal, plane.value.options.chip.portCount, plane.value.options.baseMAC)
        }.wait()
        let deadline = Date().addingTimeInterval(20)
        while try !loop.submit({ plane.value.committer.isInSync && plane.value.configPush.allPushed }).wait() || !natService.inSync().wait() {
            guard Date() < deadline else {
                let activity = try loop.submit { plane.value.committer.activity }.wait()
                return ["the HAL did not come in step within 20 s: \(activity)"]
            }
            usleep(1_000)
        }
        // Anything the last change pushed to the VRRP and NAT threads is queued before this.
        try loop.submit {}.wait()
        let (config, desired, projected) = try loop.submit {
            (plane.value.live.config, plane.value.sviDesired, plane.value.committer.projected)
        }.wait()

        // 1. The configuration's own indexes, and the committer's projection with nothing queued.
        if config.index != ConfigIndex(rebuilding: config) { failures.append("the configuration's indexes differ from a rebuild") }
        if projected != config { failures.append("the committer's projection differs from the landed configuration") }

        // 2. VRRP's desired state, on the control plane and on the VRRP thread.
        let scratch = SVIDesired(rebuilding: config, routerMAC: routerMAC)
        if desired != scratch { failures.append("VRRP desired state: \(Self.difference(desired, scratch))") }
        let vrrp = try vrrpService.snapshot().wait()
        if vrrp.specs != scratch.specs { failures.append("the VRRP thread's routers differ from the configuration's") }

        // 3. NAT: the engine's configuration and environment, and the mappings it has active.
        let nat = try natService.snapshot().wait()
        if nat.engine.config != config.nat { failures.append("the NAT engine's configuration differs") }
        var environment = config.index.environment
        environment.masterGroups = nat.engine.environment.masterGroups
        if nat.engine.environment != environment { failures.append("the NAT engine's environment differs") }
        var fresh = NATEngine()
        _ = fresh.configure(config.nat, environment, now: .zero)
        if fresh.activeStatics != nat.engine.activeStatics {
            failures.append("active static mappings \(nat.engine.activeStatics.count) vs \(fresh.activeStatics.count) from scratch")
        }
        // The HAL's NAT table holds what the engine wants.
        let natEntries = try hal.callNAT("test-read", on: loop) { hal, deadline in try hal.natEntries(deadline: deadline) }.wait()
        let wanted = Set(nat.engine.hardwareEntries.map { "\(NATService.halEntry($0).key) \($0.translated)" })
        let held = Set(natEntries.map { "\($0.key) \(Endpoint($0.translatedAddress, $0.translatedPort))" })
        if wanted != held { failures.append("HAL NAT table: \(held.subtracting(wanted).count) extra, \(wanted.subtracting(held).count) missing") }

        // 4. The HAL configuration: every object the configuration has (or had) as it asks.
        let objects = HALObject.all(in: config, portCount: ports)
        seen.formUnion(objects)
        let list = Array(seen)
        let actual = try hal.call("test-read", on: loop) { hal, deadline in try HALState.read(list, hal: hal, deadline: deadline) }.wait()
        for object in list where actual[object] != HALState.desired(object, in: config) {
            failures.append("HAL \(object): holds \(String(describing: actual[object])), the configuration asks \(String(describing: HALState.desired(object, in: config)))")
            break
        }
        return failures
    }

    static func difference(_ a: SVIDesired, _ b: SVIDesired) -> String {
        var parts: [String] = []
        if a.specs != b.specs {
            let keys = Set(a.specs.keys).union(b.specs.keys).filter { a.specs[$0] != b.specs[$0] }.sorted().prefix(3)
            parts.append("routers \(keys.map(\.description).joined(separator: ", "))")
        }
        if a.sviAddresses != b.sviAddresses { parts.append("SVI addresses") }
        if a.natGlobals != b.natGlobals { parts.append("NAT globals \(a.natGlobals) vs \(b.natGlobals)") }
        if a.natProxy != b.natProxy { parts.append("NAT proxy") }
        if a.ports != b.ports { parts.append("ports") }
        return parts.joined(separator: ", ")
    }
}
