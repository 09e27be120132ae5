import Atomics
import HashTreeCollections
import Logging
import NAT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetTypes
import Packets
import SwitchHAL
import Time

/// NAT on the switch: the translation engine (`NATEngine`) on its own thread (`nat`), the HAL
/// NAT table it programs, the hit-bit ager, and the traffic the test commands send.
///
/// Like VRRP, it never runs on the control plane's loop: a 100,000-flow burst or a stuck HAL NAT
/// table never delays a command that does not need NAT. The HAL NAT table is brought to the
/// engine's entries by a `HALReconciler` keyed by NAT key: each translation's entries go in
/// together (a full table refuses only the flows that do not fit, and the engine forgets
/// those), one HAL call in flight at a time, in order. A call that times out leaves its entries
/// unknown: the service says so (`OUT OF SYNC` in `show ip nat statistics`) and applies them
/// again from the engine's state every 2 s until the HAL answers.
public final class NATService: @unchecked Sendable {  // its mutable state is confined to its loop (not yet in a loop-bound box like VRRP's and L3's)
    public let loop: EventLoop
    private let group: MultiThreadedEventLoopGroup
    let hal: HALService
    let logger: Logger

    // Loop-confined.
    var engine = NATEngine()
    private var config = NATConfig()
    private(set) var environment = NATEnvironment()
    private var masters = TreeSet<GroupRef>()
    /// The HAL NAT table, entry by entry (see the type's comment).
    private(set) var table: HALReconciler<NATKey, NATEntry>!
    private var ager: ClockTimer?
    /// An ager pass is waiting for the HAL (a stuck table must not pile passes up).
    private var aging = false
    private(set) var stopping = false
    var debug = false
    private(set) var halCounters: HALNATFigures?
    /// One line for the SIGUSR1 dump, readable from any thread (refreshed by the NAT thread).
    let summary = NIOLockedValueBox("NAT: starting")

    /// The last failure to read the hit bits (logged once), nil once they are read again.
    private var agerProblem: String?

    /// The service's time (ageing, timing).
    let clock: any Clock

    /// How often the HAL's hit bits are read and idle translations expire.
    static let agerInterval = Duration.seconds(1)

    init(hal: HALService, logger: Logger, clock: any Clock = SystemClock()) {
        self.hal = hal
        self.clock = clock
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        table = HALReconciler(driver: Self.tableDriver, hal: hal, loop: loop, clock: clock, backoff: .seconds(2)...Duration.seconds(2)) {
            [unowned self] key in desiredEntry(key)
        }
        // The L3 service shares this thread (a packet that needs a translation meets the engine).
        loop.execute { ThreadName.setCurrent("l3-nat") }
        loop.execute { [self] in
            table.onProblem = { [unowned self] problem in
                logger.error("NAT: \(problem)")
                refreshSummary()
            }
            table.origin = { [unowned self] key in staticLine(for: key) }
            table.onRecovered = { [unowned self] _ in
                logger.notice("NAT: HAL resynchronised (\(engine.translations.count) translations, \(table.counters.repaired) entries repaired)")
                refreshSummary()
            }
            armAger()
        }
    }

    /// The next ager pass, `agerInterval` after this one on the service's clock (a `TestClock`
    /// ages translations when the test advances it).
    private func armAger() {
        ager = loop.scheduleTask(after: Self.agerInterval, clock: clock) { [self] in
            guard !stopping else { return }
            age()
            armAger()
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
            let signal = {
                done.lock()
                done.unlock(withValue: true)
            }
            table.stop { [self] in
                if aging { idle = signal } else { signal() }
            }
        }
        if done.lock(whenValue: true, timeoutSeconds: 2) { done.unlock() }
        group.shutdownGracefully { _ in }
    }

    /// Called once the HAL call in flight completes while stopping.
    private var idle: (() -> Void)?

    func checkIdle() {
        guard stopping, !aging, let idle else { return }
        self.idle = nil
        idle()
    }

