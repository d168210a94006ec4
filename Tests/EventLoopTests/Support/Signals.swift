import EventLoop
import Glibc
import Synchronization

/// A thread that takes every signal (its mask is empty), parked in a blocking
/// read until `finish()`: "another thread that does not block the signal".
/// Threads made by a test inherit the test thread's mask, and the test pool's
/// threads block most signals, hence the explicit empty mask.
final class UnmaskedThread: Sendable {
    private final class Published: Sendable {
        let thread = Atomic<UInt>(0)
    }

    private let parking: Descriptor
    private let release: Descriptor
    private let published: Published
    private let worker: TestThread

    init() throws {
        let pipe = try DescriptorPair.pipe(nonBlocking: false)
        let parking = pipe.first.release()
        let published = Published()
        self.published = published
        self.parking = parking
        release = pipe.second.release()
        worker = TestThread {
            _ = try? SignalSet().setAsThreadMask()
            published.thread.store(UInt(pthread_self()), ordering: .releasing)
            _ = try? parking.read(upTo: 1) // blocks until finish() writes
        }
        while published.thread.load(ordering: .acquiring) == 0 { sched_yield() } // the thread's first step sets it
    }

    /// The thread, for `pthread_kill`.
    var thread: pthread_t { pthread_t(published.thread.load(ordering: .acquiring)) }

    /// Lets the thread end, waits for it, and closes the parking pipe.
    func finish() {
        _ = try? release.write([1])
        worker.join()
        try? OwnedDescriptor(adopting: parking).close()
        try? OwnedDescriptor(adopting: release).close()
    }
}

/// A child process started with `posix_spawn`; the test kills it by its PID and reaps it.
struct SpawnedChild {
    let pid: pid_t

    /// Starts `path` with `arguments` (the first is the program's name), inheriting
    /// this thread's mask and the process's dispositions as any spawned child does.
    init(_ path: String, _ arguments: [String]) throws {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child = pid_t()
        let result = posix_spawn(&child, path, nil, nil, &argv, environ)
        guard result == 0 else { throw SystemError(ErrnoCode(rawValue: result), operation: "posix_spawn(\(path))") }
        pid = child
    }

    /// The signals /proc/<pid>/status lists as blocked (`SigBlk`) and ignored (`SigIgn`).
    func signalState() -> (blocked: Set<Int32>, ignored: Set<Int32>)? {
        guard let status = try? String(contentsOfProcFile: "/proc/\(pid)/status") else { return nil }
        var blocked: Set<Int32>?
        var ignored: Set<Int32>?
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let mask = UInt64(parts[1].trimmingSpaces, radix: 16) else { continue }
            let signals = Set((1...64).filter { mask & (1 << UInt64($0 - 1)) != 0 }.map { Int32($0) })
            if parts[0] == "SigBlk" { blocked = signals }
            if parts[0] == "SigIgn" { ignored = signals }
        }
        guard let blocked, let ignored else { return nil }
        return (blocked, ignored)
    }

    /// Sends `signal` and waits, at most `seconds`, for the child to end; returns
    /// the signal that ended it (0 for a normal exit), or nil if it still runs.
    func terminate(with signal: Int32, withinSeconds seconds: Int = 5) -> Int32? {
        kill(pid, signal)
        for _ in 0..<(seconds * 100) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return status & 0x7f }
            usleep(10_000) // paces a bounded poll of waitpid; the end is not an event a thread can wait on with a timeout
        }
        return nil
    }

    /// Kills the child with SIGKILL and reaps it, if it is still there.
    func reap() {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == 0 else { return }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        drop(while: { $0 == " " || $0 == "\t" })
    }
}
