import CLI
import Channel
import NetTypes

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
                        Arguments(["prefix": .ipv4Prefix($0), "nexthop": .ipv4(config.staticRoutes[$0]!)])
                    }
                }
            ) { ctx, args in
                let prefix = args.ipv4Prefix("prefix")!
                guard prefix.address == prefix.network else {
                    return ctx.fail("Inconsistent address and mask: \(prefix) has host bits set (the network is \(prefix.network)/\(prefix.length))")
                }
                if args.negated {
                    guard let hop = ctx.config.staticRoutes[prefix] else { return ctx.fail("no static route to \(prefix)") }
                    if let asked = args.ipv4("nexthop"), asked != hop { return ctx.fail("the route to \(prefix) is via \(hop), not \(asked)") }
                    return ctx.commit { $0.setRoute(prefix, nextHop: nil); return nil }
                }
                let hop = args.ipv4("nexthop")!
                guard hop.value != 0, hop.value >> 28 != 0xe, hop.value != UInt32.max else { return ctx.fail("\(hop) cannot be a next hop") }
                let index = ctx.config.index
                if index.isOwnAddress(hop) { return ctx.fail("\(hop) is this switch's own address") }
                var warnings: [String] = []
                if !index.isConnected(hop) { warnings.append("\(hop) is on no connected subnet yet: the route is unused until it is") }
                return NATCommands.warn(ctx, warnings, ctx.commit { $0.setRoute(prefix, nextHop: hop); return nil })
            },
            CommandDeclaration(
                "show ip route", help: [Help.show, Help.ip, "The IP routing table (connected and static)"], modes: Modes.exec
            ) { ctx, _ in
                ctx.write(table(ctx.config, portCount: ctx.portCount))
                return .done(.success)
            },
            CommandDeclaration(
                "clear ip arp", help: ["Reset functions", Help.ip, "Forget every neighbour of the routing path"], modes: [Modes.enable]
            ) { ctx, _ in
                ctx.after(ctx.plane.nat.clearNeighbors(), waitingFor: { "the NAT thread" }) { count in
                    ctx.print("\(count) neighbour(s) cleared")
                    return .success
                }
            },
            CommandDeclaration(
                "show ip arp", help: [Help.show, Help.ip, "The neighbour table of the routing path"], modes: Modes.exec
            ) { ctx, _ in
                NATShowCommands.withSnapshot(ctx) { snapshot in
                    ctx.print("Address          Hardware Addr    Interface")
                    for entry in snapshot.neighborList {
                        ctx.print(pad("\(entry.address)", 16) + " " + pad(entry.mac.dottedDescription, 16) + " vlan\(entry.vlan)")
                    }
                    return .success
                }
            },
        ]
    }

    static func table(_ config: RunningConfig, portCount: Int) -> String {
        var rows: [(IPv4Prefix, String)] = []
        for (name, interface) in config.interfaces where !interface.shutdown {
            guard case .svi = InterfaceKind.parse(name, portCount: portCount) else { continue }
            for prefix in interface.addresses {
                rows.append((IPv4Prefix(address: prefix.network, length: prefix.length), "C     \(prefix.network)/\(prefix.length) is directly connected, \(name)"))
            }
        }
        for (prefix, hop) in config.staticRoutes {
            rows.append((prefix, "S\(prefix.length == 0 ? "*" : " ")    \(prefix) [1/0] via \(hop)"))
        }
        rows.sort { ($0.0.address, $0.0.length) < ($1.0.address, $1.0.length) }
        var out = "Codes: C - connected, S - static, * - candidate default\n\n"
        if let hop = config.staticRoutes[IPv4Prefix(address: IPv4Address(0), length: 0)] {
            out += "Gateway of last resort is \(hop) to network 0.0.0.0\n\n"
        } else {
            out += "Gateway of last resort is not set\n\n"
        }
        return out + rows.map { $0.1 + "\n" }.joined()
    }
}
