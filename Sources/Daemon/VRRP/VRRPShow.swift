#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NetTypes
import Time
import VRRP

/// `show vrrp` in its forms: FRR's detail, summary and JSON (same fields and keys, so scripts
/// written for FRR keep working), plus what FRR leaves out: why a router is in Initialize, the
/// discard counters, the last transition and when it happened, tracking, and the virtual MAC's
/// state in the HAL.
struct VRRPShow {
    let snapshot: VRRPService.Snapshot

    /// One `vrrp N` group of one interface: its IPv4 and IPv6 virtual routers.
    struct Group {
        var interface: InterfaceID
        var vrid: VRID
        var v4: VRRPSpec
        var v6: VRRPSpec
    }

    /// The groups of `interface` (and `vrid`), or all, by interface in natural order, then VRID.
    func groups(interface: InterfaceID?, vrid: VRID?) -> [Group] {
        let keys = snapshot.specs.keys.filter { !$0.ipv6 && (interface == nil || $0.interface == interface) && (vrid == nil || $0.vrid == vrid) }
        return keys.sorted().compactMap { key in
            guard let v4 = snapshot.specs[key], let v6 = snapshot.specs[VRRPEngine.Key(interface: key.interface, vrid: key.vrid, ipv6: true)] else {
                return nil
            }
            return Group(interface: key.interface, vrid: key.vrid, v4: v4, v6: v6)
        }
    }

    // MARK: Per-router facts

    func router(_ spec: VRRPSpec) -> VirtualRouter? { snapshot.routers[spec.key] }

    /// The state, with the reason when it is Initialize.
    func status(_ spec: VRRPSpec) -> String {
        if let router = router(spec) { return router.state.description }
        return "Initialize"
    }

    func statusReason(_ spec: VRRPSpec) -> String? {
        if router(spec) != nil { return nil }
        return spec.blocked ?? snapshot.heldDown[spec.key] ?? "starting"
    }

    /// A router that is not running shows what it would have: its configuration's values.
    func effectiveRouter(_ spec: VRRPSpec) -> VirtualRouter {
        router(spec) ?? VirtualRouter(config: spec.config, interface: spec.interface)
    }

    func ms(_ duration: Duration) -> Int { Int(duration.inMicroseconds / 1000) }

    func primary(_ spec: VRRPSpec) -> String {
        if spec.key.ipv6 { return spec.interface.linkLocalIPv6?.description ?? "::" }
        return spec.interface.primaryIPv4?.description ?? "0.0.0.0"
    }

    func addresses(_ spec: VRRPSpec) -> [String] {
        switch spec.config.addresses {
        case .ipv4(let list): return list.map(\.description)
        case .ipv6(let list): return list.map(\.description)
        }
    }

    func lastTransition(_ spec: VRRPSpec) -> String? {
        guard let router = router(spec), let last = router.lastTransition, last.at <= snapshot.now else { return nil }
        let ago = (snapshot.now - last.at).inSeconds
        return "\(last.from) -> \(last.to) \(VRRPShow.duration(ago)) ago (\(last.reason))"
    }

    func discards(_ spec: VRRPSpec) -> String {
        guard let router = router(spec) else { return "0" }
        let stats = router.statistics
        let parts = DiscardReason.allCases.compactMap { reason in stats.discards[reason].map { "\(reason) \($0)" } }
        return parts.isEmpty ? "0" : "\(stats.totalDiscards) (\(parts.joined(separator: ", ")))"
    }

    func masterRouter(_ spec: VRRPSpec) -> String? {
        guard let router = router(spec) else { return nil }
        switch router.state {
        case .master: return "this switch"
        case .backup:
            return router.masterAddress?.description ?? "not heard yet"
        case .initialize: return nil
        }
    }