    /// Whether the HAL's NAT entries may differ from the engine's (a call failed or timed out
    /// and has not been repaired yet).
    var outOfSync: Bool { table.problem != nil }

    /// Whether the HAL's NAT table holds what the engine wants, nothing queued or in flight.
    func inSync() -> EventLoopFuture<Bool> {
        loop.submit { [self] in table.inSync }
    }

    /// The same as last seen by the NAT thread (refreshed whenever it programs the HAL or a
    /// call comes back): what `show version` reads, so that it never waits for a busy NAT thread.
    var inSyncLastSeen: Bool { lastInSync.load(ordering: .relaxed) }
    private let lastInSync = ManagedAtomic(true)

    // MARK: Configuration and VRRP

    /// The running configuration changed (any thread): `changed` says what, so the engine redoes
    /// only that.
    func configure(_ config: NATConfig, _ environment: NATEnvironment, changed: NATChange) {
        loop.execute { [self] in
            self.config = config
            self.environment = environment
            var env = environment
            env.masterGroups = masters
            let (changes, notes) = engine.configure(config, env, changed: changed, now: clock.now)
            report(changes, notes, reason: "configuration")
        }
    }

    /// Groups this switch became Master of, or stopped being Master of (from the VRRP thread).
    func mastersChanged(added: Set<GroupRef>, removed: Set<GroupRef>) {
        loop.execute { [self] in
            for group in added { masters.insert(group) }
            for group in removed { masters.remove(group) }
            let (changes, notes) = engine.updateMasters(added: added, removed: removed, now: clock.now)
            report(changes, notes, reason: "VRRP")
        }
    }

    /// Programs what the engine changed and logs it; for mappings that follow VRRP, when the HAL
    /// has them (failover timing is read from this line).
    private func report(_ changes: HardwareChanges, _ notes: [String], reason: String) {
        for note in notes { logger.notice("NAT (\(reason)): \(note)") }
        guard !notes.isEmpty, !changes.isEmpty else { return program(changes, label: "NAT (\(reason))") }
        let started = clock.now
        program(changes, label: "NAT (\(reason))") { [self] error in
            if let error {
                logger.error("NAT (\(reason)): HAL refused \(changes.add.count) added / \(changes.remove.count) removed entries: \(error)")
            } else {
                logger.notice("NAT (\(reason)): HAL programmed: +\(changes.add.count) -\(changes.remove.count) entries in \(clock.elapsed(since: started).inMilliseconds) ms")
            }
        }
    }

    // MARK: Programming the HAL

    /// The `ip nat ... static` line a HAL entry comes from (a refusal names it), or nil for a
    /// dynamic translation's entry.
    private func staticLine(for key: NATKey) -> String? {
        config.statics.mapping(holding: Self.hardwareKey(key))?.line
    }

    /// The entry the engine wants under `key`, in the HAL's type.
    private func desiredEntry(_ key: NATKey) -> NATEntry? {
        engine.hardwareEntry(zone: key.zone, rewritesSource: key.type == .source, proto: key.proto, match: Endpoint(key.address, key.port))
            .map(Self.halEntry)
    }

