import CLI
import Channel
import NAT
import NetTypes

/// NAT configuration, Cisco IOS style: interface roles, static NAT/PAT, outside static NAT,
/// standard access lists, pools, dynamic rules, timeouts and the translation limit. Every line
/// has a `no` form, prints canonically in `show running-config`, and is checked whole before
/// anything changes (a refused line changes nothing).
enum NATCommands {
    static let natHelp = "NAT configuration commands"
    static let sourceHelp = "Source address translation"
    static let staticHelp = "Static NAT mapping"
    static let redundancyHelp = "Active only while this switch is VRRP Master"

    static var declarations: [CommandDeclaration] {
        [roleCommand, poolCommand, ruleCommand, staticCommand, staticPATCommand, outsideStaticCommand,
         timeoutCommand, maxEntriesCommand, accessListCommand]
    }

    // MARK: Interface role

    static var roleCommand: CommandDeclaration {
        CommandDeclaration(
            "ip nat <inside|outside>$role", help: [Help.ip, natHelp, "Inside interface for NAT", "Outside interface for NAT"],
            modes: [Modes.configInterface], no: .sameArguments,
            show: { config, block in
                guard let name = block?.interface, let role = config.interfaces[name]?.natRole else { return [] }
                return [Arguments().with(\.role, role)]
            }
        ) { ctx, args in
            guard let name = ctx.session.interface, case .svi = name else {
                return ctx.refuse("NAT roles are set on SVIs (interface vlanN), where the switch routes")
            }
            let role = try args.value(\.role)
            if args.negated {
                guard ctx.config.interfaces[name]?.natRole == role else { return ctx.refuse("\(name) is not a NAT \(role) interface") }
                return ctx.commit { $0.editInterface(name) { $0.natRole = nil; return nil } }
            }
            return ctx.commit { $0.editInterface(name) { $0.natRole = role; return nil } }
        }
    }

    // MARK: Pools and dynamic rules

    static var poolCommand: CommandDeclaration {
        CommandDeclaration(
            "ip nat pool WORD$name A.B.C.D$start A.B.C.D$end <netmask A.B.C.D$netmask|prefix-length (1-32)$length>",
            help: [Help.ip, natHelp, "Define a pool of addresses", "Pool name", "Start IP address", "End IP address",
                   "Specify the network mask", "Network mask", "Specify the prefix length", "Prefix length"],
            modes: [Modes.config],
            no: .custom(
                "ip nat pool WORD$name [A.B.C.D$start A.B.C.D$end <netmask A.B.C.D$netmask|prefix-length (1-32)$length>]",
                help: [Help.ip, natHelp, "Define a pool of addresses", "Pool name", "Start IP address", "End IP address",
                       "Specify the network mask", "Network mask", "Specify the prefix length", "Prefix length"]),
            show: { config, _ in
                config.nat.pools.keys.sorted().map { name in
                    let pool = config.nat.pools[name]!
                    var args = Arguments().with(\.name, name).with(\.start, pool.start).with(\.end, pool.end)
                    if pool.typedAsNetmask {
                        args[\.netmask] = pool.netmask
                    } else {
                        args[\.length] = pool.prefixLength
                    }
                    return args
                }
            }
        ) { ctx, args in
            let name = try args.value(\.name)
            if args.negated {
                guard ctx.config.nat.pools[name] != nil else { return ctx.refuse("pool \(name) does not exist") }
                if let user = ctx.config.nat.rules(usingPool: name).first {
                    return ctx.refuse("pool \(name) is in use by \"\(user.line)\"; remove that first")
                }
                return ctx.commit { $0.setPool(name, nil); return nil }
            }
            let length: Int
            if let mask = args[\.netmask] {
                guard let n = NATPool.prefixLength(ofNetmask: mask), n > 0 else { return ctx.refuse("\(mask) is not a valid netmask") }
                length = n
            } else {
                length = try args.value(\.length)
            }
            let pool = NATPool(name: name, start: try args.value(\.start), end: try args.value(\.end), prefixLength: length,
                               typedAsNetmask: args[\.netmask] != nil)
            if let problem = pool.problem { return ctx.refuse(problem) }
            if let old = ctx.config.nat.pools[name], !old.sameRange(as: pool), let user = ctx.config.nat.rules(usingPool: name).first {
                return ctx.refuse("pool \(name) is in use by \"\(user.line)\"; remove that before redefining the pool")
            }
            var warnings: [String] = []
            let config = ctx.config
            let subnets = config.index.environment.interfaces(.outside).flatMap { config.interfaces[$0]?.addresses ?? [] }
            if !subnets.isEmpty, !subnets.contains(where: { $0.contains(pool.start) && $0.contains(pool.end) }) {
                warnings.append("pool \(name) is outside the subnets of the NAT outside interfaces (\(subnets.map(\.description).joined(separator: ", "))): the next hop must route it to this switch")
            }
            return warn(ctx, warnings, ctx.commit { $0.setPool(name, pool); return nil })
        }
    }

