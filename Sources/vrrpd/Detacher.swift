import Glibc

/// `-d`: the classic double fork, with a pipe back to the starting process so that it exits
/// only when the daemon is serving (status 0) or has failed (status 1, with the reason on
/// stderr). Scripts that run `vrrpd -d` and then `vtysh` never race the socket.
struct Detacher {
    private let fd: Int32

    /// Forks; returns in the daemon process only. Must run before any thread is started.
    static func detach() throws -> Detacher {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw DetachError("pipe: \(String(cString: strerror(errno)))") }
        let first = fork()
        guard first >= 0 else { throw DetachError("fork: \(String(cString: strerror(errno)))") }
        if first > 0 {
            close(fds[1])
            var status: Int32 = 0
            waitpid(first, &status, 0)
            var message: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fds[0], &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                message += buffer[0..<n]
            }
            let text = String(decoding: message, as: UTF8.self)
            if text.hasPrefix("R") {
                printError("vrrpd: running in the background, pid \(text.dropFirst().split(separator: "\n").first ?? "?")")
                exit(0)
            }
            printError("vrrpd: " + (text.isEmpty ? "the daemon exited before it was ready" : String(text.dropFirst())))
            exit(1)
        }
        close(fds[0])
        guard setsid() >= 0 else { throw DetachError("setsid: \(String(cString: strerror(errno)))") }
        let second = fork()
        guard second >= 0 else { throw DetachError("fork: \(String(cString: strerror(errno)))") }
        if second > 0 { _exit(0) }
        _ = chdir("/")
        return Detacher(fd: fds[1])
    }

    func ready() { send("R\(getpid())\n") }

    func fail(_ message: String) { send("E" + message) }

    private func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = write(fd, bytes, bytes.count)
        close(fd)
    }

    /// Points stdin, stdout and stderr at /dev/null once logging goes elsewhere.
    static func redirectStandardStreams() {
        let null = open("/dev/null", O_RDWR)
        guard null >= 0 else { return }
        dup2(null, STDIN_FILENO)
        dup2(null, STDOUT_FILENO)
        dup2(null, STDERR_FILENO)
        if null > STDERR_FILENO { close(null) }
    }
}

struct DetachError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
