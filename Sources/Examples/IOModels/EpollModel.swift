import EventLoop
import ExampleSupport

/// Models 5 and 6, `epoll(7)` itself (the package's `Epoll`, as the seed uses
/// Python's `select.epoll()`): the kernel keeps the interest list, and a wait
/// returns only the ready descriptors, each with the data it was added with
/// (here its number).
///
/// Level-triggered (`epoll-level`): a descriptor is reported on every wait
/// while it is ready, so reading once per report is enough.
/// Edge-triggered (`epoll-edge`, `EPOLLET`): it is reported once per change,
/// so each report must be drained: accept until `.wouldBlock`, read until
/// `.wouldBlock`. (The seed registers `EPOLLET` but reads once: a request
/// longer than its 2048-byte read, or two clients arriving together, would
/// stall. `io-models triggers` shows why.)
func serveWithEpoll(_ listener: Descriptor, _ context: ServeContext, edgeTriggered: Bool) throws -> String {
    let signals = try StopSignals()
    let epoll = try Epoll()
    let events = try EpollEventBuffer(capacity: 64)
    let readable: EpollEvents = edgeTriggered ? [.input, .edgeTriggered] : .input
    try epoll.add(listener, events: readable, data: UInt64(listener.rawValue))
    try epoll.add(signals.descriptor, events: .input, data: UInt64(signals.descriptor.rawValue))
    try context.reserveDescriptors()
    let connections = context.connections
    while true {
        let count = try epoll.wait(into: events, timeout: nil)
        for index in 0..<count {
            let fd = Descriptor(Int32(truncatingIfNeeded: events[index].data))
            if fd == signals.descriptor {
                guard let signal = try signals.take() else { continue }
                for fd in connections.descriptors {
                    try epoll.remove(fd)
                    connections.close(fd)
                }
                return signal
            } else if fd == listener {
                // Level: one accept per report (the next wait reports the rest). Edge: all of them.
                repeat {
                    guard let connection = try listener.accept().take() else { break }
                    let client = connection.release() // closed by `connections.close`
                    try epoll.add(client, events: readable, data: UInt64(client.rawValue))
                    connections.add(client)
                } while edgeTriggered
            } else if connections.serve(fd, drain: edgeTriggered) {
                try epoll.remove(fd) // deregister before close
                connections.close(fd)
            }
        }
    }
}
