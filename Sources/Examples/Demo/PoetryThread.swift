import EventLoop
import ExampleSupport
import SeedPrograms
import Synchronization

/// Seed 001's three poetry servers on a thread of their own, with an
/// `IOLoop` there (the clients block the main thread, one of them on
/// purpose). `stop()` ends that loop from the main thread through its
/// `Sendable` handle, and waits for the thread.
final class PoetryThread {
    /// Where the servers listen, in server order (server 1 recites poem 1).
    let endpoints: [SocketEndpoint]
    private let handle: LoopHandle
    private let thread: ExampleThread

    /// What the thread hands back once its servers listen (or why they do not).
    private final class Started: Sendable {
        let state = Mutex<Result<([SocketEndpoint], LoopHandle), ExampleFailure>?>(nil)
    }

    /// Starts the servers on loopback ports the kernel picks, on a loop on
    /// `backend`; returns once they listen.
    init(poems: [[UInt8]], chunkSize: Int, delay: Duration, backend: LoopBackend) throws {
        let started = Started()
        let ready = try DescriptorPair.pipe(nonBlocking: false)
        let readyWriter = ready.second.descriptor
        thread = try ExampleThread {
            PoetryThread.serve(poems: poems, chunkSize: chunkSize, delay: delay, backend: backend, started: started, ready: readyWriter)
        }
        _ = try ready.first.descriptor.read(upTo: 1) // one byte once `started` is set
        _ = consume ready
        switch started.state.withLock({ $0 })! {
        case .success(let (endpoints, handle)):
            self.endpoints = endpoints
            self.handle = handle
        case .failure(let failure):
            thread.join()
            throw failure
        }
    }

    /// The thread's body: listen, serve until stopped, close everything.
    private static func serve(
        poems: [[UInt8]], chunkSize: Int, delay: Duration, backend: LoopBackend, started: Started, ready: Descriptor
    ) {
        var servers: [PoetryServer] = []
        do {
            let loop = try IOLoop(backend: backend)
            for (index, poem) in poems.enumerated() {
                let listener = try listenTCP(host: "127.0.0.1", port: 0).release() // closed by `PoetryServer.close`
                let server = PoetryServer(number: index + 1, listener: listener, poem: poem, chunkSize: chunkSize,
                                          delay: delay, log: .silent, loop: loop)
                servers.append(server)
                try server.start()
            }
            let endpoints = try servers.map { try $0.listener.localAddress() }
            started.state.withLock { $0 = .success((endpoints, loop.handle)) }
            _ = try? ready.write([1]) // the main thread waits for this byte; a failed write cannot be reported
            try loop.run()
            for server in servers { _ = server.close() }
            try loop.close()
        } catch {
            for server in servers { _ = server.close() }
            started.state.withLock { state in
                if state == nil { state = .failure(ExampleFailure("the poetry servers did not start: \(error)")) }
            }
            _ = try? ready.write([0])
        }
    }

    /// Stops the servers' loop and waits for the thread. Once.
    func stop() {
        handle.stop()
        thread.join()
    }
}
