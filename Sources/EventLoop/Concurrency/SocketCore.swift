/// What the stream and datagram types share: the owned socket, its one
/// registration with the loop, the readiness the loop last reported, and the
/// tasks waiting for it. Loop thread only; `@unchecked Sendable` so that a
/// cancellation handler (any thread) can name it in the closure it sends to
/// the loop through `LoopExecutor.perform`.
///
/// Registration: on epoll, once, edge-triggered for both directions (no
/// `epoll_ctl` per operation, as tokio does); readiness is cached and cleared
/// only when a call really would block (`EAGAIN`): a short read or write is
/// no proof that the socket is drained or full (Linux stops a read at TCP's
/// urgent mark, and a Unix socket's read at a change of sender), and with an
/// edge-triggered registration a wrong guess waits for an edge that never
/// comes. On poll and select
/// (level-triggered), the watcher asks for a direction only while a task waits
/// on it and the cached readiness says it is not ready, and goes away when
/// nobody waits, so an unread socket never spins the loop.
final class SocketCore: @unchecked Sendable, WaiterProtocol {
    enum Direction: Sendable { case read, write, hangUp }

    private struct Waiting {
        let resumption: Resumption
        let id: UInt64
        /// The "one at a time" turn the waiting operation holds (a reader's,
        /// a writer's), 0 for none: an operation that ends while waiting
        /// (cancelled, timed out, closed) gives it back at that moment,
        /// through `onAbandon`, not when its task next runs.
        let owner: UInt64
        /// The waiting task, so that `IOLoop.run(_:)` can cancel the tasks it
        /// leaves behind. Valid while the task is suspended here (a task
        /// cannot end while its continuation is pending); dropped when resumed.
        let task: UnsafeCurrentTask?
    }

    /// How a waiter goes on: a suspended task, or a callback run on the loop
    /// thread (nil when ready, the error otherwise) for work no task waits on
    /// (a stream's write buffer).
    private enum Resumption {
        case task(UnsafeContinuation<Void, any Error>)
        case callback((_ error: (any Error)?) -> Void)

        func resume(_ error: (any Error)?) {
            switch self {
            case .task(let continuation):
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            case .callback(let body):
                body(error)
            }
        }
    }

    /// How many operations on one socket complete without waiting in one
    /// loop iteration before the next one yields to the loop (see `spend()`).
    static let budget = 128

    let executor: LoopExecutor
    private var socket: OwnedDescriptor?
    /// The socket's number (valid while `isOpen`).
    let descriptor: Descriptor
    private var watcher: IOWatcher?
    private var watchedInterest: Interest = []
    /// Whether the registration is edge-triggered (epoll).
    let isEdgeTriggered: Bool
    private unowned(unsafe) let loop: IOLoop

    var readReady = true
    var writeReady = true
    /// The peer shut down its writing side: reads reach end of stream.
    private(set) var readHangUp = false
    /// The connection is gone both ways (hang-up or error): writes fail at once.
    private(set) var hangUp = false
    /// The owner's bytes arrive by completion (`startReceiving` succeeded).
    private(set) var receivesByCompletion = false

    /// The tasks waiting in each direction, in arrival order. Usually one (a
    /// stream reads one at a time and takes turns to write); several when
    /// tasks accept on one listener, send on one datagram socket, or wait for
    /// the peer's close at once. All are resumed when the direction is ready
    /// (those that find it drained wait again). Capacity is kept: waiting
    /// allocates nothing in steady state. Loop thread only, so the run-time
    /// exclusivity checks of an `inout` access (`withWaiters`: about 300
    /// instructions per message, callgrind) are left out.
    @exclusivity(unchecked) private var readWaiters: [Waiting] = []
    @exclusivity(unchecked) private var writeWaiters: [Waiting] = []
    @exclusivity(unchecked) private var hangUpWaiters: [Waiting] = []
    private var nextID: UInt64 = 1
    /// Operations completed without waiting in the loop iteration `budgetIteration`.
    private var budgetUsed = 0
    private var budgetIteration: UInt64 = 0
    /// Called with the direction and the owner token of an operation whose
    /// wait ended with an error (cancelled, timed out, closed): the owner
    /// gives back its turn at once. Set once by the stream that owns this core.
    var onAbandon: ((Direction, UInt64) -> Void)?
    var registryID = 0
    var isFinished: Bool { socket == nil }

