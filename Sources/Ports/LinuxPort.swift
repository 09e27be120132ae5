import CLinux
import Glibc
import SwitchHAL

/// A port that is a real Linux interface (a veth end, a tap): frames are read and written with
/// an AF_PACKET socket, promiscuously, so a simulated switch can sit in a network namespace next
/// to real hosts and real VRRP routers. Needs root (CAP_NET_RAW).
public final class LinuxPort: PortBackend, @unchecked Sendable {
    public let summary: String
    private let fd: Int32
    private var thread: HALThread?
    private let threadName: String

    public init(interface: String, name: String) throws {
        summary = "linux \(interface)"
        threadName = "pkt-\(name)"
        let result = clinux_packet_open(interface)
        guard result >= 0 else {
            throw PortError("cannot open \(interface) with AF_PACKET: \(String(cString: strerror(-result)))"
                + (getuid() == 0 ? "" : " (this needs root)"))
        }
        fd = result
    }

    deinit { close(fd) }

    public func transmit(_ frame: UnsafeRawBufferPointer) -> Bool {
        send(fd, frame.baseAddress, frame.count, Int32(MSG_DONTWAIT)) == frame.count
    }

    public func start(deliver: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        let fd = self.fd
        thread = HALThread.spawn(name: threadName) { me in
            var buffer = [UInt8](repeating: 0, count: 2048)
            while !me.shouldStop {
                me.set(.sleeping)
                let n = buffer.withUnsafeMutableBytes {
                    clinux_packet_receive(fd, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32($0.count), 100)
                }
                guard n > 0 else { continue }
                me.set(.working)
                buffer.withUnsafeBytes { deliver(UnsafeRawBufferPointer(rebasing: $0[0..<Int(n)])) }
            }
        }
    }

    public func stop() {
        thread?.requestStop()
        thread?.join()
        thread = nil
    }
}
