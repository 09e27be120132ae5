import CLI
import Channel
import Glibc
import Time

/// What fault injection may do, and whether it may at all. The `test fault` commands make the
/// switch misbehave on purpose (a frozen control plane, a HAL thread sitting on a table lock, a
/// slow disk) so that labs and tests can watch the deadlines work; on a production switch they
/// would let any privileged session freeze it. So they run only in a vrrpd started with
/// `--allow-fault-injection` (`show version` says which), and each is bounded: no duration
/// beyond its limit, no stall of a thread that is stalled already, and control-plane blocks
/// spaced so that repeating one cannot keep the switch frozen.
enum FaultInjection {
    static let flag = "--allow-fault-injection"
    /// What a `test fault` command answers in a vrrpd started without the flag.
    static let refusal = "Fault injection is off in this vrrpd: start it with \(flag) to use test fault (labs and tests only)"

    /// The longest `test fault control-plane block` (every session waits for it).
    static let maxControlPlaneBlockMilliseconds = 3_000
    /// A block is refused until this long after the previous one ended.
    static let controlPlaneBlockSpacingSeconds = 10
    /// The longest HAL stall (`test fault hal stall`, also its "until cleared").
    static let maxHALStallMilliseconds = 60_000
    /// The longest injected delay of a startup-config save step.
    static let maxConfigWriteDelayMilliseconds = 10_000
    /// The longest injected delay of link changes.
    static let maxLinkDelayMilliseconds = 10_000

    /// `show version`'s line.
    static func status(_ allowed: Bool) -> String {
        allowed
            ? "Fault injection: allowed (\(flag)): control-plane block up to \(formatSeconds(Double(maxControlPlaneBlockMilliseconds) / 1000)) once per \(controlPlaneBlockSpacingSeconds) s, HAL stalls up to \(maxHALStallMilliseconds / 1000) s"
            : "Fault injection: off (test fault needs vrrpd \(flag))"
    }

    /// A `test fault SYNTAX` command (privileged), refused unless vrrpd allows fault injection.
    static func command(
        _ syntax: String, help: [String], run: @escaping (CommandContext, Arguments) throws -> CommandOutcome
    ) -> CommandDeclaration {
        CommandDeclaration("test fault " + syntax, help: [Help.test, Help.fault] + help, modes: [Modes.enable]) { ctx, args in
            guard ctx.plane.options.allowFaultInjection else { return ctx.refuse(refusal) }
            return try run(ctx, args)
        }
    }
}

/// Fault injection for labs and tests (privileged, and only with `--allow-fault-injection`):
/// make the startup-config writer slow or failing, or block the control plane, to watch
/// deadlines and error paths work on a real daemon.
enum DiagnosticCommands {
    static let stepSyntax = "<create|write|fsync|backup|rename|sync-directory>$step"
    static let stepHelp = [
        "Creating the temporary file", "Writing the data (fails after half of it)", "fsync of the temporary file",
        "Keeping the previous file as .sav", "Renaming into place", "fsync of the directory",
    ]

    static var declarations: [CommandDeclaration] {
        [
        FaultInjection.command(
            "config-write delay (1-\(FaultInjection.maxConfigWriteDelayMilliseconds))$ms [step \(stepSyntax)]",
            help: ["Saves of the startup configuration", "Make a step slow",
                   "Milliseconds", "The step to slow down (default fsync)"] + stepHelp
        ) { ctx, args in
            let step = args[\.step] ?? .fsync
            let ms = try args.value(\.ms)
            ctx.plane.store.faults.withLockedValue {
                $0.delayStep = step
                $0.delayMilliseconds = ms
            }
            ctx.plane.logger.warning("fault injected: config-write \(step.rawValue) delayed by \(ms) ms")
            return .done(.success)
        },
        FaultInjection.command(
            "config-write fail \(stepSyntax) [<enospc|eio|erofs>$errno]",
            help: ["Saves of the startup configuration", "Make a step fail"] + stepHelp
                + ["No space left on device", "Input/output error", "Read-only file system"]
        ) { ctx, args in
            let step = try args.value(\.step)
            let code = (args[\.errno] ?? .eio).code
            ctx.plane.store.faults.withLockedValue {
                $0.failStep = step
                $0.failErrno = code
            }
            ctx.plane.logger.warning("fault injected: config-write \(step.rawValue) fails")
            return .done(.success)
        },
        FaultInjection.command(
            "control-plane block (1-\(FaultInjection.maxControlPlaneBlockMilliseconds))$ms",
            help: ["The control plane itself", "Block its thread (a bug on purpose: the watchdog reports it)", "Milliseconds"]
        ) { ctx, args in
            let ms = try args.value(\.ms)
            // Spaced: blocks sent one after the other (a loop, many sessions) would otherwise add
            // up to a switch that never answers.
            let spacing = Duration.seconds(FaultInjection.controlPlaneBlockSpacingSeconds)
            let now = ctx.plane.clock.now  // read once: the checks below agree with each other
            if let ended = ctx.plane.faultBlockEnded, now < ended + spacing {
                let wait = (ended + spacing - now).inSeconds
                return ctx.refuse(
                    "The control plane was blocked \(formatSeconds((now - ended).inSeconds)) ago: one block per \(FaultInjection.controlPlaneBlockSpacingSeconds) s (try again in \(formatSeconds(wait)))")
            }
            ctx.plane.logger.warning("fault injected: blocking the control-plane thread for \(ms) ms")
            usleep(useconds_t(ms) * 1000)
            ctx.plane.faultBlockEnded = ctx.plane.clock.now
            return .done(.success)
        },
        FaultInjection.command("config-write clear", help: ["Saves of the startup configuration", "Remove injected faults"]) { ctx, _ in
            ctx.plane.store.faults.withLockedValue { $0 = WriteFaults() }
            ctx.plane.logger.notice("config-write faults cleared")
            return .done(.success)
        },
    ]
    }
}
