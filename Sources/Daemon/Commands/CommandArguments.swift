import CLI
import NAT
import SwitchHAL
import Glibc

/// Every argument a command reads, with the type it reads it as. Handlers read a line's values
/// by key path (`try args.value(\.vrid)` is a `VRID`, `args[\.proto]` an `L4Protocol?`), so a
/// misspelt name or a wrong type does not compile; `CommandRegistry` checks every declared syntax
/// against this catalogue when the commands are built (`$vrid` must be a number range, each
/// keyword of `<tcp|udp>$proto` must name an `L4Protocol`), so the daemon does not start with a
/// command whose handler would read what its syntax cannot bind.
struct CommandArguments: Sendable {
    // Interfaces, VLANs, the MAC table
    let ifname = Binding<InterfaceID>("ifname")
    let vlan = Binding<Int>("vlan")
    let mac = Binding<MACAddress>("mac")
    let base = Binding<MACAddress>("base")
    let mode = Binding<PortMode>("mode")
    let list = Binding<String>("list")
    let add = Binding<String>("add")
    let remove = Binding<String>("remove")
    let except = Binding<String>("except")
    let type = Binding<MACEntryType>("type")
    let seconds = Binding<Int>("seconds")
    let minutes = Binding<Int>("minutes")
    let maximum = Binding<Int>("maximum")
    let prefix = Binding<IPv4Prefix>("prefix")
    let nexthop = Binding<IPv4Address>("nexthop")
    let link = Binding<LinkState>("link")

    // VRRP
    let vrid = Binding<VRID>("vrid")
    let version = Binding<Int>("version")
    let vip = Binding<IPv4Address>("vip")
    let vip6 = Binding<IPv6Address>("vip6")
    let priority = Binding<Int>("priority")
    let ms = Binding<Int>("ms")
    let delay = Binding<Int>("delay")
    let track = Binding<InterfaceID>("track")
    let decrement = Binding<Int>("decrement")
    let format = Binding<VRRPOutputFormat>("format")
    let what = Binding<VRRPDebugKind>("what")

    // NAT and access lists
    let role = Binding<NATZone>("role")
    let side = Binding<NATZone>("side")
    let name = Binding<String>("name")
    let domain = Binding<String>("domain")
    let start = Binding<IPv4Address>("start")
    let end = Binding<IPv4Address>("end")
    let netmask = Binding<IPv4Address>("netmask")
    let length = Binding<Int>("length")
    let acl = Binding<Int>("acl")
    let pool = Binding<String>("pool")
    /// The interface of a static mapping's VRRP group.
    let rif = Binding<InterfaceID>("rif")
    let local = Binding<IPv4Address>("local")
    let global = Binding<IPv4Address>("global")
    let lport = Binding<Int>("lport")
    let gport = Binding<Int>("gport")
    let oglobal = Binding<IPv4Address>("oglobal")
    let olocal = Binding<IPv4Address>("olocal")
    let proto = Binding<L4Protocol>("proto")
    let kind = Binding<NATTimeouts.Kind>("kind")
    let max = Binding<Int>("max")
    let action = Binding<AccessListEntry.Action>("action")
    let host = Binding<IPv4Address>("host")
    let address = Binding<IPv4Address>("address")
    let wildcard = Binding<IPv4Address>("wildcard")
    let ig = Binding<IPv4Address>("ig")
    let il = Binding<IPv4Address>("il")
    let ol = Binding<IPv4Address>("ol")
    let og = Binding<IPv4Address>("og")
    let igp = Binding<Int>("igp")
    let ilp = Binding<Int>("ilp")
    let olp = Binding<Int>("olp")
    let ogp = Binding<Int>("ogp")
    let src = Binding<IPv4Address>("src")
    let dst = Binding<IPv4Address>("dst")
    let sport = Binding<Int>("sport")
    let dport = Binding<Int>("dport")
    let flag = Binding<TCPFlagChoice>("flag")
    let count = Binding<Int>("count")
    /// `terminal length` / `terminal width`.
    let lines = Binding<Int>("lines")
    let columns = Binding<Int>("columns")
    let sessions = Binding<Int>("sessions")

