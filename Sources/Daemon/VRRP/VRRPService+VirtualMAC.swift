import NIOCore
import NetTypes
import SwitchHAL

/// The virtual MACs in the L2 table: a Master's is a static L3 entry on its VLAN pointing at the
/// CPU (so frames to it reach the router and are not flooded), removed when it stops being
/// Master.
///
/// One HAL call at a time brings the table to `wantedMACs`, in order, so a quick take-release
/// never lands reversed. The calls run on the HAL threads with the usual deadline: a stuck HAL
/// delays only this side effect. The failure is logged, shown in `show vrrp`, and retried every
/// second; the state machine and the advertisements carry on meanwhile. Every 10 s the entries
/// are checked against the table (a VLAN deleted and re-created takes its entries with it).
extension VRRPService {
    static let macRetrySeconds: Int64 = 1
    static let macVerifySeconds: Int64 = 10

    struct MACSyncResult: Sendable {
        var installed: [VirtualMAC] = []
        var removed: [VirtualMAC] = []
        var failure: String?
        var timedOut = false
    }

    /// Starts a HAL call if the table differs from what is wanted and none is running.
    func syncMACs(verify: Bool = false) {
        guard !macSyncInFlight, !shuttingDown else { return }
        let add = wantedMACs.subtracting(installedMACs).sorted()
        let remove = installedMACs.subtracting(wantedMACs).sorted()
        let check = verify ? wantedMACs.intersection(installedMACs).sorted() : []
        guard !add.isEmpty || !remove.isEmpty || !check.isEmpty else { return }
        macSyncInFlight = true
        macRetry?.cancel()
        macRetry = nil
        let started = VRRPService.now
        hal.call("vrrp virtual MAC", on: loop) { hal, deadline -> MACSyncResult in
            // Entry by entry: one that cannot be installed (a full bucket) does not hold up the
            // others; a timeout (the HAL is stuck) ends the call, the rest waits for the retry.
            var result = MACSyncResult()
            var failures: [String] = []
            func attempt(_ body: () throws -> Void) -> Bool {
                do {
                    try body()
                    return true
                } catch let error as HALError {
                    if case .timeout = error { result.timedOut = true }
                    failures.append("\(error)")
                } catch {
                    failures.append("\(error)")
                }
                return false
            }
            for entry in remove where !result.timedOut {
                let done = attempt {
                    do {
                        try hal.l2Delete(mac: entry.mac, vlan: entry.vlan, deadline: deadline)
                    } catch HALError.notFound {
                        // Already gone (the VLAN went, or someone cleared it): what we wanted.
                    }
                }
                if done { result.removed.append(entry) }
            }
            for entry in add + check where !result.timedOut {
                if check.contains(entry), let current = try? hal.l2Get(mac: entry.mac, vlan: entry.vlan, deadline: deadline),
                    current.port == cpuPort, current.flags.contains(.l3)
                {
                    continue
                }
                let l2 = L2Entry(mac: entry.mac, vlan: entry.vlan, port: cpuPort, flags: [.static, .l3])
                if attempt({ try hal.l2Add(l2, replaceDynamic: true, deadline: deadline) }) { result.installed.append(entry) }
            }
            if let first = failures.first {
                result.failure = failures.count == 1 ? first : "\(first) (and \(failures.count - 1) more)"
            }
            return result
        }.whenComplete { [self] outcome in
            macSyncInFlight = false
            if let idle = macIdle {
                macIdle = nil
                idle()
                return
            }
            let seconds = Double(VRRPService.now - started) / 1e6
            macCalls.slowest = max(macCalls.slowest, seconds)
            let result: MACSyncResult
            switch outcome {
            case .success(let value): result = value
            case .failure(let error): result = MACSyncResult(failure: "\(error)")
            }
            for entry in result.installed {
                installedMACs.insert(entry)
                macCalls.installs += 1
                if check.contains(entry) { logger.warning("VRRP: virtual MAC \(entry.mac) vlan \(entry.vlan) was missing from the L2 table; re-installed") }
            }
            for entry in result.removed {
                installedMACs.remove(entry)
                macCalls.removals += 1
            }
            if let failure = result.failure {
                macCalls.failures += 1
                let problem = "virtual MAC update failed after \(fixed(seconds, 3)) s: \(failure); retrying every \(VRRPService.macRetrySeconds) s"
                if macProblem != problem { logger.error("VRRP: \(problem)") }
                macProblem = problem
                macRetry = loop.scheduleTask(in: .seconds(VRRPService.macRetrySeconds)) { [self] in
                    macRetry = nil
                    syncMACs()
                }
                return
            }
            if macProblem != nil {
                logger.notice("VRRP: virtual MAC table updated again (after \(fixed(seconds, 3)) s)")
                macProblem = nil
            } else if seconds > 1 {
                logger.warning("VRRP: virtual MAC update took \(fixed(seconds, 3)) s")
            }
            syncMACs()
        }
    }

    func scheduleMACVerification() {
        loop.scheduleTask(in: .seconds(VRRPService.macVerifySeconds)) { [self] in
            syncMACs(verify: true)
            scheduleMACVerification()
        }
    }
}
