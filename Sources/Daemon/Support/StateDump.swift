import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import SwitchHAL

/// What SIGUSR1 writes to the log (like keepalived's data dump): threads, locks, queues, pools,
/// and the control plane, so a stuck daemon can be diagnosed without vtysh. Everything is read
/// from the signal thread; the control plane is asked with a 0.5 s limit, and if it does not
/// answer the dump says so rather than wait.
enum StateDump {
    static func lines(hal service: HALService, plane: NIOLoopBound<ControlPlane>, watchdog: ControlPlaneWatchdog?) -> [String] {
        let hal = service.hal
        var out = ["=== vrrpd state dump (SIGUSR1) ==="]
        out.append(watchdog?.status ?? "control plane: starting")
        let answer = NIOLockedValueBox<[String]?>(nil)
        let done = DispatchSemaphore(value: 0)
        plane.eventLoop.execute {
            let p = plane.value
            var lines = ["sessions: \(p.sessions.count) open; commands run \(p.statistics.commands), timed out \(p.statistics.commandTimeouts)"]
            lines.append("HAL commit queue: \(p.committer.activity)")
            lines.append("HAL configuration: \(p.committer.isInSync ? "in sync" : "catching up")")
            lines.append(p.nat.summary.withLockedValue { $0 })
            answer.withLockedValue { $0 = lines }
            done.signal()
        }
        if done.wait(timeout: .now() + .milliseconds(500)) == .timedOut {
            out.append("control plane did not answer within 0.5 s")
        } else {
            out += answer.withLockedValue { $0 } ?? []
        }
        out.append("HAL threads:")
        out += HALCommands.threadReport(hal).map { "  " + $0 }
        out.append("HAL locks:")
        for lock in hal.lockSnapshots {
            var line = "  \(lock.name) (rank \(lock.rank)): "
            if let holder = lock.holder {
                line += "held by \(holder.thread) (tid \(holder.tid), \(holder.operation)) for \(fixed(holder.seconds, 3)) s"
                    + (holder.site.map { " at \($0)" } ?? "")
            } else {
                line += "free"
            }
            line += "; \(lock.acquisitions) acquisitions, \(lock.contended) contended, \(lock.timeouts) timeouts"
            out.append(line)
            for waiter in lock.waiters {
                out.append("    waiting: \(waiter.thread) (tid \(waiter.tid), \(waiter.operation)) for \(fixed(waiter.seconds, 3)) s")
            }
        }
        let rx = hal.rx.statistics
        out.append("RX pool: \(rx.inUse)/\(rx.poolBuffers) buffers in use (high-water \(rx.highWater)), \(rx.queued) queued for l2x; "
            + "offered \(rx.offered), accepted \(rx.accepted), dropped no-buffer \(rx.droppedNoBuffer); CPU queue drops \(hal.cpuQueueDrops)")
        out.append("CPU policers (passed/dropped): " + hal.cpuStatistics.map { "\($0.cpuClass.keyword) \($0.passed)/\($0.dropped)" }.joined(separator: ", "))
        for sub in hal.subscriptions {
            out.append("subscriber \(sub.name): \(sub.queued)/\(sub.capacity) queued, \(sub.delivered) delivered, \(sub.overflowed) lost")
        }
        let gen = hal.generatorStatus
        if let job = gen.job {
            out.append("generator: \(gen.running ? "running" : "finished"), \(gen.sent)/\(job.count) frames on eth\(job.port) VLAN \(job.vlan)")
        }
        let faults = hal.faults.summary
        out.append("faults: " + (faults.isEmpty ? "none" : faults.joined(separator: "; ")))
        out.append("witness: \(Witness.shared.isEnabled ? "on" : "off"), \(Witness.shared.reports.count) finding(s)")
        out.append("=== end of dump ===")
        return out
    }
}
