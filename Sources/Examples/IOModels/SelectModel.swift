import EventLoop
import ExampleSupport

/// Model 3, `select(2)`: the watched descriptors go into an `FDSet` (C's
/// `fd_set`, a bitmap of FD_SETSIZE = 1024 bits), the kernel scans it and
/// leaves only the ready ones. The seed's "劣势: select列表数量有限制" (the
/// drawback: the list is limited): a connection numbered 1024 or more cannot
/// be watched at all. `FDSet` refuses it with an `ArgumentError` instead of
/// writing past the bitmap, and this server closes that one connection and
/// goes on serving the others.
func serveWithSelect(_ listener: Descriptor, _ context: ServeContext) throws -> String {
    let signals = try StopSignals()
    try context.reserveDescriptors()
    let connections = context.connections
    var watched: Set<Descriptor> = [] // the seed's socket_list, less the listener
    defer { for fd in watched { connections.close(fd) } }
    while true {
        var readable = FDSet()
        var writable = FDSet()
        for fd in [listener, signals.descriptor] + Array(watched) { try readable.insert(fd) }
        let upTo = Int(([listener, signals.descriptor] + Array(watched)).max()!.rawValue) + 1
        _ = try FDSet.select(upTo: upTo, readable: &readable, writable: &writable, timeout: nil)
        for fd in readable {
            if fd == signals.descriptor, let signal = try signals.take() { return signal }
            if fd == listener {
                guard let connection = try listener.accept().take() else { continue }
                let client = connection.release() // closed by `connections.close`
                var probe = FDSet()
                do {
                    try probe.insert(client)
                } catch {
                    context.log.note("refused \(peerName(client)): select cannot watch \(client) (\(error)); closed it, still serving")
                    closeReleased(client)
                    continue
                }
                watched.insert(client)
                connections.add(client)
            } else if watched.contains(fd), connections.serve(fd, drain: false) {
                watched.remove(fd)
                connections.close(fd)
            }
        }
    }
}
