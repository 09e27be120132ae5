import Atomics

/// Where a port's frames really go: a UDP tunnel, an AF_PACKET socket, an in-process fabric.
/// `transmit` must never block (drop and return false instead); `start` delivers received
/// frames, with the offload work they still carry, by calling `deliver` from the backend's own
/// thread.
public protocol PortBackend: AnyObject, Sendable {
    /// How `show interfaces` describes it (`udp 127.0.0.1:4001 -> 127.0.0.1:4002`).
    var summary: String { get }
    /// The largest IP packet (Ethernet payload, a VLAN tag not counted) the wire carries: its
    /// MTU. Nothing larger is sent; a super-frame's segments must fit.
    var mtu: Int { get }
    /// Whether `transmit(_:offload:)` hands a frame's offload work (a partial checksum, a
    /// super-frame) on to a kernel that finishes it. Otherwise the switch finishes it first.
    var finishesOffloads: Bool { get }
    /// Frames the wire had that could not be received whole (longer than any buffer).
    var receiveErrors: UInt64 { get }
    /// Frames the wire had that were dropped before the switch read them (a socket buffer
    /// full: the switch fell behind).
    var receiveOverruns: UInt64 { get }
    /// Sends a finished frame.
    func transmit(_ frame: UnsafeRawBufferPointer) -> Bool
    /// Sends a frame with offload work left (only called when `finishesOffloads`).
    func transmit(_ frame: UnsafeRawBufferPointer, offload: FrameOffload) -> Bool
    func start(deliver: @escaping @Sendable (UnsafeRawBufferPointer, FrameOffload) -> Void)
    func stop()
}

extension PortBackend {
    public var mtu: Int { 1500 }
    public var finishesOffloads: Bool { false }
    public var receiveErrors: UInt64 { 0 }
    public var receiveOverruns: UInt64 { 0 }
    public func transmit(_ frame: UnsafeRawBufferPointer, offload: FrameOffload) -> Bool { transmit(frame) }
}

/// Transmit counters of one port.
public struct TransmitCounters: Sendable, Equatable {
    public var frames: UInt64 = 0
    /// The backend could not send (its buffer full, nothing at the other end).
    public var dropped: UInt64 = 0
    /// Larger than the port's MTU (or a super-frame whose segments are): dropped, as a switch
    /// does.
    public var oversize: UInt64 = 0
    /// Offload work that could not be finished (headers that are not what it says, UDP
    /// fragmentation offload): dropped.
    public var offloadErrors: UInt64 = 0

    public init(frames: UInt64 = 0, dropped: UInt64 = 0, oversize: UInt64 = 0, offloadErrors: UInt64 = 0) {
        self.frames = frames
        self.dropped = dropped
        self.oversize = oversize
        self.offloadErrors = offloadErrors
    }
}

/// The transmit side: backends per port, and sending with the VLAN tagging rules. No HAL lock is
/// taken: the port settings come from the published forwarding view, so transmitting works even
/// while `l2.table` or `hal.ports` is held by a stuck thread.
final class Transmitter: @unchecked Sendable {
    private var backends: [PortBackend?]
    private let sent: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let dropped: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let oversize: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let offloadErrors: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    /// Whether each port's backend finishes offload work itself.
    private var finishes: [Bool]
    let portCount: Int

    init(portCount: Int) {
        self.portCount = portCount
        backends = Array(repeating: nil, count: portCount + 1)
        finishes = Array(repeating: false, count: portCount + 1)
        sent = .allocate(capacity: portCount + 1)
        dropped = .allocate(capacity: portCount + 1)
        oversize = .allocate(capacity: portCount + 1)
        offloadErrors = .allocate(capacity: portCount + 1)
        for index in 0...portCount {
            (sent + index).initialize(to: .init(0))
            (dropped + index).initialize(to: .init(0))
            (oversize + index).initialize(to: .init(0))
            (offloadErrors + index).initialize(to: .init(0))
        }
    }

    deinit {
        sent.deallocate()
        dropped.deallocate()
        oversize.deallocate()
        offloadErrors.deallocate()
    }

    /// Attaches backends before the switch starts (the arrays are read without a lock after).
    func attach(_ backend: PortBackend, port: PortID) {
        backends[Int(port)] = backend
        finishes[Int(port)] = backend.finishesOffloads
    }

    /// The MTU of a port's wire (1500 when nothing is attached). A Linux port's follows its
    /// interface's, read when asked.
    func mtu(_ port: Int) -> Int {
        guard port >= 1, port <= portCount, let backend = backends[port] else { return 1500 }
        return backend.mtu
    }

    var hasBackends: Bool { backends.contains { $0 != nil } }

    func backend(_ port: PortID) -> PortBackend? { Int(port) <= portCount ? backends[Int(port)] : nil }

    var attached: [(PortID, PortBackend)] {
        backends.enumerated().compactMap { index, backend in backend.map { (PortID(index), $0) } }
    }

