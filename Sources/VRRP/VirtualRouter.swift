import NetTypes
import Time

// Time for the protocol core: `Instant`s of a clock that the caller reads (`SystemClock` in
// vrrpd, a test's clock or virtual time in tests) and passes in; the core never reads a clock.
// Its intervals are computed in whole microseconds, as RFC 5798's formulas are.

/// One virtual router's configuration (what `vrrp N ...` lines set).
public struct VirtualRouterConfig: Equatable, Sendable {
    public var vrid: UInt8
    public var version = 3
    /// Configured priority 1-254 (the address owner advertises 255 regardless).
    public var priority: UInt8 = 100
    /// Centiseconds. v2 sends whole seconds, so it must be a multiple of 100.
    public var advertisementInterval = 100
    public var preempt = true
    /// Seconds after entering Backup before this router may preempt a live Master.
    public var preemptDelay = 0
    public var acceptMode = false
    /// v3 over IPv4: send the checksum with the pseudo-header (RFC 5798 reading, keepalived and
    /// FRR) or over the message only (RFC 9568, Cisco, Juniper).
    public var checksumWithPseudoHeader = true
    /// Accept either checksum form on receive.
    public var acceptEitherChecksum = false
    /// RFC 9568: a Master answers a lower-priority advertisement with one of its own at once.
    public var answerLowerPriority = true
    public var addresses: Advertisement.Addresses

    public init(vrid: UInt8, addresses: Advertisement.Addresses) {
        self.vrid = vrid
        self.addresses = addresses
    }
}

/// What the interface a virtual router lives on contributes: the source address of adverts
/// (the primary IPv4 address, or the IPv6 link-local), and the addresses it owns.
public struct InterfaceAddresses: Equatable, Sendable {
    public var primaryIPv4: IPv4Address?
    public var linkLocalIPv6: IPv6Address?
    public var ownIPv4: [IPv4Address]
    public var ownIPv6: [IPv6Address]

    public init(primaryIPv4: IPv4Address? = nil, linkLocalIPv6: IPv6Address? = nil, ownIPv4: [IPv4Address] = [], ownIPv6: [IPv6Address] = []) {
        self.primaryIPv4 = primaryIPv4
        self.linkLocalIPv6 = linkLocalIPv6
        self.ownIPv4 = ownIPv4
        self.ownIPv6 = ownIPv6
    }
}

public enum RouterState: String, Sendable, Equatable, CustomStringConvertible {
    case initialize = "Initialize"
    case backup = "Backup"
    case master = "Master"
    public var description: String { rawValue }
}

/// What the core asks its host to do.
public enum RouterAction: Equatable, Sendable {
    /// Send this advertisement (the host adds IP and Ethernet: source = primary or link-local
    /// address, destination = the VRRP group, TTL 255, Ethernet source = the virtual MAC).
    case sendAdvertisement(Advertisement)
    /// Announce the virtual addresses: a gratuitous ARP (IPv4) or unsolicited NA (IPv6) each,
    /// from the virtual MAC.
    case announceAddresses
    /// Became Master: own the virtual MAC (install it, answer ARP/ND for the addresses).
    case takeVirtualMAC
    /// Left Master: stop owning the virtual MAC.
    case releaseVirtualMAC
    case transition(from: RouterState, to: RouterState, reason: String)
}

/// Counters of one virtual router (RFC 6527 and keepalived's, plus one per discard reason).
public struct RouterStatistics: Equatable, Sendable {
    public var advertisementsReceived: UInt64 = 0
    public var advertisementsSent: UInt64 = 0
    public var priorityZeroReceived: UInt64 = 0
    public var priorityZeroSent: UInt64 = 0
    public var becameMaster: UInt64 = 0
    public var releasedMaster: UInt64 = 0
    public var transitions: UInt64 = 0
    public var announcementsSent: UInt64 = 0
    public var addressListMismatches: UInt64 = 0
    public var discards: [DiscardReason: UInt64] = [:]

    public init() {}

    public var totalDiscards: UInt64 { discards.values.reduce(0, +) }
}

