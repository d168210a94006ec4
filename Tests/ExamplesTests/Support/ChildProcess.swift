import EventLoop
import Foundation
import Glibc

/// How a child process ended.
enum Termination: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}

struct ChildProcessError: Error, CustomStringConvertible {
    let description: String
}

/// An example started as a user would start it: its own process, its output
/// on pipes that a reader thread collects, ended by its PID.
///
/// Every wait is bounded. The reader thread reaps the child once both pipes
/// are at end of file; a signal is only sent while the child is not reaped
/// (under the lock, after `waitid(WNOWAIT)`), so a PID is never signalled
/// after it could have been reused.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let pid: pid_t
    // Every field below is guarded by `condition`.
    private let condition = NSCondition()
    private var output: [UInt8] = []
    private var errors: [UInt8] = []
    private var termination: Termination?

    /// Starts `.build/<config>/<product> arguments...` with standard input on
    /// /dev/null, no other descriptor of this process, an empty signal mask,
    /// and default actions for SIGINT, SIGTERM and SIGPIPE.
    init(_ product: String, _ arguments: [String]) throws {
        name = ([product] + arguments).joined(separator: " ")
        let path = try ExampleBinary.path(product)
        let outputPipe = try DescriptorPair.pipe(nonBlocking: false) // close-on-exec: dup2 clears it on 1 and 2
        let errorPipe = try DescriptorPair.pipe(nonBlocking: false)
        pid = try ChildProcess.spawn(path, arguments, stdout: outputPipe.second.descriptor, stderr: errorPipe.second.descriptor)
        // Only the child holds the write ends now, so its exit brings end of file.
        try outputPipe.second.close()
        try errorPipe.second.close()
        let outputReader = outputPipe.first.release() // the reader thread closes the read ends
        let errorReader = errorPipe.first.release()
        ReaderThread { [self] in collect(outputReader, errorReader) }.detach()
    }

    private static func spawn(_ path: String, _ arguments: [String], stdout: Descriptor, stderr: Descriptor) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout.rawValue, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr.rawValue, 2)
        // Nothing else crosses over: parallel tests' descriptors stay theirs, and no
        // write end of another child's pipe lives on in this one.
        closeFrom3(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test runner's threads may block signals (event loops do): the child starts clean.
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProcessError(description: "posix_spawn(\(path)): \(String(cString: strerror(result)))") }
        return pid
    }

    /// `posix_spawn_file_actions_addclosefrom_np(actions, 3)` (glibc 2.34+), looked up
    /// at run time: the Glibc module leaves out the header's `_GNU_SOURCE` part.
    private static func closeFrom3(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(actions, 3)
    }

    /// The reader thread: both pipes until end of file, then the exit status.
    private func collect(_ outputReader: Descriptor, _ errorReader: Descriptor) {
        let selector = PollSelector<Bool>() // value: is it standard output?
        _ = try? selector.register(outputReader, interest: .readable, value: true)
        _ = try? selector.register(errorReader, interest: .readable, value: false)
        while selector.count > 0, let events = try? selector.select(timeout: nil) {
            for event in events {
                let bytes = (try? event.descriptor.read(upTo: 65_536).value) ?? []
                if bytes.isEmpty {
                    _ = try? selector.unregister(event.descriptor)
                    try? OwnedDescriptor(adopting: event.descriptor).close()
                    continue
                }
                condition.lock()
                if event.key.value { output += bytes } else { errors += bytes }
                condition.broadcast()
                condition.unlock()
            }
        }
        selector.close()
        // Wait without reaping, so `signal` can still name the PID safely; then reap under the lock.
        var info = siginfo_t()
        _ = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
        condition.lock()
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        termination = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        condition.broadcast()
        condition.unlock()
    }

    /// Standard output so far, as text.
    var stdout: String { locked { String(decoding: output, as: UTF8.self) } }
    /// Standard error so far, as text.
    var stderr: String { locked { String(decoding: errors, as: UTF8.self) } }

    /// Sends `signal` to the child, unless it has already been reaped.
    func signal(_ signal: Int32) {
        locked { if termination == nil { kill(pid, signal) } }
    }

    /// Waits until standard output contains `text`; returns it all.
    /// - Throws: when the child exits first, or after `timeout`.
    @discardableResult
    func waitForOutput(containing text: String, timeout: Duration = .seconds(20)) throws -> String {
        try waitForOutput("\"\(text)\"", timeout: timeout) { $0.contains(text) }
    }

    /// Waits until `isComplete` holds for standard output; returns it all.
    func waitForOutput(_ what: String, timeout: Duration = .seconds(20), until isComplete: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout.timeInterval)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let sofar = String(decoding: output, as: UTF8.self)
            if isComplete(sofar) { return sofar }
            if termination != nil || !condition.wait(until: deadline) {
                throw ChildProcessError(description: "\(name): no \(what) in its output (\(termination.map { "\($0)" } ?? "timed out")); "
                                        + "stdout: \(sofar)\nstderr: \(String(decoding: errors, as: UTF8.self))")
            }
        }
    }

    /// Waits for `count` lines `listening on 127.0.0.1:PORT`; returns their ports.
    func listeningPorts(count: Int = 1) throws -> [UInt16] {
        let marker = "listening on 127.0.0.1:"
        let text = try waitForOutput("\(count) listening lines") { $0.components(separatedBy: marker).count > count }
        return text.components(separatedBy: marker).dropFirst().prefix(count).compactMap { UInt16($0.prefix { $0.isNumber }) }
    }

    /// The port of the one `listening on 127.0.0.1:PORT` line.
    func listeningPort() throws -> UInt16 {
        guard let port = try listeningPorts().first else { throw ChildProcessError(description: "\(name): no port in \(stdout)") }
        return port
    }

    /// Waits for the child to end. After `timeout` it is killed (SIGKILL) and this throws.
    func waitForExit(timeout: Duration = .seconds(20)) throws -> Termination {
        let deadline = Date().addingTimeInterval(timeout.timeInterval)
        condition.lock()
        defer { condition.unlock() }
        while termination == nil {
            if !condition.wait(until: deadline) {
                kill(pid, SIGKILL)
                while termination == nil { condition.wait() } // SIGKILL cannot be caught: this ends
                throw ChildProcessError(description: "\(name) did not exit within \(timeout); killed it. stdout: "
                                        + String(decoding: output, as: UTF8.self))
            }
        }
        return termination!
    }

    /// Sends SIGINT (Ctrl-C) and waits for the child to end.
    func interrupt(with signal: Int32 = SIGINT) throws -> Termination {
        self.signal(signal)
        return try waitForExit()
    }

    /// Kills the child if it still runs: for `defer`, when a test fails half-way.
    func stop() {
        signal(SIGKILL)
        _ = try? waitForExit()
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

/// A detached POSIX thread for a child's reader (never a pool thread, which a test may be blocking).
private final class ReaderThread: @unchecked Sendable {
    // `body` is written before the thread starts and read once by it.
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func detach() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<ReaderThread>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        precondition(result == 0, "pthread_create: \(result)")
        pthread_detach(thread)
    }
}
