import NetTypes
import SwitchHAL

/// A switch of the running chip, unstarted and private, in which a configuration that is not
/// the running one (a file checked by `vrrpd --check-config`, a reload's candidate, the config
/// fuzzer's input) places what takes room in the chip's hashed tables: static MACs and the
/// slots static NAT mappings reserve. A line the chip could not hold is refused where it stands,
/// with the HAL's own words, as it would be when typed; nothing else of the HAL is modelled (the
/// running switch's dynamic entries give way to static ones, so an empty table is the one to
/// check against).
///
/// Its calls never wait: no thread of its own, and nobody else holds its locks.
final class CapacityModel {
    let hal: Switch

    init(chip: ChipProfile) {
        hal = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_0000))
    }

    /// Places the table objects among `changes` (all or none); the HAL's refusal, if any.
    func place(_ changes: [HALChange<HALObject, HALState>]) -> HALError? {
        let placed = changes.filter(\.object.takesTableRoom)
        guard !placed.isEmpty else { return nil }
        return HALState.driver.applyGroup(hal, HALClock.deadline(after: 1), placed).error
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