    // The system, files, faults
    let line = Binding<String>("line")
    let file = Binding<String>("file")
    let encoding = Binding<SecretEncoding>("encoding")
    let secret = Binding<String>("secret")
    let step = Binding<StartupConfigStore.Step>("step")
    let errno = Binding<InjectedErrno>("errno")
    let thread = Binding<FaultInjector.StallTarget>("thread")
    let operation = Binding<String>("operation")
    let error = Binding<InjectedHALError>("error")
    let state = Binding<OnOff>("state")
    let rate = Binding<Int>("rate")

    // Control-plane policing
    let cpuclass = Binding<CPUClass>("cpuclass")
    let pps = Binding<Int>("pps")
    let burst = Binding<Int>("burst")

    // Keywords handlers test
    let secondary = Flag("secondary")
    let overload = Flag("overload")
    let extendable = Flag("extendable")
    let verbose = Flag("verbose")
    let none = Flag("none")
    let all = Flag("all")
    let any = Flag("any")
    let brief = Flag("brief")
    let sorted = Flag("sorted")
    let commit = Flag("commit")
    let entries = Flag("entries")
    let never = Flag("never")

    static let catalogue = CommandArguments()

    /// Every entry, for the registry's check (the stored properties, found by reflection, so
    /// nothing is listed twice); each property is named as its argument.
    var listed: [(label: String, argument: any NamedArgument)] {
        Mirror(reflecting: self).children.compactMap { child in
            (child.value as? any NamedArgument).map { (child.label ?? "", $0) }
        }
    }
}

/// A handler asked for a value its line did not bind: a declaration bug, answered with an error
/// (the daemon goes on) rather than a crash.
struct MissingArgument: Error, CustomStringConvertible {
    let name: String
    var description: String { "internal error: the command bound no value for $\(name)" }
}

/// An IFNAME a line bound that names no interface of this switch (`lo`, `eth0`, `eth9` on eight
/// ports, `vlan4095`): the word as typed (in lower case), for the refusal to quote.
struct UnknownInterface: Error {
    let name: String
    let portCount: Int

    /// The refusal of a command that takes any interface.
    var message: String {
        "No such interface \(name): ports are eth1-eth\(portCount), SVIs are vlan\(InterfaceID.vlans.lowerBound)-vlan\(InterfaceID.vlans.upperBound)"
    }
}

extension CommandContext {
    /// The interface of this switch an IFNAME argument every path of the command binds names.
    func interface(
        _ args: Arguments, _ key: KeyPath<CommandArguments, Binding<InterfaceID>>
    ) throws(MissingArgument) -> Result<InterfaceID, UnknownInterface> {
        guard let named = interfaceIfNamed(args, key) else { throw MissingArgument(name: CommandArguments.catalogue[keyPath: key].name) }
        return named
    }

    /// The interface of this switch an optional IFNAME argument names; nil when the line has none.
    func interfaceIfNamed(_ args: Arguments, _ key: KeyPath<CommandArguments, Binding<InterfaceID>>) -> Result<InterfaceID, UnknownInterface>? {
        guard let word = args.word(key) else { return nil }
        guard let id = args[key], id.exists(portCount: portCount) else { return .failure(UnknownInterface(name: word, portCount: portCount)) }
        return .success(id)
    }
}

extension Arguments {
    subscript<T>(_ key: KeyPath<CommandArguments, Binding<T>>) -> T? {
        get { self[CommandArguments.catalogue[keyPath: key]] }
        set { self[CommandArguments.catalogue[keyPath: key]] = newValue }
    }

    subscript(_ key: KeyPath<CommandArguments, Flag>) -> Bool {
        get { self[CommandArguments.catalogue[keyPath: key]] }
        set { self[CommandArguments.catalogue[keyPath: key]] = newValue }
    }