    static var ruleCommand: CommandDeclaration {
        CommandDeclaration(
            "ip nat inside source list (1-99)$acl <pool WORD$pool|interface IFNAME$ifname> [overload]",
            help: [Help.ip, natHelp, "Inside address translation", sourceHelp, "Specify access list describing local addresses",
                   "Standard access list number", "Name pool of global addresses", "Pool name",
                   "Specify interface for global address", "The outside SVI (vlanN)", "Overload an address translation (PAT)"],
            modes: [Modes.config],
            no: .custom(
                "ip nat inside source list (1-99)$acl [<pool WORD$pool|interface IFNAME$ifname> [overload]]",
                help: [Help.ip, natHelp, "Inside address translation", sourceHelp, "Specify access list describing local addresses",
                       "Standard access list number", "Name pool of global addresses", "Pool name",
                       "Specify interface for global address", "The outside SVI (vlanN)", "Overload an address translation (PAT)"]),
            show: { config, _ in
                config.nat.rules.keys.sorted().map { acl in
                    let rule = config.nat.rules[acl]!
                    var args = Arguments().with(\.acl, acl)
                    switch rule.target {
                    case .pool(let name):
                        args[\.pool] = name
                    case .interface(let name):
                        args[\.ifname] = name
                    }
                    args[\.overload] = rule.overload
                    return args
                }
            }
        ) { ctx, args in
            let acl = try args.value(\.acl)
            if args.negated {
                guard ctx.config.nat.rules[acl] != nil else { return ctx.refuse("no dynamic mapping uses access-list \(acl)") }
                return ctx.commit { $0.setRule(acl, nil); return nil }
            }
            let rule: DynamicRule
            var warnings: [String] = []
            if let pool = args[\.pool] {
                guard ctx.config.nat.pools[pool] != nil else { return ctx.refuse("pool \(pool) does not exist") }
                rule = DynamicRule(accessList: acl, target: .pool(pool), overload: args[\.overload])
            } else {
                guard case .success(let name) = try ctx.interface(args, \.ifname), case .svi = name else {
                    return ctx.refuse("translation to an interface address needs an SVI (vlanN), not \(args.word(\.ifname) ?? "")")
                }
                guard args[\.overload] else { return ctx.refuse("translation to an interface address shares it: add overload") }
                if ctx.config.interfaces[name]?.addresses.isEmpty != false {
                    warnings.append("\(name) has no IPv4 address yet: flows are dropped until it has one")
                }
                rule = DynamicRule(accessList: acl, target: .interface(name), overload: true)
            }
            if ctx.config.nat.accessLists[acl] == nil {
                warnings.append("access-list \(acl) is not defined yet: the rule matches nothing until it is")
            }
            return warn(ctx, warnings, ctx.commit { $0.setRule(acl, rule); return nil })
        }
    }

    // MARK: Static mappings

    static let redundancySyntax = "[redundancy vrrp (1-255)$vrid [interface IFNAME$rif]]"
    static let redundancyHelp4 = ["VRRP redundancy", "Follow a VRRP group", "Virtual Router ID", "The group's interface", "SVI (vlanN)"]

    static var staticCommand: CommandDeclaration {
        CommandDeclaration(
            "ip nat inside source static A.B.C.D$local A.B.C.D$global [extendable] " + redundancySyntax,
            help: [Help.ip, natHelp, "Inside address translation", sourceHelp, staticHelp, "Inside local IP address",
                   "Inside global IP address", "Extend this translation when used"] + redundancyHelp4,
            modes: [Modes.config], no: .sameArguments,
            show: { config, _ in
                config.nat.statics.filter { $0.direction == .inside && $0.proto == .any }.sorted { $0.local < $1.local }.map {
                    var args = Arguments().with(\.local, $0.local.address).with(\.global, $0.global.address)
                    addOptions(&args, $0)
                    return args
                }
            }
        ) { ctx, args in
            let mapping = StaticMapping(
                direction: .inside, local: Endpoint(try args.value(\.local)), global: Endpoint(try args.value(\.global)),
                extendable: args[\.extendable], redundancy: redundancy(args))
            return editStatic(ctx, mapping, args)
        }
    }

