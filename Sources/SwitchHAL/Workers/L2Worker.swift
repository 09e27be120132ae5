import Glibc
import Atomics
import NetTypes
import Time

/// The "l2x" thread: takes received frames off the RX queue in batches, classifies each into
/// its VLAN, learns source MACs (new entries, station moves, hit bits, learn limits), marks
/// destination hits, and passes frames meant for the CPU, through their class's policer, to the
/// "rx" thread.
///
/// Holds `l2.table` once per batch and never calls out while holding it: events are collected
/// and published after release, buffers are returned after release.
final class L2Worker {
    static let batchSize = 256

    private let rx: RxPath
    private let ports: PortTable
    private let state: L2State
    private let lock: HALLock
    private let fanout: EventFanout
    private let cpu: CPUDispatcher
    private let faults: FaultInjector
    private let transmitter: Transmitter
    /// The NAT table and its lock (taken alone, once per batch with NAT zones' packets).
    private let nat: NATTable
    private let natLock: HALLock
    private var thread: HALThread?

    /// What to do with a frame after learning.
    struct Forwarding {
        var buffer: UInt32
        var vlan: UInt16
        /// Egress port, or 0 to flood the VLAN.
        var port: Int
        var toCPU: Bool
        /// For a NAT zone's packet (`port == natFirst`): its zone and where its IP header
        /// starts, as read under `l2.table` (the NAT pass runs without it).
        var natZone = NATZone.inside
        var network = 14
    }

    init(
        rx: RxPath, ports: PortTable, state: L2State, lock: HALLock, fanout: EventFanout, cpu: CPUDispatcher, faults: FaultInjector,
        transmitter: Transmitter, nat: NATTable, natLock: HALLock
    ) {
        self.nat = nat
        self.natLock = natLock
        self.rx = rx
        self.ports = ports
        self.state = state
        self.lock = lock
        self.fanout = fanout
        self.cpu = cpu
        self.faults = faults
        self.transmitter = transmitter
    }

    func start() -> HALThread {
        let thread = HALThread.spawn(name: "l2x") { [self] me in run(me) }
        self.thread = thread
        return thread
    }

    func stop() {
        thread?.requestStop()
        rx.wakeup.signal()
        thread?.join()
    }

    /// Counters of one batch, kept in locals and added to the shared ones once per batch.
    private struct BatchCounters {
        var learned: UInt64 = 0
        var moved: UInt64 = 0
        var staticMoveDenied: UInt64 = 0
        var learnFull: UInt64 = 0
        var limitedSystem: UInt64 = 0
        var limitedVLAN: UInt64 = 0
        var limitedPort: UInt64 = 0
    }

