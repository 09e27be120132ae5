import CLI

/// The global lines FRR's `write file` (and IOS) put in a configuration that mean nothing on
/// this switch: accepted, so that such a file loads with no error, and each answered with a
/// one-line note saying what was ignored and why. Nothing is stored or rendered.
enum CompatibilityCommands {
    private static func ignored(_ why: String) -> (CommandContext, Arguments) throws -> CommandOutcome {
        { ctx, _ in
            let line = ctx.line.trimmingCharacters(in: .whitespaces)
            if ctx.loading {
                ctx.plane.logger.info("ignored \"\(line)\": \(why)")
            } else {
                ctx.print("% Note: \"\(line)\" ignored: \(why)")
            }
            return .done(.success)
        }
    }

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "frr version WORD$line", help: ["FRRouting global parameters", "The FRR version that wrote the file", "Version"],
                modes: [Modes.config], run: ignored("a line FRR writes for itself")),
            CommandDeclaration(
                "frr defaults <traditional|datacenter>",
                help: ["FRRouting global parameters", "Profile of defaults", "Defaults for a traditional network", "Defaults for a data centre"],
                modes: [Modes.config], run: ignored("vrrpd has one set of defaults")),
            CommandDeclaration(
                "service integrated-vtysh-config", help: ["Set up miscellaneous service", "Write one configuration file for every daemon"],
                modes: [Modes.config], no: .sameArguments, run: ignored("vrrpd always writes one file (write file)")),
            CommandDeclaration(
                "ip forwarding", help: [Help.ip, "Turn on IP forwarding"],
                modes: [Modes.config], no: .sameArguments, run: ignored("the switch always routes between its SVIs")),
            CommandDeclaration(
                "ipv6 forwarding", help: ["IPv6 configuration", "Turn on IPv6 forwarding"],
                modes: [Modes.config], no: .sameArguments, run: ignored("the switch does not route IPv6 (VRRPv3 for IPv6 needs no forwarding)")),
            CommandDeclaration(
                "log LINE", help: ["Logging control", "Where and what to log"],
                modes: [Modes.config], no: .sameArguments, run: ignored("vrrpd's log is set by --log-file and --log-level")),
            CommandDeclaration(
                "line vty", help: ["Configure a terminal line", "Virtual terminal"],
                modes: [Modes.config], run: ignored("vty settings are global here (exec-timeout)")),
            CommandDeclaration(
                "agentx", help: ["SNMP AgentX protocol settings"],
                modes: [Modes.config], no: .sameArguments, run: ignored("vrrpd has no SNMP subagent yet")),
            CommandDeclaration(
                "password LINE", help: ["Assign the terminal connection password", "The password"],
                modes: [Modes.config], run: ignored("logins are the system's (SSH), privileged mode is enable secret")),
        ]
    }
}
