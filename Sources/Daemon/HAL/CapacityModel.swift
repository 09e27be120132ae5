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

    /// Places the table objects among `changes` (all or none, in the HAL's order); the HAL's
    /// refusal, if any.
    func place(_ changes: [HALChange<HALObject, HALState>]) -> HALError? {
        changes.filter { $0.object.takesTableRoom }.applyAllOrNone(apply).error
    }

    private func apply(_ object: HALObject, _ state: HALState?) throws {
        switch (object, state) {
        case (.staticMAC(let key), .staticMAC(let port)?):
            let entry = L2Entry(mac: key.mac, vlan: key.vlan, port: port, flags: .static)
            if case .full(let buckets) = l2.write(entry, replaceDynamic: true) { throw l2.fullError(entry, buckets: buckets) }
        case (.staticMAC(let key), _):
            l2.remove(L2Key(mac: key.mac, vlan: key.vlan))
        case (.natReservation(let key), .some):
            var made: [NATKey] = []
            if let refusal = nat.reserve([key][...], made: &made) { throw nat.error(refusal) }
        case (.natReservation(let key), nil):
            _ = nat.unreserve([key][...])
        default:
            break
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
