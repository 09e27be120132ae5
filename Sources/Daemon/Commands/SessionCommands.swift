import Glibc
import CLI
import Channel
import NIOCore
import Time

/// Moving between modes: `enable`, `disable`, `configure terminal`, `exit`, `end`, `do`.
enum SessionCommands {
    static var declarations: [CommandDeclaration] {
        [
        CommandDeclaration("enable", help: ["Turn on privileged mode command"], modes: Modes.exec) { ctx, _ in
            guard ctx.session.mode == Modes.view else { return .done(.success) }
            guard let secret = ctx.config.enableSecret else {
                ctx.session.mode = Modes.enable
                return .done(.success)
            }
            return .input(prompt: "Password: ", hidden: true) { ctx, password in
                checkSecret(ctx, password: password, secret: secret, attempt: 1)
            }
        },
        CommandDeclaration(
            "terminal length (0-512)$lines", help: ["Set terminal line parameters", "Set number of lines on a screen", "Lines (0: no pausing)"],
            modes: Modes.exec
        ) { ctx, args in
            ctx.session.terminalLength = try args.value(\.lines)
            return .done(.success)
        },
        CommandDeclaration(
            "terminal width (0-512)$columns", help: ["Set terminal line parameters", "Set width of the display terminal", "Characters"],
            modes: Modes.exec
        ) { ctx, args in
            ctx.session.terminalWidth = try args.value(\.columns)
            return .done(.success)
        },
        CommandDeclaration(
            "terminal monitor", help: ["Set terminal line parameters", "Copy debug output to the current terminal line"],
            modes: Modes.exec, no: .sameArguments
        ) { ctx, args in
            ctx.session.terminalMonitor = !args.negated
            return .done(.success)
        },
        CommandDeclaration(
            "terminal no monitor", help: ["Set terminal line parameters", "Negate a command or set its defaults", "Copy debug output to the current terminal line"],
            modes: Modes.exec
        ) { ctx, _ in
            ctx.session.terminalMonitor = false
            return .done(.success)
        },
        CommandDeclaration("show clock", help: [Help.show, "Display the system clock"], modes: Modes.exec) { ctx, _ in
            ctx.print(iosClock(ctx.plane.clock.wallNow))
            return .done(.success)
        },
        // What Ansible's cisco.ios asks after `enable` to know it worked.
        CommandDeclaration("show privilege", help: [Help.show, "Show current privilege level"], modes: Modes.exec) { ctx, _ in
            ctx.print("Current privilege level is \(ctx.session.mode == Modes.view ? 1 : 15)")
            return .done(.success)
        },
        CommandDeclaration("show history", help: [Help.show, "Display the session command history"], modes: Modes.exec) { ctx, _ in
            for line in ctx.session.history { ctx.print("  " + line) }
            return .done(.success)
        },
        CommandDeclaration(
            "show terminal", help: [Help.show, "Display terminal configuration parameters"], modes: Modes.exec
        ) { ctx, _ in
            let session = ctx.session
            ctx.print("Line \(session.id), session of \(session.client)")
            ctx.print("Length: \(session.terminalLength) lines, Width: \(session.terminalWidth) columns")
            ctx.print("Monitor: \(session.terminalMonitor ? "on" : "off")")
            ctx.print("History is enabled, history size is \(Session.historySize).")
            return .done(.success)
        },
        CommandDeclaration("disable", help: ["Turn off privileged mode command"], modes: [Modes.enable]) { ctx, _ in
            ctx.session.mode = Modes.view
            return .done(.success)
        },
        CommandDeclaration(
            "configure terminal", help: ["Configuration from vty interface", "Configuration terminal"],
            modes: [Modes.enable]
        ) { ctx, _ in
            ctx.session.mode = Modes.config
            return .done(.success)
        },
        CommandDeclaration("exit", help: ["Exit current mode and down to previous mode"], modes: Modes.all) { ctx, _ in
            exit(ctx)
        },
        CommandDeclaration("quit", help: ["Exit current mode and down to previous mode"], modes: Modes.all) { ctx, _ in
            exit(ctx)
        },
        CommandDeclaration("end", help: ["End current mode and change to enable mode"], modes: Modes.configModes) {
            ctx, _ in
            ctx.session.mode = Modes.enable
            ctx.session.clearContext()
            return .done(.success)
        },
        // Handled by the grammar as a subcommand: the rest of the line is an enable-mode command.
        CommandDeclaration(
            "do LINE", help: ["To run exec commands in config mode", "Exec command"], modes: Modes.configModes
        ) { ctx, _ in
            .done(.success)
        },
    ]
    }

    static func exit(_ ctx: CommandContext) -> CommandOutcome {
        switch ctx.session.mode {
        case Modes.configInterface, Modes.configVLAN:
            ctx.session.mode = Modes.config
            ctx.session.clearContext()
        case Modes.config:
            ctx.session.mode = Modes.enable
        default:
            ctx.endsSession = true
        }
        return .done(.success)
    }

    /// As IOS: three tries per `enable`; the third wrong one ends it with `% Bad secrets`.
    static let enableTries = 3

    /// Checks an answer to `Password:` (off the control-plane thread: scrypt takes tens of ms)
    /// under the back-off of `EnableSecretGuard`: per client identity and shared, so opening
    /// more sessions guesses no faster. A wrong answer's reply comes after the wait the next
    /// answer of that identity faces (1 s, 2 s, 4 s, ... as far as the command deadline
    /// allows), then asks again until the `enableTries`th; an answer whose turn is further
    /// away than the deadline allows is refused unchecked, saying when to try again. Other
    /// sessions are not slowed, and the local administrator is held back by nobody's wrong
    /// answers but their own.
    static func checkSecret(_ ctx: CommandContext, password: String, secret: String, attempt: Int) -> CommandOutcome {
        let loop = ctx.loop
        let result = ctx.plane.secretChecks.check(password, against: secret, ctx).assumeIsolated().flatMap { verdict -> EventLoopFuture<Status> in
            switch verdict {
            case .right:
                ctx.session.mode = Modes.enable
                return loop.makeSucceededFuture(.success)
            case .refused(let message):
                ctx.print("% " + message)
                return loop.makeSucceededFuture(.error)
            case .wrong(let failures, let hold):
                ctx.plane.repeatedLines.log(
                    .wrongSecret, ctx.plane.logger, .notice, "wrong enable secret",
                    metadata: ["session": "\(ctx.session.id)", "from": "\(ctx.session.identity)", "in-a-row": "\(failures)"])
                return loop.scheduleFuture(after: hold, clock: ctx.plane.clock) {
                    guard attempt < enableTries else {
                        ctx.print("% Bad secrets")
                        return Status.error
                    }
                    ctx.print("% Access denied")
                    ctx.nextInput = ("Password: ", true, { ctx, password in checkSecret(ctx, password: password, secret: secret, attempt: attempt + 1) })
                    return Status.inputRequired
                }
            }
        }.nonisolated()
        return .pending(result, waitingFor: { "the check of the enable secret" })
    }
}

/// The time as IOS's `show clock` prints it: `*10:15:31.123 UTC Fri Dec 4 2026` (the `*`: not
/// set by NTP on this switch; vrrpd uses the host's clock).
func iosClock(_ time: WallTime) -> String {
    let parts = time.utc
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    let millis = time.milliseconds
    let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
    return "*\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction) UTC \(days[Int(parts.tm_wday)]) "
        + "\(months[Int(parts.tm_mon)]) \(parts.tm_mday) \(1900 + parts.tm_year)"
}
