import NetTypes
import Time

/// The L3 host table API (docs/hal.md, "L3 host table"). Every call takes `l2.table` with the
/// caller's deadline, for time proportional to the entries it names.
extension Switch {
    /// Adds (or replaces) host entries; returns how many did not fit (FULL for those, counted).
    @discardableResult
    public func l3HostAdd(_ hosts: [L3Host], deadline: Instant) throws -> Int {
        try traced("l3_host_add", "count=\(hosts.count)\(hosts.first.map { ", first=\($0.destination) vlan \($0.vlan) \($0.nextHopMAC)" } ?? "")") {
            for host in hosts where host.vlan < 1 || host.vlan > 4094 { throw HALError.param("VLAN \(host.vlan) out of range 1-4094") }
            return try locks.l2Table.withLock("l3-add", deadline: deadline) {
                var full = 0
                for host in hosts where !state.l3.set(host.destination.value, .init(vlan: host.vlan, mac: host.nextHopMAC.value)) {
                    full += 1
                }
                state.l3.counters.addFull &+= UInt64(full)
                return full
            }
        }
    }

    /// Deletes the entries of `destinations` that exist; returns how many.
    @discardableResult
    public func l3HostDelete(_ destinations: [IPv4Address], deadline: Instant) throws -> Int {
        try traced("l3_host_delete", "count=\(destinations.count)") {
            try locks.l2Table.withLock("l3-delete", deadline: deadline) {
                destinations.reduce(0) { $0 + (state.l3.remove($1.value) ? 1 : 0) }
            }
        }
    }

    /// Deletes every host entry; returns how many there were.
    @discardableResult
    public func l3HostClear(deadline: Instant) throws -> Int {
        try traced("l3_host_delete_all", "") {
            try locks.l2Table.withLock("l3-clear", deadline: deadline) {
                let count = state.l3.count
                state.l3.removeAll()
                return count
            }
        }
    }

    /// Sets the NAT zone of ingress VLANs (nil: none). A zone's routed packets are translated
    /// by the NAT table in the data path when it has the flow, else they go to the CPU.
    public func l3SetNATZones(_ zones: [UInt16: NATZone?], deadline: Instant) throws {
        try traced("l3_ingress_nat_zone_set", "count=\(zones.count)") {
            for vlan in zones.keys where vlan < 1 || vlan > 4094 { throw HALError.param("VLAN \(vlan) out of range 1-4094") }
            try locks.l2Table.withLock("l3-zones", deadline: deadline) {
                for (vlan, zone) in zones { state.l3.zones[Int(vlan)] = zone?.rawValue ?? L3HostTable.noZone }
            }
        }
    }

    /// Every host entry (for `show hal l3`), by destination.
    public func l3Hosts(deadline: Instant) throws -> [L3Host] {
        try locks.l2Table.withLock("l3-list", deadline: deadline) {
            state.l3.entries.map { L3Host(destination: IPv4Address($0.key), vlan: $0.value.vlan, nextHopMAC: MACAddress($0.value.mac)) }
        }.sorted { $0.destination.value < $1.destination.value }
    }

    /// The table's size, capacity and counters.
    public func l3Summary(deadline: Instant) throws -> (entries: Int, capacity: Int, counters: L3Counters) {
        try locks.l2Table.withLock("l3-summary", deadline: deadline) { (state.l3.count, state.l3.capacity, state.l3.counters) }
    }
}
