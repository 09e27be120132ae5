import Foundation
import Glibc
import NetTypes
import Packets


/// A Linux-less "host" plugged into a switch port that is a UDP tunnel (`--port ethN=udp:...`):
/// the test sends and receives whole Ethernet frames, as a host on that segment would.
final class WireHost: @unchecked Sendable {
    let fd: Int32
    let mac: MACAddress
    private var remote = sockaddr_in()

    init(localPort: UInt16, switchPort: UInt16, mac: MACAddress = MACAddress(0x0200_00aa_0001)) throws {
        self.mac = mac
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_port = localPort.bigEndian
        local.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("cannot bind UDP \(localPort): \(errno)") }
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = switchPort.bigEndian
        remote.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    }

    deinit { close(fd) }

    func send(_ frame: [UInt8]) {
        var destination = remote
        _ = withUnsafePointer(to: &destination) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                frame.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, address, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    /// The next frame, or nil after `timeout` seconds.
    func receive(timeout: Double) -> [UInt8]? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(max(0, timeout * 1000))) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? Array(buffer[0..<n]) : nil
    }

    /// Frames received (with their arrival times) until `timeout`, or until `until` says stop.
    func collect(timeout: Double, until: (([UInt8]) -> Bool)? = nil) -> [(at: Date, frame: [UInt8])] {
        let deadline = Date().addingTimeInterval(timeout)
        var out: [(Date, [UInt8])] = []
        while Date() < deadline {
            guard let frame = receive(timeout: deadline.timeIntervalSinceNow) else { break }
            out.append((Date(), frame))
            if until?(frame) == true { break }
        }
        return out
    }

    /// Waits for the first frame that `match` turns into a value.
    func first<T>(timeout: Double, _ match: ([UInt8]) -> T?) -> T? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let frame = receive(timeout: deadline.timeIntervalSinceNow) else { return nil }
            if let value = match(frame) { return value }
        }
        return nil
    }

    func drain() { while receive(timeout: 0) != nil {} }

    // MARK: Frames a host sends

    func arpRequest(for target: IPv4Address, from address: IPv4Address) -> [UInt8] {
        let arp = ARPPacket(operation: 1, senderMAC: mac, senderIP: address, targetMAC: MACAddress(0), targetIP: target)
        return EthernetFrame(destination: Multicast.broadcast, source: mac, etherType: EtherType.arp, payload: arp.bytes[...]).bytes
    }

    func ping(_ target: IPv4Address, via destination: MACAddress, from address: IPv4Address, sequence: UInt16 = 1) -> [UInt8] {
        var icmp: [UInt8] = [8, 0, 0, 0, 0x12, 0x34, UInt8(sequence >> 8), UInt8(sequence & 0xff)] + Array("vrrpd-test".utf8)
        let sum = internetChecksum(icmp)
        icmp[2] = UInt8(sum >> 8)
        icmp[3] = UInt8(sum & 0xff)
        let ip = IPv4Packet(source: address, destination: target, protocolNumber: 1, ttl: 64, payload: icmp)
        return EthernetFrame(destination: destination, source: mac, etherType: EtherType.ipv4, payload: ip.bytes[...]).bytes
    }
}

/// What a test needs from a received frame.
enum Decoded {
    /// An IPv4 VRRP advertisement: the frame, the IP header and the VRRP message.
    static func vrrp(_ bytes: [UInt8]) -> (frame: EthernetFrame, ip: IPv4Packet)? {
        guard let frame = EthernetFrame.parse(bytes), frame.etherType == EtherType.ipv4, let ip = IPv4Packet.parse(frame.payload),
            ip.protocolNumber == 112
        else { return nil }
        return (frame, ip)
    }

    static func arpReply(_ bytes: [UInt8]) -> (frame: EthernetFrame, arp: ARPPacket)? {
        guard let frame = EthernetFrame.parse(bytes), frame.etherType == EtherType.arp, let arp = ARPPacket.parse(frame.payload),
            arp.operation == 2
        else { return nil }
        return (frame, arp)
    }

    static func echoReply(_ bytes: [UInt8]) -> (frame: EthernetFrame, ip: IPv4Packet)? {
        guard let frame = EthernetFrame.parse(bytes), frame.etherType == EtherType.ipv4, let ip = IPv4Packet.parse(frame.payload),
            ip.protocolNumber == 1, ip.payload.first == 0
        else { return nil }
        return (frame, ip)
    }
}
