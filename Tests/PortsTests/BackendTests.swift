import Glibc
import NetTypes
import Packets
import Ports
import SwitchHAL
import TestSupport
import Testing
import Time

@Suite struct BackendTests {
    @Test func udpPortsCarryFramesBothWaysAndNeverBlock() throws {
        let ports = try freeUDPPorts(4)
        let (leftPort, rightPort, spareLocal, spareRemote) = (ports[0], ports[1], ports[2], ports[3])
        let left = try UDPPort(localPort: leftPort, remotePort: rightPort, name: "t-left")
        let right = try UDPPort(localPort: rightPort, remotePort: leftPort, name: "t-right")
        #expect(left.summary == "udp 127.0.0.1:\(leftPort) -> 127.0.0.1:\(rightPort)")
        let leftGot = Capture()
        let rightGot = Capture()
        left.start { frame, _ in leftGot.append(Array(frame)) }
        right.start { frame, _ in rightGot.append(Array(frame)) }
        defer {
            left.stop()
            right.stop()
        }

        // Left to right: a minimum-size frame; right to left: a full-size one (1514 bytes).
        let small = testFrame(from: MACAddress(0x0200_0000_0001), to: MACAddress(0x0200_0000_0002), Nonce())
        let big = EthernetFrame(
            destination: MACAddress(0x0200_0000_0001), source: MACAddress(0x0200_0000_0002), etherType: testEtherType,
            payload: (0..<1500).map { UInt8(truncatingIfNeeded: $0 &* 7) }[...]
        ).bytes
        #expect(big.count == 1514)
        #expect(small.withUnsafeBytes { left.transmit($0) })
        #expect(big.withUnsafeBytes { right.transmit($0) })
        #expect(eventually { rightGot.all.count == 1 && leftGot.all.count == 1 })
        #expect(rightGot.all == [small])
        #expect(leftGot.all == [big])

        // A port whose far end nobody listens on: the transmit returns at once (the frame is
        // lost, as on an unplugged cable), however many are sent.
        let unplugged = try UDPPort(localPort: spareLocal, remotePort: spareRemote, name: "t-unplugged")
        defer { unplugged.stop() }
        let started = SystemClock.now
        for _ in 0..<2000 { _ = big.withUnsafeBytes { unplugged.transmit($0) } }
        #expect(SystemClock.elapsed(since: started).inSeconds < 3.0, "2000 transmits to nobody took \(SystemClock.elapsed(since: started).inSeconds) s")

        // Plugging the far end in later works: nothing was wedged by the lost frames.
        let farEnd = try UDPPort(localPort: spareRemote, remotePort: spareLocal, name: "t-far")
        let farGot = Capture()
        farEnd.start { frame, _ in farGot.append(Array(frame)) }
        defer { farEnd.stop() }
        let after = Nonce()
        let frame = testFrame(from: MACAddress(0x0200_0000_0003), to: MACAddress(0x0200_0000_0004), after)
        #expect(frame.withUnsafeBytes { unplugged.transmit($0) })
        #expect(eventually { !farGot.with(after).isEmpty })
        #expect(farGot.all == [frame], "only the frame sent after the far end started")
        // The first pair is unaffected.
        #expect(rightGot.all == [small])
        #expect(leftGot.all == [big])
    }

    @Test func udpPortOnABusyLocalPortThrowsNamingIt() throws {
        // A socket without SO_REUSEADDR holds the port, so UDPPort's bind fails.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let busy = UInt16(bigEndian: address.sin_port)
        let error = #expect(throws: PortError.self) { _ = try UDPPort(localPort: busy, remotePort: 9, name: "t-busy") }
        #expect(error?.description.contains("cannot bind 127.0.0.1:\(busy)") == true, "\(error?.description ?? "no error")")
    }

    @Test func linuxPortOnAMissingInterfaceThrowsNamingIt() {
        // Interface names are at most 15 characters.
        let name = "vrrpdnx\(getpid() % 100_000)"
        let error = #expect(throws: PortError.self) { _ = try LinuxPort(interface: name, name: "t-missing") }
        #expect(error?.description.contains(name) == true, "\(error?.description ?? "no error")")
    }

    /// A datagram longer than a frame buffer is dropped, not delivered cut short; the next one
    /// still arrives.
    @Test func anOversizedDatagramIsDroppedNotTruncated() throws {
        let ports = try freeUDPPorts(2)
        let a = try UDPPort(localPort: ports[0], remotePort: ports[1], name: "t-big-a")
        let b = try UDPPort(localPort: ports[1], remotePort: ports[0], name: "t-big-b")
        let received = Capture()
        b.start { frame, _ in received.append([UInt8](frame)) }
        defer {
            a.stop()
            b.stop()
        }
        let big = [UInt8](repeating: 0xab, count: 3000)
        #expect(big.withUnsafeBytes { a.transmit($0) })
        let small = [UInt8](repeating: 0xcd, count: 60)
        #expect(small.withUnsafeBytes { a.transmit($0) })
        #expect(eventually { !received.all.isEmpty })
        usleep(100_000)
        #expect(received.all.map(\.count) == [60])
    }
}
