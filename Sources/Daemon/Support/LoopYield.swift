import Glibc
import NIOCore
import NIOPosix
import Time

/// Lets long work on the control-plane loop (a configuration file, a long script's lines, a big
/// rendering) step aside for everyone else between slices.
///
/// NIO runs every task queued during a tick before it polls for I/O again, so a task that
/// queues its own continuation never lets another session's request in. A continuation posted
/// here resumes from an I/O event instead: a byte written to a pipe the loop watches. The loop
/// sees it readable in the same poll as every other socket, so the sessions waiting are served
/// before the work goes on, and nothing sleeps when nobody waits.
final class LoopYield {
    private let loop: EventLoop
    private var continuations: [() -> Void] = []
    private var writeFD: Int32 = -1
    private var signalled = false
    private var channel: Channel?

    /// How long a slice of such work may run before it yields.
    static let slice = Duration.microseconds(200)

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Registers the pipe on the loop (on the loop; until it is ready, `yield` runs the work on
    /// the next task, as a plain `execute` would).
    func start() -> EventLoopFuture<Void> {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return loop.makeSucceededVoidFuture() }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        writeFD = fds[1]
        let handler = NIOLoopBound(Reader(owner: self), eventLoop: loop)
        return NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
            }
            .takingOwnershipOfDescriptor(input: fds[0])
            .map { [self] channel in self.channel = channel }
            .recover { _ in }
    }

    func stop() {
        channel?.close(promise: nil)
        channel = nil
        if writeFD >= 0 { close(writeFD) }
        writeFD = -1
    }

    /// Runs `body` after the loop has served whatever I/O is waiting.
    func yield(_ body: @escaping () -> Void) {
        loop.preconditionInEventLoop()
        guard writeFD >= 0, channel != nil else {
            loop.assumeIsolated().execute(body)
            return
        }
        continuations.append(body)
        guard !signalled else { return }
        signalled = true
        var byte: UInt8 = 1
        if write(writeFD, &byte, 1) != 1 {
            signalled = false
            let pending = continuations
            continuations = []
            loop.assumeIsolated().execute { for c in pending { c() } }
        }
    }

    fileprivate func resume() {
        signalled = false
        let pending = continuations
        continuations = []
        for continuation in pending { continuation() }
    }

    private final class Reader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        unowned let owner: LoopYield
        init(owner: LoopYield) { self.owner = owner }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
        func channelReadComplete(context: ChannelHandlerContext) { owner.resume() }
    }
}

/// A deadline for one slice of work on the loop: on the system clock, as it measures the
/// thread's real time (a `TestClock` standing still would make a slice endless).
struct Slice {
    let end: Instant

    init(_ length: Duration = LoopYield.slice) {
        end = SystemClock.deadline(after: length)
    }

    var isOver: Bool { SystemClock.now >= end }
}
