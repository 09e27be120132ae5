import Glibc

/// vtysh as an account's login shell (scripts/ssh-access), the way FRR's vtysh and a switch's
/// CLI are one: whatever starts that account's shell gets vtysh and nothing else.
///
/// sshd starts the shell as `-vtysh` for a login and as `vtysh -c COMMAND` for
/// `ssh USER@HOST COMMAND` (it runs even a ForceCommand or a subsystem that way); `su USER`
/// the same. So when vtysh is the login shell of the user running it, it accepts only those two
/// forms, and takes COMMAND verbatim as CLI lines: nothing the remote side sends becomes an
/// option (`ssh HOST -- '-f /etc/passwd'` must not read a file, `--socket` must not pick another
/// daemon). The socket comes from `$VRRPD_SOCKET` (sshd's SetEnv) or the default.
enum LoginShell {
    /// What the arguments of a login shell ask for.
    enum Invocation: Equatable {
        /// No arguments: the interactive shell on a terminal, else the lines of stdin.
        case session
        /// `-c COMMAND`: COMMAND's lines, as `vtysh -c` runs them.
        case command(String)
        /// Anything else: refused, with the reason.
        case refused(String)
    }

    /// The arguments after argv[0], as sshd or su give them to a login shell.
    static func invocation(_ arguments: [String]) -> Invocation {
        switch arguments.count {
        case 0:
            return .session
        case 2 where arguments[0] == "-c":
            return .command(arguments[1])
        default:
            return .refused("% vtysh is this account's login shell: it runs a session or -c COMMAND, no other options")
        }
    }

    /// Whether this vtysh is the login shell (passwd entry) of the user running it.
    static var isCallersShell: Bool {
        guard let entry = getpwuid(getuid()), let shell = entry.pointee.pw_shell,
              let own = realPath("/proc/self/exe"), let login = realPath(String(cString: shell)) else { return false }
        return own == login
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
