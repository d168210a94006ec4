import EventLoop
import ExampleSupport

/// Model 7, the event loop: the same epoll underneath, but the `IOLoop` owns
/// the wait and the dispatch. Each descriptor gets a watcher (a callback), and
/// signals arrive as callbacks too (`loop.onSignal`).
func serveOnLoop(_ listener: Descriptor, _ context: ServeContext) throws -> String {
    let loop = try IOLoop(backend: context.backend)
    var stoppedBy = "?"
    try loop.stopOnSignals { stoppedBy = $0 }
    let connections = context.connections
    var watchers: [Descriptor: IOWatcher] = [:]
    try loop.watch(listener) { _ in
        while let connection = try listener.accept().take() {
            let fd = connection.release() // closed by `connections.close`
            connections.add(fd)
            watchers[fd] = try loop.watch(fd) { _ in
                guard connections.serve(fd, drain: false) else { return }
                watchers.removeValue(forKey: fd)?.cancel() // cancel before close
                connections.close(fd)
            }
        }
    }
    try context.reserveDescriptors()
    try loop.run()
    for (fd, watcher) in watchers {
        watcher.cancel()
        connections.close(fd)
    }
    try loop.close()
    return stoppedBy
}
