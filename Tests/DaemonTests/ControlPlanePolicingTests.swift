import Foundation
import NIOCore
import NetTypes
import SwitchHAL
import Testing
import TestSupport

@testable import Daemon

/// `control-plane police`: the CPU policers as configuration (set, shown, refused, undone,
/// saved and loaded back, in the HAL).
@Suite struct ControlPlanePolicingTests {
    func policers(_ h: PlaneHarness) throws -> [CPUClass: PolicerRate] {
        let plane = h.plane
        return try h.group.next().flatSubmit {
            plane.value.hal.call("test-read", on: h.group.next()) { hal, deadline in try hal.cpuPolicers(deadline: deadline) }
        }.wait()
    }

    func waitForHAL(_ h: PlaneHarness, _ predicate: ([CPUClass: PolicerRate]) -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if predicate(try policers(h)) { return true }
            usleep(2000)
        }
        return false
    }

    @Test func aPolicerIsSetShownUndoneAndRoundTrips() throws {
        let h = try PlaneHarness(chip: .small)
        try h.configure(["enable", "configure terminal"])
        #expect(!h.runningConfig.contains("control-plane"), "defaults are not printed")
        try h.configure(["control-plane police arp rate 200 pps burst 50 packets", "control-plane police icmp rate 300 pps"])
        let rendered = h.runningConfig
        #expect(rendered.contains("control-plane police arp rate 200 pps burst 50 packets\ncontrol-plane police icmp rate 300 pps burst 300 packets\n"),
                "the burst defaults to one second at the rate: \(rendered)")
        #expect(try waitForHAL(h) { $0[.arp] == PolicerRate(packetsPerSecond: 200, burst: 50) && $0[.icmp] == PolicerRate(packetsPerSecond: 300, burst: 300) })
        let (reloaded, errors) = try h.loadIntoFresh(rendered)
        #expect(errors.isEmpty && reloaded == rendered)

        // The defaults, typed out, are the defaults: nothing printed.
        try h.configure(["control-plane police vrrp rate \(PolicerRate.defaultVRRP.packetsPerSecond) pps burst \(PolicerRate.defaultVRRP.burst) packets"])
        #expect(!h.runningConfig.contains("police vrrp"))

        // `no`, as the line is printed or short: back to the default, in the HAL too.
        try h.configure(["no control-plane police arp rate 200 pps burst 50 packets", "no control-plane police icmp"])
        #expect(!h.runningConfig.contains("control-plane"), "\(h.runningConfig)")
        #expect(try waitForHAL(h) { $0[.arp] == PolicerRate.defaultARP && $0[.icmp] == PolicerRate.defaultICMP })

        // What `show hal rx` prints: one line per class, in priority order.
        let (status, shown) = try h.run("do show hal rx")
        #expect(!status.isFailure)
        let classes = shown.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard let first = words.first, CPUClass(keyword: String(first)) != nil, words.count == 7 else { return nil }
            return String(first)
        }
        #expect(classes == CPUClass.allCases.map(\.keyword), "\(shown)")
        let arp = shown.split(separator: "\n").map { $0.split(separator: " ") }.first { $0.first == "arp" } ?? []
        #expect(arp.count == 7 && arp[1] == "\(PolicerRate.defaultARP.packetsPerSecond)" && arp[2] == "\(PolicerRate.defaultARP.burst)", "\(shown)")
    }

    @Test func badPolicerLinesAreRefusedAndChangeNothing() throws {
        let h = try PlaneHarness(chip: .small)
        try h.configure(["enable", "configure terminal", "control-plane police nd rate 10 pps burst 5 packets"])
        let before = h.runningConfig
        for line in ["control-plane police arp rate 0 pps", "control-plane police arp rate 10000001 pps",
                     "control-plane police arp rate 10 pps burst 1000001 packets", "control-plane police bgp rate 10 pps",
                     "control-plane police arp rate 10", "control-plane police nd rate 10 pps burst 0 packets"] {
            let (status, output) = try h.run(line)
            #expect(status.isFailure && (output.contains("% Invalid input detected") || output.contains("% Incomplete command.")), "\(line): \(output)")
        }
        #expect(h.runningConfig == before)
        #expect(try policers(h)[.nd] == PolicerRate(packetsPerSecond: 10, burst: 5))
        // A rate above the largest burst gets the largest burst.
        try h.configure(["control-plane police ip rate 5000000 pps"])
        #expect(h.runningConfig.contains("control-plane police ip rate 5000000 pps burst \(PolicerRate.maxBurst) packets"))
    }
}
