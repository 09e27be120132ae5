/// The configuration changes on their way to the subsystems that follow the running
/// configuration (VRRP, the router on the SVIs, NAT), as a state value: what to push next.
/// The driver (`ControlPlane`) runs the turns of the loop it is told to schedule and does the
/// pushing.
///
/// The subsystems hear once per turn of the loop (a 3,000-line file applied in one go is a
/// few pushes, not 3,000): changes coalesce while a turn is scheduled. A push of more than
/// `sliceKeys` keys (a reload) is worked out in slices of that many, between which other
/// sessions are served; changes made meanwhile wait for it and go in the next push.
struct ConfigPushQueue {
    /// At most this many keys are worked out between two looks at the other sessions.
    static let sliceKeys = 256

    /// How the push of a scheduled turn goes.
    enum Start: Equatable {
        /// In one go: the change is small.
        case whole(ConfigChange)
        /// In slices (`nextSlice`, then `finish`).
        case sliced
    }

    /// What changed since the subsystems last heard.
    private var pending = ConfigChange()
    /// A turn of the loop is scheduled to push `pending`.
    private var scheduled = false
    /// The push being worked out in slices: its whole change, and the keys not yet handed out.
    private var sliced: (change: ConfigChange, keys: ArraySlice<ConfigKey>)?

    /// Every change so far has been handed to the subsystems.
    var allPushed: Bool { sliced == nil && !scheduled && pending.isEmpty }

    /// Records a change. True when the driver must schedule a turn to push it (none is
    /// scheduled, and no push is being sliced: it schedules the next turn when it ends).
    mutating func add(_ change: ConfigChange) -> Bool {
        pending.formUnion(change)
        return scheduleIfDue()
    }

    private mutating func scheduleIfDue() -> Bool {
        guard !scheduled, sliced == nil, !pending.isEmpty else { return false }
        scheduled = true
        return true
    }

    /// The scheduled turn has come: everything pending is pushed now, whole or in slices.
    mutating func start() -> Start {
        scheduled = false
        let change = pending
        pending = ConfigChange()
        guard change.count > Self.sliceKeys else { return .whole(change) }
        sliced = (change, Array(change.keys)[...])
        return .sliced
    }

    /// The next `sliceKeys` keys of the push being sliced, in order, or nil when every key is
    /// out (then `finish`).
    mutating func nextSlice() -> ConfigChange? {
        guard let keys = sliced?.keys, !keys.isEmpty else { return nil }
        sliced?.keys = keys.dropFirst(Self.sliceKeys)
        return ConfigChange(keys.prefix(Self.sliceKeys))
    }

    /// The push being sliced has keys not yet handed out.
    var slicesLeft: Bool { !(sliced?.keys.isEmpty ?? true) }

    /// Ends the sliced push: its whole change, for the subsystems, and whether the driver must
    /// schedule a turn for the changes made meanwhile.
    mutating func finish() -> (change: ConfigChange, scheduleAgain: Bool) {
        let change = sliced?.change ?? ConfigChange()
        sliced = nil
        return (change, scheduleIfDue())
    }
}
