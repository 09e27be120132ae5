import Atomics
import NIOConcurrencyHelpers
import Packets
import SwitchHAL
import VRRP

/// The frames the HAL hands the CPU, sorted by one cheap look at their headers: VRRP
/// advertisements to the VRRP thread, everything the router answers or routes (ARP, ICMP, ICMPv6
/// neighbour discovery, IPv4 to the router's MACs) to the L3 service, the rest counted and
/// dropped. Runs on the HAL's rx thread: it never blocks (each side has a bounded inbox).
final class CPUPath: Sendable {
    private let vrrp: VRRPService
    private let l3: L3Service
    /// Frames that were none of the router's business.
    let ignored = ManagedAtomic<UInt64>(0)

    init(vrrp: VRRPService, l3: L3Service) {
        self.vrrp = vrrp
        self.l3 = l3
    }

    /// Takes the HAL's CPU frames (until `stop`).
    func start(_ hal: Switch) {
        hal.setPacketHandler { [weak self] port, vlan, frame in self?.receive(port: port, vlan: vlan, frame: frame) }
    }

    func stop(_ hal: Switch) {
        hal.setPacketHandler(nil)
    }

    private func receive(port: PortID, vlan: UInt16, frame: UnsafeRawBufferPointer) {
        switch Self.classify(frame) {
        case .advertisement: vrrp.receive(InboundFrame(port: port, vlan: vlan, bytes: [UInt8](frame)))
        case .answered: l3.receive(InboundFrame(port: port, vlan: vlan, bytes: [UInt8](frame)), routed: false)
        case .routed: l3.receive(InboundFrame(port: port, vlan: vlan, bytes: [UInt8](frame)), routed: true)
        case .ignored: ignored.wrappingIncrement(ordering: .relaxed)
        }
    }

    enum FrameClass { case advertisement, answered, routed, ignored }

    /// VRRP (IPv4 protocol 112, IPv6 next header 112) for VRRP; ARP, ICMP and ICMPv6 for the
    /// router's answers; unicast IPv4 TCP or UDP for the routing path; nothing else.
    static func classify(_ frame: UnsafeRawBufferPointer) -> FrameClass {
        guard frame.count >= 14 else { return .ignored }
        var offset = 12
        var type = UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
        if type == EtherType.vlan {
            guard frame.count >= 18 else { return .ignored }
            offset = 16
            type = UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
        }
        let ip = offset + 2
        switch type {
        case EtherType.arp:
            return .answered
        case EtherType.ipv4:
            guard frame.count > ip + 9 else { return .ignored }
            switch frame[ip + 9] {
            case Advertisement.ipProtocol: return .advertisement
            case ICMPv4.protocolNumber: return .answered
            case Transport.tcp, Transport.udp: return frame[0] & 1 == 0 && frame.count >= ip + 20 ? .routed : .ignored
            default: return .ignored
            }
        case EtherType.ipv6:
            guard frame.count > ip + 6 else { return .ignored }
            switch frame[ip + 6] {
            case Advertisement.ipProtocol: return .advertisement
            case 58: return .answered
            default: return .ignored
            }
        default:
            return .ignored
        }
    }
}
