import Glibc
import NetTypes
import SwitchHAL

/// What vrrpd is started with, declared once: `vrrpd`'s command line fills it, `DaemonRuntime`
/// reads what the process needs (socket, pid file, signals) and hands it whole to the
/// `ControlPlane`, which keeps it (`plane.options`); tests and `OfflinePlane` make their own.
public struct DaemonOptions: Sendable {
    public var socketPath: String
    public var configPath: String
    /// `--pid-file`: written once the socket is about to accept, removed on exit.
    public var pidFile: String?
    /// How long a command may wait for work done elsewhere (`--command-timeout`).
    public var commandTimeout: Duration = .seconds(5)
    public var version = DaemonVersion.string
    public var chip = ChipProfile.trident2
    /// The switch's base MAC: port N has base+N, SVIs use base.
    public var baseMAC = MACAddress(0x0200_0000_0000)
    /// How long one HAL call may wait for a HAL lock.
    public var halTimeout = 2.0
    /// `--trace-hal FILE`.
    public var halTraceFile: String?
    /// The watchdog's threshold for locks held or waited for.
    public var lockThreshold = 1.0
    /// What each port is wired to (`--port eth1=udp:4001:4002`); unwired ports carry nothing.
    public var ports: [PortAttachment] = []
    /// The directories `copy FILE running-config` may read from (`--copy-dir`; by default
    /// the startup configuration's own).
    public var copyDirectories: [String] = []
    /// `--socket-group`: a group whose members may use the socket (SSH logins into vtysh).
    public var socketGroup: gid_t?
    /// Reopens the log file (SIGHUP); returns a problem, or nil.
    public var reopenLog: (@Sendable () -> String?)?
    /// Where the log goes and the buffer of its last messages (`show logging`).
    public var log = LogSettings()
    /// `--allow-fault-injection`: the `test fault` commands run (labs and tests); off, they
    /// are refused.
    public var allowFaultInjection = false

    /// The directories `copy` reads from, the default applied.
    public var readableDirectories: [String] {
        copyDirectories.isEmpty ? [StartupConfigStore.directoryAndName(configPath).directory] : copyDirectories
    }

    public init(socketPath: String, configPath: String) {
        self.socketPath = socketPath
        self.configPath = configPath
    }
}
