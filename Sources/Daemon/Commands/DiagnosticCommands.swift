import CLI
import Channel
import Glibc

/// Fault injection for labs and tests (privileged): make the startup-config writer slow or
/// failing, to watch deadlines and error paths work on a real daemon.
enum DiagnosticCommands {
    static let stepSyntax = "<create|write|fsync|backup|rename|sync-directory>$step"
    static let stepHelp = [
        "Creating the temporary file", "Writing the data (fails after half of it)", "fsync of the temporary file",
        "Keeping the previous file as .sav", "Renaming into place", "fsync of the directory",
    ]

    static var declarations: [CommandDeclaration] {
        [
        CommandDeclaration(
            "test fault config-write delay (1-600000)$ms [step \(stepSyntax)]",
            help: [Help.test, Help.fault, "Saves of the startup configuration", "Make a step slow",
                   "Milliseconds", "The step to slow down (default fsync)"] + stepHelp,
            modes: [Modes.enable]
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
        CommandDeclaration(
            "test fault config-write fail \(stepSyntax) [<enospc|eio|erofs>$errno]",
            help: [Help.test, Help.fault, "Saves of the startup configuration", "Make a step fail"] + stepHelp
                + ["No space left on device", "Input/output error", "Read-only file system"],
            modes: [Modes.enable]
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
        CommandDeclaration(
            "test fault control-plane block (1-60000)$ms",
            help: [Help.test, Help.fault, "The control plane itself", "Block its thread (a bug on purpose: the watchdog reports it)",
                   "Milliseconds"],
            modes: [Modes.enable]
        ) { ctx, args in
            let ms = try args.value(\.ms)
            ctx.plane.logger.warning("fault injected: blocking the control-plane thread for \(ms) ms")
            usleep(useconds_t(ms) * 1000)
            return .done(.success)
        },
        CommandDeclaration(
            "test fault config-write clear",
            help: [Help.test, Help.fault, "Saves of the startup configuration", "Remove injected faults"],
            modes: [Modes.enable]
        ) { ctx, _ in
            ctx.plane.store.faults.withLockedValue { $0 = WriteFaults() }
            ctx.plane.logger.notice("config-write faults cleared")
            return .done(.success)
        },
    ]
    }
}
