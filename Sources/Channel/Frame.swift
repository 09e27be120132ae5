/// One frame of the vrrpd command channel (protocol version 1, documented in docs/channel.md).
///
/// ```
/// offset size field
///      0    2 magic "vy" (0x76 0x79)
///      2    1 protocol version (1)
///      3    1 frame type
///      4    4 request id (big-endian)
///      8    4 payload length (big-endian)
///     12    n payload
/// ```
public struct Frame: Equatable, Sendable {
    public var type: FrameType
    public var id: UInt32
    public var payload: [UInt8]

    public init(_ type: FrameType, id: UInt32, payload: [UInt8] = []) {
        self.type = type
        self.id = id
        self.payload = payload
    }

    public init(_ type: FrameType, id: UInt32, text: String) {
        self.init(type, id: id, payload: Array(text.utf8))
    }

    public static let headerSize = 12
    public static let magic: (UInt8, UInt8) = (0x76, 0x79)
    public static let version: UInt8 = 1

    /// Appends the encoded frame to `buffer`.
    public func encode(into buffer: inout [UInt8]) {
        buffer.reserveCapacity(buffer.count + Frame.headerSize + payload.count)
        buffer.append(Frame.magic.0)
        buffer.append(Frame.magic.1)
        buffer.append(Frame.version)
        buffer.append(type.rawValue)
        appendBigEndian(id, to: &buffer)
        appendBigEndian(UInt32(payload.count), to: &buffer)
        buffer.append(contentsOf: payload)
    }

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// The payload as text, or nil when it is not valid UTF-8 or contains NUL.
    public var text: String? {
        guard !payload.contains(0) else { return nil }
        return String(validating: payload, as: UTF8.self)
    }
}

@inline(__always)
func appendBigEndian(_ value: UInt32, to buffer: inout [UInt8]) {
    buffer.append(UInt8(value >> 24))
    buffer.append(UInt8(value >> 16 & 0xff))
    buffer.append(UInt8(value >> 8 & 0xff))
    buffer.append(UInt8(value & 0xff))
}

/// Frame types. Requests (client to daemon) have the high bit clear, replies have it set.
public enum FrameType: UInt8, Sendable, CaseIterable {
    /// Client introduces itself: `key=value` lines (client, pid). Answered by `welcome`.
    case hello = 0x01
    /// Run one command line in the session's current mode.
    case exec = 0x02
    /// TAB: the words the last word of the line can complete to, one per DATA line.
    case complete = 0x03
    /// `?`: the possible next words as `word<TAB>help` DATA lines.
    case describe = 0x04
    /// Abandon request `id` (Ctrl-C). Has no reply of its own; the request ends `cancelled`.
    case cancel = 0x05
    /// The answer to an input prompt (a password); never echoed, logged or kept in history.
    case input = 0x06

    /// `key=value` lines: daemon, version, protocol, hostname, prompt, session, limits.
    case welcome = 0x81
    /// A chunk of a request's reply text. A reply may take any number of DATA frames.
    case data = 0x82
    /// The end of a request's reply: status, flags and the prompt for the next line.
    case end = 0x83
    /// A protocol error; the daemon closes the connection after sending it.
    case error = 0x84

    public var isRequest: Bool { rawValue & 0x80 == 0 }
}

/// The outcome of a request, carried by its END frame.
public enum Status: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case success = 0
    case warning = 1
    case unknown = 2
    case ambiguous = 3
    case incomplete = 4
    case error = 5
    case timeout = 6
    case cancelled = 7
    /// The daemon asks for input (a password): send an INPUT frame with the same id.
    case inputRequired = 8

    public var isFailure: Bool {
        switch self {
        case .success, .warning, .inputRequired: return false
        default: return true
        }
    }

    public var description: String {
        switch self {
        case .success: return "success"
        case .warning: return "warning"
        case .unknown: return "unknown command"
        case .ambiguous: return "ambiguous command"
        case .incomplete: return "incomplete command"
        case .error: return "error"
        case .timeout: return "timeout"
        case .cancelled: return "cancelled"
        case .inputRequired: return "input required"
        }
    }
}

/// The decoded payload of an END frame: `status(1) flags(1) prompt(UTF-8)`.
public struct EndOfReply: Equatable, Sendable {
    public var status: Status
    /// The prompt for the next line (the session's mode after the command).
    public var prompt: String
    /// The daemon asks for input without echo (a password prompt).
    public var hideInput: Bool
    /// The session is over (`exit` from the top mode); the daemon closes the connection.
    public var sessionClosed: Bool

    public init(status: Status, prompt: String, hideInput: Bool = false, sessionClosed: Bool = false) {
        self.status = status
        self.prompt = prompt
        self.hideInput = hideInput
        self.sessionClosed = sessionClosed
    }

    public var payload: [UInt8] {
        var flags: UInt8 = 0
        if hideInput { flags |= 1 }
        if sessionClosed { flags |= 2 }
        return [status.rawValue, flags] + Array(prompt.utf8)
    }

    public init(payload: [UInt8]) throws(ProtocolError) {
        guard payload.count >= 2 else { throw .malformed("END frame shorter than 2 bytes") }
        guard let status = Status(rawValue: payload[0]) else { throw .malformed("unknown status \(payload[0])") }
        guard let prompt = String(validating: payload[2...], as: UTF8.self) else {
            throw .malformed("prompt is not UTF-8")
        }
        self.status = status
        self.prompt = prompt
        hideInput = payload[1] & 1 != 0
        sessionClosed = payload[1] & 2 != 0
    }
}
