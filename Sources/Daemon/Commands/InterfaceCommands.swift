import CLI
import Channel
import NIOCore
import NetTypes
import SwitchHAL

/// `interface IFNAME` and what goes inside: descriptions, `shutdown`, addresses on SVIs, and
/// the `switchport` lines of physical ports.
enum InterfaceCommands {
    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "interface IFNAME", help: [Help.interface, Help.interfaceName], modes: [Modes.config],
                no: .sameArguments, submode: Modes.configInterface, submodeKey: { $0[\.ifname].map(BlockKey.interface) },
                show: { config, _ in config.sortedInterfaces.map { Arguments().with(\.ifname, $0) } }
            ) { ctx, args in
                switch try ctx.interface(args, \.ifname) {
                case .success(let name): enterInterface(ctx, name, negated: args.negated)
                case .failure(let unknown): ctx.refuse(unknown.message)
                }
            },
            CommandDeclaration(
                "interface range LINE$line",
                help: [Help.interface, "Configure several interfaces at once", "eth1 - 8, eth1,eth3, vlan10-20 (ranges and lists)"],
                modes: [Modes.config]
            ) { ctx, args in
                let names: [InterfaceID]
                switch parseRange(try args.value(\.line), portCount: ctx.portCount) {
                case .success(let parsed): names = parsed
                case .failure(let problem): return ctx.refuse(problem.message)
                }
                ctx.session.mode = Modes.configInterface
                ctx.session.clearContext()
                ctx.session.interface = names[0]
                ctx.session.interfaceRange = names
                noteMissingVLANs(ctx, names)
                let missing = names.filter { ctx.config.interfaces[$0] == nil }
                guard !missing.isEmpty else { return .done(.success) }
                return ctx.commit { config in
                    for name in missing { if let error = config.editInterface(name, { _ in nil }) { return error } }
                    return nil
                }
            },
            // IOS's spelling with a space: the same SVI.
            CommandDeclaration(
                "interface vlan (1-4094)$vlan", help: [Help.interface, "An SVI (the VLAN's routed interface)", "VLAN ID"],
                modes: [Modes.config], no: .sameArguments
            ) { ctx, args in
                enterInterface(ctx, .svi(UInt16(try args.value(\.vlan))), negated: args.negated)
            },
            CommandDeclaration(
                "description LINE", help: ["Interface specific description", "Characters describing this interface"],
                modes: [Modes.configInterface], no: .optionalValues,
                show: { config, block in
                    guard let name = block?.interface, let text = config.interfaces[name]?.description else { return [] }
                    return [Arguments().with(\.line, text)]
                }
            ) { ctx, args in
                editInterface(ctx) { interface, _ in
                    interface.description = args.negated ? nil : args[\.line]
                    return nil
                }
            },
            CommandDeclaration(
                "ip address A.B.C.D/M$prefix [secondary]",
                help: [Help.ip, "Set the IP address of an interface", "IP address and prefix length (e.g. 10.0.0.1/24)",
                       "Make this IP address a secondary address"],
                modes: [Modes.configInterface], no: .optionalValues,
                show: { config, block in
                    guard let name = block?.interface, let interface = config.interfaces[name] else { return [] }
                    return interface.addresses.enumerated().map { index, prefix in
                        Arguments().with(\.prefix, prefix).with(\.secondary, index != 0)
                    }
                }
            ) { ctx, args in
                setAddress(ctx, args)
            },
            // IOS's form, with a netmask: the same address (shown as FRR writes it, /M).
            CommandDeclaration(
                "ip address A.B.C.D$address A.B.C.D$netmask [secondary]",
                help: [Help.ip, "Set the IP address of an interface", "IP address", "IP subnet mask", "Make this IP address a secondary address"],
                modes: [Modes.configInterface], no: .sameArguments
            ) { ctx, args in
                let mask = try args.value(\.netmask).value
                let length = mask.nonzeroBitCount
                guard mask == (length == 0 ? 0 : ~UInt32(0) << (32 - length)) else {
                    return ctx.refuse("Bad mask \(try args.value(\.netmask)): its ones must come first (255.255.255.0, not 255.0.255.0)")
                }
                let prefix = IPv4Prefix(address: try args.value(\.address), length: length)
                return setAddress(ctx, Arguments(negated: args.negated).with(\.prefix, prefix).with(\.secondary, args[\.secondary]))
            },
            CommandDeclaration(
                "switchport mode <access|trunk>$mode",
                help: [Help.switchport, "Set the port's VLAN mode", "Untagged member of one VLAN", "Tagged member of many VLANs"],
                modes: [Modes.configInterface], no: .custom("switchport mode", help: [Help.switchport, "Back to access mode"]),
                show: { config, block in
                    guard let name = block?.interface, config.interfaces[name]?.switchport.mode == .trunk else { return [] }
                    return [Arguments().with(\.mode, .trunk)]
                }
            ) { ctx, args in
                editSwitchport(ctx) { port in
                    port.mode = args.negated ? .access : args[\.mode] ?? .access
                    return nil
                }
            },
            CommandDeclaration(
                "switchport access vlan (1-4094)$vlan",
                help: [Help.switchport, "Set access mode characteristics", "The VLAN of the port in access mode", "VLAN ID"],
                modes: [Modes.configInterface], no: .optionalValues,
                show: { config, block in
                    guard let name = block?.interface, let port = config.interfaces[name]?.switchport, port.accessVLAN != 1 else { return [] }
                    return [Arguments().with(\.vlan, Int(port.accessVLAN))]
                }
            ) { ctx, args in
                let vlan = UInt16(args[\.vlan] ?? 1)
                let create = !args.negated && vlan != 1 && ctx.config.vlans[vlan] == nil
                if create { ctx.print("% Access VLAN does not exist. Creating vlan \(vlan)") }
                return editSwitchport(ctx) { port in
                    port.accessVLAN = args.negated ? 1 : vlan
                    return nil
                } alsoEdit: { config in
                    if create && config.config.vlans[vlan] == nil { config.setVLAN(vlan, VLANConfig()) }
                }
            },
            CommandDeclaration(
                "switchport trunk native vlan (1-4094)$vlan",
                help: [Help.switchport, "Set trunking characteristics", "The VLAN of untagged frames on the trunk", "VLAN",
                       "VLAN ID"],
                modes: [Modes.configInterface], no: .optionalValues,
                show: { config, block in
                    guard let name = block?.interface, let port = config.interfaces[name]?.switchport, port.nativeVLAN != 1 else { return [] }
                    return [Arguments().with(\.vlan, Int(port.nativeVLAN))]
                }
            ) { ctx, args in
                let vlan = args.negated ? 1 : UInt16(try args.value(\.vlan))
                return editSwitchport(ctx) { port in
                    port.nativeVLAN = vlan
                    return nil
                }
            },
            CommandDeclaration(
                "switchport trunk allowed vlan <all|none|add VLANS$add|remove VLANS$remove|except VLANS$except|VLANS$list>",
                help: [Help.switchport, "Set trunking characteristics", "The VLANs the trunk carries", "VLAN",
                       "All VLANs (1-4094)", "No VLANs", "Add VLANs to the list", "VLAN list, e.g. 10,20-30",
                       "Remove VLANs from the list", "VLAN list, e.g. 10,20-30", "All VLANs except these",
                       "VLAN list, e.g. 10,20-30", "VLAN list, e.g. 10,20-30"],
                modes: [Modes.configInterface],
                no: .custom("switchport trunk allowed vlan", help: [Help.switchport, "Set trunking characteristics", "Back to all VLANs", "VLAN"]),
                show: { config, block in
                    guard let name = block?.interface, let port = config.interfaces[name]?.switchport, !port.allowedVLANs.isAll else { return [] }
                    if port.allowedVLANs.isEmpty { return [Arguments().with(\.none)] }
                    return [Arguments().with(\.list, port.allowedVLANs.description)]
                }
            ) { ctx, args in
                if args.negated {
                    return editSwitchport(ctx) { port in
                        port.allowedVLANs = .all
                        return nil
                    }
                }
                let text = args[\.add] ?? args[\.remove] ?? args[\.except] ?? args[\.list]
                var list = VLANSet.none
                if let text {
                    guard let parsed = VLANSet(parsing: text) else {
                        return ctx.refuse("Invalid VLAN list \"\(text)\": use VLAN IDs 1-4094 and ranges, e.g. 10,20-30")
                    }
                    list = parsed
                }
                return editSwitchport(ctx) { port in
                    if args[\.all] {
                        port.allowedVLANs = .all
                    } else if args[\.none] {
                        port.allowedVLANs = .none
                    } else if args[\.add] != nil {
                        port.allowedVLANs = port.allowedVLANs.union(list)
                    } else if args[\.remove] != nil {
                        port.allowedVLANs = port.allowedVLANs.subtracting(list)
                    } else if args[\.except] != nil {
                        port.allowedVLANs = VLANSet.all.subtracting(list)
                    } else {
                        port.allowedVLANs = list
                    }
                    return nil
                }
            },
            CommandDeclaration(
                "shutdown", help: ["Shutdown the selected interface"], modes: [Modes.configInterface], no: .sameArguments,
                show: { config, block in
                    guard let name = block?.interface, config.interfaces[name]?.shutdown == true else { return [] }
                    return [Arguments()]
                }
            ) { ctx, args in
                editInterface(ctx) { interface, _ in
                    interface.shutdown = !args.negated
                    return nil
                }
            },
        ]
    }

    /// Changes the session's interface through the committer; `edit` returns an error to refuse.
    static func editInterface(
        _ ctx: CommandContext, _ edit: @escaping (inout InterfaceConfig, InterfaceID) -> String?,
        alsoEdit: @escaping (inout ConfigEdit) -> Void = { _ in }
    ) -> CommandOutcome {
        guard let name = ctx.session.interface else { return ctx.refuse("No interface selected") }
        return ctx.commit { config in
            if let error = config.editInterface(name, { edit(&$0, name) }) { return error }
            alsoEdit(&config)
            return nil
        }
    }

    static func editSwitchport(
        _ ctx: CommandContext, _ edit: @escaping (inout SwitchportConfig) -> String?,
        alsoEdit: @escaping (inout ConfigEdit) -> Void = { _ in }
    ) -> CommandOutcome {
        editInterface(ctx, { interface, kind in
            guard case .port = kind else { return "switchport applies to physical ports (ethN) only" }
            return edit(&interface.switchport)
        }, alsoEdit: alsoEdit)
    }

    /// Another SVI whose subnet overlaps `prefix`'s (IOS: "10.1.0.0 overlaps with Vlan10"), or
    /// nil. The subnets that hold it cost one probe per prefix length; those it would hold, one
    /// probe of `holders` (found by the config fuzzer: a /23 was let in over another SVI's /24,
    /// and the saved file did not load back).
    static func overlap(_ prefix: IPv4Prefix, on interface: InterfaceID, in index: ConfigIndex) -> String? {
        func other(_ owners: some Sequence<InterfaceID>) -> InterfaceID? { owners.sortedByName().first { $0 != interface } }
        for length in 0...prefix.length {
            let network = IPv4Prefix(address: IPv4Prefix(address: prefix.address, length: length).network, length: length)
            if let owners = index.networks[network], let owner = other(owners) {
                return "\(IPv4Prefix(address: prefix.network, length: prefix.length)) overlaps with \(owner) (\(network))"
            }
        }
        let key = IPv4Prefix(address: prefix.network, length: prefix.length)
        guard let owner = index.holders[key].flatMap(other) else { return nil }
        // Which of its subnets (the error path only: a walk is fine here).
        let held = index.networks.first { $0.key.length > prefix.length && prefix.contains($0.key.address) && $0.value.contains(owner) }?.key
        return "\(key) overlaps with \(owner)" + (held.map { " (\($0))" } ?? "")
    }

    /// `ip address`: on SVIs only, an address no host could have or that overlaps another SVI's
    /// subnet refused.
    static func setAddress(_ ctx: CommandContext, _ args: Arguments) -> CommandOutcome {
        editInterface(ctx) { interface, name in
            guard case .svi = name else {
                return "IP addresses may not be configured on L2 links (\(name)); use an SVI (interface vlanN)"
            }
            if !args.negated, let prefix = args[\.prefix], prefix.length > 0, prefix.address.hostAddressProblem == nil,
                let clash = overlap(prefix, on: name, in: ctx.workspace.config.index)
            {
                return clash
            }
            return editAddresses(&interface, args)
        }
    }

    static func editAddresses(_ interface: inout InterfaceConfig, _ args: Arguments) -> String? {
        let prefix = args[\.prefix]
        if args.negated {
            guard let prefix else {
                interface.addresses.removeAll()
                return nil
            }
            guard let index = interface.addresses.firstIndex(of: prefix) else {
                return "Address \(prefix) is not configured on this interface"
            }
            if index == 0 && interface.addresses.count > 1 && !args[\.secondary] {
                return "Remove the secondary addresses before the primary address"
            }
            interface.addresses.remove(at: index)
            return nil
        }
        guard let prefix else { return "An address is required" }
        if prefix.length == 0 { return "Bad mask /0 for address \(prefix.address)" }
        if let problem = prefix.address.hostAddressProblem { return "Invalid address: \(problem)" }
        if prefix.length < 31 && prefix.address == prefix.network {
            return "\(prefix) is a network address, not a host address"
        }
        if prefix.length < 31 && prefix.address.value | ~prefix.mask == prefix.address.value {
            return "\(prefix) is a broadcast address, not a host address"
        }
        if let existing = interface.addresses.firstIndex(where: { $0.address == prefix.address }) {
            interface.addresses[existing] = prefix
            return nil
        }
        if args[\.secondary] {
            guard !interface.addresses.isEmpty else { return "Configure a primary address first" }
            interface.addresses.append(prefix)
        } else if interface.addresses.isEmpty {
            interface.addresses = [prefix]
        } else {
            interface.addresses[0] = prefix
        }
        return nil
    }

    /// `interface NAME` (and `no interface NAME`): enters the interface's configuration, creating
    /// it; `no` puts a port back to its defaults and removes an SVI.
    static func enterInterface(_ ctx: CommandContext, _ name: InterfaceID, negated: Bool) -> CommandOutcome {
        if negated {
            guard ctx.config.interfaces[name] != nil else { return ctx.refuse("Interface \(name) is not configured") }
            // A port goes back to its defaults; an SVI is removed.
            return ctx.commit { $0.removeInterface(name); return nil }
        }
        ctx.session.mode = Modes.configInterface
        ctx.session.clearContext()
        ctx.session.interface = name
        noteMissingVLANs(ctx, [name])
        guard ctx.config.interfaces[name] == nil else { return .done(.success) }
        return ctx.commit { $0.editInterface(name) { _ in nil } }
    }

    /// A note (the command succeeds) when SVIs are entered whose VLANs do not exist: such an
    /// SVI is down and its VRRP groups stay in Initialize, and nothing else would say so at the
    /// prompt. IOS and FRR accept the line silently; creating the VLAN instead, as `switchport
    /// access vlan` does, would add configuration nobody typed. The VLAN is checked as the
    /// commands queued before this one leave it (`vlan 10` sent just before counts). Not while
    /// a file loads: its lines need not come in order.
    static func noteMissingVLANs(_ ctx: CommandContext, _ names: [InterfaceID]) {
        guard !ctx.loading else { return }
        let config = ctx.config
        let missing = names.compactMap { name -> UInt16? in
            guard case .svi(let vlan) = name, vlan != 1, config.vlans[vlan] == nil else {
                return nil
            }
            return vlan
        }
        guard let first = missing.first else { return }
        if missing.count == 1 {
            ctx.print("% Note: VLAN \(first) does not exist: vlan\(first) stays down until 'vlan \(first)' creates it and a port in it is up")
        } else {
            let list = VLANSet(missing).description
            ctx.print("% Note: VLANs \(list) do not exist: their SVIs stay down until each is created ('vlan N') and has a port up")
        }
    }
}

