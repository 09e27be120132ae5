import SwitchHAL

/// A configuration being edited: the live running configuration, or a candidate.
public final class ConfigWorkspace {
    public private(set) var config: RunningConfig
    /// Told what every change touched (the live workspace tells the subsystems that follow it).
    var onChange: ((ConfigChange) -> Void)?

    /// For a configuration that is not the running one: the chip's tables its static MACs and
    /// static NAT mappings are placed in (a line the chip could not hold is refused).
    let capacity: CapacityModel?

    public init(_ config: RunningConfig = RunningConfig()) {
        self.config = config
        capacity = nil
    }

    /// A workspace whose table entries are placed in a model of `chip`.
    convenience init(checkingCapacityOf chip: ChipProfile) {
        self.init(placingIn: CapacityModel(chip: chip))
    }

    /// A workspace whose table entries are placed in `capacity` (made elsewhere: off the loop).
    init(placingIn capacity: CapacityModel) {
        config = RunningConfig()
        self.capacity = capacity
    }

    /// What changed since `startJournal` (nil: none kept). A reload works out its difference
    /// from a copy, off the loop; the keys edited since are looked at again when it lands.
    private(set) var journal: ConfigChange?

    func startJournal() { journal = ConfigChange() }

    /// The keys changed since `startJournal`; no journal is kept any more.
    func takeJournal() -> ConfigChange {
        defer { journal = nil }
        return journal ?? ConfigChange()
    }

    /// Makes an edit.
    func apply(_ edit: ConfigEdit) {
        config = edit.config
        if !edit.change.isEmpty {
            journal?.formUnion(edit.change)
            onChange?(edit.change)
        }
    }

    /// Replaces the whole configuration (a reload); returns what differs. `change` is that
    /// difference when it was worked out already (off the loop).
    @discardableResult
    func replace(with new: RunningConfig, change known: ConfigChange? = nil) -> ConfigChange {
        let change = known ?? ConfigChange.between(config, new)
        config = new
        if !change.isEmpty {
            journal?.formUnion(change)
            onChange?(change)
        }
        return change
    }
}
