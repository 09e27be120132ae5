import NetTypes
import Time

@testable import VRRP

/// A simulated Ethernet segment on a virtual clock: routers (one engine each) exchange
/// advertisements with a configurable delay and loss; time only moves when the wire says so.
final class SimWire {
    struct Node {
        var name: String
        var engine = VRRPEngine()
        var address: IPv4Address
        var up = true
        var transitions: [(at: Instant, to: RouterState)] = []
        var sent: [(at: Instant, priority: UInt8)] = []
        var announcements: [Instant] = []
    }

    struct Delivery {
        var at: Instant
        var sequence: Int
        var from: Int
        var to: Int
        var bytes: [UInt8]
        var ttl: UInt8
    }

    private(set) var now = Instant.zero
    private(set) var nodes: [Node] = []
    private var inFlight: [Delivery] = []
    private var sequence = 0
    /// One-way delay.
    var delay = Duration.zero
    /// Return true to drop a message from `from` to `to`.
    var drop: (Int, Int, Instant) -> Bool = { _, _, _ in false }
    let interface = InterfaceID.svi(10)

    /// Adds a router on the wire; it starts at once.
    @discardableResult
    func add(_ name: String, address: IPv4Address, config: VirtualRouterConfig, owns: [IPv4Address] = []) -> Int {
        nodes.append(Node(name: name, address: address))
        let index = nodes.count - 1
        let key = VRRPEngine.Key(interface: interface, vrid: VRID(rawValue: config.vrid)!, ipv6: false)
        let interfaceAddresses = InterfaceAddresses(primaryIPv4: address, ownIPv4: [address] + owns)
        let actions = nodes[index].engine.add(key, config: config, interface: interfaceAddresses, start: true, now: now)
        handle(index, actions.map { (key, $0) })
        return index
    }

    func key(_ vrid: UInt8) -> VRRPEngine.Key { VRRPEngine.Key(interface: interface, vrid: VRID(rawValue: vrid)!, ipv6: false) }

    func router(_ node: Int, vrid: UInt8 = 1) -> VirtualRouter { nodes[node].engine.routers[key(vrid)]! }

    func state(_ node: Int, vrid: UInt8 = 1) -> RouterState { router(node, vrid: vrid).state }

    /// The node crashes: it stops sending and receiving (no priority 0).
    func crash(_ node: Int) { nodes[node].up = false }

    /// The node comes back with fresh state, as a restarted daemon does.
    func restart(_ node: Int, config: VirtualRouterConfig) {
        nodes[node].up = true
        nodes[node].engine = VRRPEngine()
        let key = key(config.vrid)
        let interfaceAddresses = InterfaceAddresses(primaryIPv4: nodes[node].address, ownIPv4: [nodes[node].address])
        let actions = nodes[node].engine.add(key, config: config, interface: interfaceAddresses, start: true, now: now)
        handle(node, actions.map { (key, $0) })
    }

    /// Graceful shutdown of a router (sends priority 0 if Master).
    func shutdown(_ node: Int, vrid: UInt8 = 1) {
        let actions = nodes[node].engine.with(key(vrid)) { $0.shutdown(now: now) }
        handle(node, actions.map { (key(vrid), $0) })
    }

    /// Runs a closure on one router (configuration changes, tracking) and carries out its actions.
    func change(_ node: Int, vrid: UInt8 = 1, _ body: (inout VirtualRouter) -> [RouterAction]) {
        let actions = nodes[node].engine.with(key(vrid), body)
        handle(node, actions.map { (key(vrid), $0) })
    }

    /// Sends raw bytes to every other node (for invalid-packet floods).
    func inject(from node: Int, _ bytes: [UInt8], ttl: UInt8 = 255) {
        for target in nodes.indices where target != node { enqueue(from: node, to: target, bytes, ttl: ttl) }
    }

    /// Delivers raw bytes to one node now, as if from `address`.
    func deliver(to node: Int, _ bytes: [UInt8], from address: IPv4Address, ttl: UInt8 = 255) {
        let actions = nodes[node].engine.receive(
            interface: interface, ipv6: false, message: bytes, source: .ipv4(address), destination: .ipv4(Advertisement.ipv4Group),
            ttl: ttl, now: now)
        handle(node, actions)
    }

    /// Runs the wire until `until`, processing every delivery and timer in order.
    func run(until: Instant) {
        var steps = 0
        while let next = nextEvent(), next <= until {
            steps += 1
            precondition(steps < 10_000_000, "the simulation does not advance")
            now = max(now, next)
            let due = inFlight.filter { $0.at <= now }.sorted { $0.sequence < $1.sequence }
            inFlight.removeAll { $0.at <= now }
            for delivery in due where nodes[delivery.to].up {
                deliver(to: delivery.to, delivery.bytes, from: nodes[delivery.from].address, ttl: delivery.ttl)
            }
            for index in nodes.indices where nodes[index].up {
                handle(index, nodes[index].engine.advance(to: now))
            }
        }
        now = max(now, until)
    }

    private func nextEvent() -> Instant? {
        var next: Instant?
        for index in nodes.indices where nodes[index].up {
            if let deadline = nodes[index].engine.nextDeadline() { next = min(next ?? deadline, deadline) }
        }
        for delivery in inFlight { next = min(next ?? delivery.at, delivery.at) }
        return next
    }

    func run(for duration: Duration) { run(until: now + duration) }

    private func enqueue(from: Int, to: Int, _ bytes: [UInt8], ttl: UInt8) {
        guard !drop(from, to, now) else { return }
        sequence += 1
        inFlight.append(Delivery(at: now + delay, sequence: sequence, from: from, to: to, bytes: bytes, ttl: ttl))
    }

    private func handle(_ node: Int, _ actions: [(VRRPEngine.Key, RouterAction)]) {
        guard nodes[node].up else { return }
        for (key, action) in actions {
            switch action {
            case .sendAdvertisement(let ad):
                nodes[node].sent.append((now, ad.priority))
                let router = nodes[node].engine.routers[key]!
                let bytes = ad.encoded(source: .ipv4(nodes[node].address), destination: .ipv4(Advertisement.ipv4Group), pseudoHeader: router.config.checksumWithPseudoHeader)
                for target in nodes.indices where target != node { enqueue(from: node, to: target, bytes, ttl: 255) }
            case .transition(_, let to, _):
                nodes[node].transitions.append((now, to))
            case .announceAddresses:
                nodes[node].announcements.append(now)
            case .takeVirtualMAC, .releaseVirtualMAC:
                break
            }
        }
    }

    /// The Masters among the nodes that are up.
    func masters(vrid: UInt8 = 1) -> [Int] {
        nodes.indices.filter { nodes[$0].up && nodes[$0].engine.routers[key(vrid)]?.state == .master }
    }
}

func config(priority: UInt8 = 100, interval: Int = 100, version: Int = 3, vrid: UInt8 = 1, preempt: Bool = true,
            addresses: [IPv4Address] = [IPv4Address(10, 0, 0, 254)]) -> VirtualRouterConfig {
    var c = VirtualRouterConfig(vrid: vrid, addresses: .ipv4(addresses))
    c.priority = priority
    c.advertisementInterval = interval
    c.version = version
    c.preempt = preempt
    return c
}

let second = Duration.seconds(1)
let millisecond = Duration.milliseconds(1)

/// The instant `offset` after the simulation's start.
func at(_ offset: Duration) -> Instant { .zero + offset }