    private func run(_ me: HALThread) {
        var batch: [UInt32] = []
        batch.reserveCapacity(L2Worker.batchSize)
        var events: [HALEvent] = []
        var forCPU: [UInt32] = []
        var giveBack: [UInt32] = []
        var forwarding: [Forwarding] = []
        var scratch = Transmitter.Scratch()
        var untagged: [UInt8] = []
        var natSaved: [UInt8] = []
        var natHits: [Bool] = []
        let forwards = transmitter.hasBackends
        while !me.shouldStop {
            if faults.stalled(faults.stallL2X) { stall(me) }
            batch.removeAll(keepingCapacity: true)
            // VRRP adverts that arrived while l2x was behind come first (RxPath).
            while batch.count < L2Worker.batchSize, let buffer = rx.toL2Priority.dequeue() { batch.append(buffer) }
            while batch.count < L2Worker.batchSize, let buffer = rx.toL2.dequeue() { batch.append(buffer) }
            if batch.isEmpty {
                me.set(.sleeping)
                rx.wakeup.wait(timeout: .milliseconds(50)) { rx.queuedForL2 == 0 }
                continue
            }
            me.set(.working)
            let view = ports.view.load(ordering: .acquiring)
            let wantEvents = fanout.hasSubscribers
            let wantCPU = cpu.hasHandler
            var natPending = false
            lock.withLock("l2x-learn") {
                var counts = BatchCounters()
                let limits = state.anyLimit ? (system: state.systemLimit, vlan: state.vlanLimit, port: state.portLimit) : nil
                for buffer in batch {
                    if forwards {
                        if let decision = forward(buffer, view: view, limits: limits, wantEvents: wantEvents, wantCPU: wantCPU, counts: &counts, events: &events) {
                            if decision.port == L2Worker.natFirst { natPending = true }
                            forwarding.append(decision)
                        } else {
                            giveBack.append(buffer)
                        }
                    } else if process(buffer, view: view, limits: limits, wantEvents: wantEvents, wantCPU: wantCPU, counts: &counts, events: &events) {
                        forCPU.append(buffer)
                    } else {
                        giveBack.append(buffer)
                    }
                }
                state.counters.learned &+= counts.learned
                state.counters.moved &+= counts.moved
                state.counters.staticMoveDenied &+= counts.staticMoveDenied
                state.counters.learnFull &+= counts.learnFull
                state.counters.learnLimitedSystem &+= counts.limitedSystem
                state.counters.learnLimitedVLAN &+= counts.limitedVLAN
                state.counters.learnLimitedPort &+= counts.limitedPort
            }
            if natPending { natPass(&forwarding, wantCPU: wantCPU, saved: &natSaved, hits: &natHits) }
            // Out of the ports, with no lock held (backends never block).
            for decision in forwarding {
                transmit(decision, view: view, untagged: &untagged, scratch: &scratch)
                if decision.toCPU { forCPU.append(decision.buffer) } else { giveBack.append(decision.buffer) }
            }
            forwarding.removeAll(keepingCapacity: true)
            for buffer in giveBack { rx.pool.give(buffer) }
            giveBack.removeAll(keepingCapacity: true)
            // Policed by class on the way (CPUDispatcher): what is over its rate goes back now.
            cpu.punt(forCPU)
            forCPU.removeAll(keepingCapacity: true)
            if !events.isEmpty {
                fanout.publish(events[...])
                events.removeAll(keepingCapacity: true)
            }
        }
        // Whatever is still queued goes back to the pool.
        while let buffer = rx.toL2Priority.dequeue() ?? rx.toL2.dequeue() { rx.pool.give(buffer) }
    }

