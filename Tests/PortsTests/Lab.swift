import Atomics
import Glibc
import NetTypes
import Packets
import Ports
import SwitchHAL
import Synchronization
import Testing
import Time

/// A deadline for HAL calls: nothing competes for the locks in these tests, so this only bounds
/// a hang (as `SystemClock.deadline` does in SwitchHALTests).
var soon: Instant { SystemClock.deadline(after: .seconds(5)) }

/// Polls `condition` until it holds or `timeout` seconds pass; the l2x worker is asynchronous.
func eventually(timeout: Double = 2, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = SystemClock.deadline(after: .seconds(timeout))
    while true {
        if try condition() { return true }
        if SystemClock.now >= deadline { return false }
        usleep(1000)
    }
}

/// Eight bytes that mark one test frame (and only it): a magic prefix and a process-wide counter.
struct Nonce: Equatable {
    private static let counter = ManagedAtomic<UInt64>(1)
    let bytes: [UInt8]

    init() {
        let value = Nonce.counter.loadThenWrappingIncrement(ordering: .relaxed)
        bytes = [0x5a, 0xa5] + (0..<6).map { UInt8(truncatingIfNeeded: value >> UInt64(40 - 8 * $0)) }
    }
}

/// The local experimental ethertype, so no frame of these tests looks like IP or ARP.
let testEtherType: UInt16 = 0x88b5

/// An Ethernet frame carrying `nonce` (padded to 60 bytes), 802.1Q-tagged when `vlan` is given.
func testFrame(from source: MACAddress, to destination: MACAddress, vlan: UInt16? = nil, _ nonce: Nonce) -> [UInt8] {
    EthernetFrame(destination: destination, source: source, vlan: vlan, etherType: testEtherType, payload: nonce.bytes[...]).bytes
}

/// `frame` (untagged) as a trunk sends it in `vlan`: the 802.1Q tag inserted after the addresses.
func tagged(_ frame: [UInt8], _ vlan: UInt16) -> [UInt8] {
    Array(frame[0..<12]) + [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xff)] + Array(frame[12...])
}

/// `frame` (tagged) as an access port sends it: the 4 tag bytes removed.
/// A tagged frame as an access port sends it: without the tag, padded back to 60 bytes.
func untagged(_ frame: [UInt8]) -> [UInt8] {
    let bytes = Array(frame[0..<12]) + Array(frame[16...])
    return bytes.count < 60 ? bytes + [UInt8](repeating: 0, count: 60 - bytes.count) : bytes
}

func carries(_ frame: [UInt8], _ nonce: Nonce) -> Bool {
    EthernetFrame.parse(frame)?.payload.starts(with: nonce.bytes) ?? false
}

/// Frames collected from a delivery callback (which runs on some backend or HAL thread).
final class Capture: Sendable {
    private let frames = Mutex<[[UInt8]]>([])
    func append(_ frame: [UInt8]) { frames.withLock { $0.append(frame) } }
    var all: [[UInt8]] { frames.withLock { $0 } }
    func with(_ nonce: Nonce) -> [[UInt8]] { all.filter { carries($0, nonce) } }
}

/// What the switch's CPU packet handler was given.
final class PuntLog: Sendable {
    struct Punt: Equatable {
        var port: PortID
        var vlan: UInt16
        var frame: [UInt8]
    }
    private let punts = Mutex<[Punt]>([])
    func append(_ punt: Punt) { punts.withLock { $0.append(punt) } }
    func with(_ nonce: Nonce) -> [Punt] { punts.withLock { $0 }.filter { carries($0.frame, nonce) } }
}

/// A test host: the far end of a SimPort whose near end is a switch port. It captures whatever
/// the switch sends out of that port, and injects frames with `send`.
final class Host: Sendable, CustomStringConvertible {
    let name: String
    let mac: MACAddress
    let end: SimPort
    let capture = Capture()

    init(name: String, mac: MACAddress, end: SimPort) {
        self.name = name
        self.mac = mac
        self.end = end
        let capture = self.capture  // not self: the SimPort would keep the host alive
        end.start { frame, _ in capture.append(Array(frame)) }
    }

    /// Puts a frame on the wire; false when the switch end is not started.
    @discardableResult
    func send(_ frame: [UInt8]) -> Bool { frame.withUnsafeBytes { end.transmit($0) } }

    /// The frames received that carry `nonce`.
    func got(_ nonce: Nonce) -> [[UInt8]] { capture.with(nonce) }
    func has(_ nonce: Nonce) -> Bool { !got(nonce).isEmpty }

    func stop() { end.stop() }

    var description: String { name }
}

