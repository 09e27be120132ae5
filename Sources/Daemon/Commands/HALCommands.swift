import CLI
import Channel
import NetTypes
import SwitchHAL

/// The HAL as the SDK shell shows it (its tables, threads and locks), the traffic generator and
/// the link simulation (privileged test commands).
enum HALCommands {
    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "show hal nat [entries]", help: [Help.show, Help.hal, "The HAL NAT table: usage and counters", "Every entry (SNAT and DNAT)"],
                modes: Modes.exec
            ) { ctx, args in
                let all = args[\.entries]
                // On the HAL's NAT thread, like every NAT call: a stuck NAT table holds only it.
                return ctx.hal("nat_stat_get", nat: true, { hal, deadline in
                    (try hal.natCounters(deadline: deadline), all ? try hal.natEntries(deadline: deadline) : [])
                }) { counters, entries in
                    ctx.print("NAT table: \(counters.entries) of \(counters.capacity) entries in use, "
                        + "\(counters.idleReserved) more slot(s) held for inactive static mappings")
                    ctx.print("static mappings' slots reserved \(counters.reserved) (free \(counters.capacity - counters.entries - counters.idleReserved))")
                    ctx.print("adds \(counters.adds), deletes \(counters.deletes), full errors \(counters.fullErrors), "
                        + "dynamic entries evicted for static ones \(counters.evictions)")
                    ctx.print("lookups \(counters.lookups), hits \(counters.hits), misses \(counters.misses)")
                    guard all else { return .success }
                    ctx.streamItems(entries) { "\($0)\($0.hit ? " hit" : "") packets \($0.packets)\n" }
                    return .success
                }
            },
            CommandDeclaration(
                "show hal l3 [entries]", help: [Help.show, Help.hal, "The L3 host table the chip routes with: usage and counters", "Every entry"],
                modes: Modes.exec
            ) { ctx, args in
                let all = args[\.entries]
                return ctx.hal("l3_host_traverse", { hal, deadline in
                    (try hal.l3Summary(deadline: deadline), all ? try hal.l3Hosts(deadline: deadline) : [])
                }) { summary, hosts in
                    let c = summary.counters
                    ctx.print("L3 host table: \(summary.entries) of \(summary.capacity) entries in use, full errors \(c.addFull)")
                    ctx.print("Routed by the chip \(c.routed) (translated by the NAT table \(c.translated)); to the CPU \(c.toCPU) (larger than the egress MTU \(c.tooBig))")
                    guard all else { return .success }
                    ctx.streamItems(hosts) { "\($0.destination) vlan \($0.vlan) via \($0.nextHopMAC.dottedDescription)\n" }
                    return .success
                }
            },
            CommandDeclaration(
                "show hal l2 summary", help: [Help.show, Help.hal, "The L2 table", "Geometry, fill and counters"], modes: Modes.exec
            ) { ctx, _ in
                ctx.hal("l2-summary", { hal, deadline in (try hal.l2Summary(deadline: deadline), hal.subscriptions) }) { result in
                    let (s, subscriptions) = result
                    ctx.print("Chip \(s.chip): \(s.banks) banks x \(s.bucketsPerBank) buckets x \(s.entriesPerBucket) entries = \(s.capacity) entries, \(s.bytesPerEntry) bytes each")
                    ctx.print("Entries: \(s.count) (\(s.staticCount) static, \(s.count - s.staticCount) dynamic), \(s.capacity - s.count) free")
                    let fill = s.bankFill.enumerated().map { "\($0.offset):\($0.element * 100 / max(1, s.bucketsPerBank * s.entriesPerBucket))%" }
                    ctx.print("Fill per bank: \(fill.joined(separator: " "))")
                    ctx.print("Collisions (an insert found a full bucket): \(s.collisions); inserts refused FULL: \(s.fullRefusals)")
                    let c = s.counters
                    ctx.print("Learned \(c.learned), aged \(c.aged), moved \(c.moved), flushed \(c.flushed); learns refused: FULL \(c.learnFull), "
                        + "limit system \(c.learnLimitedSystem) / VLAN \(c.learnLimitedVLAN) / port \(c.learnLimitedPort); static moves denied \(c.staticMoveDenied)")
                    ctx.print("Aging: \(s.ageSeconds == 0 ? "off" : "\(s.ageSeconds) s"), \(c.agePasses) passes, last pass \(fixed(Double(c.lastAgePass.inNanoseconds) / 1e6, 3)) ms")
                    for sub in subscriptions {
                        ctx.print("Subscriber \(sub.name): \(sub.delivered) events delivered, \(sub.queued)/\(sub.capacity) queued, \(sub.overflowed) lost to overflow")
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show hal l2 bucket MAC$mac (1-4094)$vlan",
                help: [Help.show, Help.hal, "The L2 table", "The buckets a key hashes to", "MAC address", "VLAN ID"], modes: Modes.exec
            ) { ctx, args in
                let mac = try args.value(\.mac)
                let vlan = UInt16(try args.value(\.vlan))
                return ctx.hal("l2-conflict", { hal, deadline in try hal.l2Conflict(mac: mac, vlan: vlan, deadline: deadline) }) { buckets in
                    ctx.print("Key \(mac.dottedDescription) VLAN \(vlan) hashes to:")
                    for bucket in buckets {
                        ctx.print("  bank \(bucket.bank) bucket \(bucket.bucket): \(bucket.entries.count)/\(bucket.capacity) used")
                        for entry in bucket.entries {
                            ctx.print("    \(entry.mac.dottedDescription) vlan \(entry.vlan) port \(entry.port == cpuPort ? "CPU" : "eth\(entry.port)") \(entry.flags)")
                        }
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show hal rx", help: [Help.show, Help.hal, "The receive path: buffer pool, queues and the CPU policers"], modes: Modes.exec
            ) { ctx, _ in
                let hal = ctx.plane.hal.hal
                let s = hal.rx.statistics
                ctx.print("RX pool: \(s.poolBuffers) buffers of \(s.bufferSize) bytes, \(s.reservedBuffers) more kept for VRRP adverts, and \(s.jumboBuffers) of \(s.jumboSize) for super-frames, \(s.inUse) in use, high-water mark \(s.highWater)")
                ctx.print("Queued for l2x: \(s.queued)")
                ctx.print("Frames offered \(s.offered), accepted \(s.accepted) (VRRP adverts in a kept buffer \(s.acceptedReserved)), dropped: no buffer \(s.droppedNoBuffer), too long \(s.droppedTooLong)")
                ctx.print("CPU queue drops: \(hal.cpuQueueDrops); offload work for the CPU that could not be finished: \(hal.cpuOffloadErrors)")
                if s.exhaustedByFault { ctx.print("Fault injected: the pool behaves as if empty") }
                for line in HALCommands.policerTable(hal.cpuStatistics) { ctx.print(line) }
                return .done(.success)
            },
            CommandDeclaration(
                "clear hal rx counters", help: ["Reset functions", Help.hal, "The receive path", "The CPU policers' counters"], modes: [Modes.enable]
            ) { ctx, _ in
                ctx.plane.hal.hal.clearCPUStatistics()
                return .done(.success)
            },
            CommandDeclaration(
                "show hal threads", help: [Help.show, Help.hal, "The HAL's threads and what they do"], modes: Modes.exec
            ) { ctx, _ in
                for line in HALCommands.threadReport(ctx.plane.hal.hal) { ctx.print(line) }
                return .done(.success)
            },
            CommandDeclaration(
                "show hal locks", help: [Help.show, Help.hal, "The HAL's locks: holders and waiters"], modes: Modes.exec
            ) { ctx, _ in
                for lock in ctx.plane.hal.hal.lockSnapshots {
                    var line = "\(pad(lock.name, 16)) rank \(pad(String(lock.rank), 3)) "
                    if let holder = lock.holder {
                        line += "held by \(holder.thread) (\(holder.operation)) for \(fixed(holder.seconds, 3)) s"
                        if let site = holder.site { line += " at \(site)" }
                    } else {
                        line += "free"
                    }
                    ctx.print(line)
                    for waiter in lock.waiters {
                        ctx.print("    waiting: \(waiter.thread) (\(waiter.operation)) for \(fixed(waiter.seconds, 3)) s")
                    }
                    ctx.print("    \(lock.acquisitions) acquisitions, \(lock.contended) contended, \(lock.timeouts) timeouts, longest hold \(fixed(lock.longestHoldSeconds * 1000, 3)) ms (\(lock.longestHolder.isEmpty ? "-" : lock.longestHolder)); guards \(lock.purpose)")
                }
                return .done(.success)
            },
            CommandDeclaration(
                "test mac learn (1-10000000)$count interface IFNAME$ifname vlan (1-4094)$vlan [rate (1-100000000)$rate] [base MAC$base]",
                help: [Help.test, Help.mac, "Inject frames from new source MACs into a port's receive path", "How many stations",
                       "Interface", "The port (ethN)", "VLAN", "VLAN ID", "Frames per second (default: as fast as possible)",
                       "Frames per second", "The first source MAC (default 0200.1000.0000)", "MAC address"],
                modes: [Modes.enable]
            ) { ctx, args in
                guard case .success(let name) = try ctx.interface(args, \.ifname), case .port(let port) = name else {
                    return ctx.refuse("Frames are injected on a port: eth1-eth\(ctx.portCount)")
                }
                let count = try args.value(\.count)
                let vlan = UInt16(try args.value(\.vlan))
                let rate = args[\.rate] ?? 0
                let base = args[\.base] ?? MACAddress(0x0200_1000_0000)
                guard !base.isMulticast else { return ctx.refuse("The base MAC must be unicast") }
                return ctx.hal("generator-start", { hal, deadline -> String? in
                    let status = try hal.portStatus(deadline: deadline)[Int(port) - 1]
                    let settings = status.settings
                    let tagged: Bool
                    switch settings.mode {
                    case .access:
                        guard settings.accessVLAN == vlan else {
                            return "\(name) is an access port in VLAN \(settings.accessVLAN); use vlan \(settings.accessVLAN) or make it a trunk"
                        }
                        tagged = false
                    case .trunk:
                        guard settings.allowedVLANs.contains(vlan) else { return "VLAN \(vlan) is not allowed on trunk \(name)" }
                        tagged = vlan != settings.nativeVLAN
                    }
                    try hal.startGenerator(.init(count: count, port: port, vlan: vlan, tagged: tagged, rate: rate, base: base))
                    return nil
                }) { error in
                    if let error {
                        ctx.print(FailureText.refused(error))
                        return .error
                    }
                    ctx.print("Injecting \(count) frames on \(name) VLAN \(vlan) from \(base.dottedDescription) upwards"
                        + (rate > 0 ? " at \(rate) frames/s" : "") + " (see show hal generator)")
                    return .success
                }
            },
            CommandDeclaration(
                "test mac learn stop", help: [Help.test, Help.mac, "Inject frames", "Stop the generator"], modes: [Modes.enable]
            ) { ctx, _ in
                ctx.hal("generator-stop", { hal, _ in hal.stopGenerator() }) { _ in .success }
            },
            CommandDeclaration(
                "show hal generator", help: [Help.show, Help.hal, "The traffic generator"], modes: Modes.exec
            ) { ctx, _ in
                let status = ctx.plane.hal.hal.generatorStatus
                guard let job = status.job else {
                    ctx.print("The generator has not run")
                    return .done(.success)
                }
                ctx.print("Generator: \(status.running ? "running" : "finished"), \(status.sent) of \(job.count) frames sent on eth\(job.port) VLAN \(job.vlan)"
                    + " in \(fixed(status.seconds, 2)) s, \(status.retries) re-offered after a drop")
                return .done(.success)
            },
            CommandDeclaration(
                "test interface IFNAME$ifname link <up|down>$link",
                help: [Help.test, "Simulate a port's cable", "The port (ethN)", "Link state", "Cable in", "Cable out"],
                modes: [Modes.enable]
            ) { ctx, args in
                guard case .success(.port(let port)) = try ctx.interface(args, \.ifname) else {
                    return ctx.refuse("Only ports have a link: eth1-eth\(ctx.portCount)")
                }
                let up = try args.value(\.link) == .up
                return ctx.hal("port-link", { hal, deadline in try hal.setLink(port, up: up, deadline: deadline) }) { _ in .success }
            },
        ]
    }

    /// The CPU policers, one line per class in priority order (the column heads are what
    /// scripts look for: `arp ... passed N dropped M`).
    static func policerTable(_ classes: [CPUClassStatistics]) -> [String] {
        var lines = ["CPU policers (control-plane police; classes in strict priority, highest first):",
                     "  Class  Rate (pps)  Burst (packets)      Passed     Dropped  Queue full  Queued"]
        for c in classes {
            lines.append("  " + pad(c.cpuClass.keyword, 5) + pad(String(c.rate.packetsPerSecond), 12, left: true)
                + pad(String(c.rate.burst), 17, left: true) + pad(String(c.passed), 12, left: true) + pad(String(c.dropped), 12, left: true)
                + pad(String(c.queueFull), 12, left: true) + pad(String(c.queued), 8, left: true))
        }
        return lines
    }

    /// Every HAL thread (and every thread waiting for a HAL lock, such as vrrpd's hal-api
    /// threads): state, and the lock it waits for or holds.
    static func threadReport(_ hal: Switch) -> [String] {
        let locks = hal.lockSnapshots
        var waits: [String: String] = [:]
        var holds: [String: String] = [:]
        for lock in locks {
            if let holder = lock.holder {
                holds[holder.thread, default: ""] += " holds \(lock.name) (\(holder.operation)) for \(fixed(holder.seconds, 1)) s"
                    + (holder.site.map { " at \($0)" } ?? "")
            }
            for waiter in lock.waiters {
                waits[waiter.thread] = "waiting \(fixed(waiter.seconds, 1)) s for \(lock.name) (\(waiter.operation))"
                    + (lock.holder.map { ", held by \($0.thread)" } ?? "")
            }
        }
        var lines = ["Thread          TID      State                     For     Locks"]
        var listed = Set<String>()
        for thread in hal.threadStates {
            listed.insert(thread.name)
            let state = waits[thread.name] == nil ? thread.activity.description : "waiting for a lock"
            lines.append(
                "\(pad(thread.name, 15)) \(pad(String(thread.tid), 8)) \(pad(state, 25)) \(pad(fixed(thread.seconds, 1) + " s", 7))"
                    + (holds[thread.name] ?? "") + (waits[thread.name].map { " " + $0 } ?? ""))
        }
        for (thread, wait) in waits.sorted(by: { $0.key < $1.key }) where !listed.contains(thread) {
            lines.append("\(pad(thread, 15)) \(pad("", 8)) \(pad("waiting for a lock", 25)) \(pad("", 7)) \(wait)")
        }
        for (thread, hold) in holds.sorted(by: { $0.key < $1.key }) where !listed.contains(thread) && waits[thread] == nil {
            lines.append("\(pad(thread, 15)) \(pad("", 8)) \(pad("in a HAL call", 25)) \(pad("", 7))\(hold)")
        }
        return lines
    }
}

extension Help {
    static let hal = "The switch hardware abstraction layer (SDK)"
}
