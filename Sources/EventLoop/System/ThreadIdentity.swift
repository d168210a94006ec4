import Glibc

/// The calling thread's identity as a number: its `pthread_self()`, which is
/// never 0 for a live thread, so 0 can mean "no thread". Two live threads never
/// share one; a thread that has exited may pass its number on. Any thread.
///
/// The loop's thread check compares it with the thread running the loop.
@inline(__always)
func currentThreadIdentity() -> UInt { UInt(pthread_self()) }
