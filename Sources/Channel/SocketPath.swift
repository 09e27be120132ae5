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

    /// Why the directory holding `socket` cannot be trusted (as OpenSSH's StrictModes judges a
    /// home directory), or nil: it must belong to this user or root, and not be writable by
    /// others unless it is sticky (like /tmp, where nobody can replace another's file). A
    /// directory that does not exist yet is fine (vrrpd creates it).
    public static func directoryProblem(_ socket: String) -> String? {
        let directory = socket.contains("/") ? String(socket[..<socket.lastIndex(of: "/")!]) : "."
        let dir = directory.isEmpty ? "/" : directory
        var st = stat()
        guard stat(dir, &st) == 0 else { return nil }
        guard st.st_mode & S_IFMT == S_IFDIR else { return "\(dir) is not a directory" }
        let me = geteuid()
        if st.st_uid != me && st.st_uid != 0 {
            return "\(dir) belongs to uid \(st.st_uid), not to you (uid \(me)) or root: whoever owns it could answer in vrrpd's place; remove it or give another --socket"
        }
        if st.st_mode & (S_IWGRP | S_IWOTH) != 0 && st.st_mode & S_ISVTX == 0 {
            return "\(dir) can be written by others (mode \(String(st.st_mode & 0o7777, radix: 8))): anyone could put a socket there in vrrpd's place; chmod go-w it or give another --socket"
        }
        return nil
    }

    /// Why the socket at `socket` cannot be trusted with what vtysh sends (an enable secret),
    /// or nil: it must belong to this user or root.
    public static func socketProblem(_ socket: String) -> String? {
        var st = stat()
        guard lstat(socket, &st) == 0 else { return nil }
        let me = geteuid()
        if st.st_uid != me && st.st_uid != 0 {
            return "\(socket) belongs to uid \(st.st_uid), not to you (uid \(me)) or root: it is not your vrrpd; nothing was sent"
        }
        return nil
    }
}
