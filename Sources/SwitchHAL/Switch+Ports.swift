import Atomics
import Glibc
import NetTypes
import Time

/// Ports, VLANs and SVIs. Calls take `hal.ports` (and, to flush, `l2.table` after it: the
/// documented order), publish the data path's new view, then publish events.
extension Switch {
    public func portName(_ port: PortID) -> String { ports.name(of: port) }

    public func createVLAN(_ vlan: UInt16, deadline: Instant) throws {
        try traced("vlan_create", "vlan=\(vlan)") {
            try checkVLAN(vlan)
            try locks.ports.withLock("vlan-create", deadline: deadline) {
                guard !ports.vlans.contains(vlan) else { throw HALError.exists("VLAN \(vlan) exists") }
                ports.vlans.insert(vlan)
                ports.publish()
                if ports.svis[vlan] != nil { try installRouterMAC(vlan: vlan, deadline: deadline) }
            }
        }
    }

    /// Deletes a VLAN and every L2 entry in it, static ones included.
    public func deleteVLAN(_ vlan: UInt16, deadline: Instant) throws {
        try traced("vlan_destroy", "vlan=\(vlan)") {
            try checkVLAN(vlan)
            guard vlan != 1 else { throw HALError.param("VLAN 1 is the default VLAN and cannot be deleted") }
            let removed: Int = try locks.ports.withLock("vlan-delete", deadline: deadline) {
                guard ports.vlans.contains(vlan) else { throw HALError.notFound("VLAN \(vlan) does not exist") }
                ports.vlans.remove(vlan)
                ports.publish()
                return try locks.l2Table.withLock("vlan-delete-flush", deadline: deadline) {
                    state.table.removeAll(matching: L2Filter(vlan: vlan, includeStatic: true))
                }
            }
            fanout.publish(.flushed(L2Filter(vlan: vlan, includeStatic: true), count: removed, reason: .vlanDeleted))
        }
    }

    /// The VLANs that exist.
    public func vlans(deadline: Instant) throws -> VLANSet {
        try locks.ports.withLock("vlan-list", deadline: deadline) { ports.vlans }
    }

    /// Applies a port's settings; VLANs the port stops carrying are flushed for that port.
    public func setPortSettings(_ port: PortID, _ settings: PortSettings, deadline: Instant) throws {
        try traced("port_set", "port=\(port), admin=\(settings.adminUp ? "up" : "down"), mode=\(settings.mode), access=\(settings.accessVLAN), native=\(settings.nativeVLAN), allowed=\(settings.allowedVLANs)") {
            guard ports.isValid(port) else { throw HALError.param("no port \(port) on this chip (1-\(chip.portCount))") }
            guard (1...4094).contains(settings.accessVLAN), (1...4094).contains(settings.nativeVLAN) else {
                throw HALError.param("VLAN out of range 1-4094")
            }
            var flushes: [(L2Filter, Int, HALEvent.FlushReason)] = []
            var linkEvent: HALEvent?
            try locks.ports.withLock("port-set", deadline: deadline) {
                let old = ports.settings[Int(port)]
                let wasUp = old.adminUp && ports.links[Int(port)]
                ports.settings[Int(port)] = settings
                ports.publish()
                let isUp = settings.adminUp && ports.links[Int(port)]
                if wasUp && !isUp {
                    let filter = L2Filter(port: port)
                    let count = try locks.l2Table.withLock("port-down-flush", deadline: deadline) { state.table.removeAll(matching: filter) }
                    flushes.append((filter, count, .linkDown))
                } else {
                    let dropped = old.memberVLANs.subtracting(settings.memberVLANs)
                    if !dropped.isEmpty {
                        try locks.l2Table.withLock("port-vlan-flush", deadline: deadline) {
                            for vlan in dropped.members where state.table.dynamicCount(vlan: vlan) > 0 {
                                let filter = L2Filter(vlan: vlan, port: port)
                                flushes.append((filter, state.table.removeAll(matching: filter), .vlanMembership))
                            }
                        }
                    }
                }
                if wasUp != isUp { linkEvent = .link(port: port, up: isUp) }
            }
            for (filter, count, reason) in flushes { fanout.publish(.flushed(filter, count: count, reason: reason)) }
            if let linkEvent { fanout.publish(linkEvent) }
        }
    }

