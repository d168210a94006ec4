import Dispatch
import EventLoop
import Synchronization

/// Serves `handler` on `host`:`port` until Ctrl-C or `SIGTERM`, and returns
/// the signal's name: the serving examples' `--loops N`.
///
/// - `loops == 1` (the default, the seeds' story): one `IOLoop` on this
///   thread, `loop.run { }` around a `StreamServer`, as asyncio's
///   `run_until_complete`.
/// - `loops > 1`: a `LoopGroup` of that many loops; the server spreads its
///   connections over them (each handler runs on its connection's loop), and
///   this thread waits for the group to shut down.
///
/// Every loop runs on `backend` (the examples' `--backend NAME`; one this
/// process cannot use fails with `SelectorError.unavailable`, which names
/// the reason).
///
/// It prints `listening on ADDRESS` (then `note`, if any) once the server
/// listens. On a stop signal: `beforeStop` runs (given an executor of the
/// loop that handles the signal), then the server shuts down with
/// `gracePeriod`.
public func serveUntilStopped(
    host: String, port: UInt16, loops: Int, backend: LoopBackend = .epoll, note: String = "", gracePeriod: Duration,
    beforeStop: @escaping @Sendable (LoopExecutor) -> Void = { _ in },
    handler: @escaping @Sendable (StreamConnection) async -> Void
) throws -> String {
    if loops == 1 {
        let loop = try IOLoop(backend: backend)
        let stop = try SignalStop(loop)
        try loop.run { executor in
            let listener = try await bindListener(host: host, port: port, on: executor)
            print("listening on \(listener.localAddress)\(note)")
            let server = StreamServer(listener: listener) { await handler($0) }
            stop.onStop {
                beforeStop(executor)
                server.shutdown(gracePeriod: gracePeriod)
            }
            try await server.run()
        }
        try loop.close()
        return stop.signal ?? "?"
    }
    let group = try LoopGroup(loopCount: loops, backend: backend)
    let stop = try signalStop(on: group.threads[0])
    let failure = Mutex<(any Error)?>(nil)
    let first = group.threads[0].executor
    let served = DispatchSemaphore(value: 0)
    Task(executorPreference: first) {
        defer { served.signal() }
        do {
            let server: StreamServer
            do {
                server = try await StreamServer.listening(host: host, port: port, on: group) { await handler($0) }
            } catch let error as StreamError where error.kind == .addressInUse {
                _ = try await bindListener(host: host, port: port, on: first) // the same clear message as one loop gives
                throw error
            }
            print("listening on \(server.listener.localAddress)\(note) (\(loops) loops)")
            stop.onStop {
                beforeStop(first)
                server.shutdown(gracePeriod: gracePeriod)
            }
            try await server.run()
        } catch {
            failure.withLock { $0 = error }
        }
        await group.shutdown(gracePeriod: gracePeriod)
    }
    // The serving task ends after the group (it awaits the shutdown): wait for
    // both, so the process exits with nothing of theirs still in flight.
    served.wait()
    try group.wait()
    if let error = failure.withLock({ $0 }) { throw error }
    return stop.signal ?? "?"
}

/// A `SignalStop` on `thread`'s loop, made there (it needs the loop itself).
private func signalStop(on thread: LoopThread) throws -> SignalStop {
    let made = Mutex<Result<SignalStop, any Error>?>(nil)
    let ready = DispatchSemaphore(value: 0)
    try thread.perform { loop in
        made.withLock { $0 = Result { try SignalStop(loop) } }
        ready.signal()
    }
    ready.wait()
    return try made.withLock { $0! }.get()
}