/// Two switches (chip "small") joined by a trunk between their eth1 ports (VLANs 10 and 20
/// allowed, native 1), with test hosts:
///
/// ```
///   A eth2  a2  access 10                    B eth2  b2  access 10
///   A eth3  a3  access 10                    B eth3  b3  access 20
///   A eth4  a4  access 20
///   A eth5  a5  trunk 10,20, native 20
///   A eth6  --  access 10, a wire whose far end never listens (transmits there fail)
///   A eth7  a7  access 30 (no trunk allows 30)
///   A eth1 ══════════ trunk ══════════ B eth1
/// ```
final class Lab {
    let a: Switch
    let b: Switch
    let a2, a3, a4, a5, a7, b2, b3: Host
    /// The far end of A eth6: never started, so the switch's transmits there are dropped.
    let deaf: SimPort
    var hosts: [Host] { [a2, a3, a4, a5, a7, b2, b3] }

    init() throws {
        let chip = try #require(ChipProfile.named("small"))
        a = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_aa00))
        b = Switch(chip: chip, baseMAC: MACAddress(0x0200_0000_bb00))

        let (aUplink, bUplink) = SimPort.pair("a-eth1", "b-eth1")
        try a.attach(aUplink, to: 1)
        try b.attach(bUplink, to: 1)
        func host(_ hal: Switch, _ port: PortID, _ name: String, _ mac: UInt64) throws -> Host {
            let (switchEnd, hostEnd) = SimPort.pair("\(name)-switch", name)
            try hal.attach(switchEnd, to: port)
            return Host(name: name, mac: MACAddress(mac), end: hostEnd)
        }
        a2 = try host(a, 2, "a2", 0x0200_0a00_0002)
        a3 = try host(a, 3, "a3", 0x0200_0a00_0003)
        a4 = try host(a, 4, "a4", 0x0200_0a00_0004)
        a5 = try host(a, 5, "a5", 0x0200_0a00_0005)
        a7 = try host(a, 7, "a7", 0x0200_0a00_0007)
        b2 = try host(b, 2, "b2", 0x0200_0b00_0002)
        b3 = try host(b, 3, "b3", 0x0200_0b00_0003)
        let (deafSwitchEnd, deafEnd) = SimPort.pair("a-eth6", "deaf")
        try a.attach(deafSwitchEnd, to: 6)
        deaf = deafEnd

        a.start()
        b.start()

        for hal in [a, b] {
            for vlan: UInt16 in [10, 20, 30] { try hal.createVLAN(vlan, deadline: soon) }
            try hal.setPortSettings(1, Lab.trunk(allowed: [10, 20], native: 1), deadline: soon)
        }
        try a.setPortSettings(2, Lab.access(10), deadline: soon)
        try a.setPortSettings(3, Lab.access(10), deadline: soon)
        try a.setPortSettings(4, Lab.access(20), deadline: soon)
        try a.setPortSettings(5, Lab.trunk(allowed: [10, 20], native: 20), deadline: soon)
        try a.setPortSettings(6, Lab.access(10), deadline: soon)
        try a.setPortSettings(7, Lab.access(30), deadline: soon)
        try b.setPortSettings(2, Lab.access(10), deadline: soon)
        try b.setPortSettings(3, Lab.access(20), deadline: soon)
    }

    static func access(_ vlan: UInt16) -> PortSettings {
        var settings = PortSettings()
        settings.mode = .access
        settings.accessVLAN = vlan
        return settings
    }

    static func trunk(allowed: [UInt16], native: UInt16) -> PortSettings {
        var settings = PortSettings()
        settings.mode = .trunk
        settings.allowedVLANs = VLANSet(allowed)
        settings.nativeVLAN = native
        return settings
    }

    /// Sends a broadcast marker from `sender` and waits until every host of `receivers` has it.
    /// Each switch handles its RX queue in order, and a host's frames enter it in the order sent,
    /// so once the marker is through, every frame `sender` (or any host of the same switch) sent
    /// before it has been fully forwarded, on this switch and downstream: negative checks are
    /// then conclusive.
    func barrier(from sender: Host, to receivers: [Host]) -> Bool {
        let marker = Nonce()
        guard sender.send(testFrame(from: sender.mac, to: Multicast.broadcast, marker)) else { return false }
        return eventually { receivers.allSatisfy { $0.has(marker) } }
    }

    /// The same, for frames the CPU of `hal` sent: a marker flooded in `vlan` by that CPU.
    func cpuBarrier(_ hal: Switch, vlan: UInt16, to receivers: [Host]) -> Bool {
        let marker = Nonce()
        hal.sendFromCPU(testFrame(from: hal.routerMAC, to: Multicast.broadcast, marker), vlan: vlan)
        return eventually { receivers.allSatisfy { $0.has(marker) } }
    }

    /// Stops both switches (and their port backends) and the hosts' ends; checks the lock-order
    /// witness saw nothing.
    func stop() {
        a.setPacketHandler(nil)
        a.stop()
        b.stop()
        for host in hosts { host.stop() }
        let reports = Witness.shared.reports.filter { !$0.thread.hasPrefix("fault-") }
        #expect(reports.isEmpty, "\(reports)")
    }
}
