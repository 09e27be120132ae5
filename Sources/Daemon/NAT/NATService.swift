import Atomics
import Logging
import NAT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import Packets
import SwitchHAL

/// NAT on the switch: the translation engine (`NATEngine`) on its own thread (`nat`), the HAL
/// NAT table it programs, the hit-bit ager, and the traffic the test commands send.
///
/// Like VRRP, it never runs on the control plane's loop: a 100,000-flow burst or a stuck HAL NAT
/// table never delays a command that does not need NAT. HAL calls run on the HAL threads with
/// deadlines; one batch of changes is in flight at a time, in order. A call that times out leaves
/// the HAL's state unknown: the service marks itself out of sync, says so in `show ip nat
/// statistics`, and resynchronises (diffing the HAL's entries against the engine's) until clean.
public final class NATService: @unchecked Sendable {
    public let loop: EventLoop
    private let group: MultiThreadedEventLoopGroup
    let hal: HALService
    let logger: Logger

    // Loop-confined.
    var engine = NATEngine()
    private var config = NATConfig()
    private(set) var environment = NATEnvironment()
    private var masters: Set<GroupRef> = []
    /// Batches of HAL changes in order; each batch is groups applied one by one (all or nothing
    /// per group: a flow's translation is one group, so a full table refuses only the flows
    /// that do not fit).
    private var queue: [(groups: [HardwareChanges], done: (([HALError?]) -> Void)?, undoneOnFailure: Bool)] = []
    private var programming = false
    /// The HAL's NAT entries may differ from the engine's (a call timed out or failed).
    private(set) var outOfSync = false
    private var resyncScheduled = false
    private(set) var problem: String?
    private(set) var halCounters: HALNATFigures?
    private var ager: RepeatedTask?
    /// An ager pass is waiting for the HAL (a stuck table must not pile passes up).
    private var aging = false
    private(set) var stopping = false
    var debug = false
    /// Routing (real frames): the neighbour table, packets waiting for an ARP reply, counters.
    let routerMAC: MACAddress
    var neighbors: [IPv4Address: Neighbor] = [:]
    /// Packets waiting for a next hop's ARP reply: its VLAN, the packets, which request.
    var waiting: [IPv4Address: (vlan: UInt16, packets: [IPv4Packet], generation: UInt64)] = [:]
    var nextARPGeneration: UInt64 = 0
    var routing = RoutingCounters()
    /// Frames to route, from any thread (bounded), and whether a batch is with the HAL.
    let routeInbox = BoundedInbox<(bytes: [UInt8], vlan: UInt16, port: PortID)>(capacity: NATService.maxPendingFrames)
    let routeOverflow = ManagedAtomic<UInt64>(0)
    var routeBatchInFlight = false
    /// One line for the SIGUSR1 dump, readable from any thread (refreshed by the NAT thread).
    let summary = NIOLockedValueBox("NAT: starting")
    var programCalls: UInt64 = 0
    var programFailures: UInt64 = 0

    /// How often the HAL's hit bits are read and idle translations expire.
    static let agerInterval = TimeAmount.seconds(1)

    init(hal: HALService, routerMAC: MACAddress, logger: Logger) {
        self.hal = hal
        self.routerMAC = routerMAC
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        loop.execute { ThreadName.setCurrent("nat") }
        loop.execute { [self] in
            ager = loop.scheduleRepeatedTask(initialDelay: Self.agerInterval, delay: Self.agerInterval) { [self] _ in age() }
        }
    }

    /// Stops the ager and the queue; what was queued hears "stopping"; waits (at most 2 s) for
    /// the HAL call in flight so that no reply arrives on a closed loop.
    func shutdown() {
        let done = ConditionLock(value: false)
        loop.execute { [self] in
            stopping = true
            ager?.cancel()
            ager = nil
            let pending = queue
            queue = []
            for item in pending {
                item.done?(Array(repeating: HALError.unavailable("vrrpd is stopping"), count: item.groups.count))
            }
            let signal = {
                done.lock()
                done.unlock(withValue: true)
            }
            if programming || aging || routeBatchInFlight { idle = signal } else { signal() }
        }
        if done.lock(whenValue: true, timeoutSeconds: 2) { done.unlock() }
        group.shutdownGracefully { _ in }
    }

    /// Called once the HAL call in flight completes while stopping.
    private var idle: (() -> Void)?

