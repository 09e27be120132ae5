import CLI
import Channel
import NIOCore
import VRRP

/// `show vrrp ...`, `clear vrrp statistics`, `debug vrrp ...`: they ask the VRRP thread for a
/// snapshot (or a change) and answer when it replies; a VRRP thread that does not reply within the
/// command's deadline times the command out like a stuck HAL call would.
enum VRRPShowCommands {
    static let vrrpHelp = "Virtual Router Redundancy Protocol"

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "show vrrp [interface IFNAME$ifname] [(1-255)$vrid] [<json|summary|brief|all>$format]",
                help: [Help.show, vrrpHelp, "Only the groups of one interface", "Interface name (vlanN)", "Only this VRID",
                       "Output JSON (FRR's keys)", "One line per group", "One line per group and address family, as IOS prints it",
                       "Every group in detail, as IOS prints it"],
                modes: Modes.exec
            ) { ctx, args in
                let named = ctx.interfaceIfNamed(args, \.ifname)
                let interface = try? named?.get()
                // A word that names no interface of this switch (`lo`, `eth99`) matches no group.
                let unknown = named.map { if case .failure = $0 { true } else { false } } ?? false
                let vrid = args[\.vrid]
                let format = args[\.format]
                // Thousands of groups stream as the client reads, a few hundred at a time.
                let snapshot = ctx.plane.vrrp.snapshot(interface: interface, vrid: vrid)
                return ctx.after(snapshot, waitingFor: { "the VRRP thread" }) { snapshot in
                    let show = VRRPShow(snapshot: snapshot)
                    let groups = unknown ? [] : show.groups(interface: interface, vrid: vrid)
                    switch format {
                    case .json:
                        show.streamJSON(groups, into: ctx)
                    case .summary:
                        show.streamSummary(groups, into: ctx)
                    case .brief:
                        show.streamBrief(groups, into: ctx)
                    case .all:
                        show.streamIOSDetail(groups, into: ctx)
                    default:
                        if groups.isEmpty, named != nil || vrid != nil {
                            ctx.print(FailureText.refused("No VRRP group matches"))
                            return .error
                        }
                        var first = true
                        ctx.streamItems(groups, chunk: 100) { group in
                            defer { first = false }
                            return (first ? "" : "\n") + show.detail(group)
                        }
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show vrrp statistics", help: [Help.show, vrrpHelp, "Counters: packets, discards by reason, the HAL side"],
                modes: Modes.exec
            ) { ctx, _ in
                let both = ctx.plane.vrrp.snapshot().and(ctx.plane.l3.snapshot().hop(to: ctx.plane.vrrp.loop))
                let ignored = ctx.plane.cpuPath.ignored.load(ordering: .relaxed)
                return ctx.after(both, waitingFor: { "the VRRP and L3 threads" }) { snapshot, routed in
                    ctx.write(statistics(snapshot, answered: routed.answered, answerOverflow: routed.answerOverflow, ignored: ignored))
                    return .success
                }
            },
            CommandDeclaration(
                "clear vrrp statistics", help: ["Reset functions", vrrpHelp, "Every VRRP counter"], modes: [Modes.enable]
            ) { ctx, _ in
                // The answers to ARP/ping/ND and the frames nobody wanted are VRRP's figures too.
                ctx.plane.cpuPath.ignored.store(0, ordering: .relaxed)
                let both = ctx.plane.vrrp.clearStatistics().and(ctx.plane.l3.clearAnswerCounters().hop(to: ctx.plane.vrrp.loop))
                return ctx.after(both, waitingFor: { "the VRRP and L3 threads" }) { _ in .success }
            },
            CommandDeclaration(
                "debug vrrp [<events|packets>$what]",
                help: [Help.debug, vrrpHelp, "State changes, configuration and tracking", "Every advertisement sent and received"],
                modes: [Modes.enable], no: .sameArguments
            ) { ctx, args in
                let on = !args.negated
                switch args[\.what] {
                case .events: ctx.plane.vrrp.setDebug(events: on, packets: nil)
                case .packets: ctx.plane.vrrp.setDebug(events: nil, packets: on)
                case nil: ctx.plane.vrrp.setDebug(events: on, packets: on)
                }
                return .done(.success)
            },
        ]
    }

    static func withSnapshot(_ ctx: CommandContext, _ body: @escaping (VRRPService.Snapshot) -> Status) -> CommandOutcome {
        ctx.after(ctx.plane.vrrp.snapshot(), waitingFor: { "the VRRP thread" }, then: body)
    }

    static func statistics(_ snapshot: VRRPService.Snapshot, answered a: L3Service.AnswerCounters, answerOverflow: UInt64, ignored: UInt64) -> String {
        var out = "VRRP statistics since \(VRRPShow.duration(max(0, snapshot.wallClock - snapshot.statisticsSince))) ago\n"
        let c = snapshot.counters
        out += " Packets to the CPU for the router\n"
        out += "   VRRP received                 \(c.vrrpReceived)\n"
        out += "   malformed IP                  \(c.vrrpMalformed)\n"
        out += "   ARP requests / replies sent   \(a.arpRequests) / \(a.arpReplies)\n"
        out += "   NS received / NA sent         \(a.neighborSolicitations) / \(a.neighborAdvertisements)\n"
        out += "   echo replies sent             \(a.echoReplies)\n"
        out += "   gratuitous ARPs / unsol. NAs  \(c.gratuitousARPs) / \(c.unsolicitedNAs)\n"
        out += "   not for the router            \(ignored)\n"
        out += "   dropped, VRRP thread behind   \(snapshot.framesOverflowed)\n"
        out += "   dropped, L3 thread behind     \(answerOverflow)\n"
        // By name as text (`vlan10` before `vlan9`), as this line has always listed them.
        let unknown = snapshot.unknownVRID.keys.sortedByName().map { "\($0) \(snapshot.unknownVRID[$0]!)" }
        out += "   unknown VRID                  \(unknown.isEmpty ? "0" : unknown.joined(separator: ", "))\n"
        out += " Virtual MAC (HAL)\n"
        out += "   installs / removals / failed  \(snapshot.macCalls.installs) / \(snapshot.macCalls.removals) / \(snapshot.macCalls.failures)\n"
        out += "   slowest call                  \(fixed(snapshot.macCalls.slowest, 3)) s\n"
        if let problem = snapshot.macProblem { out += "   problem                       \(problem)\n" }
        out += "\n"
        let header = ["Router", "State", "Adv Rx", "Adv Tx", "P0 Rx", "P0 Tx", "Master", "Released", "Discards"]
        var rows = [header]
        for key in snapshot.specs.keys.sorted() {
            let name = "\(key.interface) \(key.vrid) v\(key.ipv6 ? 6 : 4)"
            guard let router = snapshot.routers[key] else {
                rows.append([name, "Initialize", "-", "-", "-", "-", "-", "-", "-"])
                continue
            }
            let s = router.statistics
            rows.append([
                name, router.state.description, "\(s.advertisementsReceived)", "\(s.advertisementsSent)", "\(s.priorityZeroReceived)",
                "\(s.priorityZeroSent)", "\(s.becameMaster)", "\(s.releasedMaster)", "\(s.totalDiscards)",
            ])
        }
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max()! + 2 }
        for row in rows {
            out += " " + row.enumerated().map { $0.element + String(repeating: " ", count: widths[$0.offset] - $0.element.count) }.joined() + "\n"
        }
        var reasons: [String] = []
        for key in snapshot.specs.keys.sorted() {
            guard let router = snapshot.routers[key], router.statistics.totalDiscards > 0 else { continue }
            let parts = DiscardReason.allCases.compactMap { reason in router.statistics.discards[reason].map { "\(reason) \($0)" } }
            reasons.append("   \(key): " + parts.joined(separator: ", "))
        }
        if !reasons.isEmpty { out += "\n Discards by reason\n" + reasons.joined(separator: "\n") + "\n" }
        return out
    }
}
