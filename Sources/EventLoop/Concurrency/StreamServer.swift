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
///   left queued in a backlog nobody accepts from. A shutdown first takes
///   the connections already queued (they get the grace period too).
/// - Over a `LoopGroup` (`listening(host:port:on:balancing:...)`), the
///   connections spread over the group's loops and each handler runs on its
///   connection's loop, with no hop per read or write (see
///   `ConnectionBalancing` for the two ways).
///
/// Any thread: `Sendable`. Its state is touched on the loop thread only (its
/// listener's loop; over a group, the acceptor's).
public final class StreamServer: @unchecked Sendable {
    /// The listener it accepts from.
    public let listener: StreamListener
    private let handler: @Sendable (StreamConnection) async throws -> Void
    private let errorHandler: @Sendable (any Error) -> Void
    // Loop thread only.
    /// The handlers and who waits for them to end, under a lock: over a
    /// group, handlers end on other loops' threads (and may outlive the
    /// acceptor's loop, when the group closes it first).
    private let book = LockedState(HandlerBook())
    /// The grace period's timer, cancelled once every handler has ended.
    private var graceTimer: TimerHandle?
    private let stopping = Atomic<Bool>(false)
    /// Over a group: the group, and where this server's connections count.
    private let group: LoopGroup?
    /// This server's loop's share, for a server of a `.reusePort` group server.
    private let load: LoopLoad?
    /// `.reusePort` over a group: one server per loop, each with its own listener.
    private let children: [StreamServer]
    /// `.acceptor` over a group: handlers go to the least-loaded loop.
    private let spreads: Bool

    /// A server that will run `handler` for each connection `listener` accepts.
    public convenience init(
        listener: StreamListener,
        errorHandler: @escaping @Sendable (any Error) -> Void = StreamServer.printError,
        handler: @escaping @Sendable (StreamConnection) async throws -> Void
    ) {
        self.init(listener: listener, group: nil, load: nil, children: [], spreads: false, errorHandler: errorHandler, handler: handler)
    }

    private init(
        listener: StreamListener, group: LoopGroup?, load: LoopLoad?, children: [StreamServer], spreads: Bool,
        errorHandler: @escaping @Sendable (any Error) -> Void,
        handler: @escaping @Sendable (StreamConnection) async throws -> Void
    ) {
        self.listener = listener
        self.handler = handler
        self.errorHandler = errorHandler
        self.group = group
        self.load = load
        self.children = children
        self.spreads = spreads
    }

    /// Listens on `host`:`port` over every loop of `group` and returns a
    /// server for `handler` (call `run()` once, from any task). Each
    /// connection is served on one loop for its whole life; `balancing` says
    /// how connections are spread (see `ConnectionBalancing`). The server is
    /// shut down with the group (`LoopGroup.shutdown`), or by its own
    /// `shutdown(gracePeriod:)`.
    /// - Throws: `StreamError.addressInUse` when the port is taken by another
    ///   socket (every listener made so far is closed first),
    ///   `StreamError.closed` once the group is shutting down, what
    ///   `StreamListener.bind` throws.
    public static func listening(
        host: String = "127.0.0.1", port: UInt16, on group: LoopGroup, balancing: ConnectionBalancing = .acceptor,
        errorHandler: @escaping @Sendable (any Error) -> Void = StreamServer.printError,
        handler: @escaping @Sendable (StreamConnection) async throws -> Void
    ) async throws -> StreamServer {
        if group.isShuttingDown { throw StreamError(.closed, operation: "listening(\(host):\(port)): the loop group is shutting down") }
        let server: StreamServer
        switch balancing {
        case .acceptor:
            let listener = try await StreamListener.bind(host: host, port: port, on: group.threads[0].executor)
            server = StreamServer(listener: listener, group: group, load: nil, children: [], spreads: true,
                                  errorHandler: errorHandler, handler: handler)
        case .reusePort:
            var listeners: [StreamListener] = []
            do {
                var boundPort = port
                for thread in group.threads {
                    let listener = try await StreamListener.bind(host: host, port: boundPort, reusePort: true, on: thread.executor)
                    boundPort = listener.port // port 0: the others join the port the kernel chose
                    listeners.append(listener)
                }
            } catch {
                for listener in listeners { await listener.close() }
                throw error
            }
            let children = listeners.enumerated().map { index, listener in
                StreamServer(listener: listener, group: nil, load: group.loads[index], children: [], spreads: false,
                             errorHandler: errorHandler, handler: handler)
            }
            server = StreamServer(listener: listeners[0], group: group, load: nil, children: children, spreads: false,
                                  errorHandler: errorHandler, handler: handler)
        }
        if !group.adopt(server) {
            await server.closeListeners()
            throw StreamError(.closed, operation: "listening(\(host):\(port)): the loop group is shutting down")
        }
        return server
    }