    func virtualMACState(_ spec: VRRPSpec) -> String? {
        guard let router = router(spec), router.state == .master else { return nil }
        let entry = VRRPService.VirtualMAC(mac: router.virtualMAC, vlan: spec.vlan)
        if snapshot.installedMACs.contains(entry) { return "installed in the L2 table" }
        return "not yet in the L2 table" + (snapshot.macProblem.map { ": \($0)" } ?? " (HAL call under way)")
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return fixed(seconds, 3) + " s" }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60)m\(whole % 60)s" }
        if whole < 86400 { return "\(whole / 3600)h\(whole / 60 % 60)m" }
        return "\(whole / 86400)d\(whole / 3600 % 24)h"
    }

    static func yesNo(_ value: Bool) -> String { value ? "Yes" : "No" }

    // MARK: Detail (FRR's layout)

    func detail(_ group: Group) -> String {
        var lines: [(String, String)] = []
        func row(_ name: String, _ value: String) { lines.append((name, value)) }
        func both(_ name: String, _ value: (VRRPSpec) -> String) {
            row("\(name) (v4)", value(group.v4))
            row("\(name) (v6)", value(group.v6))
        }
        let v4 = effectiveRouter(group.v4)
        row("Virtual Router ID", "\(group.vrid)")
        row("Protocol Version", "\(group.v4.config.version)")
        if let description = group.v4.description { row("Description", description) }
        row("Autoconfigured", "No")
        row("Shutdown", VRRPShow.yesNo(group.v4.shutdown))
        row("Interface", group.interface.description)
        both("Primary IP") { primary($0) }
        both("Virtual MAC") { effectiveRouter($0).virtualMAC.description }
        both("Status") { spec in status(spec) + (statusReason(spec).map { " (\($0))" } ?? "") }
        both("Master Router") { masterRouter($0) ?? "-" }
        row("Priority", "\(group.v4.config.priority)")
        both("Effective Priority") { "\(effectiveRouter($0).effectivePriority)" }
        row("Preempt Mode", VRRPShow.yesNo(group.v4.config.preempt))
        if let delay = group.v4.preemptDelaySeconds { row("Preempt Delay", "\(delay) s") }
        row("Accept Mode", VRRPShow.yesNo(group.v4.config.acceptMode))
        row("Checksum with IPv4 Pseudoheader", VRRPShow.yesNo(group.v4.config.checksumWithPseudoHeader))
        if group.v4.config.acceptEitherChecksum { row("Checksum on receive", "either form") }
        row("Answer Lower Priority (RFC 9568)", VRRPShow.yesNo(group.v4.config.answerLowerPriority))
        row("Advertisement Interval", "\(v4.config.advertisementInterval * 10) ms")
        both("Master Advertisement Interval") { "\(effectiveRouter($0).masterAdverInterval * 10) ms" }
        both("Advertisements Tx") { "\(router($0)?.statistics.advertisementsSent ?? 0)" }
        both("Advertisements Rx") { "\(router($0)?.statistics.advertisementsReceived ?? 0)" }
        both("Priority 0 Tx/Rx") { "\(router($0)?.statistics.priorityZeroSent ?? 0)/\(router($0)?.statistics.priorityZeroReceived ?? 0)" }
        row("Gratuitous ARP Tx (v4)", "\(router(group.v4)?.statistics.announcementsSent ?? 0)")
        row("Neigh. Adverts Tx (v6)", "\(router(group.v6)?.statistics.announcementsSent ?? 0)")
        both("State transitions") { "\(router($0)?.statistics.transitions ?? 0)" }
        both("Last transition") { lastTransition($0) ?? "-" }
        both("Discards") { discards($0) }
        both("Skew Time") { "\(ms(effectiveRouter($0).skewTime)) ms" }
        both("Master Down Interval") { "\(ms(effectiveRouter($0).masterDownInterval)) ms" }
        for spec in [group.v4, group.v6] {
            if let state = virtualMACState(spec) { row("Virtual MAC entry (v\(spec.key.ipv6 ? 6 : 4))", state) }
        }
        if !group.v4.tracks.isEmpty {
            let tracks = group.v4.tracks.keys.sorted().map { port in
                "\(InterfaceID.port(port)) decrement \(group.v4.tracks[port]!)"
            }
            row("Tracked interfaces", tracks.joined(separator: ", "))
            row("Tracking decrement now", "\(router(group.v4)?.trackingDecrement ?? router(group.v6)?.trackingDecrement ?? 0)")
        }
        let v4Addresses = addresses(group.v4)
        let v6Addresses = addresses(group.v6)
        row("IPv4 Addresses", "\(v4Addresses.count)")
        for address in v4Addresses { row("..................................", address) }
        row("IPv6 Addresses", "\(v6Addresses.count)")
        for address in v6Addresses { row("..................................", address) }
        return lines.map { name, value in
            " " + name + String(repeating: " ", count: max(1, 40 - name.count)) + value
        }.joined(separator: "\n") + "\n"
    }

    // MARK: Brief (IOS's layout)

    /// IOS's unified `show vrrp brief` (VRRPv3, both address families): one line per group and
    /// address family with addresses; Time is the Master_Down_Interval in ms; the Master's
    /// address is this switch's own, "(local)", while it is Master. Interfaces keep our names.
    func streamBrief(_ groups: [Group], into ctx: CommandContext) {
        ctx.write("  Interface          Grp  A-F Pri  Time Own Pre State   Master addr/Group addr\n")
        let specs = groups.flatMap { [$0.v4, $0.v6] }.filter { $0.config.addresses.count > 0 }
        ctx.streamItems(specs, chunk: 500) { briefLine($0) }
    }

    func briefLine(_ spec: VRRPSpec) -> String {
        let router = effectiveRouter(spec)
        let running = self.router(spec)
        let state: String
        var master: String
        switch running?.state {
        case .master?:
            state = "MASTER"
            master = primary(spec) + "(local)"
        case .backup?:
            state = "BACKUP"
            master = running?.masterAddress?.description ?? (spec.key.ipv6 ? "::" : "0.0.0.0")
        default:
            state = "INIT"
            master = spec.key.ipv6 ? "::" : "0.0.0.0"
        }
        if master.isEmpty { master = "0.0.0.0" }
        let group = addresses(spec).first ?? ""
        func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        func left(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(1, width - text.count)) }
        return "  " + left(spec.key.interface.description, 18) + right("\(spec.key.vrid)", 4) + " " + (spec.key.ipv6 ? "IPv6" : "IPv4")
            + right("\(spec.config.priority)", 4) + right("\(ms(router.masterDownInterval))", 6)
            + "  " + (spec.config.priority == 255 ? "Y" : "N") + "   " + (spec.config.preempt ? "Y" : "N") + "  " + left(state, 8)
            + master + " " + group + "\n"
    }

    // MARK: Detail (IOS's layout)

    /// IOS's detailed `show vrrp` (here `show vrrp all`, beside FRR's `show vrrp`): a block per
    /// group and address family with addresses, in the layout of IOS-XE (VRRPv3) or classic IOS
    /// (VRRPv2). Interfaces keep our names.
    func streamIOSDetail(_ groups: [Group], into ctx: CommandContext) {
        let specs = groups.flatMap { [$0.v4, $0.v6] }.filter { $0.config.addresses.count > 0 }
        var first = true
        ctx.streamItems(specs, chunk: 200) { spec in
            defer { first = false }
            return (first ? "" : "\n") + iosDetail(spec)
        }
    }

    func iosDetail(_ spec: VRRPSpec) -> String {
        let router = effectiveRouter(spec)
        let running = self.router(spec)
        let v3 = spec.config.version == 3
        func interval(_ centiseconds: Int) -> String {
            v3 ? "\(centiseconds * 10) msec" : fixed(Double(centiseconds) / 100, 3) + " sec"
        }
        func state(_ upper: String, _ classic: String) -> String { v3 ? upper : classic }
        var out = "\(spec.key.interface) - Group \(spec.key.vrid)" + (v3 ? " - Address-Family \(spec.key.ipv6 ? "IPv6" : "IPv4")" : "") + "\n"
        switch running?.state {
        case .master?: out += "  State is \(state("MASTER", "Master"))\n"
        case .backup?: out += "  State is \(state("BACKUP", "Backup"))\n"
        default: out += "  State is \(state("INIT", "Init"))\n"
        }
        if let last = running?.lastTransition, last.at <= snapshot.now {
            let seconds = (snapshot.now - last.at).inSeconds
            let minutes = Int(seconds / 60)
            out += "  State duration \(minutes) mins \(fixed(seconds - Double(minutes * 60), 3)) secs\n"
        }
        let addresses = addresses(spec)
        out += "  Virtual IP address is \(addresses.first ?? "")\n"
        if addresses.count > 1 {
            out += "  Virtual secondary IP addresses:\n" + addresses.dropFirst().map { "    \($0)\n" }.joined()
        }
        out += "  Virtual MAC address is \(router.virtualMAC.dottedDescription)\n"
        out += "  Advertisement interval is \(interval(spec.config.advertisementInterval))\n"
        out += "  Preemption \(spec.config.preempt ? "enabled" : "disabled")\n"
        let effective = router.effectivePriority
        out += "  Priority is \(effective)" + (effective != spec.config.priority ? " (cfgd \(spec.config.priority))" : "") + "\n"
        switch running?.state {
        case .master?:
            out += "  Master Router is \(primary(spec)) (local), priority is \(effective)\n"
        case .backup?:
            let master = running?.masterAddress?.description ?? "unknown"
            out += "  Master Router is \(master), priority is \(running?.masterPriority.map { "\($0)" } ?? "unknown")\n"
        default:
            out += "  Master Router is unknown, priority is unknown\n"
        }
        out += "  Master Advertisement interval is \(interval(router.masterAdverInterval))\n"
        let down = router.masterDownInterval
        out += "  Master Down interval is " + (v3 ? "\(ms(down)) msec" : fixed(Double(down.inMicroseconds) / 1e6, 3) + " sec") + "\n"
        return out
    }

    // MARK: Summary

    /// The summary: the header at once, the rows as the client reads.
    func streamSummary(_ groups: [Group], into ctx: CommandContext) {
        let widths = summaryWidths(groups)
        ctx.write(summaryHeader(groups, widths: widths))
        ctx.streamItems(groups, chunk: 500) { summaryLine($0, widths: widths) }
    }

    static let summaryColumns = ["Interface", "VRID", "Priority", "IPv4", "IPv6", "State (v4)", "State (v6)"]

    /// Column widths from the widest value of each column (one cheap pass: lengths only).
    func summaryWidths(_ groups: [Group]) -> [Int] {
        var widths = VRRPShow.summaryColumns.map(\.count)
        func widen(_ column: Int, _ count: Int) { widths[column] = max(widths[column], count) }
        for group in groups {
            widen(0, group.interface.description.count)
            widen(1, group.vrid.description.count)
            widen(2, group.v4.config.priority < 10 ? 1 : group.v4.config.priority < 100 ? 2 : 3)
            widen(3, String(group.v4.config.addresses.count).count)
            widen(4, String(group.v6.config.addresses.count).count)
            widen(5, status(group.v4).count)
            widen(6, status(group.v6).count)
        }
        return widths.map { $0 + 3 }
    }

    private func summaryRow(_ row: [String], widths: [Int]) -> String {
        " " + row.enumerated().map { $0.element + String(repeating: " ", count: widths[$0.offset] - $0.element.count) }.joined() + "\n"
    }

    func summaryHeader(_ groups: [Group], widths: [Int]? = nil) -> String {
        let widths = widths ?? summaryWidths(groups)
        return summaryRow(VRRPShow.summaryColumns, widths: widths) + " " + String(repeating: "-", count: widths.reduce(0, +)) + "\n"
    }

    func summaryLine(_ group: Group, widths: [Int]) -> String {
        summaryRow([
            group.interface.description, "\(group.vrid)", "\(group.v4.config.priority)", "\(group.v4.config.addresses.count)",
            "\(group.v6.config.addresses.count)", status(group.v4), status(group.v6),
        ], widths: widths)
    }

    // MARK: JSON (FRR's keys, plus extras)

    struct JSONStats: Encodable {
        var adverTx: UInt64
        var adverRx: UInt64
        var garpTx: UInt64?
        var neighborAdvertTx: UInt64?
        var transitions: UInt64
        var priorityZeroTx: UInt64
        var priorityZeroRx: UInt64
        var discards: [String: UInt64]
    }

    struct JSONTransition: Encodable {
        var from: String
        var to: String
        var reason: String
        var secondsAgo: Double
        var unixTime: Double?
        /// Backup -> Master: how long the Master had been silent before.
        var masterSilentFor: Double?
    }

    struct JSONFamily: Encodable {
        var interface: String
        var vmac: String
        var primaryAddress: String
        var status: String
        var statusReason: String?
        var effectivePriority: Int
        var masterAdverInterval: Int
        var skewTime: Int
        var masterDownInterval: Int
        var masterAddress: String?
        var lastTransition: JSONTransition?
        var vmacInstalled: Bool
        var stats: JSONStats
        var addresses: [String]
    }

    struct JSONGroup: Encodable {
        var vrid: Int
        var version: Int
        var autoconfigured: Bool
        var shutdown: Bool
        var preemptMode: Bool
        var preemptDelay: Int
        var acceptMode: Bool
        var checksumWithIpv4Pseudoheader: Bool
        var interface: String
        var description: String?
        var advertisementInterval: Int
        var priority: Int
        var tracks: [String: Int]
        var v4: JSONFamily
        var v6: JSONFamily
    }

    func family(_ spec: VRRPSpec) -> JSONFamily {
        let effective = effectiveRouter(spec)
        let stats = router(spec)?.statistics ?? RouterStatistics()
        var transition: JSONTransition?
        if let last = router(spec)?.lastTransition, last.at <= snapshot.now {
            transition = JSONTransition(
                from: last.from.description, to: last.to.description, reason: last.reason, secondsAgo: (snapshot.now - last.at).inSeconds,
                unixTime: snapshot.transitionTimes[spec.key], masterSilentFor: snapshot.transitionSilence[spec.key])
        }
        var discards: [String: UInt64] = [:]
        for (reason, count) in stats.discards { discards[reason.key] = count }
        return JSONFamily(
            interface: spec.key.interface.description, vmac: effective.virtualMAC.description, primaryAddress: primary(spec), status: status(spec),
            statusReason: statusReason(spec), effectivePriority: Int(effective.effectivePriority),
            masterAdverInterval: effective.masterAdverInterval * 10, skewTime: ms(effective.skewTime),
            masterDownInterval: ms(effective.masterDownInterval), masterAddress: router(spec)?.masterAddress?.description,
            lastTransition: transition,
            vmacInstalled: snapshot.installedMACs.contains(VRRPService.VirtualMAC(mac: effective.virtualMAC, vlan: spec.vlan)),
            stats: JSONStats(
                adverTx: stats.advertisementsSent, adverRx: stats.advertisementsReceived,
                garpTx: spec.key.ipv6 ? nil : stats.announcementsSent, neighborAdvertTx: spec.key.ipv6 ? stats.announcementsSent : nil,
                transitions: stats.transitions, priorityZeroTx: stats.priorityZeroSent, priorityZeroRx: stats.priorityZeroReceived,
                discards: discards),
            addresses: addresses(spec))
    }

    /// The JSON array, one group at a time as the client reads (each element encoded on its own).
    func streamJSON(_ groups: [Group], into ctx: CommandContext) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard !groups.isEmpty else {
            ctx.write("[\n\n]\n")
            return
        }
        ctx.write("[\n")
        let last = groups.count - 1
        var index = 0
        ctx.streamItems(groups, chunk: 50, footer: "]\n") { group in
            defer { index += 1 }
            let data = (try? encoder.encode(jsonGroup(group))) ?? Data("{}".utf8)
            let text = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
                .joined(separator: "\n")
            return text + (index == last ? "\n" : ",\n")
        }
    }

    private func jsonGroup(_ group: Group) -> JSONGroup {
        JSONGroup(
            vrid: Int(group.vrid.rawValue), version: group.v4.config.version, autoconfigured: false, shutdown: group.v4.shutdown,
            preemptMode: group.v4.config.preempt, preemptDelay: group.v4.preemptDelaySeconds ?? 0, acceptMode: group.v4.config.acceptMode,
            checksumWithIpv4Pseudoheader: group.v4.config.checksumWithPseudoHeader, interface: group.interface.description,
            description: group.v4.description, advertisementInterval: group.v4.config.advertisementInterval * 10,
            priority: Int(group.v4.config.priority),
            tracks: Dictionary(uniqueKeysWithValues: group.v4.tracks.map { (InterfaceID.port($0.key).description, $0.value) }),
            v4: family(group.v4), v6: family(group.v6))
    }
}