    /// Takes ownership of `socket` (non-blocking) and registers it with `loop`.
    /// `receiving`: the owner takes its bytes by completion (`startReceiving`)
    /// where the loop can, so the registration watches only for writability
    /// (and the hang-ups and errors every registration gets).
    init(_ socket: consuming OwnedDescriptor, loop: IOLoop, receiving: Bool = false) throws {
        executor = loop.executor
        descriptor = socket.descriptor
        isEdgeTriggered = loop.supportsEdgeTriggering
        self.loop = loop
        self.socket = consume socket
        if isEdgeTriggered {
            let interest: Interest = receiving && loop.receivesByCompletion ? .writable : .all
            watcher = try loop.watch(descriptor, interest: interest, trigger: .edge) { [unowned self] events in
                self.handle(events)
            }
            watchedInterest = interest
        }
        loop.waiters.addOther(self)
    }

    // MARK: Receiving by completion (io_uring)

    /// Starts the socket's receive by completion (see `IOUringSelector+Receiving`):
    /// `deliver` gets each completion on the loop thread. False where the
    /// loop cannot (another backend, or the kernel refused its buffers): the
    /// registration then watches readability again and the owner reads with
    /// `read(2)`.
    func startReceiving(_ deliver: @escaping (UnsafeRawBufferPointer, Int32, Bool) -> Void) -> Bool {
        receivesByCompletion = startByCompletion { loop, fd, generation in try loop.startReceiving(fd, generation, deliver) }
        return receivesByCompletion
    }

    /// Runs `start` (a receive or an accept by completion) where the loop
    /// can: false otherwise, or when `start` throws, and then the
    /// registration watches readability again for the owner's system calls.
    private func startByCompletion(_ start: (IOLoop, Descriptor, UInt32) throws -> Void) -> Bool {
        guard loop.receivesByCompletion, let watcher, watchedInterest == .writable else { return false }
        do {
            try start(loop, descriptor, watcher.generation)
            return true
        } catch {
            do {
                try watcher.setInterest(.all)
                watchedInterest = .all
            } catch let failure { failAll(failure) }
            return false
        }
    }

    /// Starts the listener's accept by completion (see
    /// `IOUringSelector+Accepting`): `deliver` gets each new descriptor (or
    /// -errno) on the loop thread. False where the loop cannot (another
    /// backend, or the kernel refused): the registration then watches
    /// readability again and the owner calls `accept(2)`.
    func startAccepting(_ deliver: @escaping (Int32) -> Void) -> Bool {
        startByCompletion { loop, fd, generation in try loop.startAccepting(fd, generation, deliver) }
    }

    /// Pauses or resumes the listener's accept by completion.
    func setAccepting(paused: Bool) {
        guard let watcher else { return }
        do { try loop.setAccepting(descriptor, watcher.generation, paused: paused) } catch { failAll(error) }
    }

    /// How the owner's buffered bytes go out (see `startSending`).
    enum SendPath { case undecided, completion, systemCall }
    @exclusivity(unchecked) private(set) var sendPath = SendPath.undecided

    /// Whether the owner's buffered bytes go out by completion (io_uring's
    /// `IORING_OP_SEND`, see `IOUringSelector+Sending`); decided on first
    /// use: `deliver` then gets each send's result (bytes sent, or -errno)
    /// on the loop thread. False where the loop cannot (another backend, a
    /// level-triggered registration): the owner writes with `write(2)`.
    func sendsByCompletion(_ deliver: @escaping (Int32) -> Void) -> Bool {
        switch sendPath {
        case .completion: return true
        case .systemCall: return false
        case .undecided: break
        }
        sendPath = .systemCall
        guard loop.receivesByCompletion, let watcher else { return false }
        do { try loop.startSending(descriptor, watcher.generation, deliver) } catch { return false }
        sendPath = .completion
        return true
    }