    func checkIdle() {
        guard stopping, !programming, !aging, !routeBatchInFlight, let idle else { return }
        self.idle = nil
        idle()
    }

    /// Batches of HAL changes queued or in flight.
    var pendingBatches: Int { queue.count + (programming ? 1 : 0) }

    /// Milliseconds of a monotonic clock.
    static var now: UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    // MARK: Configuration and VRRP

    /// What NAT needs of the rest of the configuration: roles, SVI addresses, VRRP groups.
    static func environment(_ config: RunningConfig, portCount: Int) -> NATEnvironment {
        var env = NATEnvironment()
        for (name, interface) in config.interfaces {
            guard case .svi = InterfaceKind.parse(name, portCount: portCount) else { continue }
            if let role = interface.natRole { env.roles[name] = role }
            if !interface.addresses.isEmpty, !interface.shutdown { env.subnets[name] = interface.addresses }
            for group in interface.vrrp.values { env.answeredAddresses.formUnion(group.ipv4) }
            for (vrid, group) in interface.vrrp where !group.ipv4.isEmpty { env.groupInterfaces[vrid, default: []].append(name) }
        }
        for vrid in env.groupInterfaces.keys { env.groupInterfaces[vrid]!.sort() }
        env.staticRoutes = config.staticRoutes
        for mapping in config.nat.statics where mapping.direction == .inside { env.answeredAddresses.insert(mapping.global.address) }
        return env
    }

    /// The running configuration changed (any thread).
    func configure(_ config: NATConfig, _ environment: NATEnvironment) {
        loop.execute { [self] in
            self.config = config
            self.environment = environment
            apply(reason: "configuration")
        }
    }

    /// The VRRP groups this switch is Master of changed (from the VRRP thread).
    func setMasters(_ groups: Set<GroupRef>) {
        loop.execute { [self] in
            guard groups != masters else { return }
            masters = groups
            apply(reason: "VRRP")
        }
    }

    private func apply(reason: String) {
        var env = environment
        env.masterGroups = masters
        let (changes, notes) = engine.configure(config, env, now: Self.now)
        for note in notes { logger.notice("NAT (\(reason)): \(note)") }
        guard !notes.isEmpty, !changes.isEmpty else { return program(changes) }
        // Mappings that follow VRRP: say when the HAL has them (failover timing is read from this).
        let started = Self.now
        program(changes) { [self] error in
            if let error {
                logger.error("NAT (\(reason)): HAL refused \(changes.add.count) added / \(changes.remove.count) removed entries: \(error)")
            } else {
                logger.notice("NAT (\(reason)): HAL programmed: +\(changes.add.count) -\(changes.remove.count) entries in \(Self.now - started) ms")
            }
        }
    }

    // MARK: Programming the HAL

    /// Queues HAL changes; `done` hears how they went (nil: applied).
    func program(_ changes: HardwareChanges, done: ((HALError?) -> Void)? = nil) {
        guard !changes.isEmpty else {
            done?(nil)
            return
        }
        queue.append(([changes], done.map { callback in { errors in callback(errors.first ?? nil) } }, false))
        runQueue()
    }

    /// Programs the translations the engine just made, each on its own (a full table refuses
    /// only those that do not fit), and undoes in the engine those the HAL refused; `done` hears
    /// which were refused and why.
    func install(_ decisions: [NATEngine.Decision], done: (([(id: UInt64, error: HALError)]) -> Void)? = nil) {
        let made = decisions.compactMap { d in d.created ? d.translationID.map { ($0, d.changes) } : nil }
        program(groups: made.map(\.1)) { [self] errors in
            var refused: [(id: UInt64, error: HALError)] = []
            for (index, error) in errors.enumerated() {
                guard let error else { continue }
                engine.abandon(made[index].0, reason: DropReason(error))
                refused.append((made[index].0, error))
            }
            done?(refused)
        }
    }

    /// Queues groups of changes applied one by one; `done` gets each group's outcome and undoes
    /// in the engine what failed (so a refusal leaves the two in agreement; a timeout does not).
    func program(groups: [HardwareChanges], done: @escaping ([HALError?]) -> Void) {
        guard !groups.isEmpty else { return done([]) }
        queue.append((groups, done, true))
        runQueue()
    }

