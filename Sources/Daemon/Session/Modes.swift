import CLI

/// The CLI modes and their prompts, Cisco and FRR style.
public enum Modes {
    /// `HOST>`: look, but change nothing.
    public static let view = Mode("view")
    /// `HOST#`: privileged commands (after `enable`).
    public static let enable = Mode("enable")
    /// `HOST(config)#`: global configuration.
    public static let config = Mode("config")
    /// `HOST(config-if)#`: one interface's configuration.
    public static let configInterface = Mode("config-if")
    /// `HOST(config-vlan)#`: one VLAN's configuration.
    public static let configVLAN = Mode("config-vlan")

    public static let all = [view, enable, config, configInterface, configVLAN]
    public static let configModes = [config, configInterface, configVLAN]
    /// Modes entered from `config` (a line unknown there is tried in `config`).
    public static let subModes = [configInterface, configVLAN]

    /// Where `exit` goes, and where a configuration line that does not match a sub-mode is
    /// tried next (as IOS and FRR's config reader do).
    public static func parent(of mode: Mode) -> Mode? {
        switch mode {
        case configInterface, configVLAN: return config
        case config: return enable
        default: return nil
        }
    }

    public static func prompt(_ mode: Mode, hostname: String) -> String {
        switch mode {
        case view: return hostname + ">"
        case enable: return hostname + "#"
        default: return hostname + "(\(mode.name))#"
        }
    }
}