    /// Like `process`, but also decides where the frame goes out (when ports have backends):
    /// a known unicast destination on another port, or a flood of the VLAN for unknown,
    /// broadcast and multicast destinations; frames for the router go to the CPU only.
    private func forward(
        _ buffer: UInt32, view: ForwardingView, limits: Limits?, wantEvents: Bool, wantCPU: Bool,
        counts: inout BatchCounters, events: inout [HALEvent]
    ) -> Forwarding? {
        let pool = rx.pool
        let toCPU = process(buffer, view: view, limits: limits, wantEvents: wantEvents, wantCPU: wantCPU, counts: &counts, events: &events)
        let length = Int(pool.lengths[Int(buffer)])
        let ingress = Int(pool.ports[Int(buffer)])
        guard length >= 14, ingress >= 1, ingress <= transmitter.portCount else { return toCPU ? Forwarding(buffer: buffer, vlan: 0, port: -1, toCPU: true) : nil }
        let bytes = UnsafeRawPointer(pool.bytes(buffer))
        // What `process` counted as invalid (a group or all-zero source, a frame ending inside
        // its tag) is dropped here too, not forwarded.
        let source = L2Worker.mac(bytes, at: 6)
        guard source >> 40 & 1 == 0, source != 0 else { return nil }
        var tag: UInt16?
        if bytes.loadUnaligned(fromByteOffset: 12, as: UInt16.self) == UInt16(0x8100).bigEndian {
            guard length >= 18 else { return nil }
            tag = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 14, as: UInt16.self)) & 0x0fff
        }
        guard case .vlan(let vlan) = view.classify(port: ingress, tag: tag) else { return nil }
        let destination = L2Worker.mac(bytes, at: 0)
        if destination >> 40 & 1 == 1 {
            return Forwarding(buffer: buffer, vlan: vlan, port: 0, toCPU: toCPU)
        }
        if let slot = state.table.find(destination << 12 | UInt64(vlan)) {
            let port = Int(state.table.port(at: slot))
            // To the router: routed here when the L3 host table knows the destination.
            if state.table.flags(at: slot).contains(.l3), !state.l3.entries.isEmpty {
                let network = tag == nil ? 14 : 18
                if let zone = NATZone(rawValue: state.l3.zones[Int(vlan)]) {
                    // The NAT first, under its own lock, after this batch's pass (natPass).
                    if natEligible(buffer, network: network, length: length) {
                        return Forwarding(buffer: buffer, vlan: vlan, port: L2Worker.natFirst, toCPU: toCPU, natZone: zone, network: network)
                    }
                } else if let routed = route(buffer, vlan: vlan, ingress: ingress, network: network, length: length) {
                    if toCPU { state.portCounters[ingress].toCPU &-= 1 }
                    state.portCounters[ingress].routed &+= 1
                    return routed
                }
                state.l3.counters.toCPU &+= 1
            }
            if port == cpuPort || toCPU { return toCPU ? Forwarding(buffer: buffer, vlan: vlan, port: -1, toCPU: true) : nil }
            if port == ingress { return nil }  // filtered: the station is on the port it came from
            return Forwarding(buffer: buffer, vlan: vlan, port: port, toCPU: false)
        }
        return Forwarding(buffer: buffer, vlan: vlan, port: 0, toCPU: toCPU)
    }

    /// What the chip routes: IPv4 (after the Ethernet header or one 802.1Q tag), no options, a
    /// TTL above 1.
    @inline(__always)
    static func isRoutableIPv4(_ bytes: UnsafeRawPointer, network l3: Int, length: Int) -> Bool {
        length >= l3 + 20 && bytes.loadUnaligned(fromByteOffset: l3 - 2, as: UInt16.self) == UInt16(0x0800).bigEndian
            && bytes.load(fromByteOffset: l3, as: UInt8.self) == 0x45 && bytes.load(fromByteOffset: l3 + 8, as: UInt8.self) > 1
    }

    /// A decision's port meaning "a NAT zone's packet: the NAT table first" (natPass).
    static let natFirst = -2

    /// Whether a NAT zone's packet may be translated in the data path: unicast IPv4 TCP or
    /// UDP, no options, not a fragment, TTL above 1, and for TCP not SYN, FIN or RST (the CPU
    /// follows those, as the NAT engine's state machine needs).
    @inline(__always)
    private func natEligible(_ buffer: UInt32, network l3: Int, length: Int) -> Bool {
        let bytes = UnsafeRawPointer(rx.pool.bytes(buffer))
        guard length >= l3 + 28, L2Worker.isRoutableIPv4(bytes, network: l3, length: length),
            UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: l3 + 6, as: UInt16.self)) & 0x3fff == 0
        else { return false }
        switch bytes.load(fromByteOffset: l3 + 9, as: UInt8.self) {
        case 17: return true
        case 6: return length >= l3 + 40 && bytes.load(fromByteOffset: l3 + 33, as: UInt8.self) & 0x07 == 0
        default: return false
        }
    }

    /// The NAT zones' packets of a batch: translated in place under `nat.table` (taken alone,
    /// waited for at most 1 ms, once per batch), then routed under `l2.table` (once more);
    /// what has no translation or no route goes to the CPU as it came in (a packet translated
    /// but not routable gets its headers back, and counts in the NAT entry's counters once
    /// more when the CPU translates it).
    private func natPass(_ forwarding: inout [Forwarding], wantCPU: Bool, saved: inout [UInt8], hits: inout [Bool]) {
        let pool = rx.pool
        hits.removeAll(keepingCapacity: true)
        saved.removeAll(keepingCapacity: true)
        let translatedInTime: Bool
        do {
            try natLock.withLock("l2x-nat", deadline: SystemClock.deadline(after: .milliseconds(1))) { () -> Void in
                for decision in forwarding where decision.port == L2Worker.natFirst {
                    hits.append(translate(decision, saved: &saved))
                }
            }
            translatedInTime = true
        } catch {
            translatedInTime = false  // nat.table busy: these packets take the CPU's path
        }
        lock.withLock("l2x-nat-route") {
            // `hits` has one flag per NAT packet; `saved` the headers of the translated ones only.
            var index = 0, savedIndex = 0
            for position in forwarding.indices where forwarding[position].port == L2Worker.natFirst {
                let decision = forwarding[position]
                let hit = translatedInTime && index < hits.count && hits[index]
                let savedAt = savedIndex
                if hit { savedIndex += 1 }
                let buffer = decision.buffer, ingress = Int(pool.ports[Int(buffer)])
                let bytes = pool.bytes(buffer)
                let network = decision.network
                if hit, let routed = route(buffer, vlan: decision.vlan, ingress: ingress, network: network, length: Int(pool.lengths[Int(buffer)])) {
                    if decision.toCPU { state.portCounters[ingress].toCPU &-= 1 }
                    state.portCounters[ingress].routed &+= 1
                    state.l3.counters.translated &+= 1
                    forwarding[position] = routed
                } else {
                    if hit {
                        saved.withUnsafeBytes {
                            (bytes + network).copyMemory(from: $0.baseAddress! + savedAt * L2Worker.natSavedBytes, byteCount: L2Worker.natSavedBytes)
                        }
                    }
                    state.l3.counters.toCPU &+= 1
                    forwarding[position] = Forwarding(buffer: buffer, vlan: decision.vlan, port: -1, toCPU: wantCPU)
                }
                index += 1
            }
        }
    }

    /// The IP header and the first 20 bytes of the transport header: what a translation
    /// rewrites, kept to be put back.
    static let natSavedBytes = 40

    /// Looks one packet up in the NAT table (`nat.table` held) and, on a hit, rewrites its
    /// addresses and ports in place, with the IP checksum and the transport checksum updated
    /// incrementally (a partial checksum's pseudo-header seed for the addresses only). Saves
    /// the original headers first. Returns whether it was translated.
    private func translate(_ decision: Forwarding, saved: inout [UInt8]) -> Bool {
        let pool = rx.pool
        let bytes = pool.bytes(decision.buffer)
        let l3 = decision.network, l4 = l3 + 20
        let natZone = decision.natZone
        let tcp = bytes.load(fromByteOffset: l3 + 9, as: UInt8.self) == 6
        func load32(_ offset: Int) -> UInt32 { UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func load16(_ offset: Int) -> UInt16 { UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
        func store32(_ offset: Int, _ value: UInt32) { bytes.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self) }
        func store16(_ offset: Int, _ value: UInt16) { bytes.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self) }
        let packet = NATPacket(
            proto: tcp ? .tcp : .udp, source: IPv4Address(load32(l3 + 12)), sourcePort: load16(l4),
            destination: IPv4Address(load32(l3 + 16)), destinationPort: load16(l4 + 2))
        guard let result = nat.translateIfHit(packet, zone: natZone, bytes: UInt64(load16(l3 + 2))) else { return false }
        saved.append(contentsOf: UnsafeRawBufferPointer(start: bytes + l3, count: L2Worker.natSavedBytes))
        let out = result.packet
        let partial = pool.offloads[Int(decision.buffer)].needsChecksum
        let field = l4 + (tcp ? 16 : 6)
        var ip = ~load16(l3 + 10)
        // The transport checksum: as a sum (complemented field), or the partial seed itself.
        var transport = partial ? load16(field) : ~load16(field)
        let udpWithout = !tcp && !partial && load16(field) == 0
        for (offset, old, new) in [(l3 + 12, packet.source.value, out.source.value), (l3 + 16, packet.destination.value, out.destination.value)]
        where old != new {
            ip = InternetChecksum.adjust(ip, from: old, to: new)
            transport = InternetChecksum.adjust(transport, from: old, to: new)
            store32(offset, new)
        }
        for (offset, old, new) in [(l4, packet.sourcePort, out.sourcePort), (l4 + 2, packet.destinationPort, out.destinationPort)]
        where old != new {
            // A partial checksum is summed over the ports later: only a full one changes.
            if !partial { transport = InternetChecksum.adjust(transport, from: old, to: new) }
            store16(offset, new)
        }
        store16(l3 + 10, ~ip)
        if !udpWithout {
            var value = partial ? transport : ~transport
            if !tcp && !partial && value == 0 { value = 0xffff }
            store16(field, value)
        }
        return true
    }

    /// Routes an IPv4 packet to the router's MAC as the chip's L3 engine does: the destination
    /// in the host table, the next hop's port from the L2 table, no IP options, TTL above 1,
    /// the ingress VLAN not one the NAT is on, and (every segment of) the packet within the
    /// egress MTU; then the MACs rewritten, TTL decremented and the IP checksum updated, in
    /// place. Anything else is the CPU's (nil).
    @inline(__always)
    private func route(_ buffer: UInt32, vlan: UInt16, ingress: Int, network l3: Int, length: Int) -> Forwarding? {
        let pool = rx.pool
        let bytes = pool.bytes(buffer)
        guard L2Worker.isRoutableIPv4(UnsafeRawPointer(bytes), network: l3, length: length) else { return nil }
        let destination = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: l3 + 16, as: UInt32.self))
        guard let host = state.l3.entries[destination], let slot = state.table.find(host.mac << 12 | UInt64(host.vlan)) else { return nil }
        let port = Int(state.table.port(at: slot))
        guard port >= 1, port <= transmitter.portCount else { return nil }
        guard SoftwareOffload.largestPacket(pool.frame(buffer), pool.offloads[Int(buffer)]) <= transmitter.mtu(port) else {
            // The CPU answers it (ICMP "fragmentation needed" for DF, fragments otherwise).
            state.l3.counters.tooBig &+= 1
            return nil
        }
        let router = ports.baseMAC.value
        for index in 0..<6 {
            bytes.storeBytes(of: UInt8(truncatingIfNeeded: host.mac >> UInt64(40 - 8 * index)), toByteOffset: index, as: UInt8.self)
            bytes.storeBytes(of: UInt8(truncatingIfNeeded: router >> UInt64(40 - 8 * index)), toByteOffset: 6 + index, as: UInt8.self)
        }
        bytes.storeBytes(of: bytes.load(fromByteOffset: l3 + 8, as: UInt8.self) - 1, toByteOffset: l3 + 8, as: UInt8.self)
        // TTL one less is the checksum 0x0100 more, with the end-around carry (RFC 1624).
        var check = UInt32(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: l3 + 10, as: UInt16.self))) + 0x0100
        check = (check & 0xffff) + (check >> 16)
        bytes.storeBytes(of: UInt16(truncatingIfNeeded: check).bigEndian, toByteOffset: l3 + 10, as: UInt16.self)
        state.l3.counters.routed &+= 1
        return Forwarding(buffer: buffer, vlan: host.vlan, port: port, toCPU: false)
    }

    private func transmit(_ decision: Forwarding, view: ForwardingView, untagged: inout [UInt8], scratch: inout Transmitter.Scratch) {
        guard decision.port >= 0 else { return }
        let pool = rx.pool
        let frame = pool.frame(decision.buffer)
        let ingress = Int(pool.ports[Int(decision.buffer)])
        var offload = pool.offloads[Int(decision.buffer)]
        // A frame of normal size leaves finished, whatever port it leaves by: its partial
        // checksum is filled in here, once (a few hundred bytes summed). Only super-frames
        // keep their offload work, for a kernel behind the egress port to finish (or the
        // transmitter, where there is none).
        if offload.needsChecksum && offload.segmentation == .none {
            if (try? SoftwareOffload.completeChecksum(pool.mutableFrame(decision.buffer), offload)) == nil {
                transmitter.countOffloadError(ingress)
                return
            }
            offload = .none
            pool.offloads[Int(decision.buffer)] = .none
        }
        // The transmitter wants the frame untagged; it adds the tag a trunk needs.
        let tagged = frame.count >= 18 && frame[12] == 0x81 && frame[13] == 0x00
        if tagged {
            untagged.removeAll(keepingCapacity: true)
            untagged.append(contentsOf: frame[0..<12])
            untagged.append(contentsOf: frame[16...])
            // Without its tag a minimum-size frame is 4 bytes short of Ethernet's 60: pad it.
            if untagged.count < 60 { untagged.append(contentsOf: repeatElement(0, count: 60 - untagged.count)) }
            untagged.withUnsafeBytes { send($0, offload.shifted(by: -4), decision, ingress: ingress, view: view, scratch: &scratch) }
        } else {
            send(frame, offload, decision, ingress: ingress, view: view, scratch: &scratch)
        }
    }

    private func send(
        _ bytes: UnsafeRawBufferPointer, _ offload: FrameOffload, _ decision: Forwarding, ingress: Int, view: ForwardingView,
        scratch: inout Transmitter.Scratch
    ) {
        if decision.port == 0 {
            transmitter.flood(bytes, offload: offload, vlan: decision.vlan, except: ingress, view: view, scratch: &scratch)
        } else if transmitter.carries(decision.port, vlan: decision.vlan, view: view) {
            // A known station on a port that does not carry the frame's VLAN (a static entry, a
            // port moved since) gets nothing: frames never leak into another VLAN.
            transmitter.send(bytes, offload: offload, vlan: decision.vlan, port: decision.port, view: view, scratch: &scratch)
        }
    }

    /// Injected fault: hold the table lock and do nothing until the stall ends, as the SDK's
    /// l2x did in the field (there it waited for another lock that never came).
    private func stall(_ me: HALThread) {
        lock.withLock("l2x-scan") {
            me.set(.stalled)
            while faults.stalled(faults.stallL2X) && !me.shouldStop { usleep(5_000) }
        }
        me.set(.working)
    }

    typealias Limits = (system: Int, vlan: UnsafeMutablePointer<Int32>, port: UnsafeMutablePointer<Int32>)

    /// Handles one frame (with `l2.table` held). Returns true when the buffer goes to the CPU.
    @inline(__always)
    private func process(
        _ buffer: UInt32, view: ForwardingView, limits: Limits?, wantEvents: Bool, wantCPU: Bool,
        counts: inout BatchCounters, events: inout [HALEvent]
    ) -> Bool {
        let pool = rx.pool
        let length = Int(pool.lengths[Int(buffer)])
        let port = Int(pool.ports[Int(buffer)])
        let bytes = UnsafeRawPointer(pool.bytes(buffer))
        guard port < state.portCounterCount else { return false }
        let counters = state.portCounters + port
        guard length >= 14 else {
            counters.pointee.droppedInvalid &+= 1
            return false
        }
        let destination = L2Worker.mac(bytes, at: 0)
        let source = L2Worker.mac(bytes, at: 6)
        var tag: UInt16?
        if bytes.loadUnaligned(fromByteOffset: 12, as: UInt16.self) == UInt16(0x8100).bigEndian {
            guard length >= 18 else {
                counters.pointee.droppedInvalid &+= 1
                return false
            }
            tag = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 14, as: UInt16.self)) & 0x0fff
        }
        let vlan: UInt16
        switch view.classify(port: port, tag: tag) {
        case .vlan(let v):
            vlan = v
        case .portDown:
            counters.pointee.droppedPortDown &+= 1
            return false
        case .vlanNotAllowed:
            counters.pointee.droppedVLAN &+= 1
            return false
        }
        counters.pointee.frames &+= 1
        counters.pointee.bytes &+= UInt64(length)
        pool.vlans[Int(buffer)] = vlan
        // A multicast or all-zero source is not a station: do not learn it.
        guard source >> 40 & 1 == 0, source != 0 else {
            counters.pointee.droppedInvalid &+= 1
            return false
        }
        learn(source: source, vlan: vlan, port: PortID(port), limits: limits, wantEvents: wantEvents, counters: counters,
              counts: &counts, events: &events)

        // Destination: hit bit; frames to the router (L3 entries), broadcasts and multicasts
        // are for the CPU.
        if destination >> 40 & 1 == 1 {
            if wantCPU { counters.pointee.toCPU &+= 1 }
            return wantCPU
        }
        let table = state.table
        if let slot = table.find(destination << 12 | UInt64(vlan)) {
            let flags = table.flags(at: slot)
            if !flags.contains(.hitDestination) { table.setFlags(flags.union(.hitDestination), at: slot) }
            if flags.contains(.l3) || flags.contains(.copyToCPU) {
                if wantCPU { counters.pointee.toCPU &+= 1 }
                return wantCPU
            }
        }
        return false
    }

    @inline(__always)
    private func learn(
        source: UInt64, vlan: UInt16, port: PortID, limits: Limits?, wantEvents: Bool,
        counters: UnsafeMutablePointer<PortCounters>, counts: inout BatchCounters, events: inout [HALEvent]
    ) {
        let table = state.table
        let key = source << 12 | UInt64(vlan)
        let probe = table.probe(key)
        if let slot = probe.found {
            let flags = table.flags(at: slot)
            let current = table.port(at: slot)
            if current == port {
                if !flags.contains(.hitSource) { table.setFlags(flags.union(.hitSource), at: slot) }
                return
            }
            guard !flags.contains(.static), !flags.contains(.l3) else {
                counts.staticMoveDenied &+= 1
                return
            }
            table.update(slot: slot, port: port, flags: flags.union(.hitSource))
            counts.moved &+= 1
            counters.pointee.moves &+= 1
            if wantEvents { events.append(.moved(table.entry(at: slot), from: current)) }
            return
        }
        if let limits {
            if limits.system >= 0, table.dynamicCount >= limits.system {
                counts.limitedSystem &+= 1
                counters.pointee.learnLimited &+= 1
                return
            }
            let vlanLimit = Int(limits.vlan[Int(vlan)])
            if vlanLimit >= 0, table.dynamicCount(vlan: vlan) >= vlanLimit {
                counts.limitedVLAN &+= 1
                counters.pointee.learnLimited &+= 1
                return
            }
            let portLimit = Int(limits.port[Int(port)])
            if portLimit >= 0, table.dynamicCount(port: port) >= portLimit {
                counts.limitedPort &+= 1
                counters.pointee.learnLimited &+= 1
                return
            }
        }
        switch table.insert(key: key, port: port, flags: .hitSource, probe: probe) {
        case .inserted:
            counts.learned &+= 1
            counters.pointee.learned &+= 1
            if wantEvents { events.append(.learned(L2Entry(mac: MACAddress(source), vlan: vlan, port: port, flags: .hitSource))) }
        case .full:
            counts.learnFull &+= 1
        case .replaced:
            break  // not asked for
        }
    }

    /// The 48-bit MAC at `offset` of a frame.
    @inline(__always)
    static func mac(_ bytes: UnsafeRawPointer, at offset: Int) -> UInt64 {
        let high = UInt64(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        let low = UInt64(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 2, as: UInt32.self)))
        return high << 32 | low
    }
}
