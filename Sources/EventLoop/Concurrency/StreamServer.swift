import Synchronization

/// A server in the shape of asyncio's `start_server(handle, host, port)`:
/// accepts connections from a listener and runs `handler` for each in a task
/// of its own on the loop.
///
/// - `run()` serves until the server is shut down or the task running it is
///   cancelled. Cancelling it closes the listener, cancels every handler, and
///   returns once all have ended.
/// - `shutdown(gracePeriod:)` (any thread) stops accepting, lets the handlers
///   finish for up to `gracePeriod`, then cancels the rest; `run()` returns
///   once all have ended.
/// - A handler's connection is closed when the handler returns or throws;
///   what a handler throws goes to `errorHandler` (by default printed to
///   standard error, as asyncio logs it; a cancellation is not reported).
/// - Nothing that goes wrong with one connection, or with the accept of one,
///   ends the server or touches the other connections: a connection the
///   kernel or the loop could not hand over is skipped, a shortage of
///   descriptors or memory pauses accepting (see `StreamListener.accept()`),
///   and each is reported to `errorHandler` as a `StreamError` whose
///   `operation` starts with `accept(`.
/// - However `run()` ends, it closes the listener first, so no client is
///   left queued in a backlog nobody accepts from.
///
/// Any thread: `Sendable`. Its state is touched on the loop thread only.
public final class StreamServer: @unchecked Sendable {
    /// The listener it accepts from.
    public let listener: StreamListener
    private let handler: @Sendable (StreamConnection) async throws -> Void
    private let errorHandler: @Sendable (any Error) -> Void
    // Loop thread only.
    private var handlers: [UInt64: Task<Void, Never>] = [:]
    private var nextHandler: UInt64 = 1
    private var idle: [UnsafeContinuation<Void, Never>] = []
    /// The grace period's timer, cancelled once every handler has ended.
    private var graceTimer: TimerHandle?
    private let stopping = Atomic<Bool>(false)

    /// A server that will run `handler` for each connection `listener` accepts.
    public init(
        listener: StreamListener,
        errorHandler: @escaping @Sendable (any Error) -> Void = StreamServer.printError,
        handler: @escaping @Sendable (StreamConnection) async throws -> Void
    ) {
        self.listener = listener
        self.handler = handler
        self.errorHandler = errorHandler
    }

    /// Listens on `host`:`port` and returns a server for `handler` (call `run()`).
    public static func listening(
        host: String = "127.0.0.1", port: UInt16, on executor: LoopExecutor,
        errorHandler: @escaping @Sendable (any Error) -> Void = StreamServer.printError,
        handler: @escaping @Sendable (StreamConnection) async throws -> Void
    ) async throws -> StreamServer {
        StreamServer(listener: try await StreamListener.bind(host: host, port: port, on: executor),
                     errorHandler: errorHandler, handler: handler)
    }

    /// The default error handler: one line on standard error per handler
    /// that threw (not for a cancellation, the usual end of a handler at
    /// shutdown) and per connection skipped or pause in accepting.
    public static let printError: @Sendable (any Error) -> Void = { error in
        if error is CancellationError { return }
        if let error = error as? StreamError, error.operation.hasPrefix("accept(") {
            printToStandardError("StreamServer: \(error)")
        } else {
            printToStandardError("StreamServer: a connection handler threw: \(error)")
        }
    }

    /// The port it listens on.
    public var port: UInt16 { listener.port }

    /// Accepts and serves until shut down or cancelled (see the type).
    /// - Throws: `StreamError` when the listening socket itself fails (not
    ///   for one connection's failure): the listener is closed, then the
    ///   handlers are cancelled and awaited.
    public func run() async throws {
        let executor = listener.executor
        let errorHandler = self.errorHandler
        try await withTaskCancellationHandler {
            try await executor.onLoop {
                var failure: (any Error)?
                do {
                    while true {
                        let connection = try await self.listener.accept(reporting: { errorHandler($0) })
                        self.start(connection, on: executor)
                    }
                } catch let error as StreamError where error.kind == .closed {
                    // Shut down: the listener was closed.
                } catch is CancellationError {
                    // The server's task was cancelled: everything goes.
                } catch {
                    failure = error
                }
                // Whatever ended accepting: nobody is left queued unanswered.
                self.listener.closeOnLoop()
                if failure != nil || Task.isCancelled { self.cancelHandlers() }
                await self.waitForHandlers()
                if let failure { throw failure }
            }
        } onCancel: {
            self.shutdown(gracePeriod: .zero)
        }
    }

    /// Stops accepting now; cancels the handlers still running after
    /// `gracePeriod` (zero or negative: at once; a huge one saturates, so
    /// the handlers may run to their end). Idempotent. Any thread.
    public func shutdown(gracePeriod: Duration) {
        let executor = listener.executor
        let first = !stopping.exchange(true, ordering: .relaxed)
        Task(executorPreference: executor) {
            if first { await self.listener.close() }
            guard gracePeriod > .zero, !self.handlers.isEmpty, let loop = try? executor.loopForCall("shutdown") else {
                return self.cancelHandlers()
            }
            self.graceTimer?.cancel()
            self.graceTimer = try? loop.schedule(after: gracePeriod) { [self] in self.cancelHandlers() }
        }
    }

    private func start(_ connection: StreamConnection, on executor: LoopExecutor) {
        let id = nextHandler
        nextHandler += 1
        let handler = self.handler
        let errorHandler = self.errorHandler
        handlers[id] = Task(executorPreference: executor) {
            do { try await handler(connection) } catch { errorHandler(error) }
            await connection.close()
            self.finished(id)
        }
    }

    /// Loop thread (the handler tasks run there).
    private func finished(_ id: UInt64) {
        handlers[id] = nil
        if handlers.isEmpty {
            graceTimer?.cancel() // nothing left to cut short
            graceTimer = nil
            let waiting = idle
            idle = []
            for continuation in waiting { continuation.resume() }
        }
    }

    private func cancelHandlers() {
        for task in handlers.values { task.cancel() }
    }

    private func waitForHandlers() async {
        guard !handlers.isEmpty else { return }
        await withUnsafeContinuation { idle.append($0) }
    }
}
