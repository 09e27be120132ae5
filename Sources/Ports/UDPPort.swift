import Atomics
import CLinux
import Glibc
import SwitchHAL

/// A port that is a UDP tunnel to another switch on this host (as GNS3 and QEMU link virtual
/// routers): every Ethernet frame is one datagram from 127.0.0.1:local to 127.0.0.1:remote.
/// No root needed. Sending never blocks: a full socket buffer drops the frame.
public final class UDPPort: PortBackend, @unchecked Sendable {
    public let summary: String
    private let fd: Int32
    private var remote = sockaddr_in()
    private var thread: HALThread?
    private let threadName: String
    private let truncated = ManagedAtomic<UInt64>(0)
    private let overruns = ManagedAtomic<UInt64>(0)

    /// A frame of a 1,500-byte MTU with a tag fits a slot; jumbo frames do not (counted).
    static let slotSize = 2048
    static let batch = 64

    /// Datagrams longer than a frame can be.
    public var receiveErrors: UInt64 { truncated.load(ordering: .relaxed) }

    /// Datagrams the kernel dropped because this port's socket buffer was full (SO_RXQ_OVFL).
    public var receiveOverruns: UInt64 { overruns.load(ordering: .relaxed) }

    public init(localPort: UInt16, remotePort: UInt16, name: String) throws {
        summary = "udp 127.0.0.1:\(localPort) -> 127.0.0.1:\(remotePort)"
        threadName = "udp-\(name)"
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PortError("socket: \(String(cString: strerror(errno)))") }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_port = localPort.bigEndian
        local.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        // A switch with 1,000 Masters sends its adverts in bursts of 1,000 frames: the default
        // 208 KB receive buffer holds about 200 of them. Ask for 4 MB (beyond rmem_max as root).
        var size: Int32 = 4 << 20
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        // The kernel's count of datagrams dropped for a full buffer, with every datagram.
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            // No close(fd) here: every stored property is set, so throwing runs deinit, which
            // closes it (closing twice could close a descriptor another thread just opened).
            throw PortError("cannot bind 127.0.0.1:\(localPort): \(reason)")
        }
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = remotePort.bigEndian
        remote.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    }

    deinit { close(fd) }

    public func transmit(_ frame: UnsafeRawBufferPointer) -> Bool {
        var destination = remote
        let n = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, frame.baseAddress, frame.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // ECONNREFUSED: nobody listens at the other end yet (the peer switch is down): a cable
        // with nothing plugged in. The frame is lost, as on a real wire.
        return n == frame.count
    }

    public func start(deliver: @escaping @Sendable (UnsafeRawBufferPointer, FrameOffload) -> Void) {
        let (fd, tooLong, overruns) = (self.fd, truncated, self.overruns)
        thread = HALThread.spawn(name: threadName) { me in
            // One batch of datagrams per system call (recvmmsg), into slots allocated once.
            let stride = UDPPort.slotSize, batch = UDPPort.batch
            let slots = UnsafeMutableRawPointer.allocate(byteCount: stride * batch, alignment: 64)
            let lengths = UnsafeMutablePointer<Int32>.allocate(capacity: batch)
            defer {
                slots.deallocate()
                lengths.deallocate()
            }
            while !me.shouldStop {
                me.set(.sleeping)
                var dropped: UInt32 = 0
                let n = Int(clinux_datagram_receive_batch(
                    fd, slots.assumingMemoryBound(to: UInt8.self), Int32(stride), Int32(batch), lengths, 100, &dropped))
                guard n > 0 else { continue }
                if UInt64(dropped) > overruns.load(ordering: .relaxed) { overruns.store(UInt64(dropped), ordering: .relaxed) }
                me.set(.working)
                for index in 0..<n {
                    // A datagram longer than the slot (its real length, from MSG_TRUNC) is
                    // dropped and counted rather than delivered cut short.
                    guard Int(lengths[index]) <= stride else {
                        tooLong.wrappingIncrement(ordering: .relaxed)
                        continue
                    }
                    deliver(UnsafeRawBufferPointer(start: slots + index * stride, count: Int(lengths[index])), .none)
                }
            }
        }
    }

    public func stop() {
        thread?.requestStop()
        thread?.join()
        thread = nil
    }
}

public struct PortError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
