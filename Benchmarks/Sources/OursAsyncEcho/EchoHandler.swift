import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

/// The async echo handler of `ours-async-echo` and `ours-group-echo`, as a
/// user writes it: read into a buffer it keeps, write the same bytes back (a
/// slice of that buffer: no copy, no allocation per message), until the
/// client closes. With `WRITES=buffered` in the environment it writes as
/// asyncio's echo does, `bufferWrite` then `drain()` (the write returns
/// before the kernel has the bytes; on io_uring they go out by completion).
/// With `READS=exactly` it reads each message with `readExactly(MESSAGE)`
/// (64 bytes unless `MESSAGE` says otherwise), with `READS=line` with
/// `readLine()` (loadgen ends each message with a newline); both return a
/// new array per message, as asyncio's `readexactly`/`readline` return bytes.
/// Counts into `stats`; when the last open connection ends, prints the echo
/// servers' RESULT line and exits 0. Runs where it is called
/// (`nonisolated(nonsending)`): in the server's task, or on `EchoActor`.
public nonisolated(nonsending) func echoOnStreams(_ connection: StreamConnection, stats: EchoStats) async {
    stats.open.add(1, ordering: .relaxed)
    stats.served.add(1, ordering: .relaxed)
    defer { // also when the peer resets the connection
        if stats.open.subtract(1, ordering: .relaxed).newValue == 0 {
            emit(echoServerReport(connectionsServed: stats.served.load(ordering: .relaxed),
                                  bytes: stats.bytes.load(ordering: .relaxed)))
            exit(0)
        }
    }
    do {
        switch echoReads {
        case .into: try await echoReadingInto(connection, stats: stats)
        case .exactly, .line: try await echoReadingMessages(connection, stats: stats)
        }
    } catch {
        // A reset ends the connection as a close does (loadgen closes with
        // echoes unread at thousands of connections: the kernel sends RST),
        // and it must still be counted out.
    }
}

/// `read(into:)` a buffer kept for the connection, then the write.
private nonisolated(nonsending) func echoReadingInto(_ connection: StreamConnection, stats: EchoStats) async throws {
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = try await connection.read(into: &buffer)
        if count == 0 { return }
        stats.bytes.add(count, ordering: .relaxed)
        try await echoWrite(buffer[0..<count], on: connection)
    }
}

/// `readExactly` or `readLine` a message, then the write.
private nonisolated(nonsending) func echoReadingMessages(_ connection: StreamConnection, stats: EchoStats) async throws {
    while true {
        let message: [UInt8]
        do {
            message = echoReads == .line ? try await connection.readLine() : try await connection.readExactly(echoMessageSize)
        } catch let error as StreamError where error.kind == .endOfStream {
            return
        }
        if message.isEmpty { return }
        stats.bytes.add(message.count, ordering: .relaxed)
        try await echoWrite(message[...], on: connection)
    }
}

/// Writes `bytes` back the way `WRITES` says.
private nonisolated(nonsending) func echoWrite(_ bytes: ArraySlice<UInt8>, on connection: StreamConnection) async throws {
    if bufferedWrites {
        try connection.bufferWrite(bytes)
        try await connection.drain()
    } else {
        try await connection.write(bytes)
    }
}

/// `WRITES=buffered`: the handler writes with `bufferWrite` and `drain()`.
private let bufferedWrites = getenv("WRITES").map { String(cString: $0) == "buffered" } ?? false

/// How the handler reads (`READS`).
private enum EchoReads { case into, exactly, line }
private let echoReads: EchoReads = switch getenv("READS").map({ String(cString: $0) }) {
case "exactly": .exactly
case "line": .line
default: .into
}
/// `READS=exactly`: the message size, `MESSAGE` (default 64, loadgen's).
private let echoMessageSize = getenv("MESSAGE").flatMap { Int(String(cString: $0)) } ?? 64

/// `SERVER=actor`: each connection is served by an actor whose executor is
/// the loop's serial face (the actor reads and writes; the server's task
/// only calls it).
public actor EchoActor {
    /// The loop the actor runs on.
    public nonisolated let executor: LoopExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public init(executor: LoopExecutor) { self.executor = executor }

    /// `echoOnStreams`, isolated to this actor.
    public func serve(_ connection: StreamConnection, stats: EchoStats) async {
        await echoOnStreams(connection, stats: stats)
    }
}
