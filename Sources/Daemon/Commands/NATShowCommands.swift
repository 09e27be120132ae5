import CLI
import Channel
import NAT
import NIOCore
import NetTypes
import SwitchHAL
import Time

/// `show ip nat ...`, `clear ip nat ...`, `show access-lists`, `debug ip nat`, and the test
/// commands that send traffic through the NAT and trace a packet. They ask the NAT thread and
/// answer when it replies; what needs the HAL waits for it under the HAL's deadlines.
enum NATShowCommands {
    static let natHelp = "IP NAT information"

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "show ip nat translations [<icmp|tcp|udp>$proto] [verbose]",
                help: [Help.show, Help.ip, natHelp, "Translation entries", "Only ICMP", "Only TCP", "Only UDP", "Show more details"],
                modes: Modes.exec
            ) { ctx, args in
                let proto = args[\.proto]
                let verbose = args[\.verbose]
                return withSnapshot(ctx, sorted: true) { snapshot in
                    var list = snapshot.sortedTranslations
                    if let proto { list = list.filter { $0.isExtended && $0.proto == proto } }
                    streamTranslations(ctx, list, snapshot: snapshot, verbose: verbose)
                    return .success
                }
            },
            CommandDeclaration(
                "show ip nat statistics", help: [Help.show, Help.ip, natHelp, "Translation statistics"], modes: Modes.exec
            ) { ctx, _ in
                let both = ctx.plane.nat.snapshot().and(ctx.plane.l3.snapshot())
                return ctx.after(both, waitingFor: { "the NAT thread" }) { snapshot, routed in
                    ctx.write(statistics(snapshot, routed))
                    return .success
                }
            },
            CommandDeclaration(
                "show access-lists [(1-99)$acl]", help: [Help.show, "List access lists", "Only this list"], modes: Modes.exec
            ) { ctx, args in
                accessLists(ctx, only: args[\.acl], usedBy: true)
            },
            // IOS's own form: the same lists, without the note of what uses each (which
            // tools that parse it would not expect).
            CommandDeclaration(
                "show ip access-lists [(1-99)$acl]", help: [Help.show, Help.ip, "List IP access lists", "Only this list"], modes: Modes.exec
            ) { ctx, args in
                accessLists(ctx, only: args[\.acl], usedBy: false)
            },
            CommandDeclaration(
                "clear ip nat translation *", help: ["Reset functions", Help.ip, "Clear NAT", "Clear dynamic translations", "Every dynamic translation"],
                modes: [Modes.enable]
            ) { ctx, _ in
                clear(ctx) { _ in true }
            },
            CommandDeclaration(
                "clear ip nat translation inside A.B.C.D$ig A.B.C.D$il [outside A.B.C.D$ol A.B.C.D$og]",
                help: ["Reset functions", Help.ip, "Clear NAT", "Clear dynamic translations", "Inside addresses (and ports)",
                       "Inside global IP address", "Inside local IP address", "Outside addresses (and ports)",
                       "Outside local IP address", "Outside global IP address"],
                modes: [Modes.enable]
            ) { ctx, args in
                let ig = try args.value(\.ig), il = try args.value(\.il)
                let ol = args[\.ol], og = args[\.og]
                return clear(ctx, mustMatch: true) { t in
                    !t.isExtended && t.insideGlobal?.address == ig && t.insideLocal?.address == il
                        && (ol == nil || (t.outsideLocal?.address == ol && t.outsideGlobal?.address == og))
                }
            },
            CommandDeclaration(
                "clear ip nat translation <icmp|tcp|udp>$proto inside A.B.C.D$ig (1-65535)$igp A.B.C.D$il (1-65535)$ilp [outside A.B.C.D$ol (1-65535)$olp A.B.C.D$og (1-65535)$ogp]",
                help: ["Reset functions", Help.ip, "Clear NAT", "Clear dynamic translations", "ICMP", "TCP", "UDP",
                       "Inside addresses and ports", "Inside global IP address", "Inside global port", "Inside local IP address",
                       "Inside local port", "Outside addresses and ports", "Outside local IP address", "Outside local port",
                       "Outside global IP address", "Outside global port"],
                modes: [Modes.enable]
            ) { ctx, args in
                let proto = try args.value(\.proto)
                let ig = Endpoint(try args.value(\.ig), UInt16(try args.value(\.igp)))
                let il = Endpoint(try args.value(\.il), UInt16(try args.value(\.ilp)))
                let ol = try args[\.ol].map { Endpoint($0, UInt16(try args.value(\.olp))) }
                let og = try args[\.og].map { Endpoint($0, UInt16(try args.value(\.ogp))) }
                return clear(ctx, mustMatch: true) { t in
                    t.isExtended && t.proto == proto && t.insideGlobal == ig && t.insideLocal == il
                        && (ol == nil || (t.outsideLocal == ol && t.outsideGlobal == og))
                }
            },
            CommandDeclaration(
                "clear ip nat statistics", help: ["Reset functions", Help.ip, "Clear NAT", "Hits, misses, drops and expiries"],
                modes: [Modes.enable]
            ) { ctx, _ in
                let both = ctx.plane.nat.clearStatistics().and(ctx.plane.l3.clearRoutingCounters())
                return ctx.after(both, waitingFor: { "the NAT thread" }) { _ in .success }
            },
            CommandDeclaration(
                "debug ip nat", help: [Help.debug, Help.ip, "NAT: translations made, expired, programmed"],
                modes: [Modes.enable], no: .sameArguments
            ) { ctx, args in
                ctx.plane.nat.setDebug(!args.negated)
                ctx.print("IP NAT debugging is \(args.negated ? "off" : "on")")
                return .done(.success)
            },
            CommandDeclaration(
                "test nat flow <icmp|tcp|udp>$proto A.B.C.D$src (0-65535)$sport A.B.C.D$dst (0-65535)$dport [from <inside|outside>$side] [flags <syn|fin|rst>$flag] [count (1-1000000)$count] [sessions (1-200000)$sessions]",
                help: [Help.test, "Network address translation", "Send packets through the NAT (the HAL's data path)", "ICMP (ports are the query id)",
                       "TCP", "UDP", "Source address", "Source port", "Destination address", "Destination port", "Ingress side",
                       "From an inside interface (default)", "From an outside interface", "TCP flags of the first packet", "SYN (opens a connection)",
                       "FIN (closes it)", "RST (resets it)", "Packets per flow", "Packets", "Flows (the port of the starting side counts up)", "Flows"],
                modes: [Modes.enable]
            ) { ctx, args in
                guard let packet = try flowPacket(ctx, args) else { return .done(.error) }
                let request = NATService.FlowRequest(
                    packet: packet, side: args[\.side] ?? .inside, count: args[\.count] ?? 1,
                    sessions: args[\.sessions] ?? 1)
                guard request.count * request.sessions <= 2_000_000 else {
                    return ctx.refuse("at most 2,000,000 packets per command (count x sessions)")
                }
                let hal = ctx.plane.hal
                return ctx.after(ctx.plane.nat.runFlows(request), waitingFor: { "the NAT thread; " + hal.activity }) { report in
                    printFlowReport(ctx, report)
                    return report.drops.isEmpty ? .success : .warning
                }
            },
            CommandDeclaration(
                "test nat translate <icmp|tcp|udp>$proto A.B.C.D$src [(0-65535)$sport] A.B.C.D$dst [(0-65535)$dport] [from <inside|outside>$side] [commit]",
                help: [Help.test, "Network address translation", "Trace one packet through the NAT, step by step", "ICMP", "TCP", "UDP",
                       "Source address", "Source port (or ICMP id)", "Destination address", "Destination port", "Ingress side",
                       "From an inside interface (default)", "From an outside interface", "Create the translation (default: change nothing)"],
                modes: [Modes.enable]
            ) { ctx, args in
                guard let packet = try flowPacket(ctx, args) else { return .done(.error) }
                let side = args[\.side] ?? .inside
                let hal = ctx.plane.hal
                return ctx.after(ctx.plane.nat.trace(packet, from: side, commit: args[\.commit]), waitingFor: { "the NAT thread; " + hal.activity }) { decision in
                    for (index, step) in decision.steps.enumerated() { ctx.print("\(pad(String(index + 1), 2, left: true)). \(step)") }
                    if case .dropped = decision.outcome { return .warning }
                    return .success
                }
            },
        ]
    }

    static func flowPacket(_ ctx: CommandContext, _ args: Arguments) throws -> FlowPacket? {
        let proto = try args.value(\.proto)
        var sport = UInt16(args[\.sport] ?? 0)
        let dport = UInt16(args[\.dport] ?? 0)
        if proto != .icmp && args[\.sport] != nil && (sport == 0 || dport == 0) {
            ctx.print(FailureText.refused("\(proto) ports are 1-65535"))
            return nil
        }
        if proto != .icmp && (args[\.sport] == nil || args[\.dport] == nil) {
            ctx.print(FailureText.refused("\(proto) needs a source and a destination port"))
            return nil
        }
        // ICMP: the query id goes in both fields (given as the starting side's "port").
        if proto == .icmp {
            let id = args[\.side] == .outside ? dport : sport
            sport = id == 0 ? 1 : id
        }
        var flags: TCPFlags = proto == .tcp ? [.ack] : []
        switch args[\.flag] {
        case .syn: flags = [.syn]
        case .fin: flags = [.fin, .ack]
        case .rst: flags = [.rst]
        case nil: break
        }
        if args[\.flag] != nil && proto != .tcp {
            ctx.print(FailureText.refused("flags are TCP's"))
            return nil
        }
        return FlowPacket(
            proto: proto, source: Endpoint(try args.value(\.src), sport),
            destination: Endpoint(try args.value(\.dst), proto == .icmp ? sport : dport), flags: flags)
    }

    static func printFlowReport(_ ctx: CommandContext, _ report: NATService.FlowReport) {
        if let first = report.first {
            switch first.outcome {
            case .translated: ctx.print("\(first.before)  =>  \(first.after.map(\.description) ?? "?")")
            case .untranslated: ctx.print("\(first.before)  =>  forwarded untranslated")
            case .dropped(let reason): ctx.print("\(first.before)  =>  dropped (\(reason.rawValue))")
            }
        }
        ctx.print("\(report.sessions) flow(s), \(report.packets) packet(s): \(report.hardware) translated by the HAL, "
            + "\(report.punted) to the CPU, \(report.created) translation(s) created, \(report.untranslated) untranslated")
        for reason in DropReason.allCases {
            if let n = report.drops[reason], n > 0 { ctx.print("% \(n) flow(s) dropped: \(reason.rawValue)") }
        }
        ctx.print("(\(fixed(report.seconds, 3)) s)")
    }

    /// The standard access lists (all, or `only`), as IOS prints them; `usedBy` adds what uses
    /// each. Tens of thousands of entries stream as the client reads, like every long output.
    static func accessLists(_ ctx: CommandContext, only: Int?, usedBy: Bool) -> CommandOutcome {
        let lists = ctx.config.nat.accessLists
        let numbers = only.map { [$0] } ?? lists.keys.sorted()
        if let only, lists[only] == nil { return ctx.refuse("access-list \(only) does not exist") }
        let rules = ctx.config.nat.rules
        // Each list in order once (an ordering is O(n log n): not per line printed).
        var ordered: [Int: [AccessListEntry]] = [:]
        for number in numbers { ordered[number] = lists[number]!.entries }
        let items = numbers.flatMap { number -> [(list: Int, index: Int)] in
            [(number, -1)] + ordered[number]!.indices.map { (number, $0) } + (usedBy ? [(number, Int.max)] : [])
        }
        ctx.streamItems(items) { item in
            switch item.index {
            case -1: return "Standard IP access list \(item.list)\n"
            case Int.max: return rules[item.list].map { "    (used by: \($0.line))\n" } ?? ""
            default:
                let entry = ordered[item.list]![item.index]
                let source: String
                switch entry.match {
                case .any: source = "any"
                case .host(let host): source = "\(host)"
                case .wildcard(let base, let wild): source = "\(base), wildcard bits \(wild)"
                }
                return "    \((item.index + 1) * 10) \(entry.action.rawValue) \(source)\n"
            }
        }
        return .done(.success)
    }

    static func clear(_ ctx: CommandContext, mustMatch: Bool = false, _ predicate: @escaping @Sendable (Translation) -> Bool) -> CommandOutcome {
        let hal = ctx.plane.hal
        return ctx.after(ctx.plane.nat.clear(predicate), waitingFor: { "the NAT thread; " + hal.activity }) { result in
            if mustMatch && result.count == 0 {
                ctx.print(FailureText.refused("Translation not found"))
                return .error
            }
            if let error = result.error {
                ctx.print(FailureText.failed("\(result.count) translation(s) cleared; the HAL did not confirm: \(error)"))
                return .warning
            }
            if !mustMatch { ctx.print("\(result.count) dynamic translation(s) cleared") }
            return .success
        }
    }

    static func withSnapshot(_ ctx: CommandContext, sorted: Bool = false, _ body: @escaping (NATService.Snapshot) -> Status) -> CommandOutcome {
        ctx.after(ctx.plane.nat.snapshot(sorted: sorted), waitingFor: { "the NAT thread" }, then: body)
    }

    // MARK: Rendering

    static func column(_ endpoint: Endpoint?, port: Bool) -> String {
        guard let endpoint else { return "---" }
        return port ? "\(endpoint.address):\(endpoint.port)" : "\(endpoint.address)"
    }

    /// IOS's layout, streamed 2,000 lines at a time.
    static func streamTranslations(_ ctx: CommandContext, _ list: [Translation], snapshot: NATService.Snapshot, verbose: Bool) {
        ctx.print("Pro  Inside global         Inside local          Outside local         Outside global")
        ctx.streamItems(list, footer: "Total number of translations: \(list.count)\n") { t in
            let ports = t.isExtended
            let pro = t.isExtended ? t.proto.description : "---"
            let line = pad(pro, 4) + " " + pad(column(t.insideGlobal, port: ports), 21) + " " + pad(column(t.insideLocal, port: ports), 21) + " "
                + pad(column(t.outsideLocal, port: ports), 21) + " " + column(t.outsideGlobal, port: ports) + "\n"
            return verbose ? line + details(t, snapshot) : line
        }
    }

    static func details(_ t: Translation, _ snapshot: NATService.Snapshot) -> String {
        let now = snapshot.now
        let created = clock(now.duration(since: t.created))
        let used = clock(now.duration(since: t.lastUsed))
        var line = "  create \(created), use \(used), "
        if let seconds = snapshot.engine.timeout(of: t), let left = snapshot.engine.remaining(t, now: now) {
            line += "timeout \(seconds) s, left \(clock(left)), "
        } else {
            line += "timeout never, "
        }
        var flags = [t.kind.rawValue]
        if t.proto == .tcp && t.isExtended && !t.isStatic { flags.append("tcp \(t.tcpState.rawValue)") }
        if let rule = t.rule { flags.append("list \(rule)") }
        if let pool = t.pool { flags.append("pool \(pool)") }
        line += "\n  flags: \(flags.joined(separator: ", ")), packets \(t.packets) (HAL \(t.hardwarePacketsIn)/\(t.hardwarePacketsOut) in/out, CPU \(t.softwarePackets)), entry-id \(t.id)\n"
        return line
    }

    static func clock(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        let h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(h)):\(two(m)):\(two(s))"
    }

    static func statistics(_ snapshot: NATService.Snapshot, _ routed: L3Service.Snapshot) -> String {
        let engine = snapshot.engine
        let all = engine.translations.values
        let statics = all.filter(\.isStatic).count
        let extended = all.filter(\.isExtended).count
        var out = "Total active translations: \(all.count) (\(statics) static, \(all.count - statics) dynamic; \(extended) extended)\n"
        out += "Peak translations: \(max(engine.counters.peak, all.count))\n"
        out += "Outside interfaces:\n"
        for name in engine.environment.interfaces(.outside) { out += "  \(name)\n" }
        out += "Inside interfaces:\n"
        for name in engine.environment.interfaces(.inside) { out += "  \(name)\n" }
        let c = engine.counters
        out += "Hits: \(c.hits)  Misses: \(c.misses)\n"
        out += "Expired translations: \(c.expired)\n"
        out += "Cleared translations: \(c.cleared)\n"
        out += "Untranslated packets: \(c.untranslated)\n"
        out += "Dropped: \(c.dropped)"
        let reasons = DropReason.allCases.compactMap { r in c.drops[r].map { "\(r.rawValue) \($0)" } }
        out += reasons.isEmpty ? "\n" : " (" + reasons.joined(separator: ", ") + ")\n"
        if let limit = engine.config.maxEntries { out += "Max entries: \(limit), dynamic in use: \(engine.dynamicCount)\n" }
        out += "Dynamic mappings:\n"
        if !engine.config.rules.isEmpty { out += "-- Inside Source\n" }
        for acl in engine.config.rules.keys.sorted() {
            let rule = engine.config.rules[acl]!
            let refcount = all.filter { $0.rule == acl }.count
            switch rule.target {
            case .pool(let name):
                out += "[Id: \(acl)] access-list \(acl) pool \(name)\(rule.overload ? " overload" : "") refcount \(refcount)\n"
                if let pool = engine.config.pools[name], let usage = engine.usage(ofPool: name) {
                    let percent = usage.total == 0 ? 0 : usage.allocated * 100 / usage.total
                    out += " pool \(name): netmask \(pool.netmask)\n"
                    out += "\tstart \(pool.start) end \(pool.end)\n"
                    out += "\ttype generic, total addresses \(usage.total), allocated \(usage.allocated) (\(percent)%), misses \(usage.misses)"
                    out += rule.overload ? ", ports in use \(usage.ports)\n" : "\n"
                }
            case .interface(let name):
                out += "[Id: \(acl)] access-list \(acl) interface \(name) overload refcount \(refcount)\n"
            }
        }
        let r = routed.routing
        out += "Routed frames: \(r.received) received, \(r.forwarded) forwarded (translated by the HAL \(r.translatedByHAL), "
            + "on the CPU \(r.translatedByCPU)); dropped: no route \(r.noRoute), TTL \(r.ttlExceeded), no ARP reply \(r.unresolved), "
            + "NAT \(r.natDropped), for the router \(r.forRouter), fragments \(r.fragments), untranslatable ICMP \(r.untranslatable), "
            + "malformed \(r.malformed), inbox full \(routed.routeOverflow), neighbour table full \(routed.neighborCounters.refusedFull); "
            + "\(routed.neighbors) neighbour(s); over the egress MTU: fragmented \(r.fragmented), "
            + "\"fragmentation needed\" sent \(r.fragmentationNeeded)\n"
        out += "HAL NAT table:"
        if let hal = snapshot.halFigures {
            out += " \(hal.entries) of \(hal.capacity) entries in use, \(hal.idleReserved) more slot(s) held for inactive static mappings "
                + "(\(hal.reserved) reserved for static mappings), lookups \(hal.lookups), hits \(hal.hits), misses \(hal.misses), full errors \(hal.fullErrors)\n"
        } else {
            out += " not read yet\n"
        }
        out += "HAL programming: \(snapshot.programCalls) call(s), \(snapshot.programFailures) failed, \(snapshot.queued) batch(es) pending"
        out += snapshot.outOfSync ? ", OUT OF SYNC (resynchronising every 2 s)\n" : ", in sync\n"
        if let problem = snapshot.problem { out += "Last HAL problem: \(problem)\n" }
        return out
    }
}
