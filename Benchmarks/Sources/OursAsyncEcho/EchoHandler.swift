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
/// Counts into `stats`; when the last open connection ends, prints the echo
/// servers' RESULT line and exits 0.
public func echoOnStreams(_ connection: StreamConnection, stats: EchoStats) async {
    stats.open.add(1, ordering: .relaxed)
    stats.served.add(1, ordering: .relaxed)
    defer { // also when the peer resets the connection
        if stats.open.subtract(1, ordering: .relaxed).newValue == 0 {
            emit(echoServerReport(connectionsServed: stats.served.load(ordering: .relaxed),
                                  bytes: stats.bytes.load(ordering: .relaxed)))
            exit(0)
        }
    }
    var buffer = [UInt8](repeating: 0, count: 65_536)
    do {
        while true {
            let count = try await connection.read(into: &buffer)
            if count == 0 { break }
            stats.bytes.add(count, ordering: .relaxed)
            if bufferedWrites {
                try connection.bufferWrite(buffer[0..<count])
                try await connection.drain()
            } else {
                try await connection.write(buffer[0..<count])
            }
        }
    } catch {
        // A reset ends the connection as a close does (loadgen closes with
        // echoes unread at thousands of connections: the kernel sends RST),
        // and it must still be counted out.
    }
}

/// `WRITES=buffered`: the handler writes with `bufferWrite` and `drain()`.
private let bufferedWrites = getenv("WRITES").map { String(cString: $0) == "buffered" } ?? false
