import CLI
import SwitchHAL

/// Control-plane policing (CoPP): the rate at which the data path may hand the CPU each kind of
/// frame, as IOS's `police rate N pps burst M packets` in a control-plane class and SONiC's
/// CoPP groups set it. The policers are the HAL's (docs/hal.md, "Control-plane policing");
/// `show hal rx` shows them with their counters.
enum ControlPlaneCommands {
    static let classKeywords = CPUClass.allCases.map(\.keyword).joined(separator: "|")
    static let classHelp = CPUClass.allCases.map { $0.summary.prefix(1).uppercased() + $0.summary.dropFirst() }

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "control-plane police <\(classKeywords)>$cpuclass rate (1-\(PolicerRate.maxPacketsPerSecond))$pps pps [burst (1-\(PolicerRate.maxBurst))$burst packets]",
                help: ["Control-plane policing: what the data path may hand the CPU", "Police one class of frames to the CPU"] + classHelp
                    + ["The rate", "Packets per second", "Packets per second", "What may pass at once after a quiet spell (default: one second's worth)",
                       "Packets", "Packets"],
                modes: [Modes.config],
                no: .custom(
                    "control-plane police <\(classKeywords)>$cpuclass [rate (1-\(PolicerRate.maxPacketsPerSecond))$pps pps [burst (1-\(PolicerRate.maxBurst))$burst packets]]",
                    help: ["Control-plane policing", "Set the class's policer back to its default"] + classHelp
                        + ["The rate", "Packets per second", "Packets per second", "Burst", "Packets", "Packets"]),
                show: { config, _ in
                    config.cpuPolicers.keys.sorted().map { cpuClass in
                        let rate = config.cpuPolicers[cpuClass]!
                        return Arguments().with(\.cpuclass, cpuClass).with(\.pps, rate.packetsPerSecond).with(\.burst, rate.burst)
                    }
                }
            ) { ctx, args in
                let cpuClass = try args.value(\.cpuclass)
                if args.negated { return ctx.commit { $0.setCPUPolicer(cpuClass, nil); return nil } }
                let pps = try args.value(\.pps)
                let rate = PolicerRate(packetsPerSecond: pps, burst: args[\.burst] ?? min(pps, PolicerRate.maxBurst))
                if let problem = rate.problem { return ctx.refuse(problem) }
                return ctx.commit { $0.setCPUPolicer(cpuClass, rate); return nil }
            },
        ]
    }
}
