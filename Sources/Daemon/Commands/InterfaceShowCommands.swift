import CLI
import Channel
import HashTreeCollections
import NetTypes
import SwitchHAL

/// What the interfaces are and do, from the HAL (one call for every port and SVI): `show
/// interfaces` and its IOS views (`status`, `description`, `switchport`, `brief`), `show ip
/// interface brief`. The IOS layouts are the ones network tools parse (ntc-templates' cisco_ios
/// templates); ports keep our names (eth1, vlan10), see docs/automation.md.
enum InterfaceShowCommands {
    /// The interfaces one show command reports: the HAL's ports and SVIs (those named `only`,
    /// or all), with the configuration that describes them.
    struct View {
        let ports: [PortStatus]
        let svis: [SVIStatus]
        let config: RunningConfig

        func description(_ name: InterfaceID) -> String { config.interfaces[name]?.description ?? "" }
        /// An SVI's admin state (`shutdown`) and line protocol (up only if not shut and its VLAN exists).
        func state(_ svi: SVIStatus) -> (shut: Bool, up: Bool) {
            let shut = config.interfaces[svi.interface]?.shutdown == true
            return (shut, svi.up && !shut)
        }

        /// An SVI's status in IOS's words, as configured here, and its line protocol.
        func status(_ svi: SVIStatus) -> (status: String, up: Bool) {
            InterfaceShowCommands.status(svi, shut: state(svi).shut)
        }
    }

    /// A port's status in IOS's words: administratively down, up or down (its link).
    static func status(_ port: PortStatus) -> String {
        !port.settings.adminUp ? "administratively down" : (port.linkUp ? "up" : "down")
    }

    /// An SVI's status in IOS's words (administratively down when shut, else whether its VLAN
    /// exists) and its line protocol (up only if not shut and its VLAN exists).
    static func status(_ svi: SVIStatus, shut: Bool) -> (status: String, up: Bool) {
        (shut ? "administratively down" : (svi.up ? "up" : "down"), svi.up && !shut)
    }

