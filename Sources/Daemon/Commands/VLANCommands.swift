import CLI
import Channel
import SwitchHAL

/// `vlan N` blocks and `show vlan`.
enum VLANCommands {
    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "vlan (1-4094)$vlan", help: ["VLAN configuration", "VLAN ID"], modes: [Modes.config], no: .sameArguments,
                submode: Modes.configVLAN, submodeKey: { $0[\.vlan].map { .vlan(UInt16($0)) } },
                show: { config, _ in config.vlans.keys.sorted().map { Arguments().with(\.vlan, Int($0)) } }
            ) { ctx, args in
                let vlan = UInt16(try args.value(\.vlan))
                if args.negated {
                    guard vlan != 1 else { return ctx.refuse("VLAN 1 is the default VLAN and cannot be deleted") }
                    guard ctx.config.vlans[vlan] != nil else { return ctx.refuse("VLAN \(vlan) does not exist") }
                    let statics = ctx.config.staticMACs.keys.filter { $0.vlan == vlan }.count
                    guard statics == 0 else {
                        return ctx.refuse("VLAN \(vlan) has \(statics) static MAC entr\(statics == 1 ? "y" : "ies"); remove them first")
                    }
                    return ctx.commit { $0.setVLAN(vlan, nil); return nil }
                }
                ctx.session.mode = Modes.configVLAN
                ctx.session.clearContext()
                ctx.session.vlan = vlan
                if vlan == 1 || ctx.config.vlans[vlan] != nil { return .done(.success) }
                return ctx.commit { config in
                    if config.config.vlans[vlan] == nil { config.setVLAN(vlan, VLANConfig()) }
                    return nil
                }
            },
            CommandDeclaration(
                "name WORD$name", help: ["Ascii name of the VLAN", "The name (up to 32 characters)"], modes: [Modes.configVLAN],
                no: .optionalValues,
                show: { config, block in
                    guard let vlan = block?.vlan, let name = config.vlans[vlan]?.name else { return [] }
                    return [Arguments().with(\.name, name)]
                }
            ) { ctx, args in
                guard let vlan = ctx.session.vlan else { return ctx.refuse("No VLAN selected") }
                let name = args.negated ? nil : args[\.name]
                if let name, name.count > 32 { return ctx.refuse("A VLAN name has at most 32 characters") }
                return ctx.commit { config in
                    config.setVLAN(vlan, vlan == 1 && name == nil ? nil : VLANConfig(name: name))
                    return nil
                }
            },
            CommandDeclaration(
                "show interfaces trunk", help: [Help.show, "Interface status and counters", "Trunk ports: native VLAN, allowed VLANs"],
                modes: Modes.exec
            ) { ctx, _ in
                ctx.hal("port-status", { hal, deadline in try hal.portStatus(deadline: deadline) }) { ports in
                    let trunks = ports.filter { $0.settings.mode == .trunk }
                    ctx.print("Port        Mode             Encapsulation  Status        Native vlan")
                    for port in trunks {
                        ctx.print(pad(port.name, 12) + pad("on", 17) + pad("802.1q", 15) + pad(port.operUp ? "trunking" : "not-trunking", 14)
                            + "\(port.settings.nativeVLAN)")
                    }
                    ctx.print("")
                    ctx.print("Port        Vlans allowed on trunk")
                    for port in trunks { ctx.print(pad(port.name, 12) + "\(port.settings.allowedVLANs)") }
                    return .success
                }
            },
            CommandDeclaration(
                "show vlan [brief]", help: [Help.show, "VLAN information", "One line per VLAN"], modes: Modes.exec
            ) { ctx, _ in
                // Trunks are in show interfaces trunk, as on IOS (whose layout ntc-templates parse).
                vlanTable(ctx, only: nil, trunks: false)
            },
            CommandDeclaration(
                "show vlan id (1-4094)$vlan", help: [Help.show, "VLAN information", "One VLAN", "VLAN ID"], modes: Modes.exec
            ) { ctx, args in
                // Its access ports and the trunks that carry it, as IOS lists them. (No `show vlan
                // all-ports` yet: NAPALM's get_vlans reads only capitalised port names, and would
                // drop every VLAN with a port from it; without it, it asks `show vlan id N`.)
                let vlan = UInt16(try args.value(\.vlan))
                guard vlan == 1 || ctx.config.vlans[vlan] != nil else { return ctx.refuse("VLAN id \(vlan) not found in current VLAN database") }
                return vlanTable(ctx, only: vlan, trunks: true)
            },
        ]
    }

    /// IOS's VLAN table: each VLAN (or `only`), its name, status and ports: its access ports, and
    /// with `trunks` the trunks that carry it. 4,094 VLANs stream as the client reads.
    static func vlanTable(_ ctx: CommandContext, only: UInt16?, trunks: Bool) -> CommandOutcome {
        let config = ctx.config
        return ctx.hal("port-status", { hal, deadline in (try hal.portStatus(deadline: deadline), try hal.vlans(deadline: deadline)) }) { result in
            let (ports, present) = result
            ctx.print("VLAN Name                             Status    Ports")
            ctx.print("---- -------------------------------- --------- -------------------------------")
            let ids = only.map { [$0] } ?? Set(config.vlans.keys).union([1]).sorted()
            var members: [UInt16: [String]] = [:]
            for port in ports {
                switch port.settings.mode {
                case .access: members[port.settings.accessVLAN, default: []].append(port.name)
                case .trunk where trunks:
                    for vlan in ids where port.settings.allowedVLANs.contains(vlan) { members[vlan, default: []].append(port.name) }
                case .trunk: break
                }
            }
            ctx.streamItems(ids, chunk: 500) { vlan in
                let name = config.vlans[vlan]?.name ?? (vlan == 1 ? "default" : "VLAN" + pad(String(vlan), 4, left: true).replacingSpaces(with: "0"))
                let status = present.contains(vlan) ? "active" : "pending"
                let lines = wrap(members[vlan] ?? [], width: 31)
                var text = "\(pad(String(vlan), 4)) \(pad(name, 32)) \(pad(status, 9)) \(lines.first ?? "")\n"
                for more in lines.dropFirst() { text += String(repeating: " ", count: 48) + more + "\n" }
                return text
            }
            return .success
        }
    }

    /// Splits names into lines of at most `width` characters, comma-separated.
    static func wrap(_ names: [String], width: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for name in names {
            let piece = current.isEmpty ? name : ", " + name
            if current.count + piece.count > width && !current.isEmpty {
                lines.append(current + ",")
                current = name
            } else {
                current += piece
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}

extension String {
    func replacingSpaces(with character: Character) -> String {
        String(map { $0 == " " ? character : $0 })
    }
}
