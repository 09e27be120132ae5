import CLI

/// What a switch says of its neighbours, of the names it resolves and of its chassis, as IOS
/// says it: CDP is not run (as on IOS after `no cdp run`), the host table is empty (no name
/// service), the SNMP chassis ID is the serial number, the inventory is the chassis.
enum DiscoveryCommands {
    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "show cdp neighbors [detail]", help: [Help.show, "CDP information", "CDP neighbor entries", "Show detailed information"],
                modes: Modes.exec
            ) { ctx, _ in
                ctx.print("% CDP is not enabled")
                return .done(.error)
            },
            CommandDeclaration(
                "show snmp chassis", help: [Help.show, "SNMP statistics", "The chassis' serial number (the SNMP chassis ID)"], modes: Modes.exec
            ) { ctx, _ in
                // As IOS answers it: the serial number (`Processor board ID` of show version),
                // which NAPALM's get_snmp_information takes as the chassis ID.
                ctx.print(SystemCommands.boardID(ctx.plane.hal.hal.baseMAC))
                return .done(.success)
            },
            CommandDeclaration(
                "show inventory", help: [Help.show, "Physical inventory (the chassis)"], modes: Modes.exec
            ) { ctx, _ in
                // IOS's layout (ntc-templates parse it): the chassis, its model and serial number.
                let chip = ctx.plane.hal.hal.chip
                ctx.print("NAME: \"Chassis\", DESCR: \"vrrpd simulated switch, \(chip.portCount) ports (\(chip.name))\"")
                ctx.print("PID: vrrpd-\(chip.name)\(String(repeating: " ", count: max(1, 18 - chip.name.count))), VID: V01  , SN: \(SystemCommands.boardID(ctx.plane.hal.hal.baseMAC))")
                ctx.print("")
                return .done(.success)
            },
            CommandDeclaration(
                "show hosts", help: [Help.show, "IP domain-name, lookup style, nameservers, and host table"], modes: Modes.exec
            ) { ctx, _ in
                // IOS's layout (NAPALM's get_facts reads `Default domain is`, `ip domain name`);
                // vrrpd resolves no names, so the table is empty.
                ctx.print("Default domain is \(ctx.config.domainName ?? "not set")")
                ctx.print("Name/address lookup uses static mappings")
                ctx.print("")
                ctx.print("Codes: UN - unknown, EX - expired, OK - OK, ?? - revalidate")
                ctx.print("       temp - temporary, perm - permanent")
                ctx.print("       NA - Not Applicable None - Not defined")
                ctx.print("")
                ctx.print("Host                      Port  Flags      Age Type   Address(es)")
                return .done(.success)
            },
        ]
    }
}
