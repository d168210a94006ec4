import EventLoop
import Glibc
import Testing

/// Sockets made elsewhere (systemd's activation, a parent process, another
/// library) taken over by a listener, a connection or a datagram socket:
/// checked with the kernel first, made non-blocking and close-on-exec, closed
/// on every failure, and a Unix listener's file is never removed by a
/// listener that did not make it.
@Suite("Adopting sockets made elsewhere")
struct SocketAdoptionTests {
    static let hosts = ["127.0.0.1", "::1"]

    /// Whether `script` traced a `close` of `fd`.
    static func closed(_ fd: Descriptor, in script: FaultScript) -> Bool {
        script.records(of: .close).contains { $0.descriptor == fd }
    }

    /// What adopting a socket that must be refused gave: the error (nil if
    /// none, or not a `StreamError`), the socket's number, whether the loop
    /// traced its `close` before `run` ended, and the trace.
    struct Refusal {
        let error: StreamError?
        let number: Descriptor
        let closed: Bool
        let script: FaultScript
    }

    /// On a fresh loop whose calls a `FaultScript` traces, opens a socket with
    /// `make` and hands it to `adopt` (which should refuse it).
    static func refusal(
        making make: @escaping @Sendable () throws -> OwnedDescriptor,
        adopt: @escaping @Sendable (consuming OwnedDescriptor, LoopExecutor) async throws -> Void
    ) throws -> Refusal {
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        let refusal = try loop.run { executor in
            let socket = try make()
            let number = socket.descriptor
            var error: StreamError?
            do { try await adopt(socket, executor) } catch let caught as StreamError { error = caught }
            return Refusal(error: error, number: number, closed: closed(number, in: script), script: script)
        }
        try loop.close()
        return refusal
    }

    /// A socket made blocking and inheritable, as a parent process may pass one down.
    static func asPassedDown(_ socket: borrowing OwnedDescriptor) throws {
        try socket.descriptor.setNonBlocking(false)
        try socket.descriptor.setCloseOnExec(false)
    }

    // MARK: Listeners

