import CLI
import Glibc
import Logging

/// `show logging` and `clear logging`: the daemon's last log messages (its logging buffer), in
/// IOS's layout so that tools parse it (ntc-templates' cisco_ios `show logging`):
/// `Dec  4 18:24:55.487 UTC: %VRRPD-5-NOTICE: VRRP vlan10 VRID 10: Initialize -> Backup`.
/// FACILITY is the logger's label, SEVERITY the syslog severity of the level, MNEMONIC the
/// level's name. Privileged, as `show running-config` is: the log says what changed and who
/// did what (and no line of it carries a secret: `LineLogHandler`).
enum LoggingCommands {
    static var declarations: [CommandDeclaration] {
        [
            CommandDeclaration(
                "show logging", help: [Help.show, "Show the contents of the logging buffer"], modes: [Modes.enable]
            ) { ctx, _ in
                let log = ctx.plane.options.log
                guard let buffer = log.buffer else {
                    ctx.print("Syslog logging: enabled (0 messages dropped)")
                    ctx.print("    Buffer logging: disabled (this vrrpd keeps no log buffer)")
                    return .done(.success)
                }
                let contents = buffer.contents
                ctx.print("Syslog logging: enabled (\(contents.overwritten) messages dropped, 0 flushes, 0 overruns)")
                ctx.print("")
                ctx.print("    Console logging: disabled")
                ctx.print("    Monitor logging: disabled")
                ctx.print("    Buffer logging:  level \(iosLevelName(buffer.level)), \(contents.logged) messages logged")
                ctx.print("    Logging to: \(destination(log.destination)), level \(iosLevelName(log.level))")
                ctx.print("")
                ctx.print("Log Buffer (\(buffer.capacity) messages):")
                ctx.print("")
                ctx.streamItems(contents.entries, chunk: 500) { line($0) + "\n" }
                return .done(.success)
            },
            CommandDeclaration(
                "clear logging", help: ["Reset functions", "Clear the logging buffer"], modes: [Modes.enable]
            ) { ctx, _ in
                ctx.plane.options.log.buffer?.clear()
                return .done(.success)
            },
        ]
    }

    static func destination(_ destination: LogDestination) -> String {
        switch destination {
        case .standardError: return "standard error (vrrpd in the foreground)"
        case .file(let path): return "file \(path)"
        case .syslog: return "syslog (facility daemon)"
        }
    }

    /// IOS's name for a severity, as `show logging` prints levels.
    static func iosLevelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: return "debugging"
        case .info: return "informational"
        case .notice: return "notifications"
        case .warning: return "warnings"
        case .error: return "errors"
        case .critical: return "critical"
        }
    }

    static func severity(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// One message as IOS prints a buffered one (with `service timestamps log datetime msec`).
    static func line(_ entry: LogBuffer.Entry) -> String {
        var seconds = entry.wallSeconds
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let millis = entry.milliseconds < 10 ? "00\(entry.milliseconds)" : entry.milliseconds < 100 ? "0\(entry.milliseconds)" : "\(entry.milliseconds)"
        let day = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        let facility = String(entry.label.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        // One line per message: a line break in a message would read as another message.
        let message = entry.message.replacingOccurrences(of: "\n", with: " ")
        return "\(months[Int(parts.tm_mon)]) \(day) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis) UTC: "
            + "%\(facility)-\(severity(entry.level))-\(entry.level.rawValue.uppercased()): \(message)"
    }
}
