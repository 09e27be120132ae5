/// An error from the HAL, mirroring the Broadcom SDK's return codes (`BCM_E_FULL` is `.full`),
/// with a message a user can act on.
public enum HALError: Error, Equatable, Sendable, CustomStringConvertible {
    case `internal`(String)
    case memory(String)
    case param(String)
    case empty(String)
    case full(String)
    case notFound(String)
    case exists(String)
    /// A lock could not be taken before the call's deadline.
    case timeout(LockTimeout)
    case busy(String)
    case fail(String)
    case resource(String)
    case unavailable(String)

    /// The SDK's numeric code.
    public var code: Int32 {
        switch self {
        case .internal: return -1
        case .memory: return -2
        case .param: return -4
        case .empty: return -5
        case .full: return -6
        case .notFound: return -7
        case .exists: return -8
        case .timeout: return -9
        case .busy: return -10
        case .fail: return -11
        case .resource: return -14
        case .unavailable: return -16
        }
    }

    /// The SDK's name for the code (`BCM_E_` without the prefix).
    public var codeName: String {
        switch self {
        case .internal: return "INTERNAL"
        case .memory: return "MEMORY"
        case .param: return "PARAM"
        case .empty: return "EMPTY"
        case .full: return "FULL"
        case .notFound: return "NOT_FOUND"
        case .exists: return "EXISTS"
        case .timeout: return "TIMEOUT"
        case .busy: return "BUSY"
        case .fail: return "FAIL"
        case .resource: return "RESOURCE"
        case .unavailable: return "UNAVAIL"
        }
    }

    public var message: String {
        switch self {
        case .internal(let m), .memory(let m), .param(let m), .empty(let m), .full(let m), .notFound(let m),
            .exists(let m), .busy(let m), .fail(let m), .resource(let m), .unavailable(let m):
            return m
        case .timeout(let t):
            return t.description
        }
    }

    public var description: String {
        if case .timeout(let t) = self { return "HAL timeout: \(t)" }
        return "HAL error \(codeName) (\(code)): \(message)"
    }
}

/// Why a HAL call timed out: the lock it waited for, and who held it.
public struct LockTimeout: Equatable, Sendable, CustomStringConvertible {
    /// The HAL operation that waited (`delete-by-port`).
    public var operation: String
    public var lock: String
    public var waitedSeconds: Double
    public var holderThread: String?
    public var heldSeconds: Double
    /// Where the holder took the lock (`L2Worker.swift:123`).
    public var holderSite: String?

    public init(operation: String, lock: String, waitedSeconds: Double, holderThread: String?, heldSeconds: Double, holderSite: String?) {
        self.operation = operation
        self.lock = lock
        self.waitedSeconds = waitedSeconds
        self.holderThread = holderThread
        self.heldSeconds = heldSeconds
        self.holderSite = holderSite
    }

    public var description: String {
        var text = "\(operation) waited \(formatSeconds(waitedSeconds)) for lock \(lock)"
        if let holderThread {
            text += " held by thread \(holderThread) for \(formatSeconds(heldSeconds))"
            if let holderSite { text += " (\(holderSite))" }
        }
        return text
    }
}

func formatSeconds(_ seconds: Double) -> String {
    let tenths = Int((seconds * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}
