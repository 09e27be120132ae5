import Testing

@testable import Daemon

/// How configuration changes reach the subsystems, on the push queue alone (no loop).
@Suite struct ConfigPushQueueTests {
    static func vlans(_ range: ClosedRange<Int>) -> ConfigChange { ConfigChange(range.map { ConfigKey.vlan(UInt16($0)) }) }

    /// Changes made before the scheduled turn comes go in one push; only the first asks for
    /// the turn.
    @Test func changesBeforeTheTurnGoInOnePush() {
        var queue = ConfigPushQueue()
        #expect(queue.allPushed)
        // Nothing changed: no turn; then the first change asks for one, the others not.
        let asked = [
            queue.add(ConfigChange()), queue.add(ConfigChange([.hostname])), queue.add(ConfigChange([.vlan(10)])),
            queue.add(ConfigChange([.hostname, .execTimeout])),
        ]
        #expect(asked == [false, true, false, false])
        #expect(!queue.allPushed)
        #expect(queue.start() == .whole(ConfigChange([.hostname, .vlan(10), .execTimeout])))
        #expect(queue.allPushed)
        // The next change asks for a turn of its own.
        let askedAgain = queue.add(ConfigChange([.macAgingTime]))
        #expect(askedAgain)
        #expect(queue.start() == .whole(ConfigChange([.macAgingTime])))
    }

    /// Up to `sliceKeys` keys go in one go.
    @Test func aChangeOfSliceKeysKeysGoesWhole() {
        var queue = ConfigPushQueue()
        let change = Self.vlans(1...ConfigPushQueue.sliceKeys)
        _ = queue.add(change)
        #expect(queue.start() == .whole(change))
    }

    /// A larger change is handed out in slices of `sliceKeys` keys (the last one the rest),
    /// each key once; then the whole change goes to the subsystems.
    @Test func aLargeChangeIsSlicedInOrder() {
        var queue = ConfigPushQueue()
        let change = Self.vlans(1...600)
        _ = queue.add(change)
        #expect(queue.start() == .sliced)
        var slices: [ConfigChange] = []
        while let slice = queue.nextSlice() {
            slices.append(slice)
            #expect(!queue.allPushed)
        }
        #expect(!queue.slicesLeft)
        #expect(slices.map(\.count) == [256, 256, 88])
        // Each key in one slice only (a set's order is its own: which key comes first is not
        // the rule).
        #expect(slices.reduce(into: ConfigChange()) { $0.formUnion($1) } == change)
        #expect(slices.map(\.count).reduce(0, +) == change.count)
        let (whole, again) = queue.finish()
        #expect(whole == change && !again)
        #expect(queue.allPushed)
    }

    /// Changes made while a push is sliced wait for it (no turn asked for meanwhile), and go
    /// together in the next push, which its end asks for.
    @Test func changesDuringASlicedPushCoalesceIntoTheNext() {
        var queue = ConfigPushQueue()
        _ = queue.add(Self.vlans(1...300))
        #expect(queue.start() == .sliced)
        #expect(queue.nextSlice()?.count == 256)
        #expect(queue.slicesLeft)
        let asked = [queue.add(ConfigChange([.hostname])), queue.add(ConfigChange([.vlan(1000)]))]
        #expect(asked == [false, false])
        #expect(queue.nextSlice()?.count == 44)
        #expect(queue.nextSlice() == nil)
        let (whole, again) = queue.finish()
        #expect(whole == Self.vlans(1...300) && again)
        #expect(!queue.allPushed)
        #expect(queue.start() == .whole(ConfigChange([.hostname, .vlan(1000)])))
        #expect(queue.allPushed)
    }
}
