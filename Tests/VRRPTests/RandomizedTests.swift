import NetTypes
import TestSupport
import Testing
import Time

@testable import VRRP

/// Routers on a simulated wire with loss, delay, partitions, crashes, restarts, priority
/// changes and invalid-packet floods drawn from a seed. After every disturbance the wire settles for the convergence bound
/// and the invariants are checked: one Master per connected group, and it is the live router
/// with the highest (priority, address).
@Suite struct RandomizedTests {
    struct Scenario {
        var seed: UInt64
        var log: [String] = []
    }

    func runScenario(seed: UInt64) -> [String] {
        var random = SeededGenerator(seed: seed)
        let wire = SimWire()
        wire.delay = .microseconds(Int64.random(in: 0...2_000, using: &random))
        let count = Int.random(in: 2...4, using: &random)
        let interval = [10, 50, 100].randomElement(using: &random)!
        var priorities: [UInt8] = (0..<count).map { _ in UInt8.random(in: 1...254, using: &random) }
        var configs: [VirtualRouterConfig] = []
        for index in 0..<count {
            let c = config(priority: priorities[index], interval: interval)
            configs.append(c)
            wire.add("R\(index)", address: IPv4Address(10, 0, 0, UInt8(index + 1)), config: c)
        }
        var partitioned = Set<Int>()  // nodes cut off from the others
        var lossRate = 0.0
        var lossRandom = SeededGenerator(seed: seed ^ 0xABCD)
        wire.drop = { from, to, _ in
            if partitioned.contains(from) != partitioned.contains(to) { return true }
            return lossRate > 0 && Double.random(in: 0..<1, using: &lossRandom) < lossRate
        }
        var failures: [String] = []
        // The longest Master_Down_Interval (priority 1) plus slack for one lost advert and the wire.
        let settle = Duration.microseconds(interval * 10_000 * 5 + 10_000)
        func check(_ when: String) {
            // Within each connected group of live nodes: exactly one Master, the best one.
            let live = wire.nodes.indices.filter { wire.nodes[$0].up }
            let groups = [live.filter { !partitioned.contains($0) }, live.filter { partitioned.contains($0) }].filter { !$0.isEmpty }
            for group in groups {
                let masters = group.filter { wire.state($0) == .master }
                let highest = group.map { priorities[$0] }.max()!
                // One Master, of the highest priority. Among routers of equal priority the address
                // decides only when two are Master at once (RFC 5798 (735)); a Backup of equal
                // priority accepts the Master it hears (445), whatever the addresses.
                if masters.count != 1 || priorities[masters[0]] != highest {
                    failures.append("seed \(seed) \(when) t=\(wire.now): group \(group) priorities \(group.map { priorities[$0] }) masters \(masters)")
                }
            }
        }
        wire.run(for: settle)
        check("start")
        for step in 0..<12 {
            switch Int.random(in: 0..<7, using: &random) {
            case 6:
                // An invalid-packet flood from one node, for ten intervals: wrong TTL, bad
                // checksum, wrong version, truncated. It may change discard counters and nothing
                // else: every Master keeps advertising exactly on its interval.
                let flooder = Int.random(in: 0..<count, using: &random)
                let start = wire.now
                let mastersBefore = Set(wire.nodes.indices.filter { wire.nodes[$0].up && wire.state($0) == .master })
                let source = IPv4Address(10, 0, 0, UInt8(flooder + 1))
                let valid = Advertisement(version: 3, vrid: 1, priority: 254, interval: interval, addresses: .ipv4([IPv4Address(10, 0, 0, 254)]))
                    .encoded(source: .ipv4(source), destination: .ipv4(Advertisement.ipv4Group), pseudoHeader: true)
                for index in 0..<200 {
                    var bytes = valid
                    var ttl: UInt8 = 255
                    switch index % 4 {
                    case 0: ttl = UInt8.random(in: 0...254, using: &random)
                    case 1: bytes[6] ^= UInt8.random(in: 1...255, using: &random)
                    case 2: bytes[0] = 0x21
                    default: bytes = Array(bytes.prefix(Int.random(in: 0...7, using: &random)))
                    }
                    wire.inject(from: flooder, bytes, ttl: ttl)
                    wire.run(for: .microseconds(interval * 10_000 / 20))
                }
                for master in mastersBefore where wire.nodes[master].up && wire.state(master) == .master {
                    let sent = wire.nodes[master].sent.filter { $0.at > start }.map(\.at)
                    let gaps = zip(sent.dropFirst(), sent).map { $0 - $1 }
                    if sent.isEmpty || gaps.contains(where: { $0 > .microseconds(interval * 10_000) }) {
                        failures.append("seed \(seed) flood: Master \(master) advert gaps \(gaps)")
                    }
                }
            case 0:
                let node = Int.random(in: 0..<count, using: &random)
                if wire.nodes[node].up && wire.nodes.filter(\.up).count > 1 { wire.crash(node) } else { wire.restart(node, config: configs[node]) }
            case 1:
                let node = Int.random(in: 0..<count, using: &random)
                if partitioned.contains(node) { partitioned.remove(node) } else { partitioned.insert(node) }
            case 2:
                partitioned.removeAll()
            case 3:
                let node = Int.random(in: 0..<count, using: &random)
                priorities[node] = UInt8.random(in: 1...254, using: &random)
                configs[node].priority = priorities[node]
                let updated = configs[node]
                wire.change(node) { router in
                    router.update(config: updated, interface: router.interface)
                    return []
                }
            case 4:
                // A burst of loss that ends before the check.
                lossRate = 0.2
                wire.run(for: settle)
                lossRate = 0
            default:
                let node = Int.random(in: 0..<count, using: &random)
                if wire.nodes[node].up && wire.nodes.filter(\.up).count > 1 {
                    wire.shutdown(node)
                    wire.crash(node)
                }
            }
            wire.run(for: settle * 2)
            check("after step \(step)")
        }
        return failures
    }

    @Test func manySeeds() {
        var failures: [String] = []
        for seed in UInt64(1)...300 {
            failures += runScenario(seed: seed)
        }
        #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func aSeedReplaysExactly() {
        #expect(runScenario(seed: 42) == runScenario(seed: 42))
        // And the trace of transitions is identical, not only the verdict.
        func transitions(_ seed: UInt64) -> [String] {
            let wire = SimWire()
            var random = SeededGenerator(seed: seed)
            for index in 0..<3 {
                wire.add("R\(index)", address: IPv4Address(10, 0, 0, UInt8(index + 1)), config: config(priority: UInt8.random(in: 1...254, using: &random)))
            }
            wire.run(for: 5 * second)
            wire.crash(Int.random(in: 0..<3, using: &random))
            wire.run(for: 5 * second)
            return wire.nodes.flatMap { node in node.transitions.map { "\(node.name)@\($0.at)->\($0.to)" } }
        }
        #expect(transitions(7) == transitions(7))
    }
}
