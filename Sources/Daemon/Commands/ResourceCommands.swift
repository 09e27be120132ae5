import CLI
import Foundation

/// What the process uses, in IOS's layouts (NAPALM's get_environment reads them): the CPU of
/// vrrpd and of each of its threads over 5 s, 1 min and 5 min (`show processes cpu`), and its
/// memory (`show memory statistics`).
enum ResourceCommands {
    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "show processes cpu [sorted]",
                help: [Help.show, "Active process statistics", "CPU use of vrrpd and of each of its threads", "Busiest first (over 5 s)"],
                modes: Modes.exec
            ) { ctx, args in
                let usage = ctx.plane.usage
                let total = usage.processUtilisation
                ctx.print("CPU utilization for five seconds: \(Int(total.fiveSeconds.rounded()))%/0%; one minute: \(Int(total.oneMinute.rounded()))%; five minutes: \(Int(total.fiveMinutes.rounded()))%")
                ctx.print(" PID Runtime(ms)     Invoked      uSecs   5Sec   1Min   5Min TTY Process")
                // As last sampled (every 5 s): the command reads no /proc file itself.
                var rows = usage.threadLoads
                if args[\.sorted] { rows.sort { $0.load.fiveSeconds > $1.load.fiveSeconds } }
                for (thread, load) in rows {
                    let ms = thread.cpu.inMilliseconds
                    let micros = thread.invoked > 0 ? ms * 1000 / Int64(thread.invoked) : 0
                    ctx.print(String(format: "%4d %11lld %11d %10lld %5.2f%% %5.2f%% %5.2f%% %3d ", thread.id, ms, thread.invoked, micros,
                                     load.fiveSeconds, load.oneMinute, load.fiveMinutes, 0) + thread.name)
                }
                return .done(.success)
            },
            CommandDeclaration(
                "show memory statistics", help: [Help.show, "Memory statistics", "Memory pool statistics"], modes: Modes.exec
            ) { ctx, _ in
                // The processor pool is vrrpd's resident memory out of the machine's; it has no
                // I/O pool.
                let total = SystemCommands.physicalMemoryKiB() * 1024
                let used = ProcessUsage.residentBytes()
                let free = max(0, total - used)
                func row(_ name: String, _ values: [Int]) {
                    ctx.print(pad(name, 9, left: true) + pad("0", 11, left: true) + values.map { pad(String($0), 12, left: true) }.joined())
                }
                ctx.print("                Head    Total(b)     Used(b)     Free(b)   Lowest(b)  Largest(b)")
                row("Processor", [total, used, free, free, free])
                row("I/O", [0, 0, 0, 0, 0])
                return .done(.success)
            },
        ]
    }
}