    /// Queues a send of `bytes[offset...]` by completion (`sendsByCompletion`
    /// said yes); its result goes to the `deliver` given there.
    /// - Throws: `StreamError.closed` once closed, or the selector's refusal.
    func sendByCompletion(_ bytes: [UInt8], from offset: Int, operation: @autoclosure () -> String) throws {
        guard let watcher else { throw StreamError(.closed, operation: operation()) }
        try loop.send(descriptor, watcher.generation, bytes, from: offset)
    }

    /// Pauses or resumes the socket's receive (its owner's buffer is full, or
    /// has room again).
    func setReceiving(paused: Bool) {
        guard let watcher else { return }
        do { try loop.setReceiving(descriptor, watcher.generation, paused: paused) } catch { failAll(error) }
    }

    /// Whether a task waits for the peer's end (`waitUntilPeerCloses`).
    var hasHangUpWaiters: Bool { !hangUpWaiters.isEmpty }

    /// Bytes, the end or an error arrived by completion: the readers go on.
    func deliveredRead(end: Bool) {
        if end { sawEnd() }
        readReady = true
        resumeAll(.read)
    }

    var isOpen: Bool { socket != nil }

    // MARK: Waiting

    /// A call said it would block in `direction`: not ready until the loop says
    /// so. A real `EAGAIN` needs nothing more with an edge-triggered
    /// registration: the next byte or free buffer space is a new edge. A
    /// "would block" the kernel did not mean (a `FaultScript`'s) is another
    /// matter: while a script is active the registration is re-armed
    /// (`epoll_ctl(MOD)`), so the kernel reports again what is already there.
    func wouldBlock(_ direction: Direction) {
        switch direction {
        case .read, .hangUp: readReady = false
        case .write: writeReady = false
        }
        guard isEdgeTriggered, let watcher else { return updateInterest() }
        guard FaultScript.isArmed else { return }
        do { try loop.rearmWatcher(descriptor, watcher.generation) } catch { failAll(error) }
    }

    /// Suspends until the loop reports `direction` ready (or, for `.hangUp`,
    /// the peer gone). `deadline`: a `StreamError.timedOut` from `operation` then.
    /// `owner`: the turn the waiting operation holds (see `Waiting.owner`).
    /// - Throws: `CancellationError`, `StreamError` (`.closed`, `.timedOut`).
    nonisolated(nonsending) func wait(
        for direction: Direction, deadline: MonotonicInstant? = nil, owner: UInt64 = 0, operation: @autoclosure () -> String
    ) async throws {
        if socket == nil { throw StreamError(.closed, operation: operation()) }
        if let deadline {
            try await park(direction, owner: owner, timerAt: deadline, timerError: StreamError(.timedOut, operation: operation()))
        } else {
            try await park(direction, owner: owner, timerAt: nil, timerError: nil)
        }
    }

    /// Suspends the task until the loop's next iteration (after its I/O and
    /// its due timers), holding `owner`'s turn in `direction` meanwhile (a
    /// cancellation gives it back at once). Nothing is consumed before it:
    /// a cancellation here loses nothing. See `spend()`.
    /// - Throws: `CancellationError`, `StreamError.closed`.
    nonisolated(nonsending) func yieldToLoop(_ direction: Direction, owner: UInt64, operation: @autoclosure () -> String) async throws {
        if socket == nil { throw StreamError(.closed, operation: operation()) }
        try await park(direction, owner: owner, timerAt: loop.now, timerError: nil)
    }

    /// The callback form of `wait(for:owner:operation:)` and, with
    /// `yielding`, of `yieldToLoop`: calls `body` on the loop thread with nil
    /// once `direction` is ready (with `yielding`: at the loop's next
    /// iteration at the latest), or with the error that ends the wait (the
    /// socket closed, the loop closing), after `owner`'s turn is given back.
    /// For work that no task waits on; it holds no task, so `IOLoop.run(_:)`
    /// never cancels it. A closed socket calls `body` at once.
    func whenReady(_ direction: Direction, owner: UInt64, yielding: Bool, _ body: @escaping (_ error: (any Error)?) -> Void) {
        if socket == nil { return body(StreamError(.closed, operation: "flush(\(descriptor))")) }
        let id = nextID
        nextID += 1
        withWaiters(direction) { $0.append(Waiting(resumption: .callback(body), id: id, owner: owner, task: nil)) }
        updateInterest()
        guard yielding else { return }
        // The timer keeps this core alive until it fires (next iteration); no
        // waiter left by then makes it do nothing.
        do { _ = try loop.schedule(at: loop.now) { self.resume(direction, id, with: nil) } } catch {
            resume(direction, id, with: error)
        }
    }

