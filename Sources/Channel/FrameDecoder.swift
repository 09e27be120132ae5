/// Turns a byte stream into frames, enforcing the protocol's limits.
///
/// Used on both ends: the daemon feeds it what a connection delivers, vtysh what the daemon
/// sends. Any violation is a `ProtocolError`; after one the stream cannot be trusted (there is no
/// way to find the next frame boundary), so the caller closes the connection.
public struct FrameDecoder: Sendable {
    public let maxPayload: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(maxPayload: Int) {
        self.maxPayload = maxPayload
    }

    /// Bytes received but not yet returned as a frame.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// True when part of a frame has arrived and the rest has not.
    public var hasPartialFrame: Bool { bufferedByteCount > 0 }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed.
    /// The request id of the frame whose header was read last (for an ERROR about it).
    public private(set) var headerID: UInt32 = 0

    public mutating func next() throws(ProtocolError) -> Frame? {
        headerID = 0
        let available = buffer.count - readIndex
        // Validate the header as soon as its bytes arrive, so garbage is rejected at once
        // rather than after waiting for a "length" that garbage happened to spell.
        if available >= 1, buffer[readIndex] != Frame.magic.0 { throw .badMagic }
        if available >= 2, buffer[readIndex + 1] != Frame.magic.1 { throw .badMagic }
        if available >= 3, buffer[readIndex + 2] != Frame.version {
            throw .unsupportedVersion(buffer[readIndex + 2])
        }
        if available >= 4, FrameType(rawValue: buffer[readIndex + 3]) == nil {
            throw .unknownType(buffer[readIndex + 3])
        }
        guard available >= Frame.headerSize else { return nil }
        let h = readIndex
        let id = readBigEndian(at: h + 4)
        headerID = id
        let length = Int(readBigEndian(at: h + 8))
        guard length <= maxPayload else { throw .tooLarge(length, max: maxPayload) }
        guard available >= Frame.headerSize + length else { return nil }
        let type = FrameType(rawValue: buffer[h + 3])!
        let payload = Array(buffer[(h + Frame.headerSize)..<(h + Frame.headerSize + length)])
        readIndex += Frame.headerSize + length
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 16)
            readIndex = 0
        }
        return Frame(type, id: id, payload: payload)
    }

    private func readBigEndian(at offset: Int) -> UInt32 {
        UInt32(buffer[offset]) << 24 | UInt32(buffer[offset + 1]) << 16 | UInt32(buffer[offset + 2]) << 8
            | UInt32(buffer[offset + 3])
    }
}

/// A violation of the channel protocol.
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(UInt8)
    case unknownType(UInt8)
    case tooLarge(Int, max: Int)
    case malformed(String)
    case unexpected(FrameType)

    public var description: String {
        switch self {
        case .badMagic: return "not a vrrpd channel frame (bad magic)"
        case .unsupportedVersion(let v): return "unsupported protocol version \(v) (this side speaks \(Frame.version))"
        case .unknownType(let t): return "unknown frame type 0x\(String(t, radix: 16))"
        case .tooLarge(let n, let max): return "frame payload of \(n) bytes exceeds the limit of \(max)"
        case .malformed(let why): return "malformed frame: \(why)"
        case .unexpected(let type): return "unexpected \(type) frame"
        }
    }
}

/// Every limit of the channel, in one place.
public enum ChannelLimits {
    /// Largest request payload (a command line); FRR's limit is the same 8 KiB.
    public static let maxRequestPayload = 8192
    /// Largest DATA chunk the daemon sends; replies longer than this are streamed.
    public static let replyChunk = 32 * 1024
    /// Largest reply frame a client accepts.
    public static let maxReplyPayload = 1 << 20
    /// A connection that sends part of a frame and then nothing for this long is closed.
    public static let partialFrameTimeoutSeconds = 5
    /// A connection that has not sent HELLO this long after it connected is closed: a silent
    /// connection holds a session slot for seconds, never for the exec-timeout. (vtysh greets
    /// as it connects.)
    public static let helloTimeoutSeconds = 5
    /// A connection whose reply output cannot be written for this long is closed.
    public static let stalledWriterTimeoutSeconds = 30
    /// Most simultaneous sessions; further connections get an ERROR frame and are closed.
    public static let maxSessions = 256
    /// Most requests a client may send ahead of their replies on one connection.
    public static let maxPipelinedRequests = 256
}
