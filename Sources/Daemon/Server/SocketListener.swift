import Channel
import Glibc
import Logging
import NIOCore
import NIOPosix

/// The command socket: one vrrpd per path (a lock file beside it), stale sockets replaced,
/// mode 0660: vrrpd's user, and its group or the `--socket-group`.
final class SocketListener {
    let path: String
    private let socketGroup: gid_t?
    private let lockFD: Int32
    private(set) var channel: Channel?

    /// Takes the socket path for this process. Fails with a clear message if another vrrpd is
    /// serving it.
    init(path: String, group: gid_t? = nil, logger: Logger) throws {
        guard path.utf8.count <= SocketPath.maxLength else {
            throw DaemonError("socket path \(path) is longer than \(SocketPath.maxLength) bytes")
        }
        self.path = path
        socketGroup = group
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty { try SocketListener.makeDirectory(directory) }
        if let group, !directory.isEmpty { try SocketListener.letGroupEnter(directory, group: group) }
        if let problem = SocketPath.directoryProblem(path) { throw DaemonError("refusing the socket \(path): \(problem)") }

        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DaemonError("cannot open lock file \(lockPath): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var holder = ""
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { holder = " (pid \(String(decoding: buffer[0..<n], as: UTF8.self).trimmed))" }
            Glibc.close(fd)
            throw DaemonError("another vrrpd is already running on \(path)\(holder); stop it or use --socket")
        }
        // The lock file names its holder for the message above.
        _ = ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pwrite(fd, pid, pid.count, 0)
        lockFD = fd

        // We hold the lock, so any socket file here is stale; but a live server started by
        // something that ignores the lock must not be stolen from.
        var st = stat()
        if lstat(path, &st) == 0 {
            if SocketListener.isAnswering(path) {
                Glibc.close(fd)
                throw DaemonError("a server is already answering on \(path); refusing to replace it")
            }
            guard unlink(path) == 0 else {
                Glibc.close(fd)
                throw DaemonError("cannot remove stale socket \(path): \(String(cString: strerror(errno)))")
            }
            logger.notice("removed stale socket \(path)")
        }
    }

    func bind(group: EventLoopGroup, plane bound: NIOLoopBound<ControlPlane>) throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Connection(plane: bound.value))
                }
            }
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelOption(
                .writeBufferWaterMark, value: .init(low: 64 * 1024, high: 256 * 1024))
        let previous = umask(0o117)  // the socket is created 0660
        defer { umask(previous) }
        do {
            channel = try bootstrap.bind(unixDomainSocketPath: path).wait()
        } catch {
            throw DaemonError("cannot listen on \(path): \(ErrorText.describe(error))")
        }
        chmod(path, 0o660)
        if let socketGroup, chown(path, uid_t.max, socketGroup) != 0 {
            throw DaemonError("cannot give \(path) to group \(socketGroup): \(String(cString: strerror(errno)))")
        }
    }

    /// The socket's group may reach it: a directory of vrrpd's own that others cannot enter
    /// gets the group and g+x (never write: nobody else may put a socket there).
    static func letGroupEnter(_ directory: String, group: gid_t) throws {
        var st = stat()
        guard stat(directory, &st) == 0, st.st_uid == geteuid() else { return }
        if st.st_mode & S_IXOTH != 0 { return }  // anyone may enter already (/run/vrrpd is 0755)
        guard chown(directory, uid_t.max, group) == 0, chmod(directory, (st.st_mode & 0o700) | 0o010) == 0 else {
            throw DaemonError("cannot let group \(group) into \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Stops accepting, removes the socket file and the lock.
    func shutdown(removeFiles: Bool = true) {
        try? channel?.close().wait()
        channel = nil
        if removeFiles {
            unlink(path)
            unlink(path + ".lock")
        }
        Glibc.close(lockFD)
    }

    /// Whether something listens on `path` (a full listen queue counts as listening).
    static func isAnswering(_ path: String) -> Bool {
        do {
            _ = try ChannelClient(path: path, timeout: 0.2)
            return true
        } catch .timedOut {
            return true
        } catch {
            return false
        }
    }

    static func makeDirectory(_ directory: String) throws {
        var st = stat()
        if stat(directory, &st) == 0 { return }
        let parent = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
        if !parent.isEmpty { try makeDirectory(parent) }
        // Root's (/run/vrrpd) others may enter; a user's (/tmp/vrrpd-UID) nobody else.
        if mkdir(directory, geteuid() == 0 ? 0o755 : 0o700) != 0 && errno != EEXIST {
            throw DaemonError("cannot create directory \(directory): \(String(cString: strerror(errno)))")
        }
    }
}
