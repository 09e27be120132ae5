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

    /// Whether this vtysh is the login shell of the user running it: started as a login shell
    /// (argv[0] `-vtysh`), or the account's shell (passwd) is a vtysh (by name) or this very file
    /// (same device and inode). It errs on the side of the login shell: a shell that cannot be
    /// resolved but is named vtysh, or a copy of it, still takes no options.
    static var isCallersShell: Bool {
        if CommandLine.arguments.first?.hasPrefix("-") == true { return true }
        guard let entry = getpwuid(getuid()), let shellPointer = entry.pointee.pw_shell else { return false }
        let shell = String(cString: shellPointer)
        if shell.split(separator: "/").last == "vtysh" { return true }
        var own = stat()
        var login = stat()
        guard stat("/proc/self/exe", &own) == 0, stat(shell, &login) == 0 else { return false }
        return own.st_dev == login.st_dev && own.st_ino == login.st_ino
    }
}