extension InterfaceCommands {
    struct RangeProblem: Error {
        var message: String
    }

    /// The most interfaces one `interface range` takes (every port and every SVI).
    static let maxRange = 4094 + 64

    /// `eth1 - 8`, `eth1-8,eth10`, `vlan10 - 20 , vlan30`: the interfaces, in order, each once.
    static func parseRange(_ text: String, portCount: Int) -> Result<[InterfaceID], RangeProblem> {
        let compact = text.lowercased().filter { $0 != " " && $0 != "\t" }
        var names: [InterfaceID] = []
        var seen = Set<InterfaceID>()
        for item in compact.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard let first = bounds.first, !first.isEmpty, bounds.count <= 2 else {
                return .failure(RangeProblem(message: "Invalid interface range \"\(item)\": use eth1 - 8, eth1,eth3 or vlan10-20"))
            }
            let prefix = String(first.prefix { $0.isLetter })
            guard let firstID = InterfaceID(first, portCount: portCount) else {
                return .failure(RangeProblem(message: UnknownInterface(name: String(first), portCount: portCount).message))
            }
            let start = Int(firstID.number)
            var end = start
            if bounds.count == 2 {
                let last = bounds[1].hasPrefix(prefix) ? bounds[1].dropFirst(prefix.count) : bounds[1]
                guard let parsed = Int(last), parsed >= start, firstID.withNumber(parsed, portCount: portCount) != nil else {
                    return .failure(RangeProblem(message: "Invalid interface range \"\(item)\": the end must be a \(prefix) number from \(start) up"))
                }
                end = parsed
            }
            guard names.count + (end - start + 1) <= maxRange else {
                return .failure(RangeProblem(message: "An interface range takes at most \(maxRange) interfaces"))
            }
            // The interfaces of the item are of the first one's kind.
            for number in start...end where seen.insert(firstID.withNumber(UInt16(number))).inserted { names.append(firstID.withNumber(UInt16(number))) }
        }
        return .success(names)
    }

    /// One line of `config-if-range` mode: the command for each interface of the range in
    /// turn, its output together; it fails if it failed for any of them.
    static func runOverRange(_ range: [InterfaceID], _ declaration: CommandDeclaration, _ arguments: Arguments, _ ctx: CommandContext) -> CommandOutcome {
        let session = ctx.session
        defer { session.interface = range.first }
        var worst = Status.success
        var waiting: [EventLoopFuture<Status>] = []
        var pipelined = true
        for name in range {
            session.interface = name
            switch declaration.invoke(ctx, arguments) {
            case .done(let status):
                if status.isFailure { worst = status }
            case .pending(let future, _, let inOrder):
                waiting.append(future)
                pipelined = pipelined && inOrder
            case .input:
                worst = .error
            }
        }
        guard !waiting.isEmpty else { return .done(worst) }
        let immediate = worst
        let all = EventLoopFuture.whenAllComplete(waiting, on: ctx.loop).map { results in
            results.reduce(immediate) { sofar, result in
                switch result {
                case .success(let status) where status.isFailure: return status
                case .failure: return .error
                default: return sofar
                }
            }
        }
        let committer = ctx.plane.committer
        return .pending(all, waitingFor: { committer?.activity ?? "the HAL commit queue" }, pipelined: pipelined)
    }
}

extension CommandContext {
    /// The chip's number of ports (`ethN` goes from 1 to this).
    var portCount: Int { plane.hal.hal.chip.portCount }
}

extension Help {
    static let switchport = "Set switching mode characteristics"
}