    private func runQueue() {
        guard !programming, !queue.isEmpty, !stopping else { return }
        let batch = queue
        queue = []
        programming = true
        programCalls += 1
        let started = Self.now
        let work = batch.map(\.groups)
        hal.callNAT("nat-program", on: loop) { hal, deadline -> [[HALError?]] in
            var timedOut: HALError?
            return work.map { groups in
                groups.map { changes in
                    // After a timeout the rest would only wait again: they fail at once.
                    if let timedOut { return timedOut }
                    do {
                        if !changes.remove.isEmpty { _ = try hal.natDelete(changes.remove.map(Self.halKey), deadline: deadline) }
                        if !changes.add.isEmpty { try hal.natAdd(changes.add.map(Self.halEntry), deadline: deadline) }
                        return nil
                    } catch let error as HALError {
                        if case .timeout = error { timedOut = error }
                        return error
                    } catch {
                        return HALError.internal("\(error)")
                    }
                }
            }
        }.assumeIsolated().whenComplete { [self] result in
            programming = false
            defer { checkIdle() }
            let errors: [[HALError?]]
            switch result {
            case .success(let list): errors = list
            case .failure(let error):
                let e = (error as? HALError) ?? .internal("\(error)")
                errors = batch.map { Array(repeating: e, count: $0.groups.count) }
            }
            for (index, groupErrors) in errors.enumerated() {
                let failed = groupErrors.compactMap { $0 }
                if let first = failed.first {
                    programFailures += UInt64(failed.count)
                    let entries = batch[index].groups.reduce(0) { $0 + $1.add.count + $1.remove.count }
                    let timedOut = failed.contains { if case .timeout = $0 { true } else { false } }
                    noteProblem(first, during: "programming \(entries) NAT entries (\(failed.count) of \(groupErrors.count) group(s) failed)",
                                stateUnknown: timedOut || !batch[index].undoneOnFailure)
                }
                batch[index].done?(groupErrors)
            }
            refreshSummary()
            if errors.allSatisfy({ $0.allSatisfy { $0 == nil } }), debug {
                logger.info("NAT: programmed \(batch.count) batch(es) in \(Self.now - started) ms")
            }
            runQueue()
        }
    }

    /// Logs a HAL failure (once per distinct message) and, when it leaves the HAL's entries
    /// unknown or different from the engine's, schedules a resynchronisation.
    private func noteProblem(_ error: HALError, during what: String, stateUnknown: Bool = true) {
        let text = "\(what): \(error)"
        if problem != text { logger.error("NAT: \(text)") }
        problem = text
        if stateUnknown {
            outOfSync = true
            scheduleResync()
        }
        refreshSummary()
    }

    /// Brings the HAL's NAT entries to the engine's, every 2 s until they agree.
    private func scheduleResync() {
        guard !resyncScheduled, !stopping else { return }
        resyncScheduled = true
        loop.scheduleTask(in: .seconds(2)) { [self] in
            resyncScheduled = false
            resync()
        }
    }

    private func resync() {
        guard outOfSync, !stopping else { return }
        guard !programming, queue.isEmpty else { return scheduleResync() }
        // Each translation's entries, grouped: a full table then refuses only what does not fit.
        let wanted = engine.translations.values.map { $0.hardwareEntries.map(Self.halEntry) }
        programming = true
        hal.callNAT("nat-resync", on: loop) { hal, deadline -> (removed: Int, added: Int, refused: Int, error: HALError?) in
            let present = try hal.natEntries(deadline: deadline)
            var want: [SwitchHAL.NATKey: SwitchHAL.NATEntry] = [:]
            for group in wanted { for entry in group { want[entry.key] = entry } }
            var remove: [SwitchHAL.NATKey] = []
            var right = Set<SwitchHAL.NATKey>()
            for entry in present {
                guard let w = want[entry.key], w.sameTranslation(as: entry) else {
                    remove.append(entry.key)
                    continue
                }
                // Same translation: right if it also belongs to the same translation now (a
                // re-added static has a new cookie); otherwise the add below updates it in place.
                if w.cookie == entry.cookie && w.isStatic == entry.isStatic { right.insert(entry.key) }
            }
            if !remove.isEmpty { _ = try hal.natDelete(remove, deadline: deadline) }
            var added = 0
            var refused = 0
            var lastError: HALError?
            for group in wanted {
                let missing = group.filter { !right.contains($0.key) }
                guard !missing.isEmpty else { continue }
                do {
                    try hal.natAdd(missing, deadline: deadline)
                    added += missing.count
                } catch let error as HALError {
                    if case .timeout = error { throw error }
                    refused += 1
                    lastError = error
                }
            }
            return (remove.count, added, refused, lastError)
        }.assumeIsolated().whenComplete { [self] result in
            programming = false
            defer { checkIdle() }
            switch result {
            case .success(let outcome) where outcome.refused == 0:
                outOfSync = false
                problem = nil
                refreshSummary()
                logger.notice("NAT: HAL resynchronised (\(outcome.removed) entries removed, \(outcome.added) added)")
            case .success(let outcome):
                noteProblem(outcome.error ?? .internal("refused"),
                            during: "resynchronising: \(outcome.refused) translation(s) could not be programmed (\(outcome.added) entries added)")
            case .failure(let error):
                noteProblem((error as? HALError) ?? .internal("\(error)"), during: "resynchronising")
            }
            runQueue()
        }
    }

