import CLI
import Channel
import Glibc
import NetTypes
import NIOCore
import Time

/// Global system settings and status: `hostname`, `enable secret`, `show version`, `show users`.
enum SystemCommands {
    static var declarations: [CommandDeclaration] {
        [
        CommandDeclaration(
            "hostname WORD$name", help: ["Set system's network name", "This system's network name"],
            modes: [Modes.config], no: .optionalValues,
            show: { config, _ in [Arguments().with(\.name, config.hostname)] }
        ) { ctx, args in
            guard !args.negated else { return ctx.commit { $0.setHostname(RunningConfig.defaultHostname); return nil } }
            let name = try args.value(\.name)
            guard isValidHostname(name) else {
                return ctx.refuse(
                    "Invalid hostname \"\(name)\": use up to 63 letters, digits and hyphens, starting with a letter")
            }
            return ctx.commit { $0.setHostname(name); return nil }
        },
        CommandDeclaration(
            "ip domain name WORD$domain", help: [Help.ip, "IP DNS Resolver", "Define the default domain name", "The domain (e.g. lab.example.net)"],
            modes: [Modes.config], no: .optionalValues,
            show: { config, _ in config.domainName.map { [Arguments().with(\.domain, $0)] } ?? [] }
        ) { ctx, args in try setDomainName(ctx, args) },
        // IOS's older spelling, taken as the same line (shown as `ip domain name`).
        CommandDeclaration(
            "ip domain-name WORD$domain", help: [Help.ip, "Define the default domain name", "The domain (e.g. lab.example.net)"],
            modes: [Modes.config], no: .optionalValues
        ) { ctx, args in try setDomainName(ctx, args) },
        CommandDeclaration(
            "exec-timeout (0-35791)$minutes [(0-2147483)$seconds]",
            help: ["Set the EXEC timeout: how long an idle session stays open", "Timeout in minutes (0 0: never)", "Timeout in seconds"],
            modes: [Modes.config], no: .optionalValues,
            show: { config, _ in
                guard let total = config.execTimeout else { return [] }
                return [Arguments().with(\.minutes, total / 60).with(\.seconds, total % 60)]
            }
        ) { ctx, args in
            let total = args.negated ? nil : (args[\.minutes] ?? 10) * 60 + (args[\.seconds] ?? 0)
            return ctx.commit { $0.setExecTimeout(total == RunningConfig.defaultExecTimeout ? nil : total); return nil }
        },
        CommandDeclaration(
            "enable secret [<0|9>$encoding] PASSWORD$secret",
            help: [
                "Modify enable password parameters", "Assign the privileged level secret",
                "Specifies an UNENCRYPTED password will follow", "Specifies a SCRYPT-hashed secret will follow",
                "The secret (or, after 9, its hash)",
            ],
            modes: [Modes.config], no: .optionalValues,
            show: { config, _ in
                config.enableSecret.map { [Arguments().with(\.encoding, .hashed).with(\.secret, $0)] } ?? []
            }
        ) { ctx, args in
            guard !args.negated else { return ctx.commit { $0.setEnableSecret(nil); return nil } }
            let secret = try args.value(\.secret)
            if args[\.encoding] == .hashed {
                guard EnableSecret.isWellFormed(secret) else {
                    return ctx.refuse("Invalid type 9 secret: expected $9$ followed by a 14-character salt, $ and a 43-character hash")
                }
                return ctx.commit { $0.setEnableSecret(secret); return nil }
            }
            guard secret.count >= 1, secret.count <= 127 else {
                return ctx.refuse("The secret must be 1 to 127 characters long")
            }
            let hashed = ctx.plane.authPool.runIfActive(eventLoop: ctx.loop) { try EnableSecret.hash(secret) }.flatMapErrorThrowing { error in
                throw DaemonError("Cannot hash the secret: \(error)")
            }
            return ctx.after(hashed, waitingFor: { "the key derivation of the enable secret" }) { hash in
                guard !ctx.abandoned else { return .done(.cancelled) }
                return ctx.commit { $0.setEnableSecret(hash); return nil }
            }
        },
        CommandDeclaration(
            "show version", help: [Help.show, "vrrpd version, uptime and status"], modes: Modes.exec
        ) { ctx, _ in
            let plane = ctx.plane
            let stats = plane.statistics
            let sessionStats = plane.sessions.statistics
            ctx.print("vrrpd \(plane.options.version), command channel protocol \(Frame.version)")
            ctx.print("Hostname: \(plane.live.config.hostname)")
            let chip = plane.hal.hal.chip
            ctx.print("Chip: \(chip.name) (\(chip.summary)), base MAC \(plane.hal.hal.baseMAC.dottedDescription)")
            ctx.print("Uptime: \(formatUptime(plane.clock.elapsed(since: plane.startedAt)))")
            ctx.print("PID: \(getpid())")
            ctx.print("Socket: \(plane.options.socketPath)")
            if let load = plane.startup.loading, load.total == 0 {
                ctx.print("Startup config: \(plane.options.configPath) (reading)")
            } else if let load = plane.startup.loading {
                ctx.print("Startup config: \(plane.options.configPath) (loading: \(load.done) of \(load.total) lines, \(load.errors) error(s) so far)")
            } else {
                ctx.print("Startup config: \(plane.options.configPath) (\(plane.startup.text))")
            }
            ctx.print("Command deadline: \(formatSeconds(plane.options.commandTimeout.inSeconds)), HAL call deadline: \(formatSeconds(plane.hal.callTimeout))")
            ctx.print(FaultInjection.status(plane.options.allowFaultInjection))
            // "In sync" only when every table is: the committer's and the NAT service's (as the
            // NAT thread last saw it: a busy NAT thread never holds up show version).
            let natInSync = plane.nat.inSyncLastSeen
            do {
                var behind: [String] = []
                if !plane.committer.isInSync { behind.append("VLANs, ports, MACs or SVIs") }
                if !natInSync { behind.append("the NAT table (show ip nat statistics)") }
                ctx.print("HAL configuration: " + (behind.isEmpty ? "in sync" : "catching up: \(behind.joined(separator: " and ")) (a HAL call failed or timed out; it is re-applied every 2 s)"))
                ctx.print(
                    "Sessions: \(plane.sessions.count) active, \(sessionStats.opened) since start, \(sessionStats.refused) refused, \(sessionStats.silentClosed) closed without HELLO")
                ctx.print(
                    "Commands: \(stats.commands) run, \(stats.commandTimeouts) timed out; protocol errors: \(stats.protocolErrors)")
                // The lines IOS tools read (ntc-templates, napalm, Ansible facts), in IOS's words.
                let mac = plane.hal.hal.baseMAC
                ctx.print("")
                // `Cisco IOS Software, ` and `... bytes of memory.` are what NAPALM's get_facts
                // reads the version and the model from.
                ctx.print("Cisco IOS Software, vrrpd Software (vrrpd-\(chip.name)), Version \(plane.options.version), RELEASE SOFTWARE (simulated)")
                ctx.print("\(plane.live.config.hostname) uptime is \(iosUptime(plane.clock.elapsed(since: plane.startedAt)))")
                ctx.print("System image file is \"flash:vrrpd\"")
                ctx.print("Last reload reason: process start")
                ctx.print("")
                ctx.print("cisco vrrpd-\(chip.name) (simulated) processor with \(physicalMemoryKiB())K bytes of memory.")
                ctx.print("Processor board ID \(boardID(mac))")
                ctx.print("Base ethernet MAC Address       : \(mac)")
                return .done(.success)
            }
        },
        CommandDeclaration(
            "show users", help: [Help.show, "Sessions connected to vrrpd"], modes: Modes.exec
        ) { ctx, _ in
            // IOS's layout (ntc-templates parse it): line = session, Host(s) = its mode,
            // Location = the client (spaces as underscores).
            ctx.print("    Line       User       Host(s)              Idle       Location")
            let now = ctx.plane.clock.now
            for session in ctx.plane.sessions.inOrder {
                let marker = session === ctx.session ? "*" : " "
                let idle = formatUptime(now.duration(since: session.lastActivity))
                let clock = String(idle.split(separator: " ").last ?? "00:00:00")
                let line = pad(String(session.id), 3, left: true) + " vty \(session.id - 1)"
                let location = session.client.replacingSpaces(with: "_")
                ctx.print(marker + " " + pad(line, 10) + "  " + pad("-", 10) + " " + pad(session.mode.name, 20) + " " + pad(clock, 10) + " " + location)
            }
            return .done(.success)
        },
    ]
    }