    func counters(_ port: PortID) -> TransmitCounters {
        TransmitCounters(
            frames: UnsafeAtomic<UInt64>(at: sent + Int(port)).load(ordering: .relaxed),
            dropped: UnsafeAtomic<UInt64>(at: dropped + Int(port)).load(ordering: .relaxed),
            oversize: UnsafeAtomic<UInt64>(at: oversize + Int(port)).load(ordering: .relaxed),
            offloadErrors: UnsafeAtomic<UInt64>(at: offloadErrors + Int(port)).load(ordering: .relaxed))
    }

    /// Counts a frame whose offload work could not be finished, against the port it came in by.
    func countOffloadError(_ port: Int) {
        guard port >= 0, port <= portCount else { return }
        UnsafeAtomic<UInt64>(at: offloadErrors + port).wrappingIncrement(ordering: .relaxed)
    }

    /// Scratch space of one sending thread (tagged copies, segments), reused frame to frame.
    struct Scratch {
        var tagged: [UInt8] = []
        var segment: [UInt8] = []
    }

    /// Sends an untagged frame (`bytes`: destination, source, ethertype, payload) out of `port`
    /// in `vlan`, tagging it when the port is a trunk and the VLAN not its native one. Offload
    /// work goes with the frame to a backend that finishes it; for any other, the switch
    /// finishes it here (checksum, segments). Nothing larger than the port's MTU is sent.
    func send(
        _ bytes: UnsafeRawBufferPointer, offload: FrameOffload = .none, vlan: UInt16, port: Int, view: ForwardingView,
        scratch: inout Scratch
    ) {
        guard port >= 1, port <= portCount, let backend = backends[port] else { return }
        guard view.operUp[port] else { return }
        let tag = view.trunk[port] && vlan != view.nativeVLAN[port] ? vlan : nil
        guard SoftwareOffload.largestPacket(bytes, offload) <= backend.mtu else {
            UnsafeAtomic<UInt64>(at: oversize + port).wrappingIncrement(ordering: .relaxed)
            return
        }
        if offload.isNone || finishes[port] {
            sendWhole(bytes, offload: offload, tag: tag, backend: backend, port: port, scratch: &scratch.tagged)
            return
        }
        // Two buffers at once: taken out of `scratch` (a swap, no copy) and put back after.
        var segment: [UInt8] = [], tagged: [UInt8] = []
        swap(&segment, &scratch.segment)
        swap(&tagged, &scratch.tagged)
        defer {
            swap(&segment, &scratch.segment)
            swap(&tagged, &scratch.tagged)
        }
        do {
            try SoftwareOffload.segment(bytes, offload, scratch: &segment) { piece in
                sendWhole(piece, offload: .none, tag: tag, backend: backend, port: port, scratch: &tagged)
            }
        } catch {
            UnsafeAtomic<UInt64>(at: offloadErrors + port).wrappingIncrement(ordering: .relaxed)
        }
    }

    @inline(__always)
    private func sendWhole(
        _ bytes: UnsafeRawBufferPointer, offload: FrameOffload, tag: UInt16?, backend: PortBackend, port: Int, scratch: inout [UInt8]
    ) {
        let ok: Bool
        if let vlan = tag {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: bytes[0..<12])
            scratch.append(contentsOf: [0x81, 0x00, UInt8(vlan >> 8 & 0x0f), UInt8(vlan & 0xff)])
            scratch.append(contentsOf: bytes[12...])
            ok = scratch.withUnsafeBytes { offload.isNone ? backend.transmit($0) : backend.transmit($0, offload: offload.shifted(by: 4)) }
        } else {
            ok = offload.isNone ? backend.transmit(bytes) : backend.transmit(bytes, offload: offload)
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
    func flood(
        _ bytes: UnsafeRawBufferPointer, offload: FrameOffload = .none, vlan: UInt16, except: Int, view: ForwardingView,
        scratch: inout Scratch
    ) {
        for port in 1...max(1, portCount) where port != except && backends[port] != nil && carries(port, vlan: vlan, view: view) {
            send(bytes, offload: offload, vlan: vlan, port: port, view: view, scratch: &scratch)
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

    /// A port's MTU: its wire's (a Linux interface's own), 1500 when not wired.
    public func mtu(_ port: PortID) -> Int { transmitter.mtu(Int(port)) }

    /// Sends a frame from the CPU out of one port (a reply to what came in there), tagged if the
    /// port needs it for `vlan`. Takes no lock and never blocks.
    public func sendFromCPU(_ frame: [UInt8], vlan: UInt16, port: PortID) {
        let view = ports.view.load(ordering: .acquiring)
        guard transmitter.carries(Int(port), vlan: vlan, view: view) else { return }
        var scratch = Transmitter.Scratch()
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
        var scratch = Transmitter.Scratch()
        frame.withUnsafeBytes { transmitter.flood($0, vlan: vlan, except: 0, view: view, scratch: &scratch) }
    }
}
