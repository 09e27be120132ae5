import Time
/// Control-plane policing: the CPU queues' policers (docs/hal.md, "Control-plane policing").
/// The settings are atomics the data path reads; no call takes a lock, so a stuck table never
/// delays them.
extension Switch {
    /// Sets the policer of one class (the rate takes effect with a full bucket).
    public func setCPUPolicer(_ cpuClass: CPUClass, _ rate: PolicerRate, deadline: Instant) throws {
        try traced("rx_policer_set", "class=\(cpuClass.keyword), \(rate)") {
            if let problem = rate.problem { throw HALError.param(problem) }
            cpu.policer.set(cpuClass, rate)
        }
    }

    /// Every class's policer setting (untraced, as the other reads the periodic check makes).
    public func cpuPolicers(deadline: Instant) throws -> [CPUClass: PolicerRate] {
        Dictionary(uniqueKeysWithValues: CPUClass.allCases.map { ($0, cpu.policer.rate($0)) })
    }

    /// Each class's setting, counters (since the last `clearCPUStatistics`) and queue depth, in
    /// priority order.
    public var cpuStatistics: [CPUClassStatistics] {
        CPUClass.allCases.map { cpuClass in
            let counts = cpu.policer.counts(cpuClass)
            return CPUClassStatistics(
                cpuClass: cpuClass, rate: cpu.policer.rate(cpuClass), passed: counts.passed, dropped: counts.dropped,
                queueFull: counts.queueFull, queued: cpu.queued(cpuClass))
        }
    }

    /// Zeroes the policers' counters (`clear hal rx counters`).
    public func clearCPUStatistics() { cpu.policer.clear() }
}