/// One virtual router's protocol engine (RFC 5798 §6 state machine, v2 per RFC 3768): events
/// and time in, actions out. No sockets, no clocks, no threads.
public struct VirtualRouter: Sendable {
    public private(set) var config: VirtualRouterConfig
    public private(set) var interface: InterfaceAddresses
    public private(set) var state = RouterState.initialize
    /// Master_Adver_Interval, centiseconds (v3 learns it from the Master).
    public private(set) var masterAdverInterval: Int
    public private(set) var masterDownDeadline: Instant?
    public private(set) var adverDeadline: Instant?
    public private(set) var statistics = RouterStatistics()
    public private(set) var lastTransition: (from: RouterState, to: RouterState, at: Instant, reason: String)?
    /// The primary address of the current Master as last heard (nil when we are Master).
    public private(set) var masterAddress: IPAddressPair.Source?
    /// The priority the current Master advertised, as last heard (nil when we are Master).
    public private(set) var masterPriority: UInt8?
    /// When the last advertisement from the Master was accepted (Backup), for "silent for" figures.
    public private(set) var lastHeardFromMaster: Instant?
    /// Subtracted from the configured priority (tracked interfaces that are down).
    public private(set) var trackingDecrement = 0
    private var preemptAllowedAt = Instant.zero
    /// The last word from the Master was priority 0.
    private var masterResigned = false
    private var lastAdvertisement: Advertisement?
    private var lastAdvertisementContext: ChecksumContext?

    struct ChecksumContext: Equatable, Sendable {
        var source: IPAddressPair.Source?
        var pseudoHeader: Bool
    }

    public init(config: VirtualRouterConfig, interface: InterfaceAddresses) {
        self.config = config
        self.interface = interface
        masterAdverInterval = config.advertisementInterval
    }

    // MARK: Derived values

    /// True when a virtual address is one of the interface's own: this router is the owner.
    public var isAddressOwner: Bool {
        switch config.addresses {
        case .ipv4(let list): return list.contains { interface.ownIPv4.contains($0) }
        case .ipv6(let list): return list.contains { interface.ownIPv6.contains($0) }
        }
    }

    /// The priority this router advertises and compares with: 255 for the owner, else the
    /// configured one less tracking (at least 1).
    public var effectivePriority: UInt8 {
        if isAddressOwner { return 255 }
        return UInt8(max(1, Int(config.priority) - trackingDecrement))
    }

    /// Skew_Time (in whole microseconds): v3 ((256 - Priority) x Master_Adver_Interval / 256 cs);
    /// v2 ((256 - Priority) / 256 s).
    public var skewTime: Duration {
        let weight = Int64(256 - Int(effectivePriority))
        if config.version == 2 { return .microseconds(weight * 1_000_000 / 256) }
        return .microseconds(weight * Int64(masterAdverInterval) * 10_000 / 256)
    }

    /// Master_Down_Interval: 3 x Master_Adver_Interval + Skew_Time.
    public var masterDownInterval: Duration {
        .microseconds(3 * Int64(masterAdverInterval) * 10_000) + skewTime
    }

    /// Advertisement_Interval.
    public var advertisementInterval: Duration { .microseconds(Int64(config.advertisementInterval) * 10_000) }