    /// Checks `only` (an interface this switch has or could have), reads every port's and
    /// SVI's state from the HAL (one call), then `body` prints.
    static func withInterfaces(
        _ ctx: CommandContext, only named: Result<InterfaceID, UnknownInterface>? = nil, _ body: @escaping (View) -> Status
    ) -> CommandOutcome {
        var only: InterfaceID?
        switch named {
        case .success(let id)?: only = id
        case .failure(let unknown)?: return ctx.refuse(unknown.message)
        case nil: break
        }
        let config = ctx.config
        return ctx.hal("interface-status", { hal, deadline in
            (try hal.portStatus(deadline: deadline), try hal.sviStatus(deadline: deadline))
        }) { ports, svis in
            body(View(ports: ports.filter { only == nil || $0.interface == only }, svis: svis.filter { only == nil || $0.interface == only }, config: config))
        }
    }

    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "show interfaces [IFNAME$ifname]", help: [Help.show, "Interface status and counters", Help.interfaceName],
                modes: Modes.exec
            ) { ctx, args in
                let only = ctx.interfaceIfNamed(args, \.ifname)
                return withInterfaces(ctx, only: only) { view in
                    for port in view.ports { describe(port, config: view.config.interfaces[port.interface], ctx) }
                    for svi in view.svis { describe(svi, config: view.config.interfaces[svi.interface], ctx) }
                    if case .success(let only)? = only, case .svi = only, view.svis.isEmpty {
                        ctx.print(FailureText.refused("\(only) is not configured"))
                        return .error
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show interfaces brief", help: [Help.show, "Interface status and counters", "One line per interface"],
                modes: Modes.exec
            ) { ctx, _ in
                withInterfaces(ctx) { view in
                    ctx.print("Interface  Admin  Link  Oper  Mode    VLAN  MACs    Description")
                    for port in view.ports {
                        let s = port.settings
                        let vlan = s.mode == .access ? String(s.accessVLAN) : "trunk"
                        ctx.print(
                            "\(pad(port.name, 10)) \(pad(s.adminUp ? "up" : "down", 6)) \(pad(port.linkUp ? "up" : "down", 5)) "
                                + "\(pad(port.operUp ? "up" : "down", 5)) \(pad(s.mode.rawValue, 7)) \(pad(vlan, 5)) "
                                + "\(pad(String(port.dynamicEntries), 7)) \(view.description(port.interface))")
                    }
                    for svi in view.svis {
                        let (shut, up) = view.state(svi)
                        ctx.print(
                            "\(pad(svi.interface.description, 10)) \(pad(shut ? "down" : "up", 6)) \(pad("-", 5)) \(pad(up ? "up" : "down", 5)) \(pad("routed", 7)) "
                                + "\(pad(String(svi.vlan), 5)) \(pad("-", 7)) \(view.description(svi.interface))")
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show ip interface brief", help: [Help.show, Help.ip, "IP interface status and configuration", "Brief summary of IP status and configuration"],
                modes: Modes.exec
            ) { ctx, _ in
                // IOS's layout (ntc-templates parse it); ports are switched, so unassigned.
                withInterfaces(ctx) { view in
                    func row(_ name: String, _ address: String, _ method: String, _ status: String, _ proto: String) {
                        ctx.print(pad(name, 27) + pad(address, 16) + "YES " + pad(method, 7) + pad(status, 22) + proto)
                    }
                    ctx.print("Interface                  IP-Address      OK? Method Status                Protocol")
                    for port in view.ports {
                        row(port.name, "unassigned", "unset", status(port), port.operUp ? "up" : "down")
                    }
                    for svi in view.svis {
                        let name = svi.interface.description
                        let address = view.config.interfaces[svi.interface]?.addresses.first.map { "\($0.address)" }
                        let (status, up) = view.status(svi)
                        row(name, address ?? "unassigned", address == nil ? "unset" : "manual", status, up ? "up" : "down")
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show ip interface [IFNAME$ifname]",
                help: [Help.show, Help.ip, "IP interface status and configuration", Help.interfaceName], modes: Modes.exec
            ) { ctx, args in
                // IOS's layout, which NAPALM's get_interfaces_ip reads (`Internet address is`,
                // `Secondary address`): ports are switched, SVIs route.
                withInterfaces(ctx, only: ctx.interfaceIfNamed(args, \.ifname)) { view in
                    for port in view.ports {
                        ctx.print("\(port.name) is \(status(port)), line protocol is \(port.operUp ? "up" : "down")")
                        ctx.print("  Internet protocol processing disabled")
                    }
                    for svi in view.svis {
                        let (status, up) = view.status(svi)
                        let config = view.config.interfaces[svi.interface]
                        ctx.print("\(svi.interface) is \(status), line protocol is \(up ? "up" : "down")")
                        guard let primary = svi.addresses.first else {
                            ctx.print("  Internet protocol processing disabled")
                            continue
                        }
                        ctx.print("  Internet address is \(primary)")
                        ctx.print("  Broadcast address is 255.255.255.255")
                        ctx.print("  Address determined by setup command")
                        ctx.print("  MTU is 1500 bytes")
                        for secondary in svi.addresses.dropFirst() { ctx.print("  Secondary address \(secondary)") }
                        if let role = config?.natRole {
                            ctx.print("  Network address translation is enabled, interface in domain \(role)")
                        } else {
                            ctx.print("  Network address translation is disabled")
                        }
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show interfaces [IFNAME$ifname] status", help: [Help.show, "Interface status and counters", Help.interfaceName, "Port status, one line each (IOS)"],
                modes: Modes.exec
            ) { ctx, args in
                withInterfaces(ctx, only: ctx.interfaceIfNamed(args, \.ifname)) { view in
                    ctx.print("Port      Name               Status       Vlan       Duplex  Speed Type")
                    for port in view.ports {
                        let s = port.settings
                        let status = !s.adminUp ? "disabled" : port.linkUp ? "connected" : "notconnect"
                        let vlan = s.mode == .trunk ? "trunk" : "\(s.accessVLAN)"
                        ctx.print(pad(port.name, 9) + " " + pad(String(view.description(port.interface).prefix(18)), 18) + " " + pad(status, 12) + " "
                            + pad(vlan, 10) + " " + pad("full", 6, left: true) + " " + pad(speed.short, 6, left: true) + " " + speed.media)
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show interfaces [IFNAME$ifname] description",
                help: [Help.show, "Interface status and counters", Help.interfaceName, "Status and description, one line each (IOS)"],
                modes: Modes.exec
            ) { ctx, args in
                withInterfaces(ctx, only: ctx.interfaceIfNamed(args, \.ifname)) { view in
                    ctx.print("Interface                      Status         Protocol Description")
                    func row(_ name: InterfaceID, _ status: String, _ up: Bool) {
                        ctx.print(pad(name.description, 30) + " " + pad(status, 14) + " " + pad(up ? "up" : "down", 8) + " " + view.description(name))
                    }
                    for port in view.ports {
                        row(port.interface, !port.settings.adminUp ? "admin down" : port.linkUp ? "up" : "down", port.operUp)
                    }
                    for svi in view.svis {
                        let (shut, up) = view.state(svi)
                        row(svi.interface, shut ? "admin down" : svi.up ? "up" : "down", up)
                    }
                    return .success
                }
            },
            CommandDeclaration(
                "show interfaces [IFNAME$ifname] switchport",
                help: [Help.show, "Interface status and counters", Help.interfaceName, "Switchport settings: mode, access and trunk VLANs (IOS)"],
                modes: Modes.exec
            ) { ctx, args in
                // A word that names no SVI but reads like one (`vlan5000`) is refused the same way.
                if let only = args.word(\.ifname), only.hasPrefix("vlan") { return ctx.refuse("\(only) is not a switch port: SVIs are routed") }
                return withInterfaces(ctx, only: ctx.interfaceIfNamed(args, \.ifname)) { view in
                    for (index, port) in view.ports.enumerated() {
                        if index > 0 { ctx.print("") }
                        switchport(port, vlans: view.config.vlans, ctx)
                    }
                    return .success
                }
            },
        ]
    }

    /// What the simulated ports claim to be (the chip's ports carry whatever their backends
    /// carry; the figures are nominal, as on a virtual switch).
    static let speed = (short: "10G", iosLine: "Full-duplex, 10Gb/s, media type is 10GBase-SIM", media: "10GBase-SIM", kbits: 10_000_000)

    /// One port in IOS's `show interfaces switchport` layout.
    static func switchport(_ port: PortStatus, vlans: TreeDictionary<UInt16, VLANConfig>, _ ctx: CommandContext) {
        let s = port.settings
        func named(_ vlan: UInt16) -> String {
            vlan == 1 ? "1 (default)" : "\(vlan) (\(vlans[vlan]?.name ?? "VLAN" + String(repeating: "0", count: max(0, 4 - String(vlan).count)) + String(vlan)))"
        }
        let admin = s.mode == .trunk ? "trunk" : "static access"
        ctx.print("Name: \(port.name)")
        ctx.print("Switchport: Enabled")
        ctx.print("Administrative Mode: \(admin)")
        ctx.print("Operational Mode: \(port.operUp ? admin : "down")")
        ctx.print("Administrative Trunking Encapsulation: dot1q")
        if s.mode == .trunk { ctx.print("Operational Trunking Encapsulation: dot1q") }
        ctx.print("Negotiation of Trunking: Off")
        ctx.print("Access Mode VLAN: \(named(s.accessVLAN))")
        ctx.print("Trunking Native Mode VLAN: \(named(s.nativeVLAN))")
        ctx.print("Administrative Native VLAN tagging: disabled")
        ctx.print("Voice VLAN: none")
        ctx.print("Trunking VLANs Enabled: \(s.allowedVLANs.isAll ? "ALL" : s.allowedVLANs.description.uppercased())")
        ctx.print("Pruning VLANs Enabled: NONE")
        ctx.print("Capture Mode Disabled")
        ctx.print("Capture VLANs Allowed: ALL")
        ctx.print("")
        ctx.print("Protected: false")
        ctx.print("Unknown unicast blocked: disabled")
        ctx.print("Unknown multicast blocked: disabled")
        ctx.print("Appliance trust: none")
    }

    /// One port in IOS's `show interfaces` layout, then what only this switch has to say (the
    /// switchport, the L2 counters, what the port is wired to).
    static func describe(_ port: PortStatus, config: InterfaceConfig?, _ ctx: CommandContext) {
        let state = status(port)
        let hal = ctx.plane.hal.hal
        let backend = hal.backends.first(where: { $0.0 == port.id })?.1
        let tx = hal.transmitCounters(port.id)
        let c = port.counters
        ctx.print("\(port.name) is \(state), line protocol is \(port.operUp ? "up" : "down") (\(port.operUp ? "connected" : "notconnect"))")
        ctx.print("  Hardware is Ethernet, address is \(port.mac.dottedDescription) (bia \(port.mac.dottedDescription))")
        if let description = config?.description { ctx.print("  Description: \(description)") }
        ctx.print("  MTU \(backend?.mtu ?? 1500) bytes, BW \(speed.kbits) Kbit/sec, DLY 10 usec,")
        ctx.print("     reliability 255/255, txload 1/255, rxload 1/255")
        ctx.print("  Encapsulation ARPA, loopback not set")
        ctx.print("  \(speed.iosLine)")
        ctx.print("  Input queue: 0/75/0/0 (size/max/drops/flushes); Total output drops: \(tx.dropped + tx.oversize + tx.offloadErrors)")
        ctx.print("  Queueing strategy: fifo")
        ctx.print("     \(c.frames) packets input, \(c.bytes) bytes, 0 no buffer")
        ctx.print("     0 runts, 0 giants, 0 throttles")
        ctx.print("     \(c.droppedInvalid) input errors, 0 CRC, 0 frame, \(backend?.receiveOverruns ?? 0) overrun, 0 ignored")
        ctx.print("     \(tx.frames) packets output, 0 bytes, 0 underruns")
        ctx.print("     \(tx.dropped) output errors, 0 collisions, 0 interface resets")
        let s = port.settings
        switch s.mode {
        case .access: ctx.print("  Switchport: access, VLAN \(s.accessVLAN)")
        case .trunk: ctx.print("  Switchport: trunk, native VLAN \(s.nativeVLAN), allowed \(s.allowedVLANs)")
        }
        ctx.print("  Dropped on receive \(c.dropped) (port down \(c.droppedPortDown), VLAN \(c.droppedVLAN), invalid \(c.droppedInvalid)); to CPU \(c.toCPU)")
        ctx.print("  Learned \(c.learned), moves \(c.moves), learn-limited \(c.learnLimited); \(port.dynamicEntries) dynamic entries now")
        if let backend {
            ctx.print("  Wired to \(backend.summary), MTU \(backend.mtu); sent \(tx.frames) frames, \(tx.dropped) could not be sent")
            ctx.print("  Dropped: \(tx.oversize) over the MTU, \(tx.offloadErrors) with offload work that could not be finished, \(backend.receiveErrors) too long to receive, \(backend.receiveOverruns) lost before they were read (the switch fell behind)")
        } else {
            ctx.print("  Not wired (vrrpd --port): only injected test frames arrive here")
        }
    }

    /// One SVI in IOS's `show interfaces` layout.
    static func describe(_ svi: SVIStatus, config: InterfaceConfig?, _ ctx: CommandContext) {
        let (state, up) = status(svi, shut: config?.shutdown == true)
        ctx.print("\(svi.interface) is \(state), line protocol is \(up ? "up" : "down")\(svi.up ? "" : " (VLAN \(svi.vlan) does not exist)")")
        ctx.print("  Hardware is EtherSVI, address is \(svi.routerMAC.dottedDescription) (bia \(svi.routerMAC.dottedDescription))")
        if let description = config?.description { ctx.print("  Description: \(description)") }
        for (index, prefix) in svi.addresses.enumerated() {
            ctx.print("  Internet address is \(prefix)\(index == 0 ? "" : " secondary")")
        }
        ctx.print("  MTU 1500 bytes, BW \(speed.kbits) Kbit/sec, DLY 10 usec,")
        ctx.print("     reliability 255/255, txload 1/255, rxload 1/255")
        ctx.print("  Encapsulation ARPA, loopback not set")
    }
}
