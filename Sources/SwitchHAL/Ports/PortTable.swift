import Atomics
import NetTypes

public enum PortMode: String, Sendable, Equatable {
    case access, trunk
}

/// A port's VLAN and admin settings (what `switchport ...` and `shutdown` configure).
public struct PortSettings: Equatable, Sendable {
    public var adminUp = true
    public var mode = PortMode.access
    public var accessVLAN: UInt16 = 1
    public var nativeVLAN: UInt16 = 1
    public var allowedVLANs = VLANSet.all

    public init() {}

    /// The VLANs the port carries (existing or not).
    public var memberVLANs: VLANSet {
        switch mode {
        case .access: return VLANSet([accessVLAN])
        case .trunk: return allowedVLANs
        }
    }
}

/// A port as `show interfaces` reports it.
public struct PortStatus: Sendable {
    public var id: PortID
    public var name: String
    public var mac: MACAddress
    public var settings: PortSettings
    public var linkUp: Bool
    public var operUp: Bool { settings.adminUp && linkUp }
    public var counters: PortCounters
    public var dynamicEntries: Int
    public var interface: InterfaceID { .port(id) }
}

/// Receive counters of one port (kept by the l2x worker under `l2.table`).
public struct PortCounters: Sendable, Equatable {
    public var frames: UInt64 = 0
    public var bytes: UInt64 = 0
    public var learned: UInt64 = 0
    public var moves: UInt64 = 0
    public var droppedPortDown: UInt64 = 0
    public var droppedVLAN: UInt64 = 0
    public var droppedInvalid: UInt64 = 0
    public var learnLimited: UInt64 = 0
    public var toCPU: UInt64 = 0
    /// Routed by the chip (the L3 host table), not the CPU.
    public var routed: UInt64 = 0

    public var dropped: UInt64 { droppedPortDown + droppedVLAN + droppedInvalid }
}

/// A routed VLAN interface (`interface vlanN`): its router MAC is installed in the L2 table as a
/// static L3 entry while the VLAN exists.
public struct SVIStatus: Sendable, Equatable {
    public var vlan: UInt16
    public var routerMAC: MACAddress
    public var addresses: [IPv4Prefix]
    public var up: Bool
    public var interface: InterfaceID { .svi(vlan) }
}

/// Ports, VLANs and SVIs: the switch's configuration as the hardware holds it. Guarded by
/// `hal.ports`. Publishes an immutable `ForwardingView` that the data path reads without locks.
final class PortTable {
    let portCount: Int
    let baseMAC: MACAddress
    var settings: [PortSettings]
    var links: [Bool]
    var vlans = VLANSet([1])
    var svis: [UInt16: [IPv4Prefix]] = [:]
    let view: ManagedAtomic<ForwardingView>

    init(portCount: Int, baseMAC: MACAddress) {
        self.portCount = portCount
        self.baseMAC = baseMAC
        settings = Array(repeating: PortSettings(), count: portCount + 1)
        links = Array(repeating: true, count: portCount + 1)
        view = ManagedAtomic(ForwardingView(portCount: portCount))
        publish()
    }

    func isValid(_ port: PortID) -> Bool { port >= 1 && Int(port) <= portCount }

    func name(of port: PortID) -> String { port == cpuPort ? "CPU" : InterfaceID.port(port).description }

    func mac(of port: PortID) -> MACAddress { MACAddress(baseMAC.value &+ UInt64(port)) }

    /// Rebuilds the data path's view after any change (called with `hal.ports` held).
    func publish() {
        let next = ForwardingView(portCount: portCount)
        for port in 1...max(1, portCount) where port <= portCount {
            let s = settings[port]
            next.operUp[port] = s.adminUp && links[port]
            next.trunk[port] = s.mode == .trunk
            next.accessVLAN[port] = s.accessVLAN
            next.nativeVLAN[port] = s.nativeVLAN
            s.allowedVLANs.copyWords(to: next.allowed + port * 64)
        }
        vlans.copyWords(to: next.vlans)
        view.store(next, ordering: .releasing)
    }
}

/// What the data path needs to classify a frame, frozen: replaced whole on every change. Plain
/// buffers, so reading it per frame costs no reference counting.
final class ForwardingView: AtomicReference, @unchecked Sendable {
    let portCount: Int
    let operUp: UnsafeMutablePointer<Bool>
    let trunk: UnsafeMutablePointer<Bool>
    let accessVLAN: UnsafeMutablePointer<UInt16>
    let nativeVLAN: UnsafeMutablePointer<UInt16>
    /// 64 words (4096 bits) of allowed VLANs per port.
    let allowed: UnsafeMutablePointer<UInt64>
    /// The VLANs that exist.
    let vlans: UnsafeMutablePointer<UInt64>

    init(portCount: Int) {
        self.portCount = portCount
        let n = portCount + 1
        operUp = .allocate(capacity: n)
        operUp.initialize(repeating: false, count: n)
        trunk = .allocate(capacity: n)
        trunk.initialize(repeating: false, count: n)
        accessVLAN = .allocate(capacity: n)
        accessVLAN.initialize(repeating: 1, count: n)
        nativeVLAN = .allocate(capacity: n)
        nativeVLAN.initialize(repeating: 1, count: n)
        allowed = .allocate(capacity: n * 64)
        allowed.initialize(repeating: 0, count: n * 64)
        vlans = .allocate(capacity: 64)
        vlans.initialize(repeating: 0, count: 64)
    }

    deinit {
        operUp.deallocate()
        trunk.deallocate()
        accessVLAN.deallocate()
        nativeVLAN.deallocate()
        allowed.deallocate()
        vlans.deallocate()
    }

    enum Ingress {
        case vlan(UInt16)
        case portDown
        case vlanNotAllowed
    }

    @inline(__always)
    private static func bit(_ words: UnsafeMutablePointer<UInt64>, _ vlan: UInt16) -> Bool {
        words[Int(vlan >> 6)] & (1 << UInt64(vlan & 63)) != 0
    }

    /// The VLAN a frame belongs to, given its port and 802.1Q tag (nil: untagged).
    @inline(__always)
    func classify(port: Int, tag: UInt16?) -> Ingress {
        guard port >= 1, port <= portCount, operUp[port] else { return .portDown }
        let vlan: UInt16
        if trunk[port] {
            vlan = tag ?? nativeVLAN[port]
            guard ForwardingView.bit(allowed + port * 64, vlan) else { return .vlanNotAllowed }
        } else {
            // An access port takes untagged frames (and frames tagged with its own VLAN).
            guard tag == nil || tag == accessVLAN[port] else { return .vlanNotAllowed }
            vlan = accessVLAN[port]
        }
        guard ForwardingView.bit(vlans, vlan) else { return .vlanNotAllowed }
        return .vlan(vlan)
    }
}
