import EventLoop
import ExampleSupport

/// Model 1, blocking I/O: accept blocks until a client comes, read blocks
/// until it speaks. One connection at a time; the rest wait in the backlog.
func serveBlocking(_ listener: Descriptor, _ context: ServeContext) throws -> String {
    let interrupt = try BlockingInterrupt()
    defer { interrupt.finish() }
    try listener.setNonBlocking(false)
    _ = interrupt.watch(listener)
    defer { interrupt.unwatch(listener) }
    try context.reserveDescriptors()
    let connections = context.connections
    while interrupt.signal == nil {
        guard let fd = try acceptBlocking(listener, interrupt) else { break }
        try fd.setNonBlocking(false) // accept4 hands it over non-blocking
        connections.add(fd)
        if interrupt.watch(fd) {
            while !connections.serve(fd, drain: false) {} // each read blocks until data comes
            interrupt.unwatch(fd)
        }
        connections.close(fd)
    }
    return interrupt.signal ?? "?"
}

/// Waits for a client and returns its connection (released: `connections.close`
/// closes it), or nil once the helper thread has shut the listener down.
private func acceptBlocking(_ listener: Descriptor, _ interrupt: BlockingInterrupt) throws -> Descriptor? {
    do {
        while true {
            if let connection = try listener.accept().take() { return connection.release() }
        }
    } catch {
        if interrupt.signal != nil { return nil } // accept failed because we were woken on purpose
        throw error
    }
}
