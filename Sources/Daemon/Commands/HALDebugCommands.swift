import Glibc
import CLI
import Channel
import SwitchHAL
import Time

/// Seeing inside a stuck HAL (witness, watchdog, call trace) and making it stuck on purpose
/// (fault injection, only with `--allow-fault-injection`, bounded: `FaultInjection`). The
/// `debug` and `test` commands are privileged and change no configuration.
enum HALDebugCommands {
    static let operations = [
        "l2_addr_add", "l2_addr_delete", "l2_addr_get", "l2_addr_delete_by", "l2_traverse", "l2_replace", "l2_conflict_get",
        "l2_age_timer_set", "l2_learn_limit_set", "l2_count", "vlan_create", "vlan_destroy", "port_set", "port_link_set",
        "port_status_get", "svi_set", "svi_destroy", "nat_entry_add", "nat_entry_delete", "nat_entry_delete_all", "nat_entry_get",
        "nat_entry_traverse", "nat_hit_collect", "nat_translate", "nat_stat_get",
    ]

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "debug hal witness", help: [Help.debug, Help.hal, "The lock-order witness (reports the first inversion)"],
                modes: [Modes.enable], no: .sameArguments
            ) { ctx, args in
                Witness.shared.isEnabled = !args.negated
                ctx.plane.logger.notice("HAL lock-order witness \(args.negated ? "off" : "on")")
                return .done(.success)
            },
            CommandDeclaration(
                "show hal witness", help: [Help.show, Help.hal, "Lock-order witness findings"], modes: Modes.exec
            ) { ctx, _ in
                let reports = Witness.shared.reports
                ctx.print("Witness: \(Witness.shared.isEnabled ? "on" : "off"), \(reports.count) finding(s)")
                for report in reports { ctx.print("  " + report.message) }
                return .done(.success)
            },
            CommandDeclaration(
                "debug hal calls", help: [Help.debug, Help.hal, "Log every HAL call: thread, arguments, result, duration"],
                modes: [Modes.enable], no: .sameArguments
            ) { ctx, args in
                ctx.plane.hal.setTraceToLog(!args.negated)
                return .done(.success)
            },
            CommandDeclaration(
                "debug hal watchdog threshold (10-600000)$ms",
                help: [Help.debug, Help.hal, "The lock watchdog", "Report locks held or waited for longer than this",
                       "Milliseconds (default 1000)"],
                modes: [Modes.enable]
            ) { ctx, args in
                ctx.plane.hal.hal.watchdog.threshold = Double(try args.value(\.ms)) / 1000
                return .done(.success)
            },
            FaultInjection.command(
                "hal stall <l2x|ager|nat>$thread [(1-\(FaultInjection.maxHALStallMilliseconds))$ms]",
                help: [Help.hal, "Make a HAL thread hold a table lock and do nothing",
                       "The L2 worker (holds l2.table)", "The ager (holds l2.table)", "A nat-fault thread holds nat.table",
                       "For this many milliseconds (default: until cleared, at most \(FaultInjection.maxHALStallMilliseconds / 1000) s)"]
            ) { ctx, args in
                let target = try args.value(\.thread)
                let thread = target == .nat ? "nat-fault" : target.rawValue
                // One stall at a time per thread: repeating the command never stretches it.
                if let left = ctx.plane.hal.hal.faults.stallLeft(target) {
                    let remaining = left.isFinite ? "\(formatSeconds(left)) left" : "until cleared"
                    return ctx.fail("\(thread) is stalled already (\(remaining)); test fault hal stall clear ends it")
                }
                let ms = args[\.ms] ?? FaultInjection.maxHALStallMilliseconds
                if target == .nat {
                    ctx.plane.hal.hal.stallNATTable(milliseconds: ms)
                } else {
                    ctx.plane.hal.hal.faults.stall(target, milliseconds: ms)
                }
                let duration = args[\.ms].map { " for \($0) ms" } ?? " until cleared (at most \(ms / 1000) s)"
                ctx.plane.logger.warning("fault injected: \(thread) stalls holding \(target.lock)\(duration)")
                // The reply comes once the thread holds the lock (it notices on its next turn),
                // so that what the user types next meets the stall.
                let hal = ctx.plane.hal.hal
                let lock = target.lock
                let held = ctx.plane.pool.runIfActive(eventLoop: ctx.loop) { () -> Bool in
                    let deadline = SystemClock.deadline(after: .seconds(2))
                    while SystemClock.now < deadline {
                        if hal.lockSnapshots.contains(where: { $0.name == lock && $0.holder?.thread == thread }) { return true }
                        usleep(1_000)
                    }
                    return false
                }
                return ctx.after(held, waitingFor: { "\(thread) to take \(lock)" }) { held in
                    if !held { ctx.print("% \(thread) has not taken \(lock) yet; it will on its next turn") }
                    return .success
                }
            },
            FaultInjection.command(
                "hal stall clear", help: [Help.hal, "Make a HAL thread hold l2.table and do nothing", "End the stalls"]
            ) { ctx, _ in
                ctx.plane.hal.hal.faults.clearStalls()
                ctx.plane.logger.notice("HAL stalls cleared")
                return .done(.success)
            },
            FaultInjection.command(
                "hal inversion", help: [Help.hal, "Take hal.ports and l2.table in the wrong order (once, with a deadline)"]
            ) { ctx, _ in
                ctx.hal("inversion", { hal, _ in hal.injectInversion() }) { _ in
                    let found = Witness.shared.reports.filter { $0.thread == "fault-inversion" }
                    if Witness.shared.isEnabled {
                        ctx.print("Inversion done; the witness reported \(found.count) finding(s) (show hal witness)")
                    } else {
                        ctx.print("Inversion done; the witness is off (debug hal witness)")
                    }
                    return .success
                }
            },
            FaultInjection.command(
                "hal fail WORD$operation count (1-1000000)$count error <full|not-found|exists|param|busy|resource|internal>$error",
                help: [Help.hal, "Make calls of a HAL operation fail",
                       "The operation (l2_addr_add, l2_addr_delete_by, vlan_create, port_set, ...)", "How many calls",
                       "Number of calls", "The error to return", "FULL (-6)", "NOT_FOUND (-7)", "EXISTS (-8)", "PARAM (-4)",
                       "BUSY (-10)", "RESOURCE (-14)", "INTERNAL (-1)"]
            ) { ctx, args in
                let operation = try args.value(\.operation)
                guard operations.contains(operation) else {
                    return ctx.refuse("Unknown HAL operation \(operation); one of: \(operations.joined(separator: ", "))")
                }
                let count = try args.value(\.count)
                ctx.plane.hal.hal.faults.fail(operation, count: count, with: try args.value(\.error).halError)
                ctx.plane.logger.warning("fault injected: next \(count) call(s) of \(operation) fail")
                return .done(.success)
            },
            FaultInjection.command(
                "hal rx-exhaust <on|off>$state",
                help: [Help.hal, "Make the RX pool behave as if empty", "Every frame is dropped", "Back to normal"]
            ) { ctx, args in
                ctx.plane.hal.hal.rx.setExhausted(args[\.state] == .on)
                return .done(.success)
            },
            FaultInjection.command(
                "hal link-delay (0-\(FaultInjection.maxLinkDelayMilliseconds))$ms",
                help: [Help.hal, "Delay every link change", "Milliseconds (0: none)"]
            ) { ctx, args in
                ctx.plane.hal.hal.faults.setLinkDelay(milliseconds: try args.value(\.ms))
                return .done(.success)
            },
            FaultInjection.command("hal clear", help: [Help.hal, "Remove every injected HAL fault"]) { ctx, _ in
                ctx.plane.hal.hal.faults.clearAll()
                ctx.plane.hal.hal.rx.setExhausted(false)
                ctx.plane.logger.notice("HAL faults cleared")
                return .done(.success)
            },
            CommandDeclaration(
                "show hal faults", help: [Help.show, Help.hal, "Injected faults"], modes: Modes.exec
            ) { ctx, _ in
                var lines = ctx.plane.hal.hal.faults.summary
                if ctx.plane.hal.hal.rx.statistics.exhaustedByFault { lines.append("the RX pool behaves as if empty") }
                ctx.print(lines.isEmpty ? "No HAL faults injected" : lines.joined(separator: "\n"))
                return .done(.success)
            },
        ]
    }
}

extension Help {
    static let debug = "Debugging functions"
}
