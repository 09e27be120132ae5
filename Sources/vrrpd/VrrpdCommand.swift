import ArgumentParser
import Channel
import Daemon
import Glibc
import Logging
import NetTypes
import SwitchHAL

@main
struct VrrpdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vrrpd",
        abstract: "The simulated L3 switch's control plane: VRRP, NAT and the switch configuration.",
        discussion: """
            vrrpd runs in the foreground and logs to stderr unless -d is given. vtysh talks to it over \
            a Unix socket; both find the same socket by default (\(SocketPath.environmentVariable) overrides it).
            Signals: SIGTERM/SIGINT stop it cleanly; SIGHUP re-reads the configuration file and \
            applies the difference (or logs why not).
            """,
        version: "vrrpd \(DaemonVersion.string)"
    )

    @Flag(name: .customShort("d"), help: "Detach: run in the background (new session, pid file, log to --log-file or syslog).")
    var detach = false

    @Option(
        name: [.customShort("f"), .customLong("config")],
        help: ArgumentHelp(
            "Startup configuration file, applied at start and saved by 'write file'.",
            discussion: "Default: $VRRPD_CONFIG, else /etc/vrrpd/vrrpd.conf for root, else ~/.config/vrrpd/vrrpd.conf.",
            valueName: "CONFIG"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Path of the command socket.",
            discussion: "Default: $\(SocketPath.environmentVariable), else /run/vrrpd/vrrpd.vty for root, else $XDG_RUNTIME_DIR/vrrpd/vrrpd.vty or /tmp/vrrpd-UID/vrrpd.vty.",
            valueName: "PATH"))
    var socket: String?

    @Option(
        name: .customLong("pid-file"),
        help: ArgumentHelp("Write the daemon's pid here (default with -d: vrrpd.pid beside the socket).", valueName: "PATH"))
    var pidFile: String?

    @Option(name: .customLong("log-level"), help: "Least severe messages logged: trace, debug, info, notice, warning, error, critical.")
    var logLevel: LogLevelArgument = .info

    @Option(
        name: .customLong("log-file"),
        help: ArgumentHelp("Log to this file instead of stderr (or, with -d, instead of syslog).", valueName: "PATH"))
    var logFile: String?

    @Option(help: ArgumentHelp("The switch chip to simulate: trident2 (288K L2 entries, 54 ports), tomahawk, small (tests).", valueName: "NAME"))
    var chip: String = "trident2"

    @Option(
        name: .customLong("base-mac"),
        help: ArgumentHelp("The switch's base MAC: SVIs use it, port N uses base+N (default: derived from the socket path).", valueName: "MAC"))
    var baseMAC: String?

    @Option(
        name: .customLong("hal-timeout"),
        help: ArgumentHelp(
            "How long one HAL call may wait for a HAL lock before failing with a timeout, in seconds (default 2, or half the command timeout if that is less).",
            valueName: "SECONDS"))
    var halTimeout: Double?

    @Option(
        name: .customLong("trace-hal"),
        help: ArgumentHelp("Write an strace-like line for every HAL call (thread, call, arguments, result, duration) to this file.", valueName: "FILE"))
    var traceHAL: String?

    @Option(
        name: .customLong("lock-threshold"),
        help: ArgumentHelp("Report any HAL lock held or waited for longer than this, in seconds.", valueName: "SECONDS"))
    var lockThreshold: Double = 1

    @Option(name: .customLong("witness"), help: "The lock-order witness: on or off (default: on in debug builds, off in release builds).")
    var witness: WitnessSetting?

    @Option(
        name: .customLong("copy-dir"),
        help: ArgumentHelp(
            "A directory `copy FILE running-config` may read from (repeatable; default: the startup configuration's directory). Nothing outside them is read.",
            valueName: "DIR"))
    var copyDirectories: [String] = []

    @Option(
        name: .customLong("socket-group"),
        help: ArgumentHelp(
            "A group whose members may use the command socket (mode 0660), e.g. the users SSH logins run vtysh as (scripts/ssh-access).",
            valueName: "GROUP"))
    var socketGroup: String?

    @Option(
        name: .customLong("port"),
        help: ArgumentHelp(
            "Wire a port (repeatable): ethN=udp:LOCAL:REMOTE (a UDP tunnel on 127.0.0.1 to another switch) or ethN=linux:IFNAME (an AF_PACKET socket on a Linux interface; root).",
            valueName: "SPEC"))
    var ports: [String] = []

    @Option(
        name: .customLong("command-timeout"),
        help: ArgumentHelp("Deadline for one command, in seconds; a command still waiting then answers with a timeout.", valueName: "SECONDS"))
    var commandTimeout: Double = 5

    @Flag(
        name: .customLong("allow-fault-injection"),
        help: ArgumentHelp(
            "Let privileged sessions inject faults (test fault ...: block the control plane, stall HAL threads, slow saves), for labs and tests.",
            discussion: "Off by default: a production switch refuses every test fault command. Each fault is bounded (docs/hal.md); show version says whether this is on."))
    var allowFaultInjection = false

    @Flag(
        name: .customLong("check-config"),
        help: ArgumentHelp(
            "Check the configuration file (-f) as vrrpd would apply it, print every failing line as FILE:LINE: message, and exit: 0 when it loads with no error, 1 otherwise.",
            discussion: "Nothing is started: no socket, no ports; the --chip's limits apply."))
    var checkConfig = false

    func validate() throws {
        guard commandTimeout > 0, commandTimeout <= 3600 else {
            throw ValidationError("--command-timeout must be between 0 and 3600 seconds")
        }
        guard ChipProfile.named(chip) != nil else {
            throw ValidationError("unknown chip \(chip); choose one of \(ChipProfile.all.map(\.name).joined(separator: ", "))")
        }
        if let baseMAC {
            guard let mac = MACAddress(parsing: baseMAC), !mac.isMulticast, mac.value & 0xff == 0 else {
                throw ValidationError("--base-mac must be a unicast MAC ending in 00 (e.g. 02:00:00:00:01:00)")
            }
        }
        if let halTimeout, halTimeout <= 0 || halTimeout >= commandTimeout {
            throw ValidationError("--hal-timeout must be positive and shorter than --command-timeout")
        }
        guard lockThreshold >= 0.01, lockThreshold <= 600 else {
            throw ValidationError("--lock-threshold must be between 0.01 and 600 seconds")
        }
        if let socket, socket.utf8.count > SocketPath.maxLength {
            throw ValidationError("--socket path is longer than \(SocketPath.maxLength) bytes")
        }
    }

    func run() throws {
        if checkConfig { try runCheck() }
        let socketPath = absolute(SocketPath.resolve(socket))
        let configPath = absolute(config ?? Self.defaultConfigPath)
        var pidPath = pidFile.map(absolute)
        if detach && pidPath == nil {
            pidPath = String(socketPath[..<(socketPath.lastIndex(of: "/") ?? socketPath.startIndex)]) + "/vrrpd.pid"
        }
        let logPath = logFile.map(absolute)

        // Detached with syslog as the destination: say so now if there is no syslog to take
        // the lines, while the terminal can still show it.
        if detach && logPath == nil && access("/dev/log", W_OK) != 0 {
            printError("vrrpd: warning: -d logs to syslog, and /dev/log does not accept them: its log is lost; use --log-file")
        }
        var readiness: Detacher?
        if detach { readiness = try Detacher.detach() }

        let destination: LogDestination = logPath.map { .file($0) } ?? (detach ? .syslog : .standardError)
        let sink: LogSink
        do {
            sink = try LogSink(destination, buffer: LogBuffer(level: min(.info, logLevel.level)))
        } catch {
            readiness?.fail("\(error)")
            throw error
        }
        let level = logLevel.level
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, sink: sink) }
        let logger = Logger(label: "vrrpd")
        if detach { Detacher.redirectStandardStreams() }

        var options = DaemonOptions(socketPath: socketPath, configPath: configPath)
        options.pidFile = pidPath
        options.commandTimeout = .seconds(commandTimeout)
        options.chip = ChipProfile.named(chip)!
        options.baseMAC = baseMAC.flatMap { MACAddress(parsing: $0) } ?? Self.derivedMAC(socketPath)
        options.halTimeout = halTimeout ?? min(2, commandTimeout / 2)
        options.halTraceFile = traceHAL.map(absolute)
        options.lockThreshold = lockThreshold
        options.copyDirectories = copyDirectories.map(absolute)
        if let socketGroup {
            guard let entry = getgrnam(socketGroup) else {
                if !detach { printError("vrrpd: --socket-group: no group \(socketGroup)") }
                readiness?.fail("--socket-group: no group \(socketGroup)")
                throw ExitCode(1)
            }
            options.socketGroup = entry.pointee.gr_gid
        }
        options.reopenLog = { sink.reopen() }
        options.log = LogSettings(destination: destination, level: logLevel.level, buffer: sink.buffer)
        options.allowFaultInjection = allowFaultInjection
        if allowFaultInjection { logger.warning("fault injection allowed (--allow-fault-injection): test fault commands can block the control plane and stall the HAL") }
        if let witness { Witness.shared.isEnabled = witness == .on }
        do {
            options.ports = try ports.map { try PortAttachment.open($0, portCount: options.chip.portCount) }
            let wired = options.ports.map(\.port)
            if Set(wired).count != wired.count { throw DaemonError("--port: a port is wired twice") }
        } catch {
            readiness?.fail("\(error)")
            if !detach { printError("vrrpd: \(error)") }
            throw ExitCode(1)
        }
        let runtime = DaemonRuntime(options: options, logger: logger)
        do {
            try runtime.run { result in
                switch result {
                case .success: readiness?.ready()
                case .failure(let error): readiness?.fail("\(error)")
                }
            }
        } catch {
            if !detach { printError("vrrpd: \(error)") }
            throw ExitCode(1)
        }
    }

    /// `--check-config`: the file through the daemon's own loader, on a plane of its own.
    func runCheck() throws -> Never {
        let path = absolute(config ?? Self.defaultConfigPath)
        let bytes: [UInt8]
        do {
            guard let read = try StartupConfigStore.readFile(path) else {
                printError("vrrpd: \(path) does not exist")
                throw ExitCode(1)
            }
            bytes = read
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("vrrpd: \(error)")
            throw ExitCode(1)
        }
        let plane = try OfflinePlane(chip: ChipProfile.named(chip)!)
        let result = plane.check(bytes: bytes, source: path)
        for error in result.report.errors { print(error) }
        print("\(path): \(result.report.summary)")
        throw ExitCode(result.report.errors.isEmpty ? 0 : 1)
    }

    /// A locally administered MAC from the socket path, so that switches of a lab (one socket
    /// each) differ: 02:xx:xx:xx:xx:00.
    static func derivedMAC(_ path: String) -> MACAddress {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in path.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return MACAddress(0x0200_0000_0000 | (hash & 0xffff_ffff) << 8)
    }

    static var defaultConfigPath: String {
        if let path = getenv("VRRPD_CONFIG").map({ String(cString: $0) }), !path.isEmpty { return path }
        if getuid() == 0 { return "/etc/vrrpd/vrrpd.conf" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        return home + "/.config/vrrpd/vrrpd.conf"
    }

    func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + path
    }
}

enum WitnessSetting: String, ExpressibleByArgument, CaseIterable {
    case on, off
}

enum LogLevelArgument: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}

func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = write(STDERR_FILENO, line, line.count)
}
