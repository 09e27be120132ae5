import Foundation
import Glibc
import NetTypes
import Packets
import Testing
import VRRP

/// VRRP between real vrrpd processes wired by UDP port backends, and with a test "host" on the
/// segment that sends and receives real frames: elections, failover on crash and on graceful
/// stop, preemption, ARP and ping for the virtual address, invalid-packet floods, tracking, a
/// stuck HAL. No root needed.
@Suite(.serialized) struct VRRPLabTests {
    static let vmac = MACAddress(0x0000_5e00_0105)
    static let vip = IPv4Address(10, 0, 0, 254)

    /// A switch's configuration: eth1 and eth2 in VLAN 10, vlan10 with 10.0.0.`host`/24 and
    /// group 5 for 10.0.0.254.
    static func config(host: Int, priority: Int, interval: Int = 100, extra: [String] = []) -> String {
        var lines = [
            "hostname sw\(host)", "vlan 10", "exit", "interface eth1", " switchport access vlan 10", "exit",
            "interface eth2", " switchport access vlan 10", "exit", "interface vlan10", " ip address 10.0.0.\(host)/24",
        ]
        if priority != 100 { lines.append(" vrrp 5 priority \(priority)") }
        lines.append(" vrrp 5 advertisement-interval \(interval)")
        lines.append(" vrrp 5 ip 10.0.0.254")
        lines += extra.map { " " + $0 }
        lines.append("exit")
        return lines.joined(separator: "\n") + "\n"
    }

    static func start(_ config: String, ports: [String], scratch: Scratch? = nil, baseMAC: String? = nil, faults: Bool = false) throws -> DaemonProcess {
        var arguments = ["--chip", "small"] + ports.flatMap { ["--port", $0] }
        if let baseMAC { arguments += ["--base-mac", baseMAC] }
        if let scratch {
            try scratch.write("vrrpd.conf", config)
            return try DaemonProcess(scratch: scratch, arguments: arguments, faults: faults)
        }
        return try DaemonProcess(arguments: arguments, config: config, faults: faults)
    }

    /// Group 5's IPv4 router as `show vrrp json` has it.
    static func v4(_ daemon: DaemonProcess, vrid: Int = 5) throws -> [String: Any] {
        let result = try daemon.vtysh(["-c", "show vrrp interface vlan10 \(vrid) json"])
        guard result.status == 0, let data = result.stdout.data(using: .utf8),
            let groups = try JSONSerialization.jsonObject(with: data) as? [[String: Any]], let v4 = groups.first?["v4"] as? [String: Any]
        else { throw TestFailure("show vrrp json: \(result.stdout)\(result.stderr)") }
        return v4
    }

