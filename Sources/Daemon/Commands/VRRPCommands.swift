import CLI
import Channel
import NetTypes

/// `vrrp N ...` under `interface vlanN`: FRR's vrrpd lines (which load unchanged) and the
/// switch extras (preempt delay, tracking, description). Any `vrrp N ...` line creates group N.
enum VRRPCommands {
    static let vrrpHelp = "Virtual Router Redundancy Protocol"
    static let vridHelp = "Virtual Router ID"

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "vrrp (1-255)$vrid [version (2-3)$version]", help: [vrrpHelp, vridHelp, "VRRP protocol version", "Version"],
                modes: [Modes.configInterface], no: .custom("vrrp (1-255)$vrid", help: [vrrpHelp, vridHelp]),
                show: { config, block in
                    instances(config, block).map { vrid, instance in
                        var args = Arguments().with(\.vrid, vrid)
                        if instance.version != 3 { args[\.version] = instance.version }
                        return args
                    }
                }
            ) { ctx, args in
                let vrid = try args.value(\.vrid)
                if args.negated {
                    guard let name = ctx.session.interface, ctx.config.interfaces[name]?.vrrp[vrid] != nil else {
                        return ctx.refuse("VRRP group \(vrid) is not configured on this interface")
                    }
                    return ctx.commit { $0.editInterface(name) { $0.vrrp[vrid] = nil; return nil } }
                }
                let version = args[\.version] ?? 3
                return edit(ctx, vrid) { instance in
                    if version == 2 && instance.advertisementIntervalMs % 1000 != 0 {
                        return "VRRPv2 advertises whole seconds; set an advertisement-interval that is a multiple of 1000 ms first"
                    }
                    if version == 2 && !instance.ipv6.isEmpty { return "VRRPv2 does not carry IPv6 addresses" }
                    instance.version = version
                    return nil
                }
            },
            CommandDeclaration(
                "vrrp (1-255)$vrid ip A.B.C.D$vip", help: [vrrpHelp, vridHelp, "Add IPv4 address", "Virtual router IPv4 address"],
                modes: [Modes.configInterface], no: .sameArguments,
                show: { config, block in
                    instances(config, block).flatMap { vrid, instance in
                        instance.ipv4.map { Arguments().with(\.vrid, vrid).with(\.vip, $0) }
                    }
                }
            ) { ctx, args in
                let address = try args.value(\.vip)
                if !args.negated, let problem = address.hostAddressProblem { return ctx.refuse("Invalid virtual address: \(problem)") }
                return edit(ctx, try args.value(\.vrid), negated: args.negated) { instance in
                    if args.negated {
                        guard instance.ipv4.contains(address) else { return "\(address) is not an address of this group" }
                        instance.ipv4.removeAll { $0 == address }
                    } else if !instance.ipv4.contains(address) {
                        guard instance.ipv4.count < VRRPInstanceConfig.maxIPv4Addresses else {
                            return "a group has at most \(VRRPInstanceConfig.maxIPv4Addresses) IPv4 addresses"
                        }
                        instance.ipv4.append(address)
                    }
                    return nil
                }
            },
            CommandDeclaration(
                "vrrp (1-255)$vrid ipv6 X:X::X:X$vip6", help: [vrrpHelp, vridHelp, "Add IPv6 address", "Virtual router IPv6 address"],
                modes: [Modes.configInterface], no: .sameArguments,
                show: { config, block in
                    instances(config, block).flatMap { vrid, instance in
                        instance.ipv6.map { Arguments().with(\.vrid, vrid).with(\.vip6, $0) }
                    }
                }
            ) { ctx, args in
                let address = try args.value(\.vip6)
                return edit(ctx, try args.value(\.vrid), negated: args.negated) { instance in
                    if args.negated {
                        guard instance.ipv6.contains(address) else { return "\(address) is not an address of this group" }
                        // RFC 5798 §5.2.9: the link-local address stays first while others remain.
                        if instance.ipv6.first == address && instance.ipv6.count > 1 {
                            return "\(address) is the group's link-local address and must stay first: remove the other IPv6 addresses first"
                        }
                        instance.ipv6.removeAll { $0 == address }
                        return nil
                    }
                    guard instance.version == 3 else { return "VRRPv2 does not carry IPv6 addresses" }
                    guard instance.ipv6.contains(address) || instance.ipv6.count < VRRPInstanceConfig.maxIPv6Addresses else {
                        return "a group has at most \(VRRPInstanceConfig.maxIPv6Addresses) IPv6 addresses (an advert must fit a 1500-byte frame)"
                    }
                    // RFC 5798 §5.2.9: the first IPv6 address is the link-local one.
                    if instance.ipv6.isEmpty && !address.isLinkLocal { return "the first IPv6 address of a group must be link-local (fe80::/10)" }
                    if !instance.ipv6.contains(address) { instance.ipv6.append(address) }
                    return nil
                }
            },
            CommandDeclaration(
                "vrrp (1-255)$vrid priority (1-254)$priority", help: [vrrpHelp, vridHelp, "Virtual Router priority", "Priority value"],
                modes: [Modes.configInterface], no: .optionalValues,
                show: { config, block in
                    instances(config, block).compactMap { vrid, instance in
                        instance.priority == 100 ? nil : Arguments().with(\.vrid, vrid).with(\.priority, Int(instance.priority))
                    }
                }
            ) { ctx, args in
                let priority = UInt8(args.negated ? 100 : try args.value(\.priority))
                return edit(ctx, try args.value(\.vrid), negated: args.negated) { $0.priority = priority; return nil }
            },
            CommandDeclaration(
                "vrrp (1-255)$vrid advertisement-interval (10-40950)$ms",
                help: [vrrpHelp, vridHelp, "Advertisement interval", "Advertisement interval in milliseconds"],
                modes: [Modes.configInterface], no: .optionalValues,
                show: { config, block in
                    instances(config, block).compactMap { vrid, instance in
                        instance.advertisementIntervalMs == 1000 ? nil : Arguments().with(\.vrid, vrid).with(\.ms, instance.advertisementIntervalMs)
                    }
                }
            ) { ctx, args in
                let ms = args.negated ? 1000 : try args.value(\.ms)
                guard ms % 10 == 0 else {
                    return ctx.refuse("The advertisement interval is sent in centiseconds: \(ms) ms is not a multiple of 10 (use \(ms / 10 * 10) or \(ms / 10 * 10 + 10))")
                }
                return edit(ctx, try args.value(\.vrid), negated: args.negated) { instance in
                    if instance.version == 2 && ms % 1000 != 0 {
                        return "VRRPv2 advertises whole seconds: \(ms) ms is not a multiple of 1000"
                    }
                    instance.advertisementIntervalMs = ms
                    return nil
                }
            },
            CommandDeclaration(
                "vrrp (1-255)$vrid preempt [delay minimum (0-3600)$delay]",
                help: [vrrpHelp, vridHelp, "Preempt mode", "Wait before preempting", "Minimum delay", "Seconds"],
                modes: [Modes.configInterface], no: .custom("vrrp (1-255)$vrid preempt", help: [vrrpHelp, vridHelp, "Preempt mode"]),
                show: { config, block in
                    instances(config, block).compactMap { vrid, instance in
                        if !instance.preempt { return Arguments(negated: true).with(\.vrid, vrid) }
                        guard let delay = instance.preemptDelaySeconds else { return nil }
                        return Arguments().with(\.vrid, vrid).with(\.delay, delay)
                    }
                }
            ) { ctx, args in
                let delay = args[\.delay]
                // `no vrrp N preempt delay minimum S` takes the delay away and keeps preempting.
                let onlyDelay = args.negated && delay != nil
                return edit(ctx, try args.value(\.vrid), negated: args.negated) { instance in
                    instance.preempt = !args.negated || onlyDelay
                    instance.preemptDelaySeconds = args.negated ? nil : (delay == 0 ? nil : delay)
                    return nil
                }
            },
            flag("accept-mode", "Accept mode (answer packets sent to the virtual addresses)", \.acceptMode, defaultOn: false),
            flag("shutdown", "Force VRRP router into administrative shutdown", \.shutdown, defaultOn: false),
            flag("checksum-with-ipv4-pseudoheader", "Checksum mode in VRRPv3 (include the IPv4 pseudo-header)", \.checksumWithPseudoHeader, defaultOn: true),
            flag("checksum-lenient", "Accept either VRRPv3 IPv4 checksum form (with or without the pseudo-header)", \.checksumLenient, defaultOn: false),
            flag("lower-priority-answer", "As Master, answer a lower-priority advertisement at once (RFC 9568; no: RFC 5798)",
                 \.answerLowerPriority, defaultOn: true),
            CommandDeclaration(
                "vrrp (1-255)$vrid track interface IFNAME$track [decrement (1-254)$decrement]",
                help: [vrrpHelp, vridHelp, "Track an object", "Track an interface", "The port (ethN)", "Subtract from the priority while it is down",
                       "Decrement"],
                modes: [Modes.configInterface],
                no: .custom("vrrp (1-255)$vrid track interface IFNAME$track", help: [vrrpHelp, vridHelp, "Track an object", "Track an interface", "The port"]),
                show: { config, block in
                    instances(config, block).flatMap { vrid, instance in
                        instance.tracks.keys.sorted().map { track in
                            var args = Arguments().with(\.vrid, vrid).with(\.track, track)
                            if instance.tracks[track] != VRRPInstanceConfig.defaultTrackDecrement { args[\.decrement] = instance.tracks[track] }
                            return args
                        }
                    }
                }
            ) { ctx, args in
                guard case .success(let track) = try ctx.interface(args, \.track), case .port = track else {
                    return ctx.refuse("VRRP tracks ports: eth1-eth\(ctx.portCount)")
                }
                let decrement = args[\.decrement] ?? VRRPInstanceConfig.defaultTrackDecrement
                return edit(ctx, try args.value(\.vrid), negated: args.negated) { instance in
                    if args.negated {
                        guard instance.tracks.removeValue(forKey: track) != nil else { return "\(track) is not tracked by this group" }
                    } else {
                        instance.tracks[track] = decrement
                    }
                    return nil
                }
            },
            CommandDeclaration(
                "vrrp (1-255)$vrid description LINE", help: [vrrpHelp, vridHelp, "Description of the group", "Text"],
                modes: [Modes.configInterface], no: .optionalValues,
                show: { config, block in
                    instances(config, block).compactMap { vrid, instance in
                        instance.description.map { Arguments().with(\.vrid, vrid).with(\.line, $0) }
                    }
                }
            ) { ctx, args in
                let text = args.negated ? nil : args[\.line]
                return edit(ctx, try args.value(\.vrid), negated: args.negated) { $0.description = text; return nil }
            },
        ]
    }

    /// `vrrp N KEYWORD` with its `no` form, for a Boolean setting.
    static func flag(_ keyword: String, _ help: String, _ path: WritableKeyPath<VRRPInstanceConfig, Bool>, defaultOn: Bool) -> CommandDeclaration {
        CommandDeclaration(
            "vrrp (1-255)$vrid \(keyword)", help: [vrrpHelp, vridHelp, help], modes: [Modes.configInterface], no: .sameArguments,
            show: { config, block in
                instances(config, block).compactMap { vrid, instance in
                    instance[keyPath: path] == defaultOn ? nil : Arguments(negated: defaultOn).with(\.vrid, vrid)
                }
            }
        ) { ctx, args in
            edit(ctx, try args.value(\.vrid), negated: args.negated) { instance in
                instance[keyPath: path] = !args.negated
                return nil
            }
        }
    }

    static func instances(_ config: RunningConfig, _ block: BlockKey?) -> [(VRID, VRRPInstanceConfig)] {
        guard let name = block?.interface, let interface = config.interfaces[name] else { return [] }
        return interface.vrrp.keys.sorted().map { ($0, interface.vrrp[$0]!) }
    }

    /// Changes (creating if needed) group `vrid` of the session's SVI.
    /// A `no` form never creates the group (as in FRR).
    static func edit(
        _ ctx: CommandContext, _ vrid: VRID, negated: Bool = false, _ mutation: @escaping (inout VRRPInstanceConfig) -> String?
    ) -> CommandOutcome {
        guard let name = ctx.session.interface, case .svi = name else {
            return ctx.refuse("VRRP runs on SVIs: configure it under interface vlanN")
        }
        return ctx.commit { $0.editGroup(name, vrid, create: !negated, mutation) }
    }
}