    /// Waits in `direction`'s list; a timer at `timerAt`, if any, ends the
    /// wait with `timerError` (nil: resumes it as if ready).
    private nonisolated(nonsending) func park(_ direction: Direction, owner: UInt64, timerAt: MonotonicInstant?, timerError: (any Error)?) async throws {
        let id = nextID
        nextID += 1
        var timer: TimerHandle?
        if let timerAt {
            timer = try loop.schedule(at: timerAt) { [unowned self] in self.resume(direction, id, with: timerError) }
        }
        defer { timer?.cancel() }
        try await withCancellationHandlerInPlace {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                // The task is used inside the closure: a closure that returned
                // it would copy an optional through the generic's witnesses.
                withUnsafeCurrentTask { task in
                    withWaiters(direction) { $0.append(Waiting(resumption: .task(continuation), id: id, owner: owner, task: task)) }
                }
                updateInterest()
            }
        } onCancel: {
            executor.perform { _ in self.resume(direction, id, with: CancellationError()) }
        }
    }

    /// Resumes the waiter of `direction` if it is still the one numbered `id`.
    private func resume(_ direction: Direction, _ id: UInt64, with error: (any Error)?) {
        let waiting = withWaiters(direction) { list in list.firstIndex { $0.id == id }.map { list.remove(at: $0) } }
        guard let waiting else { return }
        updateInterest()
        if error != nil, waiting.owner != 0 { onAbandon?(direction, waiting.owner) }
        waiting.resumption.resume(error)
    }

    /// Resumes every task waiting in `direction` (the direction is ready).
    /// Only those waiting before the call: a callback that waits again (a
    /// flush the kernel refused) waits for the loop's next report.
    private func resumeAll(_ direction: Direction) {
        let newest = nextID
        while let waiting = withWaiters(direction, { $0.first }), waiting.id < newest { resume(direction, waiting.id, with: nil) }
    }

    /// Runs `body` on the waiting list of `direction`.
    private func withWaiters<R>(_ direction: Direction, _ body: (inout [Waiting]) -> R) -> R {
        switch direction {
        case .read: body(&readWaiters)
        case .write: body(&writeWaiters)
        case .hangUp: body(&hangUpWaiters)
        }
    }

    /// The loop's report for this socket.
    private func handle(_ events: ReadyEvents) {
        if events.contains(.readable) {
            readReady = true
            // Level-triggered backends (select has no read hang-up at all): ask
            // the socket whether the readable is its end, for a hang-up waiter.
            if !isEdgeTriggered && !hangUpWaiters.isEmpty && !readHangUp { checkForEnd() }
        }
        if events.contains(.writable) { writeReady = true }
        // Receiving by completion, the read side's end is the receive's to
        // report, after the bytes before it (a poll sees it earlier).
        if events.contains(.readHangUp) && !receivesByCompletion { readHangUp = true }
        if !events.isDisjoint(with: [.hangUp, .error]) {
            hangUp = true
            if !receivesByCompletion { readHangUp = true }
            readReady = true
            writeReady = true
        }
        if readReady { resumeAll(.read) }
        if writeReady { resumeAll(.write) }
        if readHangUp { resumeAll(.hangUp) }
    }

    /// Level-triggered backends: watch exactly the directions someone waits
    /// for and that are not known ready.
    private func updateInterest() {
        guard !isEdgeTriggered, socket != nil else { return }
        var needed: Interest = []
        // A hang-up waiter watches only while nothing is unread: unread bytes
        // keep a level-triggered socket readable, and the end shows after them.
        if (!readWaiters.isEmpty && !readReady) || (!hangUpWaiters.isEmpty && !readHangUp && !readReady) { needed.insert(.readable) }
        if !writeWaiters.isEmpty && !writeReady { needed.insert(.writable) }
        if needed == watchedInterest { return }
        do {
            if needed.isEmpty {
                watcher?.cancel()
                watcher = nil
            } else if let watcher {
                try watcher.setInterest(needed)
            } else {
                watcher = try loop.watch(descriptor, interest: needed) { [unowned self] events in self.handle(events) }
            }
            watchedInterest = needed
        } catch {
            failAll(error)
        }
    }

    /// Resumes every waiter with `error`.
    private func failAll(_ error: any Error) {
        let waiting = readWaiters.map { (Direction.read, $0) } + writeWaiters.map { (.write, $0) } + hangUpWaiters.map { (.hangUp, $0) }
        readWaiters.removeAll()
        writeWaiters.removeAll()
        hangUpWaiters.removeAll()
        for (direction, waiting) in waiting where waiting.owner != 0 { onAbandon?(direction, waiting.owner) }
        for (_, waiting) in waiting { waiting.resumption.resume(error) }
    }

    /// The tasks suspended on this socket (for `IOLoop.run(_:)`). Loop thread.
    func waitingTasks(into tasks: inout [UnsafeCurrentTask]) {
        for list in [readWaiters, writeWaiters, hangUpWaiters] {
            for waiting in list { if let task = waiting.task { tasks.append(task) } }
        }
    }

    // MARK: Fairness

    /// Counts one operation about to run on this socket, and says whether the
    /// socket has had its budget (`SocketCore.budget` operations) in this loop
    /// iteration: then the caller awaits `yieldToLoop` first, so that a
    /// peer that keeps a socket full (or empty, for writes) cannot keep its
    /// task from suspending, and timers and other connections get their turn
    /// (tokio's cooperative budget, asyncio's one callback per iteration).
    @inline(__always)
    func spend() -> Bool {
        let iteration = loop.iterationCount
        if iteration != budgetIteration {
            budgetIteration = iteration
            budgetUsed = 0
        }
        budgetUsed += 1
        return budgetUsed > SocketCore.budget
    }

    /// Gives back the operation `spend()` counted, for one that did not run
    /// after all (a fast path that found it would wait, and leaves the
    /// operation to the path that waits, which counts it again).
    @inline(__always)
    func refund() { budgetUsed -= 1 }



    /// Level-triggered backends: peeks at the socket, and records the peer's
    /// end if nothing is left before it.
    func checkForEnd() {
        switch try? descriptor.peekAtEnd() {
        case .completed(true)?: sawEnd()
        case .completed(false)?: readReady = true
        case .wouldBlock?: readReady = false
        case nil: break // an error (a reset): the read that comes next reports it
        }
    }

    /// The peer's end was read or seen: resumes a hang-up waiter.
    func sawEnd() {
        readHangUp = true
        readReady = true
        resumeAll(.hangUp)
    }

    // MARK: Closing

    /// Unregisters and closes the socket, once; waiters end with `StreamError.closed`.
    func close(operation: String) {
        guard let socket = socket.take() else { return }
        watcher?.cancel()
        watcher = nil
        loop.waiters.remove(self)
        // close(2) errors are dropped on purpose: the number is released whatever it
        // says (on Linux), and there is nothing left to retry or report to.
        try? socket.close()
        failAll(StreamError(.closed, operation: operation))
    }

    /// Closes the socket for an owner released on any thread: at once on the
    /// loop's thread, otherwise on the loop (the closure keeps this core alive
    /// until then). False when the loop is closed or gone and the close could
    /// not be queued (a closed loop has already closed the socket).
    @discardableResult
    func closeFromAnyThread(_ operation: String, then after: @escaping @Sendable () -> Void = {}) -> Bool {
        if executor.queue.mayTouchLoop {
            close(operation: operation)
            after()
            return true
        }
        return executor.perform { _ in
            self.close(operation: operation)
            after()
        }
    }

    /// The loop is closing: waiters end with `LoopError.closed`, the socket closes.
    func fail(_ error: any Error) {
        guard let socket = socket.take() else { return }
        watcher = nil // the loop drops its watchers itself
        try? socket.close() // as in `close(operation:)`
        failAll(error)
    }
}