    static var staticPATCommand: CommandDeclaration {
        CommandDeclaration(
            "ip nat inside source static <tcp|udp>$proto A.B.C.D$local (1-65535)$lport A.B.C.D$global (1-65535)$gport [extendable] "
                + redundancySyntax,
            help: [Help.ip, natHelp, "Inside address translation", sourceHelp, staticHelp, "Transmission Control Protocol",
                   "User Datagram Protocol", "Inside local IP address", "Local UDP/TCP port", "Inside global IP address",
                   "Global UDP/TCP port", "Extend this translation when used"] + redundancyHelp4,
            modes: [Modes.config], no: .sameArguments,
            show: { config, _ in
                config.nat.statics.filter { $0.direction == .inside && $0.proto != .any }
                    .sorted { ($0.proto, $0.local) < ($1.proto, $1.local) }.map {
                        var args = Arguments().with(\.proto, $0.proto).with(\.local, $0.local.address).with(\.lport, Int($0.local.port)).with(\.global, $0.global.address).with(\.gport, Int($0.global.port))
                        addOptions(&args, $0)
                        return args
                    }
            }
        ) { ctx, args in
            let proto = try args.value(\.proto)
            let mapping = StaticMapping(
                direction: .inside, proto: proto, local: Endpoint(try args.value(\.local), UInt16(try args.value(\.lport))),
                global: Endpoint(try args.value(\.global), UInt16(try args.value(\.gport))), extendable: args[\.extendable],
                redundancy: redundancy(args))
            return editStatic(ctx, mapping, args)
        }
    }

    static var outsideStaticCommand: CommandDeclaration {
        CommandDeclaration(
            "ip nat outside source static A.B.C.D$oglobal A.B.C.D$olocal",
            help: [Help.ip, natHelp, "Outside address translation", sourceHelp, staticHelp, "Outside global IP address",
                   "Outside local IP address"],
            modes: [Modes.config], no: .sameArguments,
            show: { config, _ in
                config.nat.statics.filter { $0.direction == .outside }.sorted { $0.global < $1.global }.map {
                    Arguments().with(\.oglobal, $0.global.address).with(\.olocal, $0.local.address)
                }
            }
        ) { ctx, args in
            let mapping = StaticMapping(direction: .outside, local: Endpoint(try args.value(\.olocal)), global: Endpoint(try args.value(\.oglobal)))
            return editStatic(ctx, mapping, args)
        }
    }

    static func redundancy(_ args: Arguments) -> StaticMapping.Redundancy? {
        args[\.vrid].map { StaticMapping.Redundancy(vrid: $0, interface: args[\.rif]) }
    }

    static func addOptions(_ args: inout Arguments, _ mapping: StaticMapping) {
        args[\.extendable] = mapping.extendable
        if let redundancy = mapping.redundancy {
            args[\.vrid] = redundancy.vrid
            args[\.rif] = redundancy.interface
        }
    }