    /// Every listener of this server, closed.
    private func closeListeners() async {
        await listener.close()
        for child in children { await child.listener.close() }
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
        if !children.isEmpty { return try await runChildren() }
        defer { group?.release(self) }
        let executor = listener.executor
        let errorHandler = self.errorHandler
        try await withTaskCancellationHandler {
            try await executor.onLoop {
                var failure: (any Error)?
                do {
                    while true {
                        if self.spreads {
                            let socket = try await self.listener.acceptSocket(reporting: { errorHandler($0) }, waiting: true)!
                            self.startElsewhere(socket)
                        } else {
                            let connection = try await self.listener.accept(reporting: { errorHandler($0) })
                            self.start(connection, on: executor)
                        }
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
        for child in children { child.shutdown(gracePeriod: gracePeriod) }
        if !children.isEmpty { return }
        let executor = listener.executor
        let first = !stopping.exchange(true, ordering: .relaxed)
        Task(executorPreference: executor) {
            if first {
                // The clients already queued connected before the shutdown: they are
                // served (within the grace period) rather than reset by the close.
                await self.takeQueued()
                await self.listener.close()
            }
            guard gracePeriod > .zero, self.activeHandlers > 0, let loop = try? executor.loopForCall("shutdown") else {
                return self.cancelHandlers()
            }
            self.graceTimer?.cancel()
            self.graceTimer = try? loop.schedule(after: gracePeriod) { [self] in self.cancelHandlers() }
        }
    }

    private func start(_ connection: StreamConnection, on executor: LoopExecutor) {
        let id = reserveHandler()
        let handler = self.handler
        let errorHandler = self.errorHandler
        let load = self.load
        load?.opened()
        register(id, Task(executorPreference: executor) {
            do { try await handler(connection) } catch { errorHandler(error) }
            await connection.close()
            load?.closed()
            self.finished(id)
        })
    }

    /// Over a group, `.acceptor`: serves `socket` on the loop with the fewest
    /// of the group's connections; its handler runs there, and reports its
    /// end back to this server's loop. Loop thread (the acceptor's).
    private func startElsewhere(_ socket: StreamListener.AcceptedSocket) {
        guard let group else { return }
        let index = group.leastLoadedIndex()
        let target = group.threads[index].executor
        let load = group.loads[index]
        let id = reserveHandler()
        let handler = self.handler
        let errorHandler = self.errorHandler
        let operation = "accept(\(listener.localAddress))"
        load.opened()
        register(id, Task(executorPreference: target) {
            defer {
                load.closed()
                self.finished(id)
            }
            let connection: StreamConnection
            do { connection = try await StreamConnection.adoptAccepted(socket, on: target) } catch {
                errorHandler(StreamListener.skipped(error, operation: operation))
                return
            }
            do { try await handler(connection) } catch { errorHandler(error) }
            await connection.close()
        })
    }

    /// The connections already queued on the listener, started. Loop thread.
    private func takeQueued() async {
        let errorHandler = self.errorHandler
        guard let loop = try? listener.executor.loopForCall("shutdown") else { return }
        while let socket = try? await listener.acceptSocket(reporting: { errorHandler($0) }, waiting: false) {
            if spreads {
                startElsewhere(socket)
                continue
            }
            do {
                let connection = try StreamConnection(adopting: OwnedDescriptor(adopting: socket.descriptor), loop: loop,
                                                      local: socket.local, peer: socket.peer)
                start(connection, on: listener.executor)
            } catch {
                errorHandler(StreamListener.skipped(error, operation: "accept(\(listener.localAddress))"))
            }
        }
    }

    /// `.reusePort` over a group: runs every loop's server, each on its loop;
    /// returns when all have ended, throwing the first failure.
    private func runChildren() async throws {
        defer { group?.release(self) }
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for child in children {
                    tasks.addTask(executorPreference: child.listener.executor) { try await child.run() }
                }
                var failure: (any Error)?
                while let next = await tasks.nextResult() {
                    if case .failure(let error) = next, failure == nil { failure = error }
                }
                if let failure { throw failure }
            }
        } onCancel: {
            self.shutdown(gracePeriod: .zero)
        }
    }

    /// A number for a handler about to start: counted as running from now.
    private func reserveHandler() -> UInt64 {
        book.withLock { book in
            book.active += 1
            defer { book.nextHandler += 1 }
            return book.nextHandler
        }
    }

    /// Keeps the task of handler `id` for cancelling, unless it has already ended.
    private func register(_ id: UInt64, _ task: Task<Void, Never>) {
        book.withLock { book in
            if book.endedEarly.remove(id) == nil { book.handlers[id] = task }
        }
    }

    /// How many handlers are running. Any thread.
    private var activeHandlers: Int { book.withLock { $0.active } }

    /// Handler `id` has ended (any thread): the last one resumes `run()`.
    private func finished(_ id: UInt64) {
        let waiting = book.withLock { book -> [UnsafeContinuation<Void, Never>] in
            if book.handlers.removeValue(forKey: id) == nil { book.endedEarly.insert(id) }
            book.active -= 1
            guard book.active == 0 else { return [] }
            defer { book.idle = [] }
            return book.idle
        }
        if book.withLock({ $0.active }) == 0 {
            // Nothing left to cut short (on the listener's loop, where the timer lives).
            listener.executor.perform { _ in
                self.graceTimer?.cancel()
                self.graceTimer = nil
            }
        }
        for continuation in waiting { continuation.resume() }
    }

    private func cancelHandlers() {
        let tasks = book.withLock { Array($0.handlers.values) }
        for task in tasks { task.cancel() }
    }

    private func waitForHandlers() async {
        await withUnsafeContinuation { continuation in
            let now = book.withLock { book -> Bool in
                if book.active == 0 { return true }
                book.idle.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// A `StreamServer`'s running handlers (see `StreamServer.book`).
private struct HandlerBook {
    var handlers: [UInt64: Task<Void, Never>] = [:]
    /// Handlers that ended before their task was registered.
    var endedEarly: Set<UInt64> = []
    var nextHandler: UInt64 = 1
    var active = 0
    var idle: [UnsafeContinuation<Void, Never>] = []
}

/// How a `StreamServer` over a `LoopGroup` spreads its connections.
public enum ConnectionBalancing: Sendable, Hashable {
    /// One listener, on the group's first loop, takes every connection and
    /// hands its socket to the loop serving the fewest of the group's
    /// connections (its handler runs there). Even with few clients; the
    /// acceptor's loop does every `accept(2)` (one system call per
    /// connection, none per message).
    case acceptor
    /// One listener per loop on the same port (`SO_REUSEPORT`): the kernel
    /// picks a listener by hashing each connection's addresses, so no loop
    /// hands sockets to another; with few clients the hash can leave one
    /// loop busier than another. Closing one of them would drop the
    /// connections queued on it: a shutdown takes what is queued on every
    /// listener before closing it (the kernel's `net.ipv4.tcp_migrate_req`
    /// moves the rest to the listeners still open, where an administrator
    /// has set it).
    case reusePort
}

private extension StreamConnection {
    /// A socket a listener accepted, adopted on `executor`'s loop (its
    /// thread): a connection served by another loop than its listener's. The
    /// socket is closed if it cannot be adopted.
    static func adoptAccepted(_ socket: StreamListener.AcceptedSocket, on executor: LoopExecutor) async throws -> StreamConnection {
        try await executor.onLoop {
            let owned = OwnedDescriptor(adopting: socket.descriptor)
            let loop = try executor.loopForCall("accept(\(socket.local))")
            return try StreamConnection(adopting: owned, loop: loop, local: socket.local, peer: socket.peer)
        }
    }
}