    static func waitFor(_ daemon: DaemonProcess, status: String, timeout: Double = 10, vrid: Int = 5) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try v4(daemon, vrid: vrid)
            if last["status"] as? String == status { return last }
            usleep(20_000)
        }
        throw TestFailure("group \(vrid) did not become \(status) within \(timeout) s; it is \(last["status"] ?? "?") (\(last["statusReason"] ?? ""))")
    }

    static func transition(_ v4: [String: Any]) -> [String: Any] { v4["lastTransition"] as? [String: Any] ?? [:] }

    // MARK: Two switches

    @Test func twoSwitchesElectFailOverOnCrashAndStopAndPreempt() throws {
        let ports = try freeUDPPorts(2)
        let scratchA = try Scratch()
        let configA = Self.config(host: 2, priority: 200)
        let a = try Self.start(configA, ports: ["eth1=udp:\(ports[0]):\(ports[1])"], scratch: scratchA)
        let b = try Self.start(Self.config(host: 3, priority: 100), ports: ["eth1=udp:\(ports[1]):\(ports[0])"])

        _ = try Self.waitFor(a, status: "Master")
        let backup = try Self.waitFor(b, status: "Backup")
        #expect(backup["masterAddress"] as? String == "10.0.0.2")
        #expect(backup["masterDownInterval"] as? Int == 360, "B: 3 x 100 ms + (256-100)/256 x 100 ms")

        // Crash: B takes over when the Master Down timer runs out: 360.9 ms after A's last advert.
        try a.stop(SIGKILL)
        let takeover = try Self.waitFor(b, status: "Master", timeout: 3)
        let crash = Self.transition(takeover)
        let silence = crash["masterSilentFor"] as? Double ?? -1
        #expect(crash["reason"] as? String == "master down timer expired", "\(crash)")
        #expect(silence >= 0.355 && silence < 0.6, "takeover \(silence) s after the last advert; theory 0.361 s")

        // A comes back and preempts (priority 200 > 100).
        let a2 = try Self.start(configA, ports: ["eth1=udp:\(ports[0]):\(ports[1])"], scratch: scratchA)
        _ = try Self.waitFor(a2, status: "Master")
        let yielded = try Self.waitFor(b, status: "Backup")
        #expect((Self.transition(yielded)["reason"] as? String ?? "").contains("higher priority 200 from 10.0.0.2"), "\(yielded)")

        // Graceful stop: A sends priority 0, B takes over after its skew time (60.9 ms).
        try a2.stop(SIGTERM)
        let graceful = Self.transition(try Self.waitFor(b, status: "Master", timeout: 2))
        #expect((graceful["reason"] as? String ?? "").contains("priority 0"), "\(graceful)")
        let quick = graceful["masterSilentFor"] as? Double ?? -1
        #expect(quick >= 0.058 && quick < 0.3, "takeover \(quick) s after priority 0; theory 0.061 s")
        #expect(a2.log.contains("VRRP vlan10 VRID 5: Master -> Initialize (shutdown)"))
        #expect(try Self.v4(b)["stats"].map { ($0 as? [String: Any])?["priorityZeroRx"] as? Int } == 1)
        #expect(b.witnessFindings.isEmpty, "\(b.witnessFindings)")
    }

    // MARK: A host on the segment

    @Test func aHostSeesAdvertsARPAndPingForTheVirtualAddress() throws {
        let ports = try freeUDPPorts(2)
        let host = try WireHost(localPort: ports[1], switchPort: ports[0])
        let routerMAC = MACAddress(0x0200_0000_0a00)
        let a = try Self.start(
            Self.config(host: 2, priority: 200), ports: ["eth1=udp:\(ports[0]):\(ports[1])"], baseMAC: "02:00:00:00:0a:00")

        // Becoming Master: a gratuitous ARP for the VIP from the virtual MAC.
        let garp = host.first(timeout: 5) { bytes -> ARPPacket? in
            guard let frame = EthernetFrame.parse(bytes), frame.etherType == EtherType.arp, let arp = ARPPacket.parse(frame.payload) else { return nil }
            return frame.source == Self.vmac && frame.destination == Multicast.broadcast ? arp : nil
        }
        #expect(garp?.senderIP == Self.vip && garp?.targetIP == Self.vip && garp?.senderMAC == Self.vmac, "\(String(describing: garp))")
        _ = try Self.waitFor(a, status: "Master")

        // Advertisements: from the virtual MAC to 01:00:5e:00:00:12, TTL 255, DSCP CS6, from
        // the SVI's primary address to 224.0.0.18, a valid v3 message with a correct checksum,
        // every 100 ms.
        host.drain()
        let adverts = host.collect(timeout: 1.05).compactMap { item in Decoded.vrrp(item.frame).map { (item.at, $0) } }
        #expect(adverts.count >= 8 && adverts.count <= 12, "\(adverts.count) adverts in 1.05 s at 100 ms")
        for (_, (frame, ip)) in adverts {
            #expect(frame.destination == Multicast.vrrpIPv4 && frame.source == Self.vmac)
            #expect(ip.ttl == 255 && ip.tos == 0xc0 && ip.source == IPv4Address(10, 0, 0, 2) && ip.destination == Advertisement.ipv4Group)
            guard case .success(let ad) = Advertisement.decode(ip.payload, ipv6: false) else {
                Issue.record("undecodable advert \(ip.payload)")
                continue
            }
            #expect(ad.version == 3 && ad.vrid == 5 && ad.priority == 200 && ad.interval == 10 && ad.addresses == .ipv4([Self.vip]))
            let reencoded = ad.encoded(source: .ipv4(ip.source), destination: .ipv4(ip.destination), pseudoHeader: true)
            #expect(reencoded == ip.payload, "checksum differs from the pseudo-header form")
        }

        // ARP: the VIP answers with the virtual MAC, the SVI address with the router MAC,
        // anything else not at all.
        let hostIP = IPv4Address(10, 0, 0, 50)
        host.drain()
        host.send(host.arpRequest(for: Self.vip, from: hostIP))
        let vipReply = host.first(timeout: 2) { Decoded.arpReply($0) }
        #expect(vipReply?.arp.senderMAC == Self.vmac && vipReply?.arp.senderIP == Self.vip && vipReply?.frame.source == Self.vmac)
        #expect(vipReply?.arp.targetMAC == host.mac && vipReply?.frame.destination == host.mac)
        host.send(host.arpRequest(for: IPv4Address(10, 0, 0, 2), from: hostIP))
        #expect(host.first(timeout: 2) { Decoded.arpReply($0) }?.arp.senderMAC == routerMAC)
        host.send(host.arpRequest(for: IPv4Address(10, 0, 0, 77), from: hostIP))
        #expect(host.first(timeout: 0.5) { Decoded.arpReply($0) } == nil)

        // Ping: the SVI address answers; the VIP only with accept mode (RFC 5798 (650)).
        host.send(host.ping(IPv4Address(10, 0, 0, 2), via: routerMAC, from: hostIP))
        #expect(host.first(timeout: 2) { Decoded.echoReply($0) }?.ip.source == IPv4Address(10, 0, 0, 2))
        host.send(host.ping(Self.vip, via: Self.vmac, from: hostIP))
        #expect(host.first(timeout: 0.5) { Decoded.echoReply($0) } == nil, "a non-owner Master without accept mode answered")
        #expect(try a.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface vlan10", "-c", "vrrp 5 accept-mode"]).status == 0)
        // The router hears of accept mode from the VRRP thread just after the command returns:
        // a ping sent in that instant may go unanswered, as on any router; the next is answered.
        var echo: (frame: EthernetFrame, ip: IPv4Packet)?
        for sequence in 2...6 where echo == nil {
            host.send(host.ping(Self.vip, via: Self.vmac, from: hostIP, sequence: UInt16(sequence)))
            echo = host.first(timeout: 0.5) { Decoded.echoReply($0) }
        }
        #expect(echo?.ip.source == Self.vip && echo?.frame.source == Self.vmac)

        // The virtual MAC is a static entry towards the CPU while Master.
        let table = try a.vtysh(["-c", "show mac address-table static vlan 10"]).stdout
        #expect(table.contains("0000.5e00.0105") && table.contains("CPU"), "\(table)")

        // A router with priority 250 appears (the host): A goes Backup, stops answering ARP for
        // the VIP and removes the virtual MAC.
        let rival = IPv4Address(10, 0, 0, 9)
        @Sendable func advert(priority: UInt8, ttl: UInt8 = 255, corrupt: Bool = false, version: Int = 3) -> [UInt8] {
            let ad = Advertisement(version: version, vrid: 5, priority: priority, interval: version == 2 ? 1 : 10, addresses: .ipv4([Self.vip]))
            var message = ad.encoded(source: .ipv4(rival), destination: .ipv4(Advertisement.ipv4Group), pseudoHeader: true)
            if corrupt { message[6] ^= 0xff }
            let ip = IPv4Packet(source: rival, destination: Advertisement.ipv4Group, protocolNumber: 112, ttl: ttl, tos: 0xc0, payload: message)
            return EthernetFrame(destination: Multicast.vrrpIPv4, source: Self.vmac, etherType: EtherType.ipv4, payload: ip.bytes[...]).bytes
        }
        let rivalDone = ManagedFlag()
        let rivalThread = Thread {
            while !rivalDone.isSet {
                host.send(advert(priority: 250))
                usleep(100_000)
            }
        }
        rivalThread.start()
        let yielded = try Self.waitFor(a, status: "Backup", timeout: 3)
        #expect(yielded["masterAddress"] as? String == "10.0.0.9")
        usleep(300_000)
        host.drain()
        host.send(host.arpRequest(for: Self.vip, from: hostIP))
        #expect(host.first(timeout: 0.5) { Decoded.arpReply($0) } == nil, "a Backup answered ARP for the VIP")
        let afterTable = try a.vtysh(["-c", "show mac address-table static vlan 10"]).stdout
        #expect(!afterTable.contains("0000.5e00.0105"), "\(afterTable)")
        rivalDone.set()
        let back = Self.transition(try Self.waitFor(a, status: "Master", timeout: 3))
        #expect((back["masterSilentFor"] as? Double ?? 0) >= 0.32, "\(back)")

        // A flood of invalid adverts (wrong TTL, bad checksum, wrong version) changes nothing but
        // the discard counters, and does not delay the Master's adverts.
        host.drain()
        let flood = Thread {
            for index in 0..<3000 {
                switch index % 3 {
                case 0: host.send(advert(priority: 254, ttl: 64))
                case 1: host.send(advert(priority: 254, corrupt: true))
                default: host.send(advert(priority: 254, version: 2))
                }
                if index % 50 == 0 { usleep(1000) }
            }
        }
        flood.start()
        let during = host.collect(timeout: 1.5).filter { item in Decoded.vrrp(item.frame).map { $0.frame.source == Self.vmac && $0.ip.source == IPv4Address(10, 0, 0, 2) } == true }
        let gaps = zip(during.dropFirst(), during).map { $0.at.timeIntervalSince($1.at) }
        #expect(during.count >= 10, "\(during.count) adverts during the flood")
        #expect((gaps.max() ?? 1) < 0.3, "largest gap between adverts during the flood: \(gaps.max() ?? -1) s")
        let after = try Self.v4(a)
        #expect(after["status"] as? String == "Master")
        let discards = (after["stats"] as? [String: Any])?["discards"] as? [String: Int] ?? [:]
        #expect((discards["ttl"] ?? 0) > 0 && (discards["checksum"] ?? 0) > 0 && (discards["version"] ?? 0) > 0, "\(discards)")
        let statistics = try a.vtysh(["-c", "show vrrp statistics"]).stdout
        #expect(statistics.contains("Discards by reason"), "\(statistics)")
        #expect(a.witnessFindings.isEmpty, "\(a.witnessFindings)")
    }

    // MARK: IPv6

    @Test func anIPv6GroupAdvertisesAnnouncesAndAnswersNeighborSolicitations() throws {
        let ports = try freeUDPPorts(2)
        let host = try WireHost(localPort: ports[1], switchPort: ports[0])
        let vmac6 = MACAddress(0x0000_5e00_0205)
        let vip6 = IPv6Address(parsing: "2001:db8::5")!
        let linkLocal = IPv6Address(parsing: "fe80::ff:fe00:a00")!  // EUI-64 of the router MAC 02:00:00:00:0a:00
        let config = Self.config(host: 2, priority: 200).replacingOccurrences(of: " vrrp 5 ip 10.0.0.254\n", with: " vrrp 5 ipv6 fe80::5\n vrrp 5 ipv6 2001:db8::5\n")
        let a = try Self.start(config, ports: ["eth1=udp:\(ports[0]):\(ports[1])"], baseMAC: "02:00:00:00:0a:00")

        // Becoming Master: an unsolicited NA per virtual address, from the virtual MAC.
        let announced = host.first(timeout: 5) { bytes -> IPv6Address? in
            guard let frame = EthernetFrame.parse(bytes), frame.etherType == EtherType.ipv6, frame.source == vmac6,
                let ip = IPv6Packet.parse(frame.payload), ip.nextHeader == 58, ip.payload.first == 136, ip.payload.count >= 24
            else { return nil }
            return IPv6Address(bytes: Array(ip.payload[8..<24]))
        }
        #expect(announced == IPv6Address(parsing: "fe80::5") || announced == vip6, "\(String(describing: announced))")

        // Adverts: ff02::12 from the link-local address, hop limit 255, a valid v3 message.
        host.drain()
        let advert = host.first(timeout: 2) { bytes -> (EthernetFrame, IPv6Packet)? in
            guard let frame = EthernetFrame.parse(bytes), frame.etherType == EtherType.ipv6, let ip = IPv6Packet.parse(frame.payload),
                ip.nextHeader == 112
            else { return nil }
            return (frame, ip)
        }
        #expect(advert?.0.destination == Multicast.vrrpIPv6 && advert?.0.source == vmac6)
        #expect(advert?.1.source == linkLocal && advert?.1.destination == Advertisement.ipv6Group && advert?.1.hopLimit == 255)
        if let ip = advert?.1, case .success(let ad) = Advertisement.decode(ip.payload, ipv6: true) {
            #expect(ad.priority == 200 && ad.addresses == .ipv6([IPv6Address(parsing: "fe80::5")!, vip6]))
            #expect(ad.encoded(source: .ipv6(ip.source), destination: .ipv6(ip.destination), pseudoHeader: true) == ip.payload)
        } else {
            Issue.record("no decodable IPv6 advert")
        }

        // A neighbour solicitation for the virtual address gets the virtual MAC.
        let hostAddress = IPv6Address(parsing: "fe80::aa:1")!
        let solicitedNode = IPv6Address(parsing: "ff02::1:ff00:5")!
        var ns: [UInt8] = [135, 0, 0, 0, 0, 0, 0, 0] + vip6.bytes + [1, 1] + host.mac.bytes
        let length = UInt32(ns.count)
        let pseudo = hostAddress.bytes + solicitedNode.bytes + [0, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 0, 0, 58]
        let sum = internetChecksum(pseudo + ns)
        ns[2] = UInt8(sum >> 8)
        ns[3] = UInt8(sum & 0xff)
        let packet = IPv6Packet(source: hostAddress, destination: solicitedNode, nextHeader: 58, hopLimit: 255, payload: ns)
        host.drain()
        host.send(EthernetFrame(destination: MACAddress(0x3333_ff00_0005), source: host.mac, etherType: EtherType.ipv6, payload: packet.bytes[...]).bytes)
        let answer = host.first(timeout: 2) { bytes -> (EthernetFrame, IPv6Packet)? in
            guard let frame = EthernetFrame.parse(bytes), frame.etherType == EtherType.ipv6, let ip = IPv6Packet.parse(frame.payload),
                ip.nextHeader == 58, ip.payload.first == 136, ip.destination == hostAddress
            else { return nil }
            return (frame, ip)
        }
        #expect(answer?.0.source == vmac6 && answer?.0.destination == host.mac)
        if let icmp = answer?.1.payload, icmp.count >= 32 {
            #expect(icmp[4] == 0xe0, "R, S and O set")
            #expect(Array(icmp[8..<24]) == vip6.bytes && Array(icmp[26..<32]) == vmac6.bytes)
        } else {
            Issue.record("no neighbour advertisement for the virtual address")
        }
        let summary = try a.vtysh(["-c", "show vrrp summary"]).stdout
        #expect(summary.contains("vlan10      5      200        0      2      Initialize   Master"), "\(summary)")
    }

    // MARK: Tracking, autostate, a stuck HAL

    @Test func trackingAutostateAndAStuckHALDelayOnlyTheSideEffects() throws {
        let ports = try freeUDPPorts(2)
        let host = try WireHost(localPort: ports[1], switchPort: ports[0])
        let a = try Self.start(
            Self.config(host: 2, priority: 200, extra: ["vrrp 5 track interface eth3 decrement 150"]),
            ports: ["eth1=udp:\(ports[0]):\(ports[1])"], faults: true)
        _ = try Self.waitFor(a, status: "Master")
        #expect(try Self.v4(a)["effectivePriority"] as? Int == 200)

        // The tracked port goes down: the priority drops to 50 in the adverts.
        #expect(try a.vtysh(["-c", "enable", "-c", "test interface eth3 link down"]).status == 0)
        host.drain()
        let lowered = host.first(timeout: 2) { bytes -> UInt8? in
            guard let (_, ip) = Decoded.vrrp(bytes), case .success(let ad) = Advertisement.decode(ip.payload, ipv6: false) else { return nil }
            return ad.priority == 50 ? ad.priority : nil
        }
        #expect(lowered == 50)
        #expect(try a.vtysh(["-c", "show vrrp"]).stdout.contains("Tracking decrement now                  150"))
        #expect(try a.vtysh(["-c", "enable", "-c", "test interface eth3 link up"]).status == 0)

        // The SVI's only port goes down: the router goes to Initialize and says why.
        #expect(try a.vtysh(["-c", "enable", "-c", "test interface eth1 link down", "-c", "test interface eth2 link down"]).status == 0)
        let held = try Self.waitFor(a, status: "Initialize", timeout: 2)
        #expect(held["statusReason"] as? String == "no port of VLAN 10 is up")
        #expect(try a.vtysh(["-c", "show vrrp summary"]).stdout.contains("Initialize"))
        #expect(try a.vtysh(["-c", "enable", "-c", "test interface eth1 link up"]).status == 0)
        _ = try Self.waitFor(a, status: "Master", timeout: 3)

        // l2x stuck holding l2.table for 3 s: A is knocked to Backup by a rival and then takes
        // over again while the table is locked. The transition and the adverts happen on time;
        // the virtual MAC waits for the HAL, the delay is reported, and it lands afterwards.
        #expect(try a.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface vlan10", "-c", "vrrp 5 shutdown"]).status == 0)
        _ = try Self.waitFor(a, status: "Initialize", timeout: 2)
        #expect(try a.vtysh(["-c", "enable", "-c", "test fault hal stall l2x 3000"]).status == 0)
        let started = Date()
        #expect(try a.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface vlan10", "-c", "no vrrp 5 shutdown"]).status == 0)
        _ = try Self.waitFor(a, status: "Master", timeout: 2)
        #expect(Date().timeIntervalSince(started) < 1.5, "Master only after \(Date().timeIntervalSince(started)) s")
        host.drain()
        let whileStuck = host.collect(timeout: 0.6).filter { Decoded.vrrp($0.frame) != nil }
        #expect(whileStuck.count >= 4, "adverts kept going while the HAL was stuck: \(whileStuck.count)")
        let detail = try a.vtysh(["-c", "show vrrp"]).stdout
        #expect(detail.contains("Virtual MAC entry (v4)                  not yet in the L2 table"), "\(detail)")
        #expect(a.waitForLog("VRRP: virtual MAC update failed", timeout: 5))
        #expect(a.waitForLog("VRRP: virtual MAC table updated again", timeout: 8))
        #expect(try Self.v4(a)["vmacInstalled"] as? Bool == true)
        #expect(a.witnessFindings.isEmpty, "\(a.witnessFindings)")
    }

    // MARK: Configuration changes that are not `vrrp` lines

    /// A port joining the VLAN brings the SVI (and its router) up, a port leaving takes it down,
    /// with no link event involved; a new primary address is the adverts' source at once, even
    /// where the checksum does not cover it (RFC 9568 form).
    @Test func portMembershipAndAddressChangesReachTheRouters() throws {
        let ports = try freeUDPPorts(2)
        let host = try WireHost(localPort: ports[1], switchPort: ports[0])
        let config = Self.config(host: 2, priority: 200, extra: ["no vrrp 5 checksum-with-ipv4-pseudoheader"])
            .replacingOccurrences(of: "interface eth1\n switchport access vlan 10\nexit\ninterface eth2\n switchport access vlan 10\nexit\n", with: "")
        let a = try Self.start(config, ports: ["eth1=udp:\(ports[0]):\(ports[1])"])
        let held = try Self.waitFor(a, status: "Initialize")
        #expect(held["statusReason"] as? String == "no port of VLAN 10 is up", "\(held)")

        #expect(try a.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface eth1", "-c", "switchport access vlan 10"]).status == 0)
        _ = try Self.waitFor(a, status: "Master", timeout: 3)

        host.drain()
        let before = host.first(timeout: 2) { Decoded.vrrp($0)?.ip.source }
        #expect(before == IPv4Address(10, 0, 0, 2))
        #expect(try a.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface vlan10", "-c", "ip address 10.0.0.7/24"]).status == 0)
        usleep(200_000)
        host.drain()
        let after = host.collect(timeout: 0.5).compactMap { Decoded.vrrp($0.frame)?.ip }
        #expect(!after.isEmpty && after.allSatisfy { $0.source == IPv4Address(10, 0, 0, 7) }, "\(after.map(\.source))")
        if let ip = after.first, case .success(let ad) = Advertisement.decode(ip.payload, ipv6: false) {
            #expect(ad.encoded(source: .ipv4(ip.source), destination: .ipv4(ip.destination), pseudoHeader: false) == ip.payload)
        }

        #expect(try a.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface eth1", "-c", "switchport access vlan 1"]).status == 0)
        let down = try Self.waitFor(a, status: "Initialize", timeout: 3)
        #expect(down["statusReason"] as? String == "no port of VLAN 10 is up")
    }

    /// `interface vlanN` for a VLAN that does not exist is taken (a script goes on) with a note
    /// saying why the SVI will stay down, and creates nothing; once the VLAN exists and a port of
    /// it is up, the README's example ends in Master (issue 18: a newcomer's ended in
    /// "Initialize (VLAN 10 does not exist)" without a word at the prompt).
    @Test func anSVIWithoutItsVLANIsNotedAndComesUpWithIt() throws {
        let daemon = try DaemonProcess(arguments: ["--chip", "small"])
        let note = "% Note: VLAN 10 does not exist: vlan10 stays down until 'vlan 10' creates it and a port in it is up"
        let configure = ["-c", "enable", "-c", "configure terminal"]
        let first = try daemon.vtysh(configure + ["-c", "interface vlan10", "-c", "ip address 10.0.0.2/24", "-c", "vrrp 5 ip 10.0.0.254"])
        #expect(first.status == 0, "a note, not a failure: \(first.stderr)")
        #expect(first.stdout == note + "\n", "\(first.stdout)")
        let running = try daemon.vtysh(configure + ["-c", "do show running-config"]).stdout
        #expect(running.contains("interface vlan10\n") && !running.contains("vlan 10\n"), "nothing created: \(running)")
        let held = try Self.waitFor(daemon, status: "Initialize")
        #expect(held["statusReason"] as? String == "VLAN 10 does not exist", "\(held)")
        // Said each time the SVI is entered while the VLAN is missing, in a range too.
        #expect(try daemon.vtysh(configure + ["-c", "interface vlan10"]).stdout == note + "\n")
        let range = try daemon.vtysh(configure + ["-c", "interface range vlan10 - 12,vlan1"])
        #expect(range.status == 0 && range.stdout.hasPrefix("% Note: VLANs 10-12 do not exist: "), "\(range.stdout)")

        // With the VLAN (sent just before, in the same script) there is nothing to say.
        let created = try daemon.vtysh(configure + ["-c", "vlan 10", "-c", "interface vlan10"])
        #expect(created.status == 0 && created.stdout.isEmpty, "\(created.stdout)")
        let noPort = try Self.waitFor(daemon, status: "Initialize")
        #expect(noPort["statusReason"] as? String == "no port of VLAN 10 is up", "\(noPort)")
        #expect(try daemon.vtysh(configure + ["-c", "interface eth1", "-c", "switchport access vlan 10"]).status == 0)
        _ = try Self.waitFor(daemon, status: "Master", timeout: 6)
    }

    // MARK: Configuration

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// What ships in configs/ works: every .conf loads without an error, and the VRRP loop script
    /// runs cleanly, twice, against a switch doing VRRP, without disturbing group 1.
    @Test func shippedConfigurationsWork() throws {
        let directory = Self.repository + "/configs"
        let confs = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".conf") }
        #expect(!confs.isEmpty)
        for name in confs {
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
            let daemon = try DaemonProcess(config: text)
            #expect(daemon.log.contains(", 0 errors"), "\(name): \(daemon.log)")
        }
        let config = Self.config(host: 1, priority: 200).replacingOccurrences(of: "vrrp 5", with: "vrrp 1")
        let daemon = try DaemonProcess(arguments: ["--chip", "small"], config: config)
        _ = try Self.waitFor(daemon, status: "Master", vrid: 1)
        for _ in 0..<2 {
            let run = try daemon.vtysh(["-f", directory + "/vrrp-loop.vtysh"])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        }
        #expect(daemon.log.components(separatedBy: "VRRP vlan10 VRID 1:").count - 1 == 2, "group 1 changed state: \(daemon.log)")
    }

    @Test func frrLinesLoadUnchangedAndBadLinesAreRefusedClearly() throws {
        let frr = """
            vlan 10
            exit
            interface eth1
             switchport access vlan 10
            exit
            interface vlan10
             ip address 10.0.0.2/24
             vrrp 5 version 3
             vrrp 5 priority 200
             vrrp 5 advertisement-interval 1500
             vrrp 5 ip 10.0.0.254
             vrrp 5 ipv6 fe80::1
             vrrp 5 ipv6 2001:db8::1
             no vrrp 5 preempt
             no vrrp 5 checksum-with-ipv4-pseudoheader
             vrrp 6 version 2
             vrrp 6 ip 10.0.0.2
             vrrp 6 shutdown
            exit

            """
        let daemon = try DaemonProcess(arguments: ["--chip", "small"], config: frr)
        #expect(daemon.log.contains("0 errors"), "\(daemon.log)")
        let running = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        let block = """
            interface vlan10
             ip address 10.0.0.2/24
             vrrp 5
             vrrp 5 ip 10.0.0.254
             vrrp 5 ipv6 fe80::1
             vrrp 5 ipv6 2001:db8::1
             vrrp 5 priority 200
             vrrp 5 advertisement-interval 1500
             no vrrp 5 preempt
             no vrrp 5 checksum-with-ipv4-pseudoheader
             vrrp 6 version 2
             vrrp 6 ip 10.0.0.2
             vrrp 6 shutdown
            exit
            """
        #expect(running.contains(block), "\(running)")
        // VRID 6 owns 10.0.0.2 but is shut down; VRID 5 runs.
        let summary = try daemon.vtysh(["-c", "show vrrp summary"]).stdout
        #expect(summary.contains("vlan10      6      100        1      0      Initialize   Initialize"), "\(summary)")
        let six = try daemon.vtysh(["-c", "show vrrp interface vlan10 6"]).stdout
        #expect(six.contains("Initialize (administratively shut down)") && six.contains("Effective Priority (v4)                 255"), "\(six)")

        func refused(_ line: String, _ message: String, interface: String = "vlan10") throws {
            let result = try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface \(interface)", "-c", line])
            #expect(result.status != 0 && result.stdout.contains(message), "\(line): \(result.stdout)")
        }
        try refused("vrrp 5 advertisement-interval 15", "15 ms is not a multiple of 10 (use 10 or 20)")
        try refused("vrrp 5 priority 255", "255 is out of range: 1-254")
        try refused("vrrp 6 advertisement-interval 1500", "VRRPv2 advertises whole seconds: 1500 ms is not a multiple of 1000")
        try refused("vrrp 6 ipv6 fe80::6", "VRRPv2 does not carry IPv6 addresses")
        try refused("vrrp 7 ipv6 2001:db8::7", "the first IPv6 address of a group must be link-local")
        try refused("vrrp 5 ip 10.0.0.1", "VRRP runs on SVIs", interface: "eth1")
        try refused("vrrp 5 track interface vlan10", "VRRP tracks ports")
        try refused("no vrrp 9", "VRRP group 9 is not configured")
        try refused("no vrrp 9 accept-mode", "VRRP group 9 is not configured")
        try refused("no vrrp 5 ipv6 fe80::1", "is the group's link-local address and must stay first")
        // At most 90 IPv6 addresses (an advert must fit a 1500-byte frame).
        let many = ["enable", "conf t", "interface vlan10", "vrrp 8 ipv6 fe80::8"] + (1...90).map { "vrrp 8 ipv6 2001:db8:8::\($0)" }
        try daemon.scratch.write("many.vtysh", many.joined(separator: "\n") + "\n")
        let bulk = try daemon.vtysh(["-f", daemon.scratch.file("many.vtysh")])
        #expect(bulk.status == 1 && (bulk.stdout + bulk.stderr).components(separatedBy: "at most 90 IPv6 addresses").count - 1 == 1, "\(bulk.stdout)\(bulk.stderr)")
        #expect(try daemon.vtysh(["-c", "enable", "-c", "conf t", "-c", "interface vlan10", "-c", "no vrrp 8"]).status == 0)
        // Refusals changed nothing.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout == running)

        // Saved and read back by a restarted daemon, identically.
        #expect(try daemon.vtysh(["-c", "enable", "-c", "write file"]).status == 0)
        try daemon.stop()
        let again = try DaemonProcess(scratch: daemon.scratch, arguments: ["--chip", "small"])
        let reloaded = try again.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(reloaded.contains(block), "\(reloaded)")
    }
}

/// A flag one thread sets and another polls.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
