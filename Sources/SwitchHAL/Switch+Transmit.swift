import Atomics

/// Where a port's frames really go: a UDP tunnel, an AF_PACKET socket, an in-process fabric.
/// `transmit` must never block (drop and return false instead); `start` delivers received
/// frames by calling `deliver` from the backend's own thread.
public protocol PortBackend: AnyObject, Sendable {
    /// How `show interfaces` describes it (`udp 127.0.0.1:4001 -> 127.0.0.1:4002`).
    var summary: String { get }
    func transmit(_ frame: UnsafeRawBufferPointer) -> Bool
    func start(deliver: @escaping @Sendable (UnsafeRawBufferPointer) -> Void)
    func stop()
}

/// Transmit counters of one port.
public struct TransmitCounters: Sendable, Equatable {
    public var frames: UInt64 = 0
    public var dropped: UInt64 = 0
}

/// The transmit side: backends per port, and sending with the VLAN tagging rules. No HAL lock is
/// taken: the port settings come from the published forwarding view, so transmitting works even
/// while `l2.table` or `hal.ports` is held by a stuck thread.
final class Transmitter: @unchecked Sendable {
    private var backends: [PortBackend?]
    private let sent: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let dropped: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    let portCount: Int

    init(portCount: Int) {
        self.portCount = portCount
        backends = Array(repeating: nil, count: portCount + 1)
        sent = .allocate(capacity: portCount + 1)
        dropped = .allocate(capacity: portCount + 1)
        for index in 0...portCount {
            (sent + index).initialize(to: .init(0))
            (dropped + index).initialize(to: .init(0))
        }
    }

    deinit {
        sent.deallocate()
        dropped.deallocate()
    }

    /// Attaches backends before the switch starts (the array is read without a lock after).
    func attach(_ backend: PortBackend, port: PortID) {
        backends[Int(port)] = backend
    }

    var hasBackends: Bool { backends.contains { $0 != nil } }

    func backend(_ port: PortID) -> PortBackend? { Int(port) <= portCount ? backends[Int(port)] : nil }

    var attached: [(PortID, PortBackend)] {
        backends.enumerated().compactMap { index, backend in backend.map { (PortID(index), $0) } }
    }

    func counters(_ port: PortID) -> TransmitCounters {
        TransmitCounters(
            frames: UnsafeAtomic<UInt64>(at: sent + Int(port)).load(ordering: .relaxed),
            dropped: UnsafeAtomic<UInt64>(at: dropped + Int(port)).load(ordering: .relaxed))
    }

    /// Sends an untagged frame (`bytes`: destination, source, ethertype, payload) out of `port`
    /// in `vlan`, tagging it when the port is a trunk and the VLAN not its native one.
    func send(_ bytes: UnsafeRawBufferPointer, vlan: UInt16, port: Int, view: ForwardingView, scratch: inout [UInt8]) {
        guard port >= 1, port <= portCount, let backend = backends[port] else { return }
        guard view.operUp[port] else { return }
        let ok: Bool
        if view.trunk[port] && vlan != view.nativeVLAN[port] {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: bytes[0..<12])
            scratch.append(contentsOf: [0x81, 0x00, UInt8(vlan >> 8 & 0x0f), UInt8(vlan & 0xff)])
            scratch.append(contentsOf: bytes[12...])
            ok = scratch.withUnsafeBytes { backend.transmit($0) }
        } else {
            ok = backend.transmit(bytes)
        }
        UnsafeAtomic<UInt64>(at: (ok ? sent : dropped) + port).wrappingIncrement(ordering: .relaxed)
    }

    /// Whether `port` carries `vlan` (and is up).
    @inline(__always)
    func carries(_ port: Int, vlan: UInt16, view: ForwardingView) -> Bool {
        guard port >= 1, port <= portCount, view.operUp[port] else { return false }
        if view.trunk[port] { return view.allowed[port * 64 + Int(vlan >> 6)] & (1 << UInt64(vlan & 63)) != 0 }
        return view.accessVLAN[port] == vlan
    }

    /// Floods an untagged frame to every port of `vlan` except `except`.
    func flood(_ bytes: UnsafeRawBufferPointer, vlan: UInt16, except: Int, view: ForwardingView, scratch: inout [UInt8]) {
        for port in 1...max(1, portCount) where port != except && backends[port] != nil && carries(port, vlan: vlan, view: view) {
            send(bytes, vlan: vlan, port: port, view: view, scratch: &scratch)
        }
    }
}

extension Switch {
    /// Attaches a backend to a port; call before `start()`.
    public func attach(_ backend: PortBackend, to port: PortID) throws {
        guard ports.isValid(port) else { throw HALError.param("no port \(port) on this chip (1-\(chip.portCount))") }
        transmitter.attach(backend, port: port)
    }

    /// The backends attached to ports.
    public var backends: [(PortID, PortBackend)] { transmitter.attached }

    public func transmitCounters(_ port: PortID) -> TransmitCounters { transmitter.counters(port) }

    /// Sends a frame from the CPU out of one port (a reply to what came in there), tagged if the
    /// port needs it for `vlan`. Takes no lock and never blocks.
    public func sendFromCPU(_ frame: [UInt8], vlan: UInt16, port: PortID) {
        let view = ports.view.load(ordering: .acquiring)
        guard transmitter.carries(Int(port), vlan: vlan, view: view) else { return }
        var scratch: [UInt8] = []
        frame.withUnsafeBytes { transmitter.send($0, vlan: vlan, port: Int(port), view: view, scratch: &scratch) }
    }

    /// Whether a port is up (admin and link), from the published view: no lock.
    public func isOperUp(_ port: PortID) -> Bool {
        let view = ports.view.load(ordering: .acquiring)
        return Int(port) >= 1 && Int(port) <= chip.portCount && view.operUp[Int(port)]
    }

    /// The VLANs a port carries, from the published view: no lock.
    public func memberVLANs(_ port: PortID) -> VLANSet {
        let view = ports.view.load(ordering: .acquiring)
        guard Int(port) >= 1, Int(port) <= chip.portCount else { return .none }
        if !view.trunk[Int(port)] { return VLANSet([view.accessVLAN[Int(port)]]) }
        return VLANSet(words: view.allowed + Int(port) * 64)
    }

    /// Whether some up port carries `vlan` (an SVI's "autostate"): no lock.
    public func vlanHasUpPort(_ vlan: UInt16) -> Bool {
        let view = ports.view.load(ordering: .acquiring)
        guard chip.portCount >= 1 else { return false }
        return (1...chip.portCount).contains { transmitter.carries($0, vlan: vlan, view: view) }
    }

    /// Sends a frame from the CPU (the router: adverts, ARP) on every port of `vlan`. `frame` is
    /// untagged; ports that need a tag get one. Takes no lock and never blocks.
    public func sendFromCPU(_ frame: [UInt8], vlan: UInt16) {
        let view = ports.view.load(ordering: .acquiring)
        var scratch: [UInt8] = []
        frame.withUnsafeBytes { transmitter.flood($0, vlan: vlan, except: 0, view: view, scratch: &scratch) }
    }
}
