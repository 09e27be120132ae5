import Atomics
import Glibc

/// How a producer that must never block wakes a sleeping consumer: `signal()` is a semaphore
/// post (a futex wake at most, never a wait); the consumer sleeps in `wait(timeout:)`.
public final class Wakeup: @unchecked Sendable {
    private let semaphore: UnsafeMutablePointer<sem_t>
    private let sleeping = ManagedAtomic<Bool>(false)

    public init() {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Wakes the consumer if it sleeps (cheap when it does not).
    @inline(__always)
    public func signal() {
        if sleeping.exchange(false, ordering: .acquiringAndReleasing) { sem_post(semaphore) }
    }

    /// Sleeps until `signal()` or the timeout. `stillIdle` is checked after announcing the
    /// sleep, so a signal sent in between is not lost.
    public func wait(timeoutNanoseconds: UInt64, stillIdle: () -> Bool) {
        sleeping.store(true, ordering: .sequentiallyConsistent)
        guard stillIdle() else {
            if !sleeping.exchange(false, ordering: .acquiringAndReleasing) { drain() }
            return
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = UInt64(now.tv_nsec) + timeoutNanoseconds % 1_000_000_000
        var until = timespec(
            tv_sec: now.tv_sec + Int(timeoutNanoseconds / 1_000_000_000) + Int(total / 1_000_000_000),
            tv_nsec: Int(total % 1_000_000_000))
        while sem_timedwait(semaphore, &until) != 0 && errno == EINTR {}
        sleeping.store(false, ordering: .releasing)
    }

    /// Consumes a post that raced with giving up the sleep.
    private func drain() {
        while sem_trywait(semaphore) == 0 {}
    }
}
