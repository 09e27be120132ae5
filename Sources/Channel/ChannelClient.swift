#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Time

/// A client end of the command channel: a non-blocking Unix socket where every wait has a
/// deadline, so the caller can never block forever on a daemon that stopped answering.
///
/// ```swift
/// let client = try ChannelClient(path: SocketPath.resolve(nil))
/// let end = try client.request(.exec, "show version", timeout: 5) { chunk in print(chunk) }
/// ```
public final class ChannelClient {
    public let path: String
    private let fd: Int32
    private var decoder = FrameDecoder(maxPayload: ChannelLimits.maxReplyPayload)
    private var nextID: UInt32 = 1
    /// When readable, waits end with `ClientError.interrupted` (vtysh's SIGINT self-pipe).
    public var interruptFD: Int32 = -1

    /// What the daemon's WELCOME said (`prompt`, `max-request`, ...), when the client greeted.
    public private(set) var welcome: [String: String] = [:]

    /// Connects to the daemon's socket and opens the session (HELLO, then its WELCOME) unless
    /// `hello` is nil. A daemon whose listen queue is full (it is stopped or stuck and does not
    /// accept) or that does not answer makes this fail with `timedOut` after `timeout` seconds
    /// rather than block.
    public convenience init(path: String, timeout: Double = 10, hello: String? = "client=channel-client pid \(getpid())") throws(ClientError) {
        try self.init(connectingTo: path, timeout: timeout)
        guard let hello else { return }
        let id = makeID()
        let deadline = Instant.secondsFromNow(timeout)
        try send(Frame(.hello, id: id, text: hello), deadline: deadline)
        while true {
            let frame = try receive(deadline: deadline)
            guard frame.id == id, frame.type == .welcome else { continue }
            for line in (frame.text ?? "").split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { welcome[String(parts[0])] = String(parts[1]) }
            }
            return
        }
    }

    private init(connectingTo path: String, timeout: Double) throws(ClientError) {
        self.path = path
        guard path.utf8.count <= SocketPath.maxLength else {
            throw .cannotConnect(path: path, reason: "path longer than \(SocketPath.maxLength) bytes")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .cannotConnect(path: path, reason: ChannelClient.errorText(errno)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            raw[path.utf8.count] = 0
        }
        let deadline = Instant.secondsFromNow(timeout)
        while true {
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if result == 0 { break }
            let code = errno
            if code == EINTR { continue }
            // A Unix socket whose listen queue is full answers EAGAIN; try again until the deadline.
            if code == EAGAIN && deadline.remainingMilliseconds > 0 {
                usleep(10_000)
                continue
            }
            close(fd)
            if code == EAGAIN { throw .timedOut }
            var reason = ChannelClient.errorText(code)
            if code == ENOENT || code == ECONNREFUSED { reason += " (is vrrpd running?)" }
            throw .cannotConnect(path: path, reason: reason)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Allocates the id of the next request.
    public func makeID() -> UInt32 {
        defer { nextID = nextID == UInt32.max ? 1 : nextID + 1 }
        return nextID
    }

    /// Frames queued and not written yet.
    private var outgoing: [UInt8] = []

    /// Sends a frame, waiting at most until `deadline` for the socket to accept it (and every
    /// frame queued before it).
    public func send(_ frame: Frame, deadline: Instant) throws(ClientError) {
        queue(frame)
        try flush(deadline: deadline)
    }

    /// Queues a frame to go out with the next `flush` (or `send`, or before the next `receive`):
    /// a script's lines sent ahead leave in one write, and wake the daemon once, not per line.
    public func queue(_ frame: Frame) {
        outgoing += frame.encoded
    }

    /// Writes every queued frame, waiting at most until `deadline` for the socket to take them.
    public func flush(deadline: Instant) throws(ClientError) {
        guard !outgoing.isEmpty else { return }
        defer { outgoing.removeAll(keepingCapacity: true) }
        let bytes = outgoing
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                try wait(for: Int16(POLLOUT), until: deadline)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EPIPE || errno == ECONNRESET) { throw .closed }
            throw .io("send", ChannelClient.errorText(errno))
        }
    }

    /// Receives the next frame, waiting at most until `deadline`. Frames still queued are
    /// written before it waits for the socket.
    public func receive(deadline: Instant) throws(ClientError) -> Frame {
        while true {
            do {
                if let frame = try decoder.next() {
                    if frame.type == .error {
                        throw ClientError.daemonError(frame.text ?? "(unreadable error)")
                    }
                    return frame
                }
            } catch let error as ProtocolError {
                throw .protocolError(error)
            } catch let error as ClientError {
                throw error
            } catch {
                throw .io("decode", "\(error)")
            }
            try flush(deadline: deadline)
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                decoder.append(chunk[0..<n])
                continue
            }
            if n == 0 { throw .closed }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                try wait(for: Int16(POLLIN), until: deadline)
                continue
            }
            if errno == EINTR { continue }
            if errno == ECONNRESET { throw .closed }
            throw .io("recv", ChannelClient.errorText(errno))
        }
    }

    /// Sends one request and collects its reply: `onData` gets each DATA chunk, the END is
    /// returned. Frames of earlier, abandoned requests are skipped.
    public func request(
        _ type: FrameType, _ text: String, timeout: Double, onData: ([UInt8]) -> Void
    ) throws(ClientError) -> EndOfReply {
        let id = makeID()
        let deadline = Instant.secondsFromNow(timeout)
        try send(Frame(type, id: id, text: text), deadline: deadline)
        return try awaitReply(id: id, deadline: deadline, onData: onData)
    }

    /// Collects the reply of request `id`.
    public func awaitReply(id: UInt32, deadline: Instant, onData: ([UInt8]) -> Void) throws(ClientError) -> EndOfReply {
        while true {
            let frame = try receive(deadline: deadline)
            guard frame.id == id else { continue }
            switch frame.type {
            case .data:
                onData(frame.payload)
            case .end:
                do {
                    return try EndOfReply(payload: frame.payload)
                } catch {
                    throw .protocolError(error)
                }
            default:
                throw .protocolError(.unexpected(frame.type))
            }
        }
    }

    private func wait(for events: Int16, until deadline: Instant) throws(ClientError) {
        while true {
            let remaining = deadline.remainingMilliseconds
            if remaining <= 0 { throw .timedOut }
            var fds = [pollfd(fd: fd, events: events, revents: 0)]
            if interruptFD >= 0 { fds.append(pollfd(fd: interruptFD, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), Int32(min(remaining, Int(Int32.max))))
            if n < 0 {
                if errno == EINTR {
                    if interruptFD >= 0 { continue }
                    throw .interrupted
                }
                throw .io("poll", ChannelClient.errorText(errno))
            }
            if fds.count > 1 && fds[1].revents != 0 { throw .interrupted }
            if fds[0].revents != 0 { return }
        }
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// Why a channel request did not complete.
public enum ClientError: Error, Equatable, Sendable {
    case cannotConnect(path: String, reason: String)
    case timedOut
    case interrupted
    case closed
    case protocolError(ProtocolError)
    case daemonError(String)
    case io(String, String)
}

extension Instant {
    /// A deadline `seconds` from now on the system clock (the clock `poll` waits on).
    public static func secondsFromNow(_ seconds: Double) -> Instant { SystemClock.deadline(after: .seconds(max(0, seconds))) }

    /// What is left until this deadline on the system clock, in whole milliseconds rounded up
    /// (`poll`'s timeout).
    public var remainingMilliseconds: Int {
        let left = duration(since: SystemClock.now).inNanoseconds
        return Int((left + 999_999) / 1_000_000)
    }
}
