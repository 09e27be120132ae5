import NIOConcurrencyHelpers
import SwitchHAL

/// An in-process wire between two ports of switches in the same process (tests): what one end
/// transmits, the other receives at once, on the sender's thread.
public final class SimPort: PortBackend, @unchecked Sendable {
    public let summary: String
    private let lock = NIOLock()
    private var deliver: (@Sendable (UnsafeRawBufferPointer, FrameOffload) -> Void)?
    private weak var peer: SimPort?

    private init(summary: String) { self.summary = summary }

    /// Two connected ends.
    public static func pair(_ a: String, _ b: String) -> (SimPort, SimPort) {
        let left = SimPort(summary: "sim to \(b)")
        let right = SimPort(summary: "sim to \(a)")
        left.peer = right
        right.peer = left
        return (left, right)
    }

    public func transmit(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard let target = peer?.lock.withLock({ peer?.deliver }) else { return false }
        target(frame, .none)
        return true
    }

    public func start(deliver: @escaping @Sendable (UnsafeRawBufferPointer, FrameOffload) -> Void) {
        lock.withLock { self.deliver = deliver }
    }

    public func stop() {
        lock.withLock { deliver = nil }
    }
}