    @Test(arguments: LoopBackend.available, hosts)
    func anAdoptedListenerAcceptsConnectionsAndIsMadeNonBlockingAndCloseOnExec(backend: LoopBackend, host: String) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let socket = try Socket.listenTCP(on: try SocketEndpoint(ip: host, port: 0))
            try Self.asPassedDown(socket)
            let number = socket.descriptor
            let bound = try number.localAddress()
            let listener = try await StreamListener.adopt(socket, on: executor)
            #expect(listener.localAddress == bound && listener.port == bound.port)
            #expect(try number.isNonBlocking() && number.isCloseOnExec())
            async let accepted = listener.accept()
            let client = try await StreamConnection.connect(host: host, port: listener.port, timeout: .seconds(5), on: executor)
            let server = try await accepted
            try await client.write("adopted")
            #expect(try await server.readExactly(7) == Array("adopted".utf8))
            await client.close()
            await server.close()
            await listener.close()
        }
        try loop.close()
    }

    @Test func anAdoptedUnixListenerLeavesTheSocketFileItDidNotMake() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/activated.sock"
            let loop = try IOLoop()
            try loop.run { executor in
                let socket = try Socket.listenUnix(on: try SocketEndpoint(unixPath: path))
                let listener = try await StreamListener.adopt(socket, on: executor)
                #expect(listener.localAddress.unixPath == path)
                async let accepted = listener.accept()
                let client = try await StreamConnection.connect(unixPath: path, timeout: .seconds(5), on: executor)
                let server = try await accepted
                try await client.write("u")
                #expect(try await server.readExactly(1) == Array("u".utf8))
                await client.close()
                await server.close()
                await listener.close()
                #expect(try Socket.entry(atPath: path)?.isSocket == true, "close() left the file it did not make")
            }
            #expect(try Socket.entry(atPath: path)?.isSocket == true, "deinit left it too")
            try loop.close()
        }
    }

    @Test func aSocketThatIsNotListeningIsRefusedAsAListenerWithEINVALAndClosed() throws {
        let refused = try Self.refusal(making: { try Socket.stream(for: try SocketEndpoint(ip: "127.0.0.1", port: 0)) }) {
            _ = try await StreamListener.adopt($0, on: $1)
        }
        #expect(refused.error?.errno == .invalidArgument)
        #expect(refused.error?.operation == "adopt(\(refused.number)): a stream socket that is not listening (call listen(2) first)")
        #expect(refused.closed)
    }

    @Test func aDatagramSocketIsRefusedAsAListenerWithEPROTOTYPEAndClosed() throws {
        let refused = try Self.refusal(making: { try Socket.bindUDP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0)) }) {
            _ = try await StreamListener.adopt($0, on: $1)
        }
        #expect(refused.error?.errno == .protocolWrongType)
        #expect(refused.error?.operation == "adopt(\(refused.number)): a datagram socket, not a listening stream socket")
        #expect(refused.closed)
    }

    @Test func aPipeIsRefusedWithENOTSOCKAndClosed() throws {
        let refused = try Self.refusal(making: {
            let pipe = try DescriptorPair.pipe()
            let reader = pipe.first
            return reader
        }) {
            _ = try await StreamListener.adopt($0, on: $1)
        }
        #expect(refused.error?.kind == .system && refused.error?.errno == .notSocket)
        #expect(refused.error?.description.hasPrefix("adopt(\(refused.number)): not a socket") == true, "\(String(describing: refused.error))")
        #expect(refused.closed)
    }

    @Test func aNumberThatIsNotOpenIsRefusedWithEBADF() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let error = await #expect(throws: StreamError.self) {
                try await StreamConnection.adopt(OwnedDescriptor(adopting: neverOpenDescriptor), on: executor)
            }
            #expect(error?.errno == .badFileDescriptor && error?.operation == "adopt(\(neverOpenDescriptor)): not an open descriptor")
        }
        try loop.close()
    }

    @Test func aNegativeAcceptBackoffIsRefusedAndTheSocketClosed() throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        try loop.run { executor in
            let socket = try Socket.listenTCP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0))
            let number = socket.descriptor
            var error: (any Error)?
            do { _ = try await StreamListener.adopt(socket, acceptBackoff: .milliseconds(-1), on: executor) } catch let caught { error = caught }
            #expect(error is ArgumentError)
            #expect(Self.closed(number, in: script))
        }
        try loop.close()
    }

    // MARK: Connections

    @Test(arguments: LoopBackend.available, hosts)
    func anAdoptedTCPConnectionReadsAndWritesWithItsAddresses(backend: LoopBackend, host: String) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let listener = try await StreamListener.bind(host: host, port: 0, on: executor)
            async let accepted = listener.accept()
            // A connection another library made: connected, then passed over blocking.
            let socket = try Socket.connectTCP(to: listener.localAddress)
            let server = try await accepted
            _ = try await executor.waitForReadiness(of: socket.descriptor, interest: .writable)
            try Self.asPassedDown(socket)
            let number = socket.descriptor
            let client = try await StreamConnection.adopt(socket, on: executor)
            #expect(try number.isNonBlocking() && number.isCloseOnExec())
            #expect(client.peerAddress == listener.localAddress && client.localAddress == server.peerAddress)
            try await client.write("hello")
            #expect(try await server.readExactly(5) == Array("hello".utf8))
            try await server.write("back")
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await client.readExactly(4) } == Array("back".utf8))
            await client.close()
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await server.readToEnd() } == [], "closing it closed the socket")
            await server.close()
            await listener.close()
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func anAdoptedSocketPairEndReadsWhatWasQueuedBeforeIt(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let pair = try DescriptorPair.socketPair()
            let mine = pair.first
            let theirs = pair.second
            try put(theirs.descriptor, Array("queued".utf8))
            let connection = try await StreamConnection.adopt(mine, on: executor)
            #expect(connection.peerAddress.family == Socket.unixFamily && connection.peerAddress.unixPath == nil)
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await connection.readExactly(6) } == Array("queued".utf8))
            try theirs.close()
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await connection.read(upTo: 8) } == [])
            await connection.close()
        }
        try loop.close()
    }

    @Test func aListeningSocketIsRefusedAsAConnectionWithEINVALAndClosed() throws {
        let refused = try Self.refusal(making: { try Socket.listenTCP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0)) }) {
            _ = try await StreamConnection.adopt($0, on: $1)
        }
        #expect(refused.error?.errno == .invalidArgument)
        #expect(refused.error?.operation.contains("adopt it as a StreamListener") == true)
        #expect(refused.closed)
    }

    @Test func anUnconnectedStreamSocketIsRefusedAsAConnectionWithENOTCONNAndClosed() throws {
        let refused = try Self.refusal(making: { try Socket.stream(for: try SocketEndpoint(ip: "::1", port: 0)) }) {
            _ = try await StreamConnection.adopt($0, on: $1)
        }
        #expect(refused.error?.errno == .notConnected)
        #expect(refused.error?.operation == "adopt(\(refused.number)): a stream socket that is not connected")
        #expect(refused.closed)
        #expect(!refused.script.records(of: .fcntl).contains { $0.descriptor == refused.number }, "a refused socket's flags are left alone")
    }

    // MARK: Datagrams

    @Test(arguments: LoopBackend.available, hosts)
    func anAdoptedDatagramSocketKeepsItsAddressAndItsPeer(backend: LoopBackend, host: String) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let server = try await DatagramSocket.bind(host: host, on: executor)
            let unconnected = try await DatagramSocket.adopt(try Socket.bindUDP(on: try SocketEndpoint(ip: host, port: 0)), on: executor)
            #expect(unconnected.peerAddress == nil && unconnected.localAddress.port != 0)
            let socket = try Socket.connectedDatagram(to: server.localAddress)
            try Self.asPassedDown(socket)
            let number = socket.descriptor
            let connected = try await DatagramSocket.adopt(socket, on: executor)
            #expect(try number.isNonBlocking() && number.isCloseOnExec())
            #expect(connected.peerAddress == server.localAddress)
            try await connected.send(Array("c".utf8))
            try await unconnected.send(Array("u".utf8), to: server.localAddress)
            var senders: [SocketEndpoint] = []
            for _ in 0..<2 { senders.append(try await executor.withDeadline(after: .seconds(5)) { try await server.receive() }.sender) }
            #expect(Set(senders) == [connected.localAddress, unconnected.localAddress])
            await connected.close()
            await unconnected.close()
            await server.close()
        }
        try loop.close()
    }

    @Test func aStreamSocketIsRefusedAsADatagramSocketWithEPROTOTYPEAndClosed() throws {
        let refused = try Self.refusal(making: { try Socket.stream(for: try SocketEndpoint(ip: "127.0.0.1", port: 0)) }) {
            _ = try await DatagramSocket.adopt($0, on: $1)
        }
        #expect(refused.error?.errno == .protocolWrongType)
        #expect(refused.error?.operation == "adopt(\(refused.number)): a stream socket, not a datagram socket")
        #expect(refused.closed)
    }
}
