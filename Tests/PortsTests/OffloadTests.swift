import Glibc
import NetTypes
import Ports
import Synchronization
import SwitchHAL
import Testing

/// RFC 1071 done the slow, obvious way (big-endian 16-bit words), to check the switch's fast sum.
private func referenceChecksum(_ bytes: [UInt8]) -> UInt16 {
    var total: UInt32 = 0
    var index = 0
    while index + 1 < bytes.count {
        total += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
        index += 2
    }
    if index < bytes.count { total += UInt32(bytes[index]) << 8 }
    while total >> 16 != 0 { total = (total & 0xffff) + (total >> 16) }
    return ~UInt16(total)
}

private func be16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) << 8 | Int(bytes[offset + 1]) }
private func be32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}
private func put16(_ bytes: inout [UInt8], _ offset: Int, _ value: Int) {
    bytes[offset] = UInt8(value >> 8 & 0xff)
    bytes[offset + 1] = UInt8(value & 0xff)
}

/// A super-frame as a Linux sender's kernel hands it over with TSO/USO on: the headers of the
/// first segment, the whole payload, and in the transport checksum field only the
/// pseudo-header's sum (not complemented), as `CHECKSUM_PARTIAL` leaves it.
struct SuperFrame {
    enum Kind { case tcpv4, tcpv6, udpv4 }
    var bytes: [UInt8]
    var offload: FrameOffload
    var payload: [UInt8]
    let kind: Kind
    let l3 = 14
    var l4: Int { kind == .tcpv6 ? 54 : 34 }

    init(_ kind: Kind, payload count: Int, mss: Int, tcpFlags: UInt8 = 0x18 | 0x01 | 0x80) {
        self.kind = kind
        payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let v6 = kind == .tcpv6
        var frame: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01] + (v6 ? [0x86, 0xdd] : [0x08, 0x00])
        let transport = kind == .udpv4 ? 8 : 32
        if v6 {
            frame += [0x60, 0, 0, 0] + [0, 0] + [6, 64]
            frame += (0..<16).map { $0 == 0 ? 0xfd : UInt8($0) } + (0..<16).map { $0 == 0 ? 0xfd : UInt8(0x40 + $0) }
            put16(&frame, 18, transport + count)
        } else {
            frame += [0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, kind == .udpv4 ? 17 : 6, 0, 0, 10, 10, 0, 1, 10, 10, 0, 2]
            put16(&frame, 16, 20 + transport + count)
            put16(&frame, 24, Int(referenceChecksum(Array(frame[14..<34]))))
        }
        if kind == .udpv4 {
            frame += [0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0]
            put16(&frame, 34 + 4, 8 + count)
        } else {
            // Ports, sequence 0xfffff000 (it wraps), ack, offset 8 words, flags, window,
            // checksum, urgent, then NOP NOP and a timestamp option.
            frame += [0x9c, 0x40, 0x14, 0x51, 0xff, 0xff, 0xf0, 0x00, 0, 0, 0, 1, 0x80, tcpFlags, 0x01, 0xf5, 0, 0, 0, 0]
            frame += [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]
        }
        let l4 = v6 ? 54 : 34
        // The partial checksum: the pseudo-header's sum for the whole super-frame.
        var pseudo: [UInt8] = v6 ? Array(frame[22..<54]) : Array(frame[26..<34])
        pseudo += [0, 0, UInt8((transport + count) >> 8), UInt8((transport + count) & 0xff), 0, 0, 0, kind == .udpv4 ? 17 : 6]
        let seed = ~referenceChecksum(pseudo)
        put16(&frame, l4 + (kind == .udpv4 ? 6 : 16), Int(seed))
        bytes = frame + payload
        offload = FrameOffload(
            needsChecksum: true, checksumStart: UInt16(l4), checksumOffset: kind == .udpv4 ? 6 : 16,
            segmentation: kind == .tcpv4 ? .tcpv4 : kind == .tcpv6 ? .tcpv6 : .udp, segmentSize: UInt16(mss))
    }

    /// Whether a finished frame's IP and transport checksums are right (checked the slow way).
    static func checksumsAreValid(_ frame: [UInt8]) -> Bool {
        let v6 = frame[12] == 0x86
        let l4 = v6 ? 54 : 34
        if !v6 && referenceChecksum(Array(frame[14..<34])) != 0 { return false }
        let proto = v6 ? frame[20] : frame[23]
        let segment = Array(frame[l4...])
        var pseudo: [UInt8] = v6 ? Array(frame[22..<54]) : Array(frame[26..<34])
        pseudo += [0, 0, UInt8(segment.count >> 8), UInt8(segment.count & 0xff), 0, 0, 0, proto]
        return referenceChecksum(pseudo + segment) == 0
    }
}