    /// The word the line bound under `key` as typed, whether or not it is a `T` (a refusal
    /// quotes it).
    func word<T>(_ key: KeyPath<CommandArguments, Binding<T>>) -> String? { text(of: CommandArguments.catalogue[keyPath: key]) }

    /// The value of an argument every path of the command's syntax binds.
    func value<T>(_ key: KeyPath<CommandArguments, Binding<T>>) throws(MissingArgument) -> T {
        let binding = CommandArguments.catalogue[keyPath: key]
        guard let value = self[binding] else { throw MissingArgument(name: binding.name) }
        return value
    }

    /// These arguments with `key` set (a configuration line being rendered).
    func with<T>(_ key: KeyPath<CommandArguments, Binding<T>>, _ value: T?) -> Arguments {
        var copy = self
        copy[key] = value
        return copy
    }

    /// These arguments with `flag`'s keyword present or not.
    func with(_ flag: KeyPath<CommandArguments, Flag>, _ present: Bool = true) -> Arguments {
        var copy = self
        copy[flag] = present
        return copy
    }
}

// MARK: The choices of keywords commands read as types

extension L4Protocol: KeywordValue {
    public init?(keyword: String) { self.init(name: keyword) }
    public var keyword: String { description }
}

extension NATZone: KeywordValue {
    public init?(keyword: String) { self.init(name: keyword) }
    public var keyword: String { description }
}

extension PortMode: KeywordValue {}
extension NATTimeouts.Kind: KeywordValue {}
extension AccessListEntry.Action: KeywordValue {}
extension FaultInjector.StallTarget: KeywordValue {}
extension CPUClass: KeywordValue {}

extension StartupConfigStore.Step: KeywordValue {
    /// The steps as `test fault config-write` names them.
    static let keywords: [String: StartupConfigStore.Step] = [
        "create": .create, "write": .write, "fsync": .fsync, "backup": .backup, "rename": .rename,
        "sync-directory": .syncDirectory,
    ]
    public init?(keyword: String) {
        guard let step = Self.keywords[keyword] else { return nil }
        self = step
    }
    public var keyword: String { Self.keywords.first { $0.value == self }?.key ?? rawValue }
}

/// `show mac address-table <dynamic|static>`.
enum MACEntryType: String, KeywordValue { case dynamic, `static` }

/// `test interface IFNAME link <up|down>`.
enum LinkState: String, KeywordValue { case up, down }

/// `test fault hal rx-exhaust <on|off>`.
enum OnOff: String, KeywordValue { case on, off }

/// `show vrrp ... <json|summary>`.
enum VRRPOutputFormat: String, KeywordValue { case json, summary, brief, all }

/// `debug vrrp <events|packets>`.
enum VRRPDebugKind: String, KeywordValue { case events, packets }

/// `test nat flow ... flags <syn|fin|rst>`.
enum TCPFlagChoice: String, KeywordValue { case syn, fin, rst }

/// `enable secret <0|9>`: the secret as typed, or already a hash.
enum SecretEncoding: String, KeywordValue {
    case plain = "0"
    case hashed = "9"
}

/// `test fault config-write fail ... <enospc|eio|erofs>`.
enum InjectedErrno: String, KeywordValue {
    case enospc, eio, erofs
    var code: Int32 {
        switch self {
        case .enospc: ENOSPC
        case .eio: EIO
        case .erofs: EROFS
        }
    }
}

/// `test fault hal fail ... error <...>`: the SDK error the failed calls return.
enum InjectedHALError: String, KeywordValue {
    case full, notFound = "not-found", exists, param, busy, resource, `internal`
    var halError: HALError {
        switch self {
        case .full: .full("injected fault")
        case .notFound: .notFound("injected fault")
        case .exists: .exists("injected fault")
        case .param: .param("injected fault")
        case .busy: .busy("injected fault")
        case .resource: .resource("injected fault")
        case .internal: .internal("injected fault")
        }
    }
}
