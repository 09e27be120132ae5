#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where vrrpd listens and vtysh connects, decided the same way on both sides.
///
/// Order: `--socket PATH`, then `$VRRPD_SOCKET`, then `/run/vrrpd/vrrpd.vty` for root,
/// `$XDG_RUNTIME_DIR/vrrpd/vrrpd.vty` or `/tmp/vrrpd-UID/vrrpd.vty` for other users.
public enum SocketPath {
    public static let environmentVariable = "VRRPD_SOCKET"

    public static func resolve(_ explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment(environmentVariable), !fromEnvironment.isEmpty { return fromEnvironment }
        return defaultPath
    }

    public static var defaultPath: String {
        if getuid() == 0 { return "/run/vrrpd/vrrpd.vty" }
        if let runtime = environment("XDG_RUNTIME_DIR"), !runtime.isEmpty { return runtime + "/vrrpd/vrrpd.vty" }
        return "/tmp/vrrpd-\(getuid())/vrrpd.vty"
    }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// `sockaddr_un` can hold 107 path bytes on Linux.
    public static let maxLength = 107
}