    /// Adds or (`no`) removes `mapping`, the line `args` bound. An interface word of `redundancy`
    /// that names no interface binds none: refused when adding, and quoted as typed when a `no`
    /// line finds no mapping (which it finds without the options).
    static func editStatic(_ ctx: CommandContext, _ mapping: StaticMapping, _ args: Arguments) -> CommandOutcome {
        let unboundInterface = mapping.redundancy?.interface == nil ? args.word(\.rif) : nil
        if args.negated {
            guard ctx.config.nat.statics[mapping.identity] != nil else {
                // The redundancy options end the line.
                return ctx.refuse("no such static mapping: \(mapping.line)" + (unboundInterface.map { " interface \($0)" } ?? ""))
            }
            return ctx.commit { $0.removeStatic(mapping.identity); return nil }
        }
        // What the HAL would refuse is refused here, with the line's own words: one bad mapping
        // never takes the whole NAT batch (and table) down with it.
        for (role, endpoint) in [(mapping.direction == .inside ? "local" : "outside local", mapping.local),
                                 (mapping.direction == .inside ? "global" : "outside global", mapping.global)] {
            if let problem = endpoint.address.hostAddressProblem { return ctx.refuse("Invalid \(role) address: \(problem)") }
        }
        if let conflict = ctx.config.nat.statics.conflict(for: mapping) { return ctx.refuse(conflict) }
        var warnings: [String] = []
        if let redundancy = mapping.redundancy {
            if let word = unboundInterface ?? redundancy.interface.flatMap({ $0.vlan == nil ? $0.description : nil }) {
                return ctx.refuse("a VRRP group lives on an SVI (vlanN), not \(word)")
            }
            if ctx.config.groupInterface(for: redundancy) == nil {
                // Why not (the holders are listed only then: there may be thousands).
                let holders = ctx.config.index.environment.holders(of: redundancy.vrid).map(\.description)
                let shown = holders.count > 8 ? holders.prefix(8).joined(separator: ", ") + " and \(holders.count - 8) more" : holders.joined(separator: ", ")
                if let interface = redundancy.interface {
                    warnings.append("\(interface) has no IPv4 VRRP group \(redundancy.vrid) yet: the mapping stays inactive until it has one and is Master")
                } else if holders.isEmpty {
                    warnings.append("no interface has an IPv4 VRRP group \(redundancy.vrid) yet: the mapping stays inactive until one does and is Master")
                } else {
                    warnings.append("VRRP group \(redundancy.vrid) is on \(shown), not one NAT outside interface: the mapping stays inactive; name the interface")
                }
            }
        }
        if mapping.direction == .inside {
            for pool in ctx.config.nat.pools.values where pool.contains(mapping.global.address) {
                warnings.append("\(mapping.global.address) is inside pool \(pool.name): dynamic translations will not use it while this mapping is active")
            }
        }
        return warn(ctx, warnings, ctx.commit { config in
            // Checked again: an edit queued before this one may have added a conflicting mapping.
            if let conflict = config.config.nat.statics.conflict(for: mapping) { return conflict }
            config.insertStatic(mapping)
            return nil
        })
    }

    // MARK: Timeouts and limits

    static var timeoutCommand: CommandDeclaration {
        let kinds = NATTimeouts.Kind.allCases.map(\.rawValue).joined(separator: "|")
        let kindHelp = ["Timeout for non-port dynamic translations (default 86400)", "Timeout for UDP ports (default 300)",
                        "Timeout for DNS (default 60)", "Timeout for TCP ports (default 86400)",
                        "Timeout after a TCP FIN or RST (default 60)", "Timeout for ICMP (default 60)",
                        "Timeout for a TCP connection opened by a SYN (default 60)"]
        return CommandDeclaration(
            "ip nat translation <\(kinds)>$kind <(1-2147483)$seconds|never>",
            help: [Help.ip, natHelp, "NAT translation entry configuration"] + kindHelp + ["Seconds", "Never time out"],
            modes: [Modes.config],
            no: .custom("ip nat translation <\(kinds)>$kind [<(1-2147483)$seconds|never>]",
                        help: [Help.ip, natHelp, "NAT translation entry configuration"] + kindHelp + ["Seconds", "Never time out"]),
            show: { config, _ in
                NATTimeouts.Kind.allCases.compactMap { kind in
                    guard !config.nat.timeouts.isDefault(kind) else { return nil }
                    if let seconds = config.nat.timeouts[kind] {
                        return Arguments().with(\.kind, kind).with(\.seconds, seconds)
                    }
                    return Arguments().with(\.kind, kind).with(\.never)
                }
            }
        ) { ctx, args in
            let kind = try args.value(\.kind)
            if args.negated { return ctx.commit { $0.editTimeouts { $0.reset(kind) }; return nil } }
            let seconds = args[\.seconds]
            return ctx.commit { $0.editTimeouts { $0[kind] = seconds }; return nil }
        }
    }

    static var maxEntriesCommand: CommandDeclaration {
        CommandDeclaration(
            "ip nat translation max-entries (1-2147483647)$max",
            help: [Help.ip, natHelp, "NAT translation entry configuration", "Limit the number of dynamic translations", "Number of entries"],
            modes: [Modes.config], no: .optionalValues,
            show: { config, _ in config.nat.maxEntries.map { [Arguments().with(\.max, $0)] } ?? [] }
        ) { ctx, args in
            let limit = args.negated ? nil : args[\.max]
            return ctx.commit { $0.setMaxEntries(limit); return nil }
        }
    }

