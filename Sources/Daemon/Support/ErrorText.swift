import Glibc
import NIOCore
import NIOPosix

/// An error as a user reads it: what happened, in words, without the names of the functions
/// inside SwiftNIO that met it. NIO's own text for a socket error reads
/// `read(descriptor:pointer:size:): Connection reset by peer) (errno: 104)`; this says
/// `connection reset by peer`.
enum ErrorText {
    static func describe(_ error: Error) -> String {
        switch error {
        case let io as IOError:
            return sentence(String(cString: strerror(io.errnoCode)))
        case let channel as ChannelError:
            switch channel {
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof: return "the connection is closed"
            case .connectTimeout(let after): return "no connection within \(formatSeconds(Double(after.nanoseconds) / 1e9))"
            default: return "\(channel)"
            }
        case is NIOThreadPoolError.ThreadPoolInactive:
            return "vrrpd is stopping (its worker threads have ended)"
        case let loop as EventLoopError where loop == .shutdown:
            return "vrrpd is stopping"
        default:
            return "\(error)"
        }
    }

    /// Whether `error` only says that the client went away (nothing for anyone to fix).
    static func isClientGone(_ error: Error) -> Bool {
        if let io = error as? IOError { return [ECONNRESET, EPIPE, ECONNABORTED].contains(io.errnoCode) }
        if let channel = error as? ChannelError { return [.ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof].contains(channel) }
        return false
    }

    /// strerror's text as part of a sentence: "Connection reset by peer" -> "connection reset by peer".
    private static func sentence(_ text: String) -> String {
        guard let first = text.first, first.isUppercase, text.dropFirst().first?.isLowercase == true else { return text }
        return first.lowercased() + text.dropFirst()
    }
}
