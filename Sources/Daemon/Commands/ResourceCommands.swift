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
                var rows: [(id: Int, name: String, ms: Int64, invoked: Int, load: (Double, Double, Double))] = []
                for thread in ProcessUsage.readProc()?.threads ?? [] {
                    let readings = usage.threads[thread.id] ?? []
                    rows.append((thread.id, thread.name, thread.cpu.inMilliseconds, thread.invoked,
                                 (usage.utilisation(readings, over: .seconds(5)), usage.utilisation(readings, over: .seconds(60)),
                                  usage.utilisation(readings, over: .seconds(300)))))
                }
                if args[\.sorted] { rows.sort { $0.load.0 > $1.load.0 } }
                for row in rows {
                    let micros = row.invoked > 0 ? Int(row.ms) * 1000 / row.invoked : 0
                    ctx.print(String(format: "%4d %11lld %11d %10d %5.2f%% %5.2f%% %5.2f%% %3d ", row.id, row.ms, row.invoked, micros,
                                     row.load.0, row.load.1, row.load.2, 0) + row.name)
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
