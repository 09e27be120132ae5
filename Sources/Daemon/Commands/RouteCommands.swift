import CLI
import Channel
import NetTypes
import Time

/// Static routes and the routing table the real-frame path uses (connected SVI subnets plus
/// `ip route`), and the neighbour (ARP) table it fills.
enum RouteCommands {
    static let routeHelp = "Establish static routes"

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "ip route A.B.C.D/M$prefix A.B.C.D$nexthop", help: [Help.ip, routeHelp, "Destination prefix (0.0.0.0/0: default)", "Next hop address"],
                modes: [Modes.config], no: .custom("ip route A.B.C.D/M$prefix [A.B.C.D$nexthop]", help: [Help.ip, routeHelp, "Destination prefix", "Next hop address"]),
                show: { config, _ in
                    config.staticRoutes.keys.sorted { ($0.address, $0.length) < ($1.address, $1.length) }.map {
                        Arguments().with(\.prefix, $0).with(\.nexthop, config.staticRoutes[$0]!)
                    }
                }
            ) { ctx, args in
                let prefix = try args.value(\.prefix)
                guard prefix.address == prefix.network else {
                    return ctx.refuse("Inconsistent address and mask: \(prefix) has host bits set (the network is \(prefix.network)/\(prefix.length))")
                }
                if args.negated {
                    guard let hop = ctx.config.staticRoutes[prefix] else { return ctx.refuse("no static route to \(prefix)") }
                    if let asked = args[\.nexthop], asked != hop { return ctx.refuse("the route to \(prefix) is via \(hop), not \(asked)") }
                    return ctx.commit { $0.setRoute(prefix, nextHop: nil); return nil }
                }
                let hop = try args.value(\.nexthop)
                guard hop.value != 0, hop.value >> 28 != 0xe, hop.value != UInt32.max else { return ctx.refuse("\(hop) cannot be a next hop") }
                let index = ctx.config.index
                if index.isOwnAddress(hop) { return ctx.refuse("\(hop) is this switch's own address") }
                var warnings: [String] = []
                if !index.isConnected(hop) { warnings.append("\(hop) is on no connected subnet yet: the route is unused until it is") }
                return NATCommands.warn(ctx, warnings, ctx.commit { $0.setRoute(prefix, nextHop: hop); return nil })
            },
            CommandDeclaration(
                "show ip route", help: [Help.show, Help.ip, "The IP routing table (connected and static)"], modes: Modes.exec
            ) { ctx, _ in
                // Tens of thousands of routes stream as the client reads.
                let (header, rows) = table(ctx.config, portCount: ctx.portCount)
                ctx.write(header)
                ctx.streamItems(rows, chunk: 1000) { $0.line + "\n" }
                return .done(.success)
            },
            CommandDeclaration(
                "clear ip arp", help: ["Reset functions", Help.ip, "Forget every neighbour of the routing path"], modes: [Modes.enable]
            ) { ctx, _ in
                ctx.after(ctx.plane.l3.clearNeighbors(), waitingFor: { "the L3 thread" }) { count in
                    ctx.print("\(count) neighbour(s) cleared")
                    return .success
                }
            },
            CommandDeclaration(
                "show ip arp", help: [Help.show, Help.ip, "The neighbour table of the routing path"], modes: Modes.exec
            ) { ctx, _ in showARP(ctx) },
            // IOS's other name for it (NAPALM's get_arp_table asks `show arp`).
            CommandDeclaration(
                "show arp", help: [Help.show, "The neighbour table of the routing path (= show ip arp)"], modes: Modes.exec
            ) { ctx, _ in showARP(ctx) },
            CommandDeclaration(
                "show ip arp summary", help: [Help.show, Help.ip, "The neighbour table of the routing path", "Its size, limit and refusals"],
                modes: Modes.exec
            ) { ctx, _ in
                ctx.after(ctx.plane.l3.snapshot(), waitingFor: { "the L3 thread" }) { snapshot in
                    let c = snapshot.neighborCounters
                    ctx.print("\(snapshot.neighbors) IP ARP entries, with \(snapshot.incomplete) of them incomplete")
                    ctx.print("Limit \(snapshot.neighborCapacity) entries; new entries refused (table full) \(c.refusedFull), "
                        + "evicted for a reply the router asked for \(c.evicted)")
                    ctx.print("Changes of address refused within the lock time (\(NeighborTable.lockTime.inMilliseconds) ms) \(c.changesLocked); "
                        + "unsolicited ARP not learned \(c.notLearned)")
                    return .success
                }
            },
        ]
    }

    /// `show ip arp` / `show arp`: the SVIs' own addresses, then the neighbours, in IOS's layout
    /// (ntc-templates and NAPALM parse it).
    static func showARP(_ ctx: CommandContext) -> CommandOutcome {
        ctx.after(ctx.plane.l3.snapshot(), waitingFor: { "the L3 thread" }) { snapshot in
            // IOS's layout (ntc-templates parse it): the neighbours the router learnt.
            ctx.print("Protocol  Address          Age (min)  Hardware Addr   Type   Interface")
            // The SVIs' own addresses first (age "-", the router MAC), as IOS lists them.
            let router = ctx.plane.hal.hal.baseMAC.dottedDescription
            for name in ctx.config.sortedInterfaces where name.vlan != nil {
                for prefix in ctx.config.interfaces[name]?.addresses ?? [] {
                    ctx.print("Internet  " + pad("\(prefix.address)", 16) + " " + pad("-", 9, left: true) + "   " + pad(router, 15) + " ARPA   \(name)")
                }
            }
            ctx.streamItems(snapshot.neighborList) { entry in
                "Internet  " + pad("\(entry.address)", 16) + " " + pad(String(entry.ageMinutes), 9, left: true) + "   "
                    + pad(entry.mac.dottedDescription, 15) + " ARPA   \(InterfaceID.svi(entry.vlan))\n"
            }
            return .success
        }
    }

    /// One route of `show ip route`, its text made only when it is printed.
    struct Row {
        var prefix: IPv4Prefix
        var interface: InterfaceID?
        var hop: IPv4Address?

        var line: String {
            if let interface { return "C     \(prefix.network)/\(prefix.length) is directly connected, \(interface)" }
            return "S\(prefix.length == 0 ? "*" : " ")    \(prefix) [1/0] via \(hop!)"
        }
    }

    /// The header and the routes, sorted (connected from the SVIs that are up, then static).
    static func table(_ config: RunningConfig, portCount: Int) -> (header: String, rows: [Row]) {
        var rows: [Row] = []
        for (name, prefixes) in config.index.environment.subnets {
            for prefix in prefixes { rows.append(Row(prefix: IPv4Prefix(address: prefix.network, length: prefix.length), interface: name)) }
        }
        for (prefix, hop) in config.staticRoutes { rows.append(Row(prefix: prefix, hop: hop)) }
        rows.sort { ($0.prefix.address, $0.prefix.length) < ($1.prefix.address, $1.prefix.length) }
        var header = "Codes: C - connected, S - static, * - candidate default\n\n"
        if let hop = config.staticRoutes[IPv4Prefix(address: IPv4Address(0), length: 0)] {
            header += "Gateway of last resort is \(hop) to network 0.0.0.0\n\n"
        } else {
            header += "Gateway of last resort is not set\n\n"
        }
        return (header, rows)
    }
}