@Suite struct OffloadTests {
    @Test(arguments: [SuperFrame.Kind.tcpv4, .tcpv6, .udpv4])
    func aSuperFrameIsCutIntoSegmentsAsLinuxWould(kind: SuperFrame.Kind) throws {
        let superFrame = SuperFrame(kind, payload: 5000, mss: 1448)
        var scratch: [UInt8] = []
        var segments: [[UInt8]] = []
        try superFrame.bytes.withUnsafeBytes { bytes in
            try SoftwareOffload.segment(bytes, superFrame.offload, scratch: &scratch) { segments.append(Array($0)) }
        }
        #expect(segments.count == 4, "5,000 bytes at an MSS of 1,448: three full segments and one of 656")
        let l4 = superFrame.l4
        let headers = l4 + (kind == .udpv4 ? 8 : 32)
        var joined: [UInt8] = []
        for (index, segment) in segments.enumerated() {
            let size = index < 3 ? 1448 : 656
            #expect(segment.count == headers + size)
            let valid = SuperFrame.checksumsAreValid(segment)
            #expect(valid, "segment \(index): IP or transport checksum wrong")
            if kind == .tcpv6 {
                #expect(be16(segment, 18) == headers - 54 + size, "IPv6 payload length")
            } else {
                #expect(be16(segment, 16) == headers - 14 + size, "IPv4 total length")
                #expect(be16(segment, 18) == 0x1234 + index, "IPv4 ID counts up per segment")
            }
            if kind == .udpv4 {
                #expect(be16(segment, l4 + 4) == 8 + size, "UDP length")
            } else {
                #expect(be32(segment, l4 + 4) == 0xffff_f000 &+ UInt32(index * 1448), "sequence number")
                let flags = segment[l4 + 13]
                #expect((flags & 0x01 != 0) == (index == 3), "FIN on the last segment only")
                #expect((flags & 0x08 != 0) == (index == 3), "PSH on the last segment only")
                #expect((flags & 0x80 != 0) == (index == 0), "CWR on the first segment only")
                #expect(flags & 0x10 != 0, "ACK on every segment")
                #expect(Array(segment[(l4 + 20)..<headers]) == Array(superFrame.bytes[(l4 + 20)..<headers]), "options copied")
            }
            joined += segment[headers...]
        }
        #expect(joined == superFrame.payload)
    }

    @Test(arguments: [1, 2, 3, 7, 1447, 1448, 1449])
    func aPartialChecksumIsFilledIn(payload: Int) throws {
        // One segment's worth (no segmentation): only the checksum is left to do.
        var frame = SuperFrame(.tcpv4, payload: payload, mss: 1448)
        frame.offload.segmentation = .none
        try frame.bytes.withUnsafeMutableBytes { try SoftwareOffload.completeChecksum($0, frame.offload) }
        let tcpValid = SuperFrame.checksumsAreValid(frame.bytes)
        #expect(tcpValid)
        var udp = SuperFrame(.udpv4, payload: payload, mss: 1448)
        udp.offload.segmentation = .none
        try udp.bytes.withUnsafeMutableBytes { try SoftwareOffload.completeChecksum($0, udp.offload) }
        let udpValid = SuperFrame.checksumsAreValid(udp.bytes)
        #expect(udpValid)
    }

