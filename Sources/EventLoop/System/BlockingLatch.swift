import Glibc

/// A latch that one thread opens and any number wait on, blocking the
/// waiting thread (a POSIX semaphore): for a thread that must wait until
/// another has set something up (a `LoopThread`'s creator, until its loop
/// exists), or has finished (a blocking shutdown).
///
/// Not through the fault seam: `sem_wait` fails only with `EINTR`, which is
/// retried, and `sem_post` only on overflow, which a latch posted once per
/// waiter cannot reach. Any thread.
final class BlockingLatch: @unchecked Sendable {
    // The semaphore is process-private and lives on the heap, at a fixed address.
    private let semaphore: UnsafeMutablePointer<sem_t>

    init() {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Opens the latch: every waiter, now and later, goes on. Call once.
    func open() { sem_post(semaphore) }

    /// Waits until the latch is open, then leaves it open for the next waiter.
    func wait() {
        while sem_wait(semaphore) != 0 {} // EINTR: a signal handler ran; wait again
        sem_post(semaphore)
    }
}
