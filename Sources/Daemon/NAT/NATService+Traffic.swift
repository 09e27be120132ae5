import Atomics
import NAT
import NIOCore
import NetTypes
import SwitchHAL
import Time

/// Traffic through the NAT (the test commands), the tracer, clearing, and snapshots for `show`.
extension NATService {
    /// `test nat flow ...`: `sessions` flows (the source port counting up from the given one),
    /// each `count` packets.
    struct FlowRequest: Sendable {
        var packet: FlowPacket
        var side: NATZone
        var count: Int
        var sessions: Int
    }

    struct FlowReport: Sendable {
        var sessions = 0
        var packets = 0
        /// Packets the HAL translated by itself.
        var hardware = 0
        /// Packets that found no HAL entry and went to the CPU (the first of each new flow).
        var punted = 0
        var created = 0
        var untranslated = 0
        var drops: [DropReason: Int] = [:]
        /// The first session's first packet, before and after.
        var first: (before: FlowPacket, after: FlowPacket?, outcome: NATEngine.Decision.Outcome)?
        var seconds = 0.0
    }

    /// The flows' packets: the first of every session, then the rest (repeats of each session).
    static func sessionPackets(_ request: FlowRequest) -> [FlowPacket] {
        (0..<request.sessions).map { index in
            var packet = request.packet
            // Each session differs in the port of the side that starts it (wrapping above 1023).
            let base = Int(request.side == .inside ? packet.source.port : packet.destination.port)
            var port = base + index
            if port > 65535 { port = 1024 + (port - 65536) % (65536 - 1024) }
            if request.side == .inside { packet.source.port = UInt16(port) } else { packet.destination.port = UInt16(port) }
            if packet.proto == .icmp { packet.source.port = UInt16(port); packet.destination.port = UInt16(port) }
            return packet
        }
    }

    func runFlows(_ request: FlowRequest) -> EventLoopFuture<FlowReport> {
        loop.flatSubmit { [self] in
            let started = clock.now
            let firsts = Self.sessionPackets(request)
            // Without an inside and an outside interface nothing is translated, whatever the
            // HAL still holds.
            guard engine.isActive else {
                var report = FlowReport(sessions: request.sessions, packets: request.sessions * request.count)
                report.untranslated = report.packets
                report.first = (firsts[0], nil, .untranslated)
                engine.counters.untranslated += UInt64(report.packets)
                return loop.makeSucceededFuture(report)
            }
            let zone = request.side
            let halPackets = firsts.map(Self.halPacket)
            // 1. The first packet of each session meets the HAL.
            return hal.callNAT("nat-flow", on: loop) { hal, deadline in
                try halPackets.map { try hal.natTranslate($0, zone: zone, bytes: 64, deadline: deadline) }
            }.assumeIsolated().flatMap { [self] results -> EventLoopFuture<FlowReport> in
                // 2. Misses go to the CPU: the engine translates (creating what it must).
                var report = FlowReport(sessions: request.sessions, packets: request.sessions * request.count)
                var decisions: [NATEngine.Decision] = []
                let now = clock.now
                let control = request.packet.isTCPControl
                for (index, result) in results.enumerated() {
                    let packet = firsts[index]
                    if result.translated && !control {
                        report.hardware += 1
                        engine.countHardwareHits(1)
                        if index == 0 { report.first = (packet, Self.flowPacket(result.packet, flags: packet.flags), .translated) }
                        continue
                    }
                    // TCP SYN/FIN/RST are copied to the CPU, which follows the connection's state.
                    if result.translated { report.hardware += 1 } else { report.punted += 1 }
                    let decision = engine.process(packet, from: request.side, now: now, commit: true, explain: false)
                    if index == 0 { report.first = (packet, decision.outcome == .translated ? decision.packet : nil, decision.outcome) }
                    switch decision.outcome {
                    case .translated: break
                    case .untranslated: report.untranslated += 1
                    case .dropped(let reason): report.drops[reason, default: 0] += 1
                    }
                    if decision.created {
                        decisions.append(decision)
                        report.created += 1
                    }
                }
                // 3. New translations go into the HAL, each on its own; those it refuses are undone.
                let promise = loop.makePromise(of: FlowReport.self)
                install(decisions) { refused in
                    for (_, error) in refused { report.drops[DropReason(error), default: 0] += 1 }
                    report.created -= refused.count
                    promise.succeed(report)
                }
                return promise.futureResult
            }.flatMap { [self] report -> EventLoopFuture<FlowReport> in
                // 4. The other packets of each session: the HAL translates them by itself.
                let repeats = request.count - 1
                guard repeats > 0 else {
                    var done = report
                    done.seconds = (clock.now - started).inSeconds
                    return loop.makeSucceededFuture(done)
                }
                return hal.callNAT("nat-flow", on: loop) { hal, deadline -> (hits: Int, misses: Int) in
                    var hits = 0
                    var misses = 0
                    for packet in halPackets {
                        for _ in 0..<repeats {
                            if try hal.natTranslate(packet, zone: zone, bytes: 64, deadline: deadline).translated { hits += 1 } else { misses += 1 }
                        }
                    }
                    return (hits, misses)
                }.assumeIsolated().map { [self] counts in
                    var done = report
                    done.hardware += counts.hits
                    done.untranslated += counts.misses
                    engine.countHardwareHits(UInt64(counts.hits))
                    done.seconds = (clock.now - started).inSeconds
                    return done
                }.nonisolated()
            }.nonisolated()
        }
    }

