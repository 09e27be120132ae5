import NetTypes

/// What the sending host's kernel left for the NIC to finish on a frame, as a packet socket
/// with `PACKET_VNET_HDR` reports it (the virtio-net header): a transport checksum to fill in
/// (the field holds only the pseudo-header's sum), or a super-frame (GSO, up to 64 KiB) to cut
/// into segments of `segmentSize` payload bytes. Frames from a simulated wire or a UDP tunnel
/// have none. A port whose backend cannot hand the work on to a kernel gets the frame finished
/// in software (`SoftwareOffload`), so nothing leaves the switch with a partial checksum or
/// larger than the port's MTU.
public struct FrameOffload: Sendable, Equatable {
    /// The virtio-net GSO types (`VIRTIO_NET_HDR_GSO_*`).
    public enum Segmentation: UInt8, Sendable {
        case none = 0
        case tcpv4 = 1
        /// UDP fragmentation offload (UFO): one datagram to be sent as IP fragments.
        case udpFragments = 3
        case tcpv6 = 4
        /// UDP segmentation (USO): one datagram per segment.
        case udp = 5
    }

    public var needsChecksum: Bool
    /// Where the checksummed bytes start, from the frame's first byte, and where the result
    /// goes, from there.
    public var checksumStart: UInt16
    public var checksumOffset: UInt16
    public var segmentation: Segmentation
    /// The super-frame carries ECN's CWR (virtio's GSO_ECN).
    public var ecn: Bool
    /// Payload bytes per segment (the sender's MSS).
    public var segmentSize: UInt16

    public init(
        needsChecksum: Bool = false, checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0, segmentation: Segmentation = .none,
        ecn: Bool = false, segmentSize: UInt16 = 0
    ) {
        self.needsChecksum = needsChecksum
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
        self.segmentation = segmentation
        self.ecn = ecn
        self.segmentSize = segmentSize
    }

    public static let none = FrameOffload()

    @inline(__always)
    public var isNone: Bool { !needsChecksum && segmentation == .none }

    /// The same work after `delta` bytes were added in front of the checksummed part (a VLAN
    /// tag: +4 when added, -4 when removed).
    @inline(__always)
    public func shifted(by delta: Int) -> FrameOffload {
        guard needsChecksum else { return self }
        var moved = self
        moved.checksumStart = UInt16(truncatingIfNeeded: Int(checksumStart) + delta)
        return moved
    }
}

/// Why a frame with offload work could not be finished (counted, the frame dropped).
public enum OffloadFailure: Error, Sendable {
    /// Offsets outside the frame, or headers that are not what the work says.
    case malformed
    /// UDP fragmentation offload: a router's job, not a port's.
    case unsupported
}

/// Finishing offload work in software, as a NIC would: the transport checksum, and TCP/UDP
/// segmentation of super-frames into frames no larger than the sender's MSS.
public enum SoftwareOffload {
    /// Fills in the checksum of a frame whose offload says it needs one, in place.
    public static func completeChecksum(_ frame: UnsafeMutableRawBufferPointer, _ offload: FrameOffload) throws(OffloadFailure) {
        guard offload.needsChecksum else { return }
        let start = Int(offload.checksumStart), field = start + Int(offload.checksumOffset)
        guard let base = frame.baseAddress, start < frame.count, field + 2 <= frame.count else { throw .malformed }
        var result = ~InternetChecksum.fold(InternetChecksum.sum(base + start, frame.count - start))
        // UDP's "no checksum" is 0: a computed 0 is sent as 0xffff (RFC 768).
        if offload.checksumOffset == 6 && result == 0 { result = 0xffff }
        base.storeBytes(of: result, toByteOffset: field, as: UInt16.self)
    }

    /// The IP packet size of each segment a super-frame becomes (the whole frame's, less the
    /// Ethernet header, when it is not one): what must fit the egress MTU.
    public static func largestPacket(_ frame: UnsafeRawBufferPointer, _ offload: FrameOffload) -> Int {
        let l3 = networkOffset(frame)
        guard offload.segmentation != .none, offload.segmentation != .udpFragments,
            let headers = try? headerLength(frame, offload)
        else { return frame.count - l3 }
        return min(frame.count, headers + Int(offload.segmentSize)) - l3
    }

    /// Where the IP header starts (after one 802.1Q/802.1ad tag, if any).
    @inline(__always)
    static func networkOffset(_ frame: UnsafeRawBufferPointer) -> Int {
        guard frame.count >= 18 else { return 14 }
        let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
        return type == 0x8100 || type == 0x88a8 ? 18 : 14
    }

