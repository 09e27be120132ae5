import NetTypes
import SwitchHAL

/// The running chip's hashed tables, empty and private, in which a configuration that is not
/// the running one (a file checked by `vrrpd --check-config`, a reload's candidate, the config
/// fuzzer's input) places what takes room in them: static MACs and the slots static NAT
/// mappings reserve. A line the chip could not hold is refused where it stands, with the HAL's
/// own words, as it would be when typed. Only the tables are modelled (no threads, no locks, no
/// buffers); the running switch's learned MACs and dynamic translations give way to static
/// entries, so an empty table is the one to check against.
final class CapacityModel: @unchecked Sendable {  // made on a worker thread, then used on the loop alone
    private let l2: L2Table
    private let nat: NATTable

    init(chip: ChipProfile) {
        l2 = L2Table(chip: chip)
        nat = NATTable(capacity: chip.natEntries)
    }

    /// Places the table objects among `changes` (all or none); the HAL's refusal, if any.
    func place(_ changes: [HALChange<HALObject, HALState>]) -> HALError? {
        var done: [HALChange<HALObject, HALState>] = []
        for change in changes where change.object.takesTableRoom {
            if let error = apply(change.object, change.target) {
                for undone in done.reversed() { _ = apply(undone.object, undone.previous) }
                return error
            }
            done.append(change)
        }
        return nil
    }

    private func apply(_ object: HALObject, _ state: HALState?) -> HALError? {
        switch (object, state) {
        case (.staticMAC(let key), .staticMAC(let port)?):
            let entry = L2Entry(mac: key.mac, vlan: key.vlan, port: port, flags: .static)
            if let slot = l2.find(entry.key.raw) {
                l2.update(slot: slot, port: port, flags: .static)
                return nil
            }
            if case .full(let buckets) = l2.insert(entry, replaceDynamic: true) { return l2.fullError(entry, buckets: buckets) }
            return nil
        case (.staticMAC(let key), _):
            if let slot = l2.find(L2Key(mac: key.mac, vlan: key.vlan).raw) { _ = l2.remove(at: slot) }
            return nil
        case (.natReservation(let key), .some):
            var made: [NATKey] = []
            return nat.reserve([key][...], made: &made).map(nat.error)
        case (.natReservation(let key), nil):
            _ = nat.unreserve([key][...])
            return nil
        default:
            return nil
        }
    }
}

extension HALObject {
    /// Whether the object holds an entry of a hashed table (what can be refused for room).
    var takesTableRoom: Bool {
        switch self {
        case .staticMAC, .natReservation: return true
        case .vlan, .port, .svi, .ageTime, .limit, .cpuPolicer: return false
        }
    }
}
