import EventLoop
import ExampleSupport

/// Model 4, `poll(2)`, through the package's `PollSelector`: a list of
/// (descriptor, events) instead of a bitmap, so there is no 1024 limit, but
/// the kernel still scans every entry on every call.
func serveWithPoll(_ listener: Descriptor, _ context: ServeContext) throws -> String {
    /// What each registration is, stored as its value.
    enum Role { case listener, signals, client }
    let signals = try StopSignals()
    let selector = PollSelector<Role>()
    defer { selector.close() }
    try selector.register(listener, interest: .readable, value: .listener)
    try selector.register(signals.descriptor, interest: .readable, value: .signals)
    try context.reserveDescriptors()
    let connections = context.connections
    var events: [SelectorEvent<Role>] = []
    while true {
        try selector.select(timeout: nil, into: &events)
        for event in events {
            switch event.key.value {
            case .signals:
                guard let signal = try signals.take() else { continue }
                for fd in connections.descriptors {
                    try selector.unregister(fd)
                    connections.close(fd)
                }
                return signal
            case .listener:
                while let connection = try listener.accept().take() {
                    let fd = connection.release() // closed by `connections.close`
                    try selector.register(fd, interest: .readable, value: .client)
                    connections.add(fd)
                }
            case .client:
                if connections.serve(event.descriptor, drain: false) {
                    try selector.unregister(event.descriptor)
                    connections.close(event.descriptor)
                }
            }
        }
    }
}
