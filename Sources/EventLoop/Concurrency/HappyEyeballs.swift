/// Connecting to a name with several addresses (RFC 8305, "Happy Eyeballs
/// Version 2"), as asyncio's `happy_eyeballs_delay` and SwiftNIO's
/// `HappyEyeballsConnector` do: the addresses are tried in an order that
/// alternates the families, IPv6 first; the next attempt starts once the one
/// started last has failed or has gone `attemptDelay` without an answer,
/// while the earlier ones go on; the first to connect wins, and every other attempt is
/// cancelled, and closed if it connected meanwhile. Loop thread: every
/// attempt and every delay runs as a child task preferring the loop.
enum HappyEyeballs {
    /// What every attempt answered, when none connected.
    struct Failure: Error {
        /// Each address tried, in the order tried, with its error.
        let attempts: [(address: SocketEndpoint, error: any Error)]
        /// The addresses never tried (the deadline passed first).
        let untried: [SocketEndpoint]

        /// One `StreamError` for `operation` (`connect(localhost:9)`) that
        /// says what each address answered: `connect(localhost:9): ::1
        /// refused, 127.0.0.1 refused`. Its kind and errno are the last
        /// answer's (what a plain loop over the addresses reports), or
        /// `.timedOut` whenever the deadline ended the race.
        func streamError(connecting operation: String) -> StreamError {
            let errors = attempts.map { $0.error as? StreamError }
            let timedOut = errors.contains { $0?.kind == .timedOut }
            let last = errors.last ?? nil
            let kind: StreamError.Kind = timedOut ? .timedOut : last?.kind ?? .system
            let errno = timedOut ? nil : last?.errno
            let answers = attempts.map { "\(Self.name($0.address)) \(Self.answer($0.error))" } + untried.map { "\(Self.name($0)) not tried" }
            return StreamError(kind, operation: "\(operation): " + answers.joined(separator: ", "), errno: errno)
        }

        /// `::1`, `127.0.0.1`, or the whole address for another family.
        private static func name(_ address: SocketEndpoint) -> String {
            address.ip.isEmpty ? "\(address)" : address.ip
        }

        /// `refused`, `timed out`, `reset`, `ENETUNREACH`, `cancelled` (by the race's end)…
        private static func answer(_ error: any Error) -> String {
            if error is CancellationError { return "cancelled" }
            guard let error = error as? StreamError else { return "failed: \(error)" }
            switch error.kind {
            case .connectionRefused: return "refused"
            case .connectionReset: return "reset"
            case .timedOut: return "timed out"
            case .system: return error.errno?.name ?? "failed: \(error.operation)"
            default: return error.kind.rawValue
            }
        }
    }

    /// RFC 8305 section 4's order: the families alternate, IPv6 first, each
    /// family's addresses in the order given; addresses of other families
    /// (Unix) come last.
    static func interleave(_ addresses: [SocketEndpoint]) -> [SocketEndpoint] {
        var v6 = addresses.filter(\.isIPv6)[...]
        var v4 = addresses.filter(\.isIPv4)[...]
        var ordered: [SocketEndpoint] = []
        while !v6.isEmpty || !v4.isEmpty {
            if let next = v6.popFirst() { ordered.append(next) }
            if let next = v4.popFirst() { ordered.append(next) }
        }
        return ordered + addresses.filter { !$0.isIPv6 && !$0.isIPv4 }
    }

    /// What a child task of the race reports.
    private enum Event<Connection: Sendable>: Sendable {
        /// Attempt `index` connected.
        case connected(Int, Connection)
        /// Attempt `index` failed.
        case failed(Int, any Error)
        /// The delay after attempt `index` started has passed (nil: cancelled).
        case delayPassed(Int?)
    }

    /// Races `attempt` over `addresses` (in that order; see `interleave`),
    /// starting the next `attemptDelay` after the last one started, or at
    /// once when that one fails. Returns the first
    /// connection; `discard` closes any other that connects before it is
    /// cancelled. An attempt that fails with `StreamError.timedOut` (the
    /// deadline every attempt shares has passed) ends the race: the others
    /// are cancelled and no more start. Loop thread.
    /// - Throws: `Failure` when no attempt connected; `CancellationError`
    ///   when the calling task is cancelled (every attempt is cancelled, and
    ///   a connection that won meanwhile is discarded).
    static func race<Connection: Sendable>(
        _ addresses: [SocketEndpoint], attemptDelay: Duration, on executor: LoopExecutor,
        attempt: @escaping @Sendable (SocketEndpoint) async throws -> Connection,
        discard: @escaping @Sendable (Connection) async -> Void
    ) async throws -> Connection {
        precondition(!addresses.isEmpty, "a race needs an address")
        let outcome = await withTaskGroup(of: Event<Connection>.self, returning: Result<Connection, any Error>.self) { group in
            var started = 0
            var running = 0
            var failures: [Int: any Error] = [:]
            var winner: Connection?
            var over = false // a winner, a timeout, or the caller's cancellation: start nothing more

            func startNext() {
                let index = started
                let address = addresses[index]
                started += 1
                running += 1
                group.addTask(executorPreference: executor) {
                    do { return .connected(index, try await attempt(address)) } catch { return .failed(index, error) }
                }
                guard started < addresses.count else { return }
                group.addTask(executorPreference: executor) {
                    do { try await executor.sleep(for: attemptDelay) } catch { return .delayPassed(nil) }
                    return .delayPassed(index)
                }
            }

            startNext()
            while let event = await group.next() {
                if Task.isCancelled && !over {
                    over = true
                    group.cancelAll()
                }
                switch event {
                case .connected(_, let connection):
                    running -= 1
                    if winner == nil && !over {
                        winner = connection
                        over = true
                        group.cancelAll()
                    } else {
                        await discard(connection)
                    }
                case .failed(let index, let error):
                    running -= 1
                    failures[index] = error
                    if (error as? StreamError)?.kind == .timedOut && !over {
                        over = true
                        group.cancelAll()
                    }
                    // The attempt started last failed: the next need not wait out its delay.
                    if !over && index == started - 1 && started < addresses.count { startNext() }
                case .delayPassed(let index?):
                    // Only the delay of the attempt started last counts: one
                    // that failed at once has started its successor already.
                    if !over && index == started - 1 && started < addresses.count { startNext() }
                case .delayPassed(nil):
                    break
                }
                // Nothing runs and nothing more can start: end the delays still pending.
                if running == 0 && (over || started == addresses.count) { group.cancelAll() }
            }
            if let winner {
                if Task.isCancelled {
                    await discard(winner)
                    return .failure(CancellationError())
                }
                return .success(winner)
            }
            if Task.isCancelled { return .failure(CancellationError()) }
            let tried = (0..<started).map { (address: addresses[$0], error: failures[$0] ?? CancellationError()) }
            return .failure(Failure(attempts: tried, untried: Array(addresses[started...])))
        }
        return try outcome.get()
    }
}