    // MARK: Aging

    /// Reads and clears the HAL's hit bits, keeps what was used alive, expires the idle.
    private func age() {
        guard !stopping, !aging else { return }
        aging = true
        hal.callNAT("nat-age", on: loop) { hal, deadline in
            (try hal.natCollectHits(deadline: deadline), try hal.natCounters(deadline: deadline))
        }.assumeIsolated().whenComplete { [self] result in
            aging = false
            defer { checkIdle() }
            guard !stopping else { return }
            let now = Self.now
            switch result {
            case .success(let (hits, counters)):
                engine.recordHits(hits, now: now)
                halCounters = HALNATFigures(hal: counters)
            case .failure(let error):
                // Without hit bits nothing is expired: a stuck HAL must not age out live flows.
                noteProblem((error as? HALError) ?? .internal("\(error)"), during: "reading NAT hit bits", stateUnknown: false)
                return
            }
            let (changes, expired) = engine.expire(now: now)
            defer { refreshSummary() }
            if expired > 0 && debug { logger.info("NAT: \(expired) translation(s) expired") }
            program(changes)
        }
    }

    private func refreshSummary() {
        let statics = engine.translations.count - engine.dynamicCount
        var line = "NAT: \(engine.translations.count) translations (\(statics) static), \(pendingBatches) HAL batch(es) pending, "
            + (outOfSync ? "HAL OUT OF SYNC" : "HAL in sync")
        if let problem { line += "; last HAL problem: \(problem)" }
        summary.withLockedValue { $0 = line }
    }

    // MARK: Mapping onto the HAL's types (also what nat-bench measures)

    public static func halKey(_ entry: HardwareEntry) -> NATKey {
        NATKey(zone: entry.zone, type: entry.rewritesSource ? .source : .destination, proto: entry.proto,
               address: entry.match.address, port: entry.match.port)
    }

    public static func halEntry(_ entry: HardwareEntry) -> NATEntry {
        NATEntry(key: halKey(entry), translatedAddress: entry.translated.address, translatedPort: entry.translated.port,
                 isStatic: entry.isStatic, cookie: entry.cookie)
    }

    public static func halPacket(_ packet: FlowPacket) -> NATPacket {
        NATPacket(proto: packet.proto, source: packet.source.address, sourcePort: packet.source.port,
                  destination: packet.destination.address, destinationPort: packet.destination.port)
    }

    public static func flowPacket(_ packet: NATPacket, flags: TCPFlags) -> FlowPacket {
        FlowPacket(proto: packet.proto, source: Endpoint(packet.source, packet.sourcePort),
                   destination: Endpoint(packet.destination, packet.destinationPort), flags: flags)
    }
}

extension DropReason {
    /// Why a translation the HAL refused was dropped.
    init(_ error: HALError) {
        if case .full = error { self = .hardwareFull } else { self = .hardwareError }
    }
}

/// The HAL's NAT counters as `show ip nat statistics` prints them.
struct HALNATFigures: Sendable {
    var entries: Int
    var capacity: Int
    var lookups: UInt64
    var hits: UInt64
    var misses: UInt64
    var fullErrors: UInt64

    init(hal: SwitchHAL.NATCounters) {
        entries = hal.entries
        capacity = hal.capacity
        lookups = hal.lookups
        hits = hal.hits
        misses = hal.misses
        fullErrors = hal.fullErrors
    }
}