    /// Simulates the cable: link down makes the port oper-down and flushes its dynamic entries.
    public func setLink(_ port: PortID, up: Bool, deadline: Instant) throws {
        try traced("port_link_set", "port=\(port), up=\(up)") {
            guard ports.isValid(port) else { throw HALError.param("no port \(port) on this chip (1-\(chip.portCount))") }
            // Injected fault: a slow PHY (with no lock held).
            let delay = faults.linkDelay
            if delay > .zero { usleep(useconds_t(delay.inMicroseconds)) }
            var flushed: (L2Filter, Int)?
            var changed = false
            try locks.ports.withLock("port-link", deadline: deadline) {
                let wasUp = ports.settings[Int(port)].adminUp && ports.links[Int(port)]
                ports.links[Int(port)] = up
                ports.publish()
                let isUp = ports.settings[Int(port)].adminUp && up
                changed = wasUp != isUp
                if wasUp && !isUp {
                    let filter = L2Filter(port: port)
                    flushed = (filter, try locks.l2Table.withLock("link-down-flush", deadline: deadline) { state.table.removeAll(matching: filter) })
                }
            }
            if let (filter, count) = flushed { fanout.publish(.flushed(filter, count: count, reason: .linkDown)) }
            if changed { fanout.publish(.link(port: port, up: up)) }
        }
    }

    /// Every port (or one), with settings, link, counters and entry count.
    public func portStatus(deadline: Instant) throws -> [PortStatus] {
        try traced("port_status_get", "") {
            let (settings, links) = try locks.ports.withLock("port-status", deadline: deadline) { (ports.settings, ports.links) }
            let (counters, dynamic) = try locks.l2Table.withLock("port-counters", deadline: deadline) {
                (state.portCounterSnapshot, (0...chip.portCount).map { state.table.dynamicCount(port: PortID($0)) })
            }
            return (1...chip.portCount).map { index in
                PortStatus(
                    id: PortID(index), name: ports.name(of: PortID(index)), mac: ports.mac(of: PortID(index)), settings: settings[index],
                    linkUp: links[index], counters: counters[index], dynamicEntries: dynamic[index])
            }
        }
    }

    // MARK: SVIs

    /// The router MAC every SVI uses.
    public var routerMAC: MACAddress { baseMAC }

    /// Creates (or updates) the SVI of `vlan`; while the VLAN exists its router MAC is a static
    /// L3 entry pointing at the CPU.
    public func setSVI(_ vlan: UInt16, addresses: [IPv4Prefix], deadline: Instant) throws {
        try traced("svi_set", "vlan=\(vlan), addresses=\(addresses)") {
            try checkVLAN(vlan)
            try locks.ports.withLock("svi-set", deadline: deadline) {
                let isNew = ports.svis[vlan] == nil
                ports.svis[vlan] = addresses
                if isNew && ports.vlans.contains(vlan) { try installRouterMAC(vlan: vlan, deadline: deadline) }
            }
        }
    }

    public func deleteSVI(_ vlan: UInt16, deadline: Instant) throws {
        try traced("svi_destroy", "vlan=\(vlan)") {
            try locks.ports.withLock("svi-delete", deadline: deadline) {
                guard ports.svis.removeValue(forKey: vlan) != nil else { throw HALError.notFound("no SVI for VLAN \(vlan)") }
                try locks.l2Table.withLock("svi-delete-mac", deadline: deadline) {
                    if let slot = state.table.find(L2Key(mac: baseMAC, vlan: vlan).raw), state.table.flags(at: slot).contains(.l3) {
                        state.table.remove(at: slot)
                    }
                }
            }
        }
    }

    public func sviStatus(deadline: Instant) throws -> [SVIStatus] {
        try locks.ports.withLock("svi-status", deadline: deadline) {
            ports.svis.keys.sorted().map { SVIStatus(vlan: $0, routerMAC: baseMAC, addresses: ports.svis[$0]!, up: ports.vlans.contains($0)) }
        }
    }

    /// Called with `hal.ports` held.
    private func installRouterMAC(vlan: UInt16, deadline: Instant) throws {
        let entry = L2Entry(mac: baseMAC, vlan: vlan, port: cpuPort, flags: [.static, .l3])
        try locks.l2Table.withLock("svi-router-mac", deadline: deadline) {
            if case .full = state.table.write(entry, replaceDynamic: true) {
                throw HALError.full("no room for the router MAC in VLAN \(vlan)")
            }
        }
    }

    private func checkVLAN(_ vlan: UInt16) throws {
        guard vlan >= 1 && vlan <= 4094 else { throw HALError.param("VLAN \(vlan) out of range 1-4094") }
    }
}
