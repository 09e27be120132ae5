import Atomics
import Glibc
import Time

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
    public func wait(timeout: Duration, stillIdle: () -> Bool) {
        sleeping.store(true, ordering: .sequentiallyConsistent)
        guard stillIdle() else {
            if !sleeping.exchange(false, ordering: .acquiringAndReleasing) { drain() }
            return
        }
        // sem_timedwait takes its deadline on CLOCK_REALTIME: a wall-clock jump shortens or
        // stretches one sleep, which every caller (short timeouts, a check on waking) tolerates.
        var until = (SystemClock.wallNow + timeout).timespec
        while sem_timedwait(semaphore, &until) != 0 && errno == EINTR {}
        sleeping.store(false, ordering: .releasing)
    }

    /// Consumes a post that raced with giving up the sleep.
    private func drain() {
        while sem_trywait(semaphore) == 0 {}
    }
}