    /// The earliest timer, if any.
    public var nextDeadline: Instant? {
        switch (masterDownDeadline, adverDeadline) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        default: return nil
        }
    }

    public var sourceAddress: IPAddressPair.Source? {
        switch config.addresses {
        case .ipv4: return interface.primaryIPv4.map { .ipv4($0) }
        case .ipv6: return interface.linkLocalIPv6.map { .ipv6($0) }
        }
    }

    public var destination: IPAddressPair.Destination {
        config.addresses.isIPv6 ? .ipv6(Advertisement.ipv6Group) : .ipv4(Advertisement.ipv4Group)
    }

    /// The virtual MAC: 00:00:5e:00:01:VRID (IPv4), 00:00:5e:00:02:VRID (IPv6).
    public var virtualMAC: MACAddress {
        MACAddress((config.addresses.isIPv6 ? 0x0000_5e00_0200 : 0x0000_5e00_0100) | UInt64(config.vrid))
    }

    // MARK: Events

    /// Startup (RFC 5798 §6.4.1).
    public mutating func start(now: Instant) -> [RouterAction] {
        guard state == .initialize else { return [] }
        preemptAllowedAt = now + .seconds(config.preemptDelay)
        if effectivePriority == 255 {
            // (110)-(145)
            var actions = [advertisement(priority: 255)]
            actions.append(.announceAddresses)
            statistics.announcementsSent += 1
            adverDeadline = now + advertisementInterval
            actions += transition(to: .master, now: now, reason: "startup as address owner")
            return actions
        }
        // (150)-(165)
        masterAdverInterval = config.advertisementInterval
        masterDownDeadline = now + masterDownInterval
        return transition(to: .backup, now: now, reason: "startup")
    }

    /// Shutdown (RFC 5798 §6.4.2 (345)-(355), §6.4.3 (655)-(670)).
    public mutating func shutdown(now: Instant) -> [RouterAction] {
        switch state {
        case .initialize:
            return []
        case .backup:
            masterDownDeadline = nil
            return transition(to: .initialize, now: now, reason: "shutdown")
        case .master:
            adverDeadline = nil
            statistics.priorityZeroSent += 1
            return [advertisement(priority: 0)] + transition(to: .initialize, now: now, reason: "shutdown")
        }
    }

    /// Timers that are due (call with the current time; due timers fire in order).
    public mutating func advance(to now: Instant) -> [RouterAction] {
        var actions: [RouterAction] = []
        if state == .backup, let deadline = masterDownDeadline, deadline <= now {
            // (365)-(410)
            masterDownDeadline = nil
            actions.append(advertisement(priority: effectivePriority))
            actions.append(.announceAddresses)
            statistics.announcementsSent += 1
            adverDeadline = now + advertisementInterval
            let reason = masterResigned ? "the Master resigned (priority 0)" : "master down timer expired"
            masterResigned = false
            actions += transition(to: .master, now: now, reason: reason)
        }
        if state == .master, let deadline = adverDeadline, deadline <= now {
            // (680)-(690)
            actions.append(advertisement(priority: effectivePriority))
            adverDeadline = now + advertisementInterval
        }
        return actions
    }

    /// A received VRRP message for this VRID (RFC 5798 §7.1 checks, then §6.4.2/§6.4.3).
    /// A message that fails a check changes nothing but its discard counter.
    public mutating func receive(
        _ message: [UInt8], source: IPAddressPair.Source, destination: IPAddressPair.Destination, ttl: UInt8,
        now: Instant
    ) -> [RouterAction] {
        let ad: Advertisement
        switch validate(message, source: source, destination: destination, ttl: ttl) {
        case .failure(let reason):
            statistics.discards[reason, default: 0] += 1
            return []
        case .success(let valid):
            ad = valid
        }
        if ad.addresses != config.addresses { statistics.addressListMismatches += 1 }
        statistics.advertisementsReceived += 1
        if ad.priority == 0 { statistics.priorityZeroReceived += 1 }
        switch state {
        case .initialize:
            return []
        case .backup:
            if ad.priority == 0 {
                // (425)-(430)
                masterDownDeadline = now + skewTime
                lastHeardFromMaster = now
                masterResigned = true
                return []
            }
            let preemptNow = config.preempt && now >= preemptAllowedAt
            if !preemptNow || ad.priority >= effectivePriority {
                // (445)-(460)
                if config.version == 3 { masterAdverInterval = ad.interval }
                masterDownDeadline = now + masterDownInterval
                masterAddress = source
                masterPriority = ad.priority
                lastHeardFromMaster = now
                masterResigned = false
                return []
            }
            // (465)-(470): discard, the timer runs on and we preempt
            return []
        case .master:
            if ad.priority == 0 {
                // (705)-(715)
                adverDeadline = now + advertisementInterval
                return [advertisement(priority: effectivePriority)]
            }
            if ad.priority > effectivePriority || (ad.priority == effectivePriority && VirtualRouter.greater(source, than: sourceAddress)) {
                // (725)-(765)
                adverDeadline = nil
                if config.version == 3 { masterAdverInterval = ad.interval }
                masterDownDeadline = now + masterDownInterval
                masterAddress = source
                masterPriority = ad.priority
                lastHeardFromMaster = now
                let reason = ad.priority > effectivePriority ? "higher priority \(ad.priority) from \(source)"
                    : "equal priority from higher address \(source)"
                return transition(to: .backup, now: now, reason: reason)
            }
            // (775); RFC 9568 adds an immediate advertisement
            return config.answerLowerPriority ? [advertisement(priority: effectivePriority)] : []
        }
    }

    /// `clear vrrp statistics`: counters back to zero (state and timers untouched).
    public mutating func clearStatistics() {
        statistics = RouterStatistics()
    }

    /// Changes what tracking subtracts from the priority.
    public mutating func setTrackingDecrement(_ decrement: Int) {
        trackingDecrement = max(0, decrement)
    }

    /// Applies a new configuration: timers and state carry on where they can.
    public mutating func update(config newConfig: VirtualRouterConfig, interface newInterface: InterfaceAddresses) {
        config = newConfig
        interface = newInterface
        if state != .backup || config.version == 2 { masterAdverInterval = config.advertisementInterval }
    }

    // MARK: Validation

    func validate(
        _ message: [UInt8], source: IPAddressPair.Source, destination: IPAddressPair.Destination, ttl: UInt8
    ) -> Result<Advertisement, DiscardReason> {
        // (61)/(62)
        guard ttl == 255 else { return .failure(.ttl) }
        let ad: Advertisement
        switch Advertisement.decode(message, ipv6: config.addresses.isIPv6) {
        case .failure(let reason): return .failure(reason)
        case .success(let decoded): ad = decoded
        }
        // (63)
        guard ad.version == config.version else { return .failure(.version) }
        // (65)
        let length = 8 + ad.addresses.count * (config.addresses.isIPv6 ? 16 : 4) + (ad.version == 2 ? 8 : 0)
        let covered = message.count == length ? message : Array(message.prefix(length))
        let expected = Advertisement.checksum(covered, version: ad.version, source: source, destination: destination, pseudoHeader: config.checksumWithPseudoHeader)
        if ad.checksum != expected {
            let other = Advertisement.checksum(covered, version: ad.version, source: source, destination: destination, pseudoHeader: !config.checksumWithPseudoHeader)
            guard config.acceptEitherChecksum, ad.version == 3, !config.addresses.isIPv6, ad.checksum == other else {
                return .failure(.checksum)
            }
        }
        // (66) is the dispatcher's: a message reaches us only for our VRID.
        guard ad.vrid == config.vrid else { return .failure(.vrid) }
        // (67)
        guard effectivePriority != 255 else { return .failure(.owner) }
        // RFC 5798 §5.2.7: Max Adver Int is 1-4095 cs. Learning 0 would make Master_Down_Interval
        // 0: one such advert would flip a Backup to Master at once, every time.
        if ad.version == 3 && ad.interval == 0 { return .failure(.interval) }
        if ad.version == 2 {
            // (68), (69)
            guard ad.authType == 0 else { return .failure(.authType) }
            guard ad.interval * 100 == config.advertisementInterval else { return .failure(.interval) }
        }
        // (70): a mismatching list is counted (by `receive`); v2 drops it unless from the owner.
        if ad.addresses != config.addresses && ad.version == 2 && ad.priority != 255 { return .failure(.addressList) }
        return .success(ad)
    }

    // MARK: Helpers

    private mutating func advertisement(priority: UInt8) -> RouterAction {
        statistics.advertisementsSent += 1
        var ad = Advertisement(
            version: config.version, vrid: config.vrid, priority: priority,
            interval: config.version == 2 ? config.advertisementInterval / 100 : config.advertisementInterval, addresses: config.addresses)
        // The same advert goes out every interval: its checksum is computed once.
        if let cached = lastAdvertisement, cached.priority == priority, cached.interval == ad.interval, cached.version == ad.version,
            cached.addresses == ad.addresses, lastAdvertisementContext == checksumContext
        {
            return .sendAdvertisement(cached)
        }
        if let source = sourceAddress {
            let bytes = ad.encoded(source: source, destination: destination, pseudoHeader: config.checksumWithPseudoHeader)
            ad.checksum = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        }
        lastAdvertisement = ad
        lastAdvertisementContext = checksumContext
        return .sendAdvertisement(ad)
    }

    /// What besides the message goes into its checksum.
    private var checksumContext: ChecksumContext {
        ChecksumContext(source: sourceAddress, pseudoHeader: config.checksumWithPseudoHeader)
    }

    private mutating func transition(to next: RouterState, now: Instant, reason: String) -> [RouterAction] {
        let previous = state
        state = next
        statistics.transitions += 1
        lastTransition = (previous, next, now, reason)
        var actions: [RouterAction] = [.transition(from: previous, to: next, reason: reason)]
        if next == .master {
            statistics.becameMaster += 1
            masterAddress = nil
            masterPriority = nil
            actions.insert(.takeVirtualMAC, at: 0)
        }
        if previous == .master {
            statistics.releasedMaster += 1
            actions.insert(.releaseVirtualMAC, at: 0)
        }
        return actions
    }

    /// RFC 5798 (735): the sender's primary address compared with ours, as unsigned integers.
    static func greater(_ a: IPAddressPair.Source, than b: IPAddressPair.Source?) -> Bool {
        switch (a, b) {
        case (.ipv4(let x), .ipv4(let y)?): return x > y
        case (.ipv6(let x), .ipv6(let y)?): return x > y
        default: return false
        }
    }
}
