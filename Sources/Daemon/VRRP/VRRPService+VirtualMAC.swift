import NIOCore
import NetTypes
import SwitchHAL

/// The virtual MACs in the L2 table: a Master's is a static L3 entry on its VLAN pointing at the
/// CPU (so frames to it reach the router and are not flooded), removed when it stops being
/// Master.
///
/// The HAL reconciler brings the table to the state's `wantedMACs`, one call at a time and in
/// order, so a quick take-release never lands reversed. The calls run on the HAL threads with the usual
/// deadline: a stuck HAL delays only this side effect. A failure is logged, shown in `show vrrp`,
/// and retried with back-off; the state machine and the advertisements carry on meanwhile. Every
/// 10 s the entries are read back (a VLAN deleted and re-created takes its entries with it).
extension VRRPService {
    static let macVerifyInterval = Duration.seconds(10)

    /// The reconciler's driver for virtual MACs: present means a static L3 entry to the CPU.
    static var virtualMACDriver: HALDriver<VirtualMAC, Bool> {
        HALDriver(
            operation: "virtual MAC update",
            applyGroup: { hal, deadline, changes in
                for change in changes {
                    do {
                        if change.target == true {
                            let entry = L2Entry(mac: change.object.mac, vlan: change.object.vlan, port: cpuPort, flags: [.static, .l3])
                            _ = try hal.l2Add(entry, replaceDynamic: true, deadline: deadline)
                        } else {
                            do {
                                try hal.l2Delete(mac: change.object.mac, vlan: change.object.vlan, deadline: deadline)
                            } catch HALError.notFound {
                                // Already gone (the VLAN went, or someone cleared it): what we wanted.
                            }
                        }
                    } catch let error as HALError {
                        if case .timeout = error { return .unknown(error) }
                        return .refused(error)
                    } catch {
                        return .unknown(.internal("\(error)"))
                    }
                }
                return .applied
            },
            read: { hal, deadline, objects in
                var present: [VirtualMAC: Bool] = [:]
                for object in objects {
                    if let entry = try? hal.l2Get(mac: object.mac, vlan: object.vlan, deadline: deadline), entry.port == cpuPort,
                        entry.flags.contains(.l3)
                    {
                        present[object] = true
                    }
                }
                return present
            })
    }

    /// The first task on the loop: the reconciler and its hooks, and the periodic read-back.
    func startVirtualMACs() {
        let macs = HALReconciler(driver: Self.virtualMACDriver, hal: hal, loop: loop, clock: clock) { [unowned self] mac in
            confined.withValue { $0.state.wantedMACs.contains(mac) } ? true : nil
        }
        macs.tracksInFlight = true
        macs.onProblem = { [logger] problem in logger.error("VRRP: \(problem); retrying") }
        macs.onRecovered = { [logger] _ in logger.notice("VRRP: virtual MAC table updated again") }
        macs.onRepair = { [logger] objects in
            for entry in objects.sorted() {
                logger.warning("VRRP: virtual MAC \(entry.mac) vlan \(entry.vlan) was missing from the L2 table; re-installed")
            }
        }
        macs.onApplied = { [unowned self] change in
            confined.withValue { c in
                if change.target == true { c.macCalls.installs += 1 } else { c.macCalls.removals += 1 }
            }
        }
        confined.value.macs = macs
        scheduleMACVerification()
    }

    func scheduleMACVerification() {
        // Weakly: a test clock that is never advanced holds the wake-up (and the clock is the
        // service's own), which must not keep the service alive.
        _ = loop.scheduleTask(after: VRRPService.macVerifyInterval, clock: clock) { [weak self] in
            guard let self else { return }
            let stopped = confined.withValue { c in
                if !c.shuttingDown { c.macs.verify(c.state.wantedMACs.sorted()) }
                return c.shuttingDown
            }
            if !stopped { scheduleMACVerification() }
        }
    }

    /// The virtual MACs wanted and in the table (not waiting for a HAL call).
    func installedMACs(_ c: Confined) -> Set<VirtualMAC> { c.state.wantedMACs.filter { !c.macs.isPending($0) } }
}