    // MARK: Access lists

    static let aclHelp = ["Add an access list entry", "Standard IP access list number", "Specify packets to reject",
                          "Specify packets to forward", "Any source host", "A single host address", "Host address",
                          "Address to match", "Wildcard bits"]

    static var accessListCommand: CommandDeclaration {
        CommandDeclaration(
            "access-list (1-99)$acl <deny|permit>$action <any|host A.B.C.D$host|A.B.C.D$address [A.B.C.D$wildcard]>",
            help: aclHelp, modes: [Modes.config],
            no: .custom("access-list (1-99)$acl [<deny|permit>$action <any|host A.B.C.D$host|A.B.C.D$address [A.B.C.D$wildcard]>]", help: aclHelp),
            show: { config, _ in
                config.nat.accessLists.keys.sorted().flatMap { acl in
                    config.nat.accessLists[acl]!.entries.map { entry in
                        var args = Arguments().with(\.acl, acl).with(\.action, entry.action)
                        switch entry.match {
                        case .any: args[\.any] = true
                        case .host(let host): args[\.address] = host
                        case .wildcard(let base, let wild):
                            args[\.address] = base
                            args[\.wildcard] = wild
                        }
                        return args
                    }
                }
            }
        ) { ctx, args in
            let acl = try args.value(\.acl)
            guard let action = args[\.action] else {
                // `no access-list N`: the whole list.
                guard ctx.config.nat.accessLists[acl] != nil else { return ctx.refuse("access-list \(acl) does not exist") }
                var warnings: [String] = []
                if let rule = ctx.config.nat.rules[acl] { warnings.append("\"\(rule.line)\" now matches nothing") }
                return warn(ctx, warnings, ctx.commit { $0.editAccessList(acl) { $0 = nil }; return nil })
            }
            let match: AccessListEntry.Match
            if args[\.any] {
                match = .any
            } else if let host = args[\.host] {
                match = .host(host)
            } else {
                match = .wildcard(try args.value(\.address), args[\.wildcard] ?? IPv4Address(0))
            }
            let entry = AccessListEntry(action: action, match: match)
            if args.negated {
                guard ctx.config.nat.accessLists[acl]?.contains(entry) == true else {
                    return ctx.refuse("access-list \(acl) has no line \"\(entry)\"")
                }
                return ctx.commit { $0.editAccessList(acl) { $0?.remove(entry) }; return nil }
            }
            var warnings: [String] = []
            if case .wildcard(let address, let wild) = match, address.value & wild.value != 0 {
                warnings.append("\(address) has bits set under the wildcard \(wild): stored as \(entry.sourceText)")
            }
            if ctx.config.nat.accessLists[acl]?.contains(entry) == true { return .done(.success) }
            if let list = ctx.config.nat.accessLists[acl], list.contains(AccessListEntry(action: .permit, match: .any))
                || list.contains(AccessListEntry(action: .deny, match: .any))
            {
                let shadow = list.contains(AccessListEntry(action: .permit, match: .any)) ? "permit any" : "deny any"
                warnings.append("line \"\(shadow)\" above matches every source: this line is never reached")
            }
            return warn(ctx, warnings, ctx.commit { config in
                config.editAccessList(acl) { list in
                    var entries = list ?? AccessList()
                    entries.append(entry)
                    list = entries
                }
                return nil
            })
        }
    }

    /// Prints `% Warning: ...` lines and makes a successful outcome a warning.
    static func warn(_ ctx: CommandContext, _ warnings: [String], _ outcome: CommandOutcome) -> CommandOutcome {
        guard !warnings.isEmpty else { return outcome }
        switch outcome {
        case .done(.success):
            for warning in warnings { ctx.print("% Warning: " + warning) }
            return .done(.warning)
        case .pending(let future, let waitingFor, let pipelined):
            let mapped = future.assumeIsolated().map { status -> Status in
                guard status == .success else { return status }
                for warning in warnings { ctx.print("% Warning: " + warning) }
                return .warning
            }.nonisolated()
            return .pending(mapped, waitingFor: waitingFor, pipelined: pipelined)
        default:
            return outcome
        }
    }
}