    @Test func offloadWorkThatDoesNotFitItsFrameIsRefused() {
        var frame = SuperFrame(.tcpv4, payload: 100, mss: 1448)
        frame.offload.checksumStart = UInt16(frame.bytes.count)
        #expect(throws: OffloadFailure.malformed) {
            try frame.bytes.withUnsafeMutableBytes { try SoftwareOffload.completeChecksum($0, frame.offload) }
        }
        var ufo = SuperFrame(.udpv4, payload: 3000, mss: 1448)
        ufo.offload.segmentation = .udpFragments
        var scratch: [UInt8] = []
        #expect(throws: OffloadFailure.unsupported) {
            try ufo.bytes.withUnsafeBytes { try SoftwareOffload.segment($0, ufo.offload, scratch: &scratch) { _ in } }
        }
    }

    /// An IPv4 header whose own length disagrees with where the offload work says the transport
    /// header starts (a fuzzer's find: the header was summed past the bytes copied) is refused.
    @Test(arguments: [6, 13, 15])
    func anIPv4HeaderLengthThatDisagreesWithTheOffloadIsRefused(ihlWords: UInt8) {
        var frame = SuperFrame(.tcpv4, payload: 200, mss: 100)
        frame.bytes[frame.l3] = 0x40 | ihlWords
        var scratch: [UInt8] = []
        #expect(throws: OffloadFailure.malformed) {
            try frame.bytes.withUnsafeBytes { try SoftwareOffload.segment($0, frame.offload, scratch: &scratch) { _ in } }
        }
    }

    /// Through a switch: a super-frame from a port whose kernel left the work to do leaves by
    /// a port that cannot hand it on as finished frames no larger than the MTU; by a port that
    /// can, whole with its offload; by a port with a smaller MTU, not at all (counted).
    @Test func theSwitchFinishesWhatTheEgressPortCannot() throws {
        let chip = try #require(ChipProfile.named("small"))
        let hal = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_cc00))
        let plain = RecordingPort(mtu: 1500, finishes: false)
        let kernel = RecordingPort(mtu: 1500, finishes: true)
        let narrow = RecordingPort(mtu: 1400, finishes: false)
        try hal.attach(RecordingPort(mtu: 1500, finishes: true), to: 1)
        try hal.attach(plain, to: 2)
        try hal.attach(kernel, to: 3)
        try hal.attach(narrow, to: 4)
        hal.start()
        defer { hal.stop() }
        let superFrame = SuperFrame(.tcpv4, payload: 20_000, mss: 1448)
        // Unknown destination: flooded to ports 2-4.
        #expect(superFrame.bytes.withUnsafeBytes { hal.rx.receive(port: 1, frame: $0, offload: superFrame.offload) })
        #expect(eventually { plain.frames.count == 14 && kernel.frames.count == 1 && hal.transmitCounters(4).oversize == 1 })
        let finished = plain.frames.allSatisfy { $0.bytes.count <= 1514 && $0.offload.isNone && SuperFrame.checksumsAreValid($0.bytes) }
        #expect(finished, "segments no larger than the MTU, finished, with correct checksums")
        #expect(plain.frames.reduce(0) { $0 + $1.bytes.count - 66 } == 20_000)
        let whole = kernel.frames.first?.bytes == superFrame.bytes
        #expect(whole, "the super-frame handed on whole")
        #expect(kernel.frames.first?.offload == superFrame.offload)
        #expect(narrow.frames.isEmpty, "segments of 1,500 bytes do not fit an MTU of 1,400")

        // A frame of normal size with a partial checksum leaves finished everywhere.
        var small = SuperFrame(.tcpv4, payload: 500, mss: 1448)
        small.offload.segmentation = .none
        #expect(small.bytes.withUnsafeBytes { hal.rx.receive(port: 1, frame: $0, offload: small.offload) })
        #expect(eventually { plain.frames.count == 15 && kernel.frames.count == 2 && narrow.frames.count == 1 })
        for port in [plain, kernel, narrow] {
            let last = try #require(port.frames.last)
            let valid = last.offload.isNone && SuperFrame.checksumsAreValid(last.bytes)
            #expect(valid)
        }
    }
}

/// A port backend that records what the switch sends it.
final class RecordingPort: PortBackend, Sendable {
    struct Sent {
        var bytes: [UInt8]
        var offload: FrameOffload
    }
    let summary = "recording"
    let mtu: Int
    let finishesOffloads: Bool
    private let sent = Mutex<[Sent]>([])

    init(mtu: Int, finishes: Bool) {
        self.mtu = mtu
        finishesOffloads = finishes
    }

    var frames: [Sent] { sent.withLock { $0 } }

    func transmit(_ frame: UnsafeRawBufferPointer) -> Bool {
        sent.withLock { $0.append(Sent(bytes: Array(frame), offload: .none)) }
        return true
    }

    func transmit(_ frame: UnsafeRawBufferPointer, offload: FrameOffload) -> Bool {
        sent.withLock { $0.append(Sent(bytes: Array(frame), offload: offload)) }
        return true
    }

    func start(deliver: @escaping @Sendable (UnsafeRawBufferPointer, FrameOffload) -> Void) {}
    func stop() {}
}