    /// Engine changes as reconciler changes, one per key (a key removed and added again is one
    /// replacement).
    static func tableChanges(_ changes: HardwareChanges) -> [HALChange<NATKey, NATEntry>] {
        var byKey: [NATKey: HALChange<NATKey, NATEntry>] = [:]
        var order: [NATKey] = []
        for entry in changes.remove {
            let key = halKey(entry)
            if byKey[key] == nil { order.append(key) }
            byKey[key] = HALChange(object: key, target: nil, previous: halEntry(entry))
        }
        for entry in changes.add {
            let key = halKey(entry)
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: HALChange(object: key, target: nil, previous: nil)].target = halEntry(entry)
        }
        return order.map { byKey[$0]! }
    }

    /// Queues HAL changes (together, in order behind what is queued); `done` hears how they went
    /// (nil: applied).
    func program(_ changes: HardwareChanges, label: String = "NAT", done: ((HALError?) -> Void)? = nil) {
        guard !changes.isEmpty else {
            done?(nil)
            return
        }
        lastInSync.store(false, ordering: .relaxed)
        table.transaction(Self.tableChanges(changes), label: label) { [self] result in
            done?(result.error)
            refreshSummary()
        }
    }

    /// Programs the translations the engine just made, each on its own (a full table refuses
    /// only those that do not fit), and undoes in the engine those the HAL refused; `done` hears
    /// which were refused and why.
    func install(_ decisions: [NATEngine.Decision], done: (([(id: UInt64, error: HALError)]) -> Void)? = nil) {
        let made = decisions.compactMap { d in d.created ? d.translationID.map { ($0, d.changes) } : nil }
        guard !made.isEmpty else {
            done?([])
            return
        }
        final class Tally {
            var remaining: Int
            var refused: [(id: UInt64, error: HALError)] = []
            init(_ n: Int) { remaining = n }
        }
        let tally = Tally(made.count)
        lastInSync.store(false, ordering: .relaxed)
        for (id, changes) in made {
            table.transaction(Self.tableChanges(changes), label: "translation \(id)") { [self] result in
                if let error = result.error {
                    engine.abandon(id, reason: DropReason(error))
                    tally.refused.append((id, error))
                }
                tally.remaining -= 1
                if tally.remaining == 0 {
                    refreshSummary()
                    done?(tally.refused)
                }
            }
        }
    }

    /// The NAT table's driver: a group's removals in one call, its additions in another (all
    /// or none); independent changes the same way, falling back to one entry at a time when the
    /// table refuses the lot (so that a full table refuses only what does not fit).
    static var tableDriver: HALDriver<NATKey, NATEntry> {
        HALDriver(
            operation: "NAT table",
            natThread: true,
            applyGroup: { hal, deadline, changes in
                let removals = changes.filter { $0.previous != nil || $0.target == nil }.map(\.object)
                let additions = changes.compactMap(\.target)
                do {
                    if !removals.isEmpty { try hal.natDelete(removals, deadline: deadline) }
                    if !additions.isEmpty { try hal.natAdd(additions, deadline: deadline) }
                    return .applied
                } catch let error as HALError {
                    if case .timeout = error { return .unknown(error) }
                    // Additions refused after removals: what the HAL holds is brought back from
                    // the engine's state by the reconciler.
                    return removals.isEmpty ? .refused(error) : .unknown(error)
                } catch {
                    return .unknown(.internal("\(error)"))
                }
            },
            applyEach: { hal, deadline, changes in
                var results = [HALGroupResult](repeating: .applied, count: changes.count)
                let removals = changes.indices.filter { changes[$0].target == nil }
                let additions = changes.indices.filter { changes[$0].target != nil }
                do {
                    if !removals.isEmpty { try hal.natDelete(removals.map { changes[$0].object }, deadline: deadline) }
                } catch let error as HALError {
                    return changes.map { _ in .unknown(error) }
                } catch {
                    return changes.map { _ in .unknown(.internal("\(error)")) }
                }
                guard !additions.isEmpty else { return results }
                if (try? hal.natAdd(additions.map { changes[$0].target! }, deadline: deadline)) != nil { return results }
                for index in additions {
                    let entry = changes[index].target!
                    do {
                        do {
                            try hal.natAdd([entry], deadline: deadline)
                        } catch HALError.exists {
                            // Another translation's entry left behind under this key: ours wins.
                            try hal.natDelete([entry.key], deadline: deadline)
                            try hal.natAdd([entry], deadline: deadline)
                        }
                    } catch let error as HALError {
                        if case .timeout = error {
                            for rest in additions where rest >= index { results[rest] = .unknown(error) }
                            return results
                        }
                        results[index] = .refused(error)
                    } catch {
                        results[index] = .unknown(.internal("\(error)"))
                    }
                }
                return results
            })
    }

    // MARK: Aging

    /// Reads and clears the HAL's hit bits, keeps what was used alive, expires the idle.
    private func age() {
        guard !stopping, !aging else { return }
        aging = true
        hal.callNAT("nat-age", on: loop) { hal, deadline in
            (try hal.natCollectHits(deadline: deadline), try hal.natCounters(deadline: deadline), try hal.natTakeEvicted(deadline: deadline))
        }.assumeIsolated().whenComplete { [self] result in
            aging = false
            defer { checkIdle() }
            guard !stopping else { return }
            let now = clock.now
            switch result {
            case .success(let (hits, counters, evicted)):
                engine.recordHits(hits, now: now)
                halCounters = HALNATFigures(hal: counters)
                // Translations a static mapping's reservation displaced: gone from the engine too.
                var displaced = HardwareChanges()
                for id in Set(evicted.map { $0 >> 1 }).sorted() { displaced.merge(engine.displaced(id)) }
                if !evicted.isEmpty {
                    logger.notice("NAT: \(evicted.count) dynamic translation(s) gave their HAL slots to static mappings")
                }
                program(displaced, label: "NAT displaced")
            case .failure(let error):
                // Without hit bits nothing is expired: a stuck HAL must not age out live flows.
                let text = "reading NAT hit bits: \((error as? HALError) ?? .internal("\(error)"))"
                if agerProblem != text { logger.error("NAT: \(text)") }
                agerProblem = text
                return
            }
            agerProblem = nil
            let (changes, expired) = engine.expire(now: now)
            defer { refreshSummary() }
            if expired > 0 && debug { logger.info("NAT: \(expired) translation(s) expired") }
            program(changes, label: "NAT expiry")
        }
    }

    func refreshSummary() {
        lastInSync.store(table.inSync, ordering: .relaxed)
        let statics = engine.translations.count - engine.dynamicCount
        var line = "NAT: \(engine.translations.count) translations (\(statics) static), \(table.pendingCount) HAL change(s) pending, "
            + (outOfSync ? "HAL OUT OF SYNC" : "HAL in sync")
        if let problem = table.problem { line += "; last HAL problem: \(problem)" }
        summary.withLockedValue { $0 = line }
    }

    // MARK: Mapping onto the HAL's types (also what nat-bench measures)

    public static func halKey(_ entry: HardwareEntry) -> NATKey { halKey(entry.key) }

    public static func halKey(_ key: HardwareEntry.Key) -> NATKey {
        NATKey(zone: key.zone, type: key.rewritesSource ? .source : .destination, proto: key.proto,
               address: key.match.address, port: key.match.port)
    }

    /// The engine's form of a HAL key.
    static func hardwareKey(_ key: NATKey) -> HardwareEntry.Key {
        HardwareEntry.Key(zone: key.zone, rewritesSource: key.type == .source, proto: key.proto, match: Endpoint(key.address, key.port))
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
    var reserved: Int
    var idleReserved: Int

    init(hal: SwitchHAL.NATCounters) {
        entries = hal.entries
        capacity = hal.capacity
        reserved = hal.reserved
        idleReserved = hal.idleReserved
        lookups = hal.lookups
        hits = hal.hits
        misses = hal.misses
        fullErrors = hal.fullErrors
    }
}

extension NATChange {
    /// What the engine has to redo for the keys of a configuration change.
    init(_ change: ConfigChange, _ config: RunningConfig) {
        self.init()
        for key in change.keys {
            switch key {
            case .accessList(let acl): accessLists.insert(acl)
            case .natPool(let name): pools.insert(name)
            case .natRule(let acl): rules.insert(acl)
            case .natStatic(let identity): statics.insert(identity)
            case .natTimeouts, .natMaxEntries, .staticRoute: limits = true
            case .interface(let name):
                interfaces.insert(name)
                // Its role may have changed: the groups it holds resolve anew.
                for vrid in config.interfaces[name]?.vrrp.keys ?? [:].keys { vrids.insert(vrid) }
            case .vrrpGroup(_, let vrid): vrids.insert(vrid)
            default: break
            }
        }
    }
}