    /// Ethernet, IP and transport headers of a super-frame.
    static func headerLength(_ frame: UnsafeRawBufferPointer, _ offload: FrameOffload) throws(OffloadFailure) -> Int {
        let l4 = Int(offload.checksumStart)
        switch offload.segmentation {
        case .tcpv4, .tcpv6:
            guard l4 + 20 <= frame.count else { throw .malformed }
            let length = Int(frame[l4 + 12] >> 4) * 4
            guard length >= 20, l4 + length <= frame.count else { throw .malformed }
            return l4 + length
        case .udp:
            guard l4 + 8 <= frame.count else { throw .malformed }
            return l4 + 8
        case .none, .udpFragments:
            throw .unsupported
        }
    }

    /// Cuts a super-frame into frames (each in `scratch`, handed to `emit` in order): the
    /// headers copied, IP lengths, IDs and checksums, TCP sequence numbers and flags (FIN and
    /// PSH on the last only, CWR on the first only) and transport checksums set per segment,
    /// as Linux's GSO does. A frame with no segmentation work is completed and emitted whole.
    public static func segment(
        _ frame: UnsafeRawBufferPointer, _ offload: FrameOffload, scratch: inout [UInt8],
        emit: (UnsafeRawBufferPointer) -> Void
    ) throws(OffloadFailure) {
        if offload.segmentation == .none {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: frame)
            let completed = scratch.withUnsafeMutableBytes { (try? completeChecksum($0, offload)) != nil }
            guard completed else { throw .malformed }
            scratch.withUnsafeBytes { emit($0) }
            return
        }
        let l3 = networkOffset(frame)
        let l4 = Int(offload.checksumStart)
        let headers = try headerLength(frame, offload)
        let mss = Int(offload.segmentSize)
        guard mss > 0, l4 > l3, frame.count > headers else { throw .malformed }
        let version = frame[l3] >> 4
        guard (version == 4 && l4 >= l3 + 20) || (version == 6 && l4 >= l3 + 40) else { throw .malformed }
        // The IPv4 header's own length must end where the transport header starts (found by
        // fuzzing: a header length past the copied headers was summed out of bounds).
        guard version == 6 || Int(frame[l3] & 0x0f) * 4 == l4 - l3 else { throw .malformed }
        let tcp = offload.segmentation != .udp
        let payload = frame.count - headers
        let count = (payload + mss - 1) / mss
        let firstID = UInt16(frame[l3 + 4]) << 8 | UInt16(frame[l3 + 5])
        let firstSequence = tcp ? UInt32(frame[l4 + 4]) << 24 | UInt32(frame[l4 + 5]) << 16 | UInt32(frame[l4 + 6]) << 8 | UInt32(frame[l4 + 7]) : 0
        let protocolNumber: UInt16 = tcp ? 6 : 17
        for index in 0..<count {
            let offset = index * mss
            let size = min(mss, payload - offset)
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: frame[0..<headers]))
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: frame[(headers + offset)..<(headers + offset + size)]))
            scratch.withUnsafeMutableBytes { out in
                let base = out.baseAddress!
                let l4Length = headers - l4 + size
                if version == 4 {
                    put16(base, l3 + 2, UInt16(l4 - l3 + l4Length))
                    put16(base, l3 + 4, firstID &+ UInt16(truncatingIfNeeded: index))
                    put16(base, l3 + 10, 0)
                    let ihl = Int(out[l3] & 0x0f) * 4
                    base.storeBytes(of: ~InternetChecksum.fold(InternetChecksum.sum(base + l3, ihl)), toByteOffset: l3 + 10, as: UInt16.self)
                } else {
                    put16(base, l3 + 4, UInt16(l4 - l3 - 40 + l4Length))
                }
                let field: Int
                if tcp {
                    let sequence = firstSequence &+ UInt32(truncatingIfNeeded: offset)
                    put16(base, l4 + 4, UInt16(sequence >> 16))
                    put16(base, l4 + 6, UInt16(truncatingIfNeeded: sequence))
                    var flags = out[l4 + 13]
                    if index != count - 1 { flags &= ~(0x01 | 0x08) }  // FIN, PSH: the last only
                    if index != 0 { flags &= ~0x80 }  // CWR: the first only
                    out[l4 + 13] = flags
                    field = l4 + 16
                } else {
                    put16(base, l4 + 4, UInt16(l4Length))
                    field = l4 + 6
                }
                put16(base, field, 0)
                var sum = InternetChecksum.sum(base + l4, l4Length)
                if version == 4 {
                    sum = InternetChecksum.add(sum, InternetChecksum.sum(base + l3 + 12, 8))
                } else {
                    sum = InternetChecksum.add(sum, InternetChecksum.sum(base + l3 + 8, 32))
                }
                sum = InternetChecksum.add(sum, UInt64(UInt16(l4Length).bigEndian))
                sum = InternetChecksum.add(sum, UInt64(protocolNumber.bigEndian))
                var result = ~InternetChecksum.fold(sum)
                if !tcp && result == 0 { result = 0xffff }
                base.storeBytes(of: result, toByteOffset: field, as: UInt16.self)
            }
            scratch.withUnsafeBytes { emit($0) }
        }
    }

    @inline(__always)
    static func put16(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt16) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }
}
