import CLI
import Channel
import SwitchHAL

/// The MAC address table: static entries, aging, learn limits, show and clear.
enum MACTableCommands {
    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "mac address-table static MAC$mac vlan (1-4094)$vlan interface IFNAME$ifname",
                help: [Help.mac, Help.macTable, "Static address", "MAC address (aa:bb:cc:dd:ee:ff or aabb.ccdd.eeff)",
                       "VLAN", "VLAN ID", "Interface", "The port (ethN)"],
                modes: [Modes.config],
                no: .custom(
                    "mac address-table static MAC$mac vlan (1-4094)$vlan [interface IFNAME$ifname]",
                    help: [Help.mac, Help.macTable, "Static address", "MAC address", "VLAN", "VLAN ID", "Interface", "The port"]),
                show: { config, _ in
                    config.staticMACs.keys.sorted().map {
                        Arguments().with(\.mac, $0.mac).with(\.vlan, Int($0.vlan)).with(\.ifname, config.staticMACs[$0]!)
                    }
                }
            ) { ctx, args in
                let key = StaticMAC(mac: try args.value(\.mac), vlan: UInt16(try args.value(\.vlan)))
                if args.negated {
                    guard let existing = ctx.config.staticMACs[key] else {
                        return ctx.refuse("No static entry for \(key.mac.dottedDescription) in VLAN \(key.vlan)")
                    }
                    if let word = args.word(\.ifname), args[\.ifname] != existing {
                        return ctx.refuse("The static entry for \(key.mac.dottedDescription) in VLAN \(key.vlan) points to \(existing), not \(word)")
                    }
                    return ctx.commit { $0.setStaticMAC(key, interface: nil); return nil }
                }
                guard case .success(let name) = try ctx.interface(args, \.ifname), case .port = name else {
                    return ctx.refuse("Static MAC entries point to a port: eth1-eth\(ctx.portCount)")
                }
                guard !key.mac.isMulticast else { return ctx.refuse("\(key.mac.dottedDescription) is a multicast address") }
                guard key.vlan == 1 || ctx.config.vlans[key.vlan] != nil else {
                    return ctx.refuse("VLAN \(key.vlan) does not exist; create it with 'vlan \(key.vlan)'")
                }
                return ctx.commit { $0.setStaticMAC(key, interface: name); return nil }
            },
            CommandDeclaration(
                "mac address-table aging-time (0-1000000)$seconds",
                help: [Help.mac, Help.macTable, "Seconds before an idle dynamic entry is removed", "Seconds (0 disables aging)"],
                modes: [Modes.config], no: .optionalValues,
                show: { config, _ in
                    guard let seconds = config.macAgingTime else { return [] }
                    return [Arguments().with(\.seconds, seconds)]
                }
            ) { ctx, args in
                let seconds = args.negated ? nil : args[\.seconds]
                return ctx.commit { config in
                    config.setMACAgingTime(seconds == RunningConfig.defaultMACAgingTime ? nil : seconds)
                    return nil
                }
            },
            CommandDeclaration(
                "mac address-table limit maximum (1-1000000)$maximum [vlan (1-4094)$vlan|interface IFNAME$ifname]",
                help: [Help.mac, Help.macTable, "Limit the number of learned (dynamic) addresses", "Maximum",
                       "Number of addresses", "For one VLAN", "VLAN ID", "For one port", "The port (ethN)"],
                modes: [Modes.config],
                no: .custom(
                    "mac address-table limit [vlan (1-4094)$vlan|interface IFNAME$ifname]",
                    help: [Help.mac, Help.macTable, "Limit the number of learned addresses", "For one VLAN", "VLAN ID",
                           "For one port", "The port"]),
                show: { config, _ in
                    var lines: [Arguments] = []
                    if let system = config.learnLimitSystem { lines.append(Arguments().with(\.maximum, system)) }
                    for vlan in config.learnLimitPerVLAN.keys.sorted() {
                        lines.append(Arguments().with(\.maximum, config.learnLimitPerVLAN[vlan]!).with(\.vlan, Int(vlan)))
                    }
                    for name in config.learnLimitPerInterface.keys.sorted() {
                        lines.append(Arguments().with(\.maximum, config.learnLimitPerInterface[name]!).with(\.ifname, name))
                    }
                    return lines
                }
            ) { ctx, args in
                let limit = args.negated ? nil : args[\.maximum]
                if let named = ctx.interfaceIfNamed(args, \.ifname) {
                    guard case .success(let name) = named, case .port = name else {
                        return ctx.refuse("Learn limits apply to ports: eth1-eth\(ctx.portCount)")
                    }
                    return ctx.commit { $0.setLearnLimit(interface: name, limit); return nil }
                }
                if let vlan = args[\.vlan] {
                    return ctx.commit { $0.setLearnLimit(vlan: UInt16(vlan), limit); return nil }
                }
                return ctx.commit { $0.setLearnLimitSystem(limit); return nil }
            },
            CommandDeclaration(
                "show mac address-table [<dynamic|static>$type] [vlan (1-4094)$vlan] [interface IFNAME$ifname] [address MAC$mac]",
                help: [Help.show, Help.mac, Help.macTable, "Dynamic entries only", "Static entries only", "Entries of one VLAN", "VLAN ID",
                       "Entries of one port", "The port (ethN)", "One address", "MAC address"],
                modes: Modes.exec
            ) { ctx, args in
                let base = L2Filter(includeStatic: args[\.type] != .dynamic, includeDynamic: args[\.type] != .static)
                guard let capturedFilter = filter(base, args, ctx) else { return .done(.error) }
                return ctx.hal("l2-traverse", { hal, deadline in try hal.l2Traverse(capturedFilter, deadline: deadline) }) { entries in
                    streamTable(ctx, entries)
                    return .success
                }
            },
            CommandDeclaration(
                "show mac address-table count [vlan (1-4094)$vlan]",
                help: [Help.show, Help.mac, Help.macTable, "Number of entries", "Of one VLAN", "VLAN ID"], modes: Modes.exec
            ) { ctx, args in
                let vlan = args[\.vlan].map(UInt16.init)
                return ctx.hal("l2-count", { hal, deadline in try hal.l2Count(vlan: vlan, deadline: deadline) }) { count in
                    ctx.print(vlan.map { "Mac Entries for Vlan \($0):" } ?? "Mac Entries for all vlans:")
                    ctx.print("---------------------------")
                    ctx.print("Dynamic Address Count  : \(count.dynamic)")
                    ctx.print("Static  Address Count  : \(count.static)")
                    ctx.print("Total Mac Addresses    : \(count.total)")
                    ctx.print("")
                    ctx.print("Total Mac Address Space Available: \(count.available)")
                    return .success
                }
            },
            CommandDeclaration(
                "show mac address-table aging-time", help: [Help.show, Help.mac, Help.macTable, "Aging time"], modes: Modes.exec
            ) { ctx, _ in
                ctx.hal("l2-age-get", { hal, deadline in try hal.ageTime(deadline: deadline) }) { seconds in
                    ctx.print(seconds == 0 ? "Aging is off" : "Aging time: \(seconds) seconds (an idle entry goes within \(2 * seconds) seconds)")
                    return .success
                }
            },
            CommandDeclaration(
                "clear mac address-table dynamic [vlan (1-4094)$vlan|interface IFNAME$ifname|address MAC$mac]",
                help: ["Reset functions", Help.mac, Help.macTable, "Dynamic entries", "Of one VLAN", "VLAN ID", "Of one port", "The port (ethN)",
                       "One address", "MAC address"],
                modes: [Modes.enable]
            ) { ctx, args in
                guard let capturedFilter = filter(L2Filter(), args, ctx) else { return .done(.error) }
                let operation: StaticString =
                    capturedFilter.port != nil ? "delete-by-port" : (capturedFilter.vlan != nil ? "delete-by-vlan" : "delete-dynamic")
                return ctx.hal(String(describing: operation), { hal, deadline in
                    try hal.l2Flush(capturedFilter, operation: operation, deadline: deadline)
                }) { count in
                    ctx.print("\(count) dynamic entr\(count == 1 ? "y" : "ies") cleared")
                    return .success
                }
            },
        ]
    }

    /// `base` narrowed by the command's `vlan`, `address` and `interface` arguments; nil (and
    /// the error printed) for an interface that is not a port.
    static func filter(_ base: L2Filter, _ args: Arguments, _ ctx: CommandContext) -> L2Filter? {
        var filter = base
        filter.vlan = args[\.vlan].map(UInt16.init)
        filter.mac = args[\.mac]
        if let named = ctx.interfaceIfNamed(args, \.ifname) {
            guard case .success(.port(let port)) = named else {
                ctx.print(FailureText.refused("No such port \(args.word(\.ifname) ?? ""): eth1-eth\(ctx.portCount)"))
                return nil
            }
            filter.port = port
        }
        return filter
    }

    /// Cisco's MAC table layout, streamed 2,000 lines at a time.
    static func streamTable(_ ctx: CommandContext, _ entries: [L2Entry]) {
        let sorted = entries.sorted { ($0.vlan, $0.mac) < ($1.vlan, $1.mac) }
        ctx.print("          Mac Address Table")
        ctx.print("-------------------------------------------")
        ctx.print("")
        ctx.print("Vlan    Mac Address       Type        Ports")
        ctx.print("----    -----------       --------    -----")
        ctx.streamItems(sorted, footer: "\nTotal Mac Addresses for this criterion: \(sorted.count)\n") { entry in
            let type = entry.isStatic ? "STATIC" : "DYNAMIC"
            let port = entry.port == cpuPort ? "CPU" : "eth\(entry.port)"
            return "\(pad(String(entry.vlan), 4, left: true))    \(entry.mac.dottedDescription)    \(pad(type, 8))    \(port)\n"
        }
    }
}

extension Help {
    static let mac = "MAC configuration"
    static let macTable = "MAC forwarding table"
}
