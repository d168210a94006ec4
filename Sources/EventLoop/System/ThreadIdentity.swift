import Glibc

/// Which thread this is: a comparable identity for thread-confinement checks.
///
/// Not a system call (`pthread_self(3)` reads thread-local memory), so it
/// does not pass through the fault seam.
struct ThreadIdentity: Equatable {
    private let thread: pthread_t

    /// The identity as a number, for an atomic (`pthread_t` is an integer on Linux).
    var rawValue: UInt { UInt(thread) }

    /// The calling thread.
    @inline(__always)
    static var current: ThreadIdentity { ThreadIdentity(thread: pthread_self()) }

    @inline(__always)
    static func == (a: ThreadIdentity, b: ThreadIdentity) -> Bool { pthread_equal(a.thread, b.thread) != 0 }
}

/// Writes one line to standard error, unbuffered, in one `write(2)` (through the seam).
func printToStandardError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = Kernel.write(2, bytes.baseAddress, bytes.count) }
}

/// The calling thread's identity as a number: its `pthread_self()`, which is
/// never 0 for a live thread, so 0 can mean "no thread". Two live threads never
/// share one; a thread that has exited may pass its number on. Any thread.
///
/// The loop's thread check compares it with the thread running the loop.
@inline(__always)
func currentThreadIdentity() -> UInt { UInt(pthread_self()) }
