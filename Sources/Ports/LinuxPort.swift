import Atomics
import CLinux
import Glibc
import SwitchHAL
import Time

/// A port that is a real Linux interface (a veth end, a tap): frames are read and written with
/// an AF_PACKET socket, promiscuously, so a simulated switch can sit in a network namespace next
/// to real hosts and real VRRP routers. Needs root (CAP_NET_RAW).
///
/// The hosts keep their default offloads: every frame comes with the kernel's virtio-net header
/// (a partial checksum still to fill in, a TCP super-frame of up to 64 KiB still to segment),
/// which goes into the switch with the frame and back to the kernel where the frame leaves
/// through another Linux port, as a NIC would take it. A tag the kernel took off (VLAN offload)
/// is put back. Frames are received in batches (`recvmmsg`), into buffers allocated once.
public final class LinuxPort: PortBackend, @unchecked Sendable {
    public let summary: String
    public let finishesOffloads = true
    private let fd: Int32
    private let interface: String
    private let currentMTU: ManagedAtomic<Int>
    private let truncated = ManagedAtomic<UInt64>(0)
    private let overruns = ManagedAtomic<UInt64>(0)
    private var thread: HALThread?
    private let threadName: String

    /// Slots of one receive batch: a 64 KiB super-frame with its header and headroom fits.
    static let slotSize = 65_664 + 128
    static let batch = 16

    public init(interface: String, name: String) throws {
        summary = "linux \(interface)"
        self.interface = interface
        threadName = "pkt-\(name)"
        let result = clinux_packet_open(interface)
        guard result >= 0 else {
            throw PortError("cannot open \(interface) with AF_PACKET: \(String(cString: strerror(-result)))"
                + (getuid() == 0 ? "" : " (this needs root)"))
        }
        fd = result
        currentMTU = ManagedAtomic(max(68, Int(clinux_interface_mtu(result, interface))))
    }

    deinit { close(fd) }

    /// Frames longer than a receive slot (64 KiB: a super-frame of a host with BIG TCP).
    public var receiveErrors: UInt64 { truncated.load(ordering: .relaxed) }

    /// Frames the kernel dropped because this port's socket buffer was full (the switch fell
    /// behind the wire), read from the kernel at least every 100 ms.
    public var receiveOverruns: UInt64 { overruns.load(ordering: .relaxed) }

    /// The interface's MTU (re-read while the port is idle, so `ip link set mtu` takes).
    public var mtu: Int { currentMTU.load(ordering: .relaxed) }

    public func transmit(_ frame: UnsafeRawBufferPointer) -> Bool {
        clinux_packet_send(fd, frame.baseAddress, Int32(frame.count), 0, 0, 0, 0, 0) == 0
    }

    public func transmit(_ frame: UnsafeRawBufferPointer, offload: FrameOffload) -> Bool {
        clinux_packet_send(
            fd, frame.baseAddress, Int32(frame.count), offload.needsChecksum ? 1 : 0,
            offload.segmentation.rawValue | (offload.ecn ? 0x80 : 0), offload.segmentSize, offload.checksumStart,
            offload.checksumOffset) == 0
    }

    public func start(deliver: @escaping @Sendable (UnsafeRawBufferPointer, FrameOffload) -> Void) {
        let (fd, interface, mtu, tooLong, overruns) = (self.fd, self.interface, currentMTU, truncated, self.overruns)
        thread = HALThread.spawn(name: threadName) { me in
            let stride = LinuxPort.slotSize
            let slots = UnsafeMutableRawPointer.allocate(byteCount: stride * LinuxPort.batch, alignment: 64)
            let frames = UnsafeMutablePointer<clinux_frame>.allocate(capacity: LinuxPort.batch)
            defer {
                slots.deallocate()
                frames.deallocate()
            }
            var lastCheck = SystemClock.now
            while !me.shouldStop {
                me.set(.sleeping)
                let n = Int(clinux_packet_receive_batch(
                    fd, slots.assumingMemoryBound(to: UInt8.self), Int32(stride), Int32(LinuxPort.batch), frames, 100))
                if n <= 0 || SystemClock.elapsed(since: lastCheck) > .milliseconds(100) {
                    lastCheck = SystemClock.now
                    let dropped = clinux_packet_drops(fd)
                    if dropped > 0 { overruns.wrappingIncrement(by: UInt64(dropped), ordering: .relaxed) }
                }
                guard n > 0 else {
                    let now = clinux_interface_mtu(fd, interface)
                    if now > 0 { mtu.store(Int(now), ordering: .relaxed) }
                    continue
                }
                me.set(.working)
                for index in 0..<n {
                    let frame = frames[index]
                    // Skipped (sent by this host), or cut short: a frame longer than any
                    // buffer is dropped (the RX path counts it), never delivered in part.
                    guard frame.length >= 0 else { continue }
                    guard frame.truncated == 0 else {
                        tooLong.wrappingIncrement(ordering: .relaxed)
                        continue
                    }
                    let start = slots + index * stride + Int(frame.offset)
                    deliver(UnsafeRawBufferPointer(start: start, count: Int(frame.length)), LinuxPort.offload(frame))
                }
            }
        }
    }

    /// The virtio-net header's fields as the switch keeps them.
    static func offload(_ frame: clinux_frame) -> FrameOffload {
        guard frame.flags & 1 != 0 || frame.gso_type != 0 else { return .none }
        return FrameOffload(
            needsChecksum: frame.flags & 1 != 0, checksumStart: frame.csum_start, checksumOffset: frame.csum_offset,
            segmentation: FrameOffload.Segmentation(rawValue: frame.gso_type & 0x7f) ?? .udpFragments,
            ecn: frame.gso_type & 0x80 != 0, segmentSize: frame.gso_size)
    }

    public func stop() {
        thread?.requestStop()
        thread?.join()
        thread = nil
    }
}
