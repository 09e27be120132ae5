import CLI
import Channel
import Daemon
import Glibc
import NetTypes
import Packets
import SwitchHAL
import Time
import VRRP

/// One parser under fuzzing: bytes in; a crash, a sanitizer report or a broken property is a
/// finding (`check` stops the process, and libFuzzer keeps the input).
struct FuzzTarget: Sendable {
    let name: String
    let summary: String
    let run: @Sendable (UnsafeRawBufferPointer) -> Void
}

/// A line on standard error.
func report(_ message: String) {
    let line = Array(message.utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// A property every input must keep; a failure is reported like a crash.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        report("fuzz: property broken: \(message())\n")
        abort()
    }
}

enum FuzzTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "frame", summary: "the command channel's frame decoder (bytes from any client)", run: frame),
        FuzzTarget(name: "cli", summary: "the CLI grammar: match, help and completion of a line in any mode", run: cli),
        FuzzTarget(name: "config", summary: "a configuration file through the daemon's loader; what it builds must load back", run: config),
        FuzzTarget(name: "vrrp", summary: "the VRRP advertisement decoder (v2/v3, IPv4/IPv6)", run: vrrp),
        FuzzTarget(name: "packets", summary: "Ethernet, 802.1Q, IPv4, IPv6, ARP, ICMP and neighbour discovery parsers", run: packets),
        FuzzTarget(name: "offload", summary: "checksum completion and segmentation of frames with a host's offload work", run: offload),
        FuzzTarget(name: "rx", summary: "frames into a configured switch's receive path: switching, routing, NAT, the CPU", run: rx),
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    // MARK: The command channel

    /// Bytes as a client sends them, in up to three reads; every frame decoded encodes back to
    /// the bytes it came from.
    static func frame(_ data: UnsafeRawBufferPointer) {
        var decoder = FrameDecoder(maxPayload: ChannelLimits.maxRequestPayload)
        let bytes = Array(data)
        let cuts = bytes.isEmpty ? [] : [Int(bytes[0]) % (bytes.count + 1), bytes.count]
        var start = 0
        for cut in cuts where cut >= start {
            decoder.append(bytes[start..<cut])
            start = cut
            while true {
                let next: Frame?
                do throws(ProtocolError) {
                    next = try decoder.next()
                } catch {
                    _ = error.description
                    return
                }
                guard let frame = next else { break }
                var again = FrameDecoder(maxPayload: ChannelLimits.maxRequestPayload)
                again.append(frame.encoded)
                check((try? again.next()) == frame, "frame \(frame.type) id \(frame.id) does not decode from its own encoding")
            }
        }
    }

    // MARK: The CLI

    nonisolated(unsafe) static var offline: OfflinePlane = {
        do {
            return try OfflinePlane()
        } catch {
            report("fuzz: cannot start a control plane: \(error)\n")
            exit(2)
        }
    }()

    /// The first byte picks the mode; the rest is the line.
    static func cli(_ data: UnsafeRawBufferPointer) {
        guard let first = data.first else { return }
        let grammar = offline.grammar
        let modes = Modes.all
        let mode = modes[Int(first) % modes.count]
        let line = String(decoding: data.dropFirst(), as: UTF8.self)
        let (command, filter) = OutputFilter.split(line)
        if let filter { _ = try? OutputFilter(parsing: filter) }
        switch grammar.match(command, mode: mode) {
        case .failure(let error): _ = error.message
        default: break
        }
        _ = grammar.help(command, mode: mode)
        _ = grammar.complete(command, mode: mode) { _ in ["eth1", "vlan10"] }
    }

    /// A configuration file, its bytes as vrrpd reads them (bytes that are not UTF-8 and a byte
    /// order mark included); whatever loads renders to a configuration that loads again with no
    /// error and renders the same (show running-config pastes back), and no error message
    /// carries a character a command may not contain.
    static func config(_ data: UnsafeRawBufferPointer) {
        let first = offline.check(bytes: Array(data), source: "fuzz.conf")
        for error in first.report.errors {
            check(error.unicodeScalars.allSatisfy { LineSafety.kind(of: $0) == nil }, "an error message carries an invisible or control character: \(error.debugDescription)")
        }
        let second = offline.check(first.rendered, source: "rendered.conf")
        check(second.report.errors.isEmpty, "the rendered configuration does not load: \(second.report.errors.prefix(3))\n--- rendered:\n\(first.rendered)")
        check(second.rendered == first.rendered, "the rendered configuration renders differently\n--- first:\n\(first.rendered)\n--- second:\n\(second.rendered)")
    }

    // MARK: Packets

    /// The first bit picks IPv6; a message that decodes encodes to one that decodes the same.
    static func vrrp(_ data: UnsafeRawBufferPointer) {
        guard let first = data.first else { return }
        let ipv6 = first & 1 == 1
        guard case .success(let advert) = Advertisement.decode(Array(data.dropFirst()), ipv6: ipv6) else { return }
        let encoded = advert.encodedWithoutChecksum()
        guard case .success(let again) = Advertisement.decode(encoded, ipv6: ipv6) else {
            return check(false, "a decoded advertisement does not decode from its own encoding")
        }
        var expected = advert
        expected.checksum = again.checksum  // not encoded here
        check(again == expected, "an advertisement changes through encode and decode")
    }

    static func packets(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        let payload: [UInt8]
        let etherType: UInt16
        if let frame = EthernetFrame.parse(bytes) {
            // The encoding pads to 60 bytes: the same headers, the payload at its start.
            let again = EthernetFrame.parse(frame.bytes)
            check(again.map { $0.destination == frame.destination && $0.source == frame.source && $0.vlan == frame.vlan
                    && $0.etherType == frame.etherType && $0.payload.starts(with: frame.payload) } == true,
                  "an Ethernet frame changes through its encoding")
            payload = Array(frame.payload)
            etherType = frame.etherType
        } else {
            payload = bytes
            etherType = bytes.first.map { $0 >> 4 == 6 ? EtherType.ipv6 : EtherType.ipv4 } ?? EtherType.ipv4
        }
        switch etherType {
        case EtherType.arp:
            _ = ARPPacket.parse(payload)
        case EtherType.ipv6:
            guard let ip = IPv6Packet.parse(payload) else { return }
            _ = NeighborAdvertisement.solicitationTarget(ip)
        default:
            guard let ip = IPv4Packet.parse(payload) else { return }
            _ = Transport.ports(ip.payload, protocolNumber: ip.protocolNumber)
            _ = Transport.tcpFlags(ip.payload)
            if ip.protocolNumber == Transport.icmp {
                _ = ICMPv4.isError(ip.payload)
                _ = ICMPv4.echoReply(to: ip.payload)
            }
            if !ip.isFragment, let pieces = ip.fragments(mtu: 68 + Int(bytes.first ?? 0) * 4) {
                let carried = pieces.reduce(0) { $0 + $1.payload.count }
                check(carried == ip.payload.count, "fragments carry \(carried) bytes of \(ip.payload.count)")
            }
            _ = ICMPv4.fragmentationNeeded(for: ip, mtu: 576)
        }
    }

    // MARK: Offload work

    /// Eight bytes of offload work (as a virtio-net header would give it), then the frame.
    static func offloadWork(_ data: UnsafeRawBufferPointer) -> (FrameOffload, UnsafeRawBufferPointer)? {
        guard data.count >= 8 else { return nil }
        let flags = data[0]
        let segmentation = FrameOffload.Segmentation(rawValue: data[1] % 6) ?? .none
        let offload = FrameOffload(
            needsChecksum: flags & 1 == 1, checksumStart: UInt16(data[2]) | UInt16(data[3] & 0x7) << 8,
            checksumOffset: UInt16(data[4] % 32), segmentation: segmentation, ecn: flags & 2 == 2,
            segmentSize: UInt16(data[5]) | UInt16(data[6]) << 8)
        return (offload, UnsafeRawBufferPointer(rebasing: data[8...]))
    }

    nonisolated(unsafe) static var scratch: [UInt8] = []

    static func offload(_ data: UnsafeRawBufferPointer) {
        guard let (offload, frame) = offloadWork(data) else { return }
        _ = SoftwareOffload.largestPacket(frame, offload)
        var copy = Array(frame)
        copy.withUnsafeMutableBytes { _ = try? SoftwareOffload.completeChecksum($0, offload) }
        var segments = 0
        var largest = 0
        do throws(OffloadFailure) {
            try SoftwareOffload.segment(frame, offload, scratch: &scratch) { segment in
                segments += 1
                largest = max(largest, segment.count)
            }
        } catch {
            return
        }
        check(segments >= 1, "a segmentation that succeeded emitted nothing")
        if offload.segmentation == .tcpv4 || offload.segmentation == .tcpv6, offload.segmentSize > 0 {
            check(largest <= Int(offload.checksumStart) + 60 + Int(offload.segmentSize),
                  "a segment of \(largest) bytes for an MSS of \(offload.segmentSize)")
        }
    }

    // MARK: The receive path

    /// The switch the frames arrive at: inside VLAN 10 (eth1) and outside VLAN 20 (eth2),
    /// routing between them, PAT, a static mapping, a VRRP group, and translations to hit.
    nonisolated(unsafe) static var configured = false

    static func configure() {
        let lines = [
            "enable", "configure terminal", "vlan 10", "exit", "vlan 20", "exit",
            "interface eth1", "switchport access vlan 10", "exit",
            "interface eth2", "switchport mode trunk", "switchport trunk allowed vlan 10,20", "exit",
            "interface vlan10", "ip address 10.10.0.2/24", "ip nat inside", "vrrp 1 ip 10.10.0.1", "vrrp 1 priority 200", "exit",
            "interface vlan20", "ip address 203.0.113.2/24", "ip nat outside", "exit",
            "ip nat pool PUBLIC 203.0.113.100 203.0.113.103 prefix-length 24",
            "ip nat inside source list 1 pool PUBLIC overload",
            "ip nat inside source static 10.10.0.80 203.0.113.80",
            "access-list 1 permit 10.10.0.0 0.0.0.255",
            "ip route 198.51.100.0/24 203.0.113.1", "end",
            "test nat flow tcp 10.10.0.5 40000 198.51.100.7 443 flags syn sessions 50",
            "test nat flow udp 10.10.0.6 5353 198.51.100.8 53 sessions 50",
        ]
        for line in lines {
            let (status, output) = offline.run(line)
            if status.isFailure { report("fuzz: rx set-up: \(line): \(output)") }
        }
        configured = true
    }

    /// Offload work, a port (eth1 or eth2), then the frame; waits until the switch has let go of
    /// it (forwarded, routed, translated, dropped or handled by the CPU).
    static func rx(_ data: UnsafeRawBufferPointer) {
        if !configured { configure() }
        guard let (offload, frame) = offloadWork(data) else { return }
        let port = PortID(1 + data[7] % 2)
        let rx = offline.hal.rx
        guard rx.receive(port: port, frame: frame, offload: offload) else { return }
        let deadline = SystemClock.deadline(after: .seconds(10))
        while rx.statistics.inUse > 0 || rx.statistics.queued > 0 {
            if SystemClock.now > deadline { check(false, "a frame was still held 10 s after it arrived") }
            sched_yield()
        }
    }
}