    /// `test nat translate ...`: the engine's steps; with `commit` the translation is made and
    /// programmed, and the reply waits for the HAL.
    func trace(_ packet: FlowPacket, from side: NATZone, commit: Bool) -> EventLoopFuture<NATEngine.Decision> {
        loop.flatSubmit { [self] in
            var decision = engine.process(packet, from: side, now: clock.now, commit: commit)
            guard commit, decision.created else {
                if !commit { decision.steps.append("dry run: nothing changed (add commit to create the translation)") }
                return loop.makeSucceededFuture(decision)
            }
            let promise = loop.makePromise(of: NATEngine.Decision.self)
            install([decision]) { refused in
                if let (_, error) = refused.first {
                    decision.steps.append("HAL refused the entries (\(error)): translation removed")
                } else {
                    decision.steps.append("programmed: \(decision.changes.add.count) HAL NAT entries")
                }
                promise.succeed(decision)
            }
            return promise.futureResult
        }
    }

    /// Removes dynamic translations; the count comes back once the HAL has them removed (or
    /// the removal failed, which the resync will finish).
    func clear(_ predicate: @escaping @Sendable (Translation) -> Bool) -> EventLoopFuture<(count: Int, error: HALError?)> {
        loop.flatSubmit { [self] in
            let (changes, count) = engine.clear(where: predicate)
            let promise = loop.makePromise(of: (count: Int, error: HALError?).self)
            program(changes) { error in promise.succeed((count, error)) }
            return promise.futureResult
        }
    }

    func clearStatistics() -> EventLoopFuture<Void> {
        loop.submit { [self] in engine.clearCounters() }
    }

    func setDebug(_ on: Bool) {
        loop.execute { [self] in debug = on }
    }

    struct Snapshot: Sendable {
        var engine: NATEngine
        var now: Instant
        var halFigures: HALNATFigures?
        var outOfSync: Bool
        var problem: String?
        var queued: Int
        var programCalls: UInt64
        var programFailures: UInt64
        var sortedTranslations: [Translation]
    }

    /// A copy of the NAT state for `show`. With `sorted`, the translations come sorted, sorted
    /// here on the NAT thread: 100,000 of them never hold up the control plane's loop.
    func snapshot(sorted: Bool = false) -> EventLoopFuture<Snapshot> {
        loop.submit { [self] in
            Snapshot(
                engine: engine, now: clock.now, halFigures: halCounters, outOfSync: outOfSync, problem: table.problem,
                queued: table.pendingCount, programCalls: table.counters.calls, programFailures: table.counters.failures,
                sortedTranslations: sorted ? engine.sortedTranslations : [])
        }
    }
}