    static func isValidHostname(_ name: String) -> Bool {
        guard (1...63).contains(name.count), name.first!.isLetter, name.last != "-" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }
}

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? padding + text : text + padding
}

func formatUptime(_ uptime: Duration, short: Bool = false) -> String {
    let total = Int(uptime.components.seconds)
    let days = total / 86400
    let clock = "\(pad2(total / 3600 % 24)):\(pad2(total / 60 % 60)):\(pad2(total % 60))"
    if short { return days > 0 ? "\(days)d\(pad2(total / 3600 % 24))h" : clock }
    return "\(days) days, \(clock)"
}

/// Uptime as IOS says it: "1 week, 2 days, 3 hours, 4 minutes" (zero parts left out, minutes
/// always).
func iosUptime(_ uptime: Duration) -> String {
    let minutes = Int(uptime.components.seconds / 60)
    let parts = [(minutes / 10080, "week"), (minutes / 1440 % 7, "day"), (minutes / 60 % 24, "hour")].filter { $0.0 > 0 }
        + [(minutes % 60, "minute")]
    return parts.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }.joined(separator: ", ")
}

private func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }

extension SystemCommands {
    /// The switch's serial number as IOS prints it (`Processor board ID`, `show snmp chassis`):
    /// its base MAC in 12 hex digits.
    static func boardID(_ mac: MACAddress) -> String {
        let serial = String(mac.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 12 - serial.count)) + serial
    }

    /// The machine's memory, in KiB (what `show version`'s model line says the box has).
    static func physicalMemoryKiB() -> Int {
        sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE)) / 1024
    }

    /// `[no] ip domain name NAME`: the domain `show hosts` names (NAPALM's fqdn is HOST.NAME).
    static func setDomainName(_ ctx: CommandContext, _ args: Arguments) throws -> CommandOutcome {
        guard !args.negated else { return ctx.commit { $0.setDomainName(nil); return nil } }
        let domain = try args.value(\.domain).lowercased()
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard domain.count <= 253, !labels.isEmpty, labels.allSatisfy({ label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }) else {
            return ctx.refuse("Invalid domain name \"\(domain)\": labels of letters, digits and hyphens separated by dots (e.g. lab.example.net)")
        }
        return ctx.commit { $0.setDomainName(domain); return nil }
    }
}
