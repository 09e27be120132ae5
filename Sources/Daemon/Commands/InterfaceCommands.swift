import CLI
import Channel

/// `interface IFNAME` and the per-interface lines every interface has.
enum InterfaceCommands {
    static var declarations: [CommandDeclaration] {
        [
        CommandDeclaration(
            "interface IFNAME", help: [Help.interface, Help.interfaceName], modes: [Modes.config],
            no: .sameArguments, submode: Modes.configInterface,
            show: { config, _ in config.sortedInterfaceNames.map { Arguments(["ifname": .interface($0)]) } }
        ) { ctx, args in
            let name = args.string("ifname")!
            if args.negated {
                guard ctx.config.interfaces.removeValue(forKey: name) != nil else {
                    return ctx.fail("Interface \(name) is not configured")
                }
                return .done(.success)
            }
            if ctx.config.interfaces[name] == nil { ctx.config.interfaces[name] = InterfaceConfig() }
            ctx.session.mode = Modes.configInterface
            ctx.session.interface = name
            return .done(.success)
        },
        CommandDeclaration(
            "description LINE", help: ["Interface specific description", "Characters describing this interface"],
            modes: [Modes.configInterface], no: .optionalValues,
            show: { config, name in
                guard let name, let text = config.interfaces[name]?.description else { return [] }
                return [Arguments(["line": .line(text)])]
            }
        ) { ctx, args in
            editInterface(ctx) { interface in
                interface.description = args.negated ? nil : args.string("line")
                return nil
            }
        },
        CommandDeclaration(
            "ip address A.B.C.D/M$prefix [secondary]",
            help: [Help.ip, "Set the IP address of an interface", "IP address and prefix length (e.g. 10.0.0.1/24)",
                   "Make this IP address a secondary address"],
            modes: [Modes.configInterface], no: .optionalValues,
            show: { config, name in
                guard let name, let interface = config.interfaces[name] else { return [] }
                return interface.addresses.enumerated().map { index, prefix in
                    Arguments(["prefix": .ipv4Prefix(prefix)], keywords: index == 0 ? [] : ["secondary"])
                }
            }
        ) { ctx, args in
            editInterface(ctx) { interface in
                let prefix = args.ipv4Prefix("prefix")
                if args.negated {
                    guard let prefix else {
                        interface.addresses.removeAll()
                        return nil
                    }
                    guard let index = interface.addresses.firstIndex(of: prefix) else {
                        return "Address \(prefix) is not configured on this interface"
                    }
                    if index == 0 && interface.addresses.count > 1 && !args.has("secondary") {
                        return "Remove the secondary addresses before the primary address"
                    }
                    interface.addresses.remove(at: index)
                    return nil
                }
                guard let prefix else { return "An address is required" }
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
                if args.has("secondary") {
                    guard !interface.addresses.isEmpty else { return "Configure a primary address first" }
                    interface.addresses.append(prefix)
                } else if interface.addresses.isEmpty {
                    interface.addresses = [prefix]
                } else {
                    interface.addresses[0] = prefix
                }
                return nil
            }
        },
        CommandDeclaration(
            "shutdown", help: ["Shutdown the selected interface"], modes: [Modes.configInterface], no: .sameArguments,
            show: { config, name in
                guard let name, config.interfaces[name]?.shutdown == true else { return [] }
                return [Arguments()]
            }
        ) { ctx, args in
            editInterface(ctx) { interface in
                interface.shutdown = !args.negated
                return nil
            }
        },
    ]
    }

    /// Runs `edit` on the session's interface; a returned string is the error to print.
    static func editInterface(_ ctx: CommandContext, _ edit: (inout InterfaceConfig) -> String?) -> CommandOutcome {
        guard let name = ctx.session.interface else { return ctx.fail("No interface selected") }
        var interface = ctx.config.interfaces[name] ?? InterfaceConfig()
        if let error = edit(&interface) { return ctx.fail(error) }
        ctx.config.interfaces[name] = interface
        return .done(.success)
    }
}
