import CLI

/// Every command vrrpd knows, in the order `show running-config` prints configuration lines.
enum Commands {
    static var all: [CommandDeclaration] {
        SessionCommands.declarations
            + SystemCommands.declarations
            + LoggingCommands.declarations
            + CompatibilityCommands.declarations
            + ConfigFileCommands.declarations
            + VLANCommands.declarations
            + InterfaceCommands.declarations
            + VRRPCommands.declarations
            + VRRPShowCommands.declarations
            + MACTableCommands.declarations
            + RouteCommands.declarations
            + NATCommands.declarations
            + NATShowCommands.declarations
            + ControlPlaneCommands.declarations
            + InterfaceShowCommands.declarations
            + HALCommands.declarations
            + HALDebugCommands.declarations
            + DiagnosticCommands.declarations
            + DiscoveryCommands.declarations
            + ResourceCommands.declarations
    }
}

/// Help strings for words that many commands share, so they read the same everywhere.
enum Help {
    static let show = "Show running system information"
    static let no = "Negate a command or set its defaults"
    static let interface = "Select an interface to configure"
    static let interfaceName = "Interface name (e.g. eth1, vlan10)"
    static let ip = "Internet Protocol (IP) configuration"
    static let test = "Test and fault-injection commands (for labs and tests)"
    static let fault = "Inject a fault"
}

extension Modes {
    /// Commands available in view mode are also available after `enable`.
    static let exec = [Modes.view, Modes.enable]
}
