import EventLoop
import Glibc
import Testing

/// A datagram socket's descriptor for options, and connected UDP: sending
/// without an address, the peer's datagrams only, and the kernel's refusal
/// (ICMP port unreachable) reported once without ending the socket.
@Suite("Connected datagram sockets")
struct DatagramConnectTests {
    static let hosts = ["127.0.0.1", "::1"]

    /// Every socket `script` saw made was closed afterwards.
    static func everySocketWasClosed(_ script: FaultScript) -> Bool {
        UnixConnectBackoffTests.everySocketWasClosed(script)
    }

    @Test func aDatagramSocketLendsItsDescriptorForSocketOptions() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let socket = try await DatagramSocket.bind(on: executor)
            try socket.descriptor.setOption(SOL_SOCKET, SO_RCVBUF, 65_536)
            #expect(try socket.descriptor.option(SOL_SOCKET, SO_RCVBUF) >= 65_536, "Linux doubles it for its bookkeeping")
            #expect(try socket.descriptor.option(SOL_SOCKET, SO_TYPE) == Int32(SOCK_DGRAM.rawValue))
            #expect(try socket.descriptor.isNonBlocking())
            #expect(try socket.descriptor.localAddress() == socket.localAddress)
            #expect(socket.peerAddress == nil)
            await socket.close()
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available, hosts)
    func aConnectedDatagramSocketSendsAndReceivesWithoutAnAddress(backend: LoopBackend, host: String) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let server = try await DatagramSocket.bind(host: host, on: executor)
            let client = try await DatagramSocket.connect(to: server.localAddress, on: executor)
            #expect(client.peerAddress == server.localAddress)
            #expect(try client.descriptor.peerAddress() == server.localAddress)
            #expect(client.localAddress.ip == host && client.localAddress.port != 0, "the kernel bound it at the connect")
            try await client.send(Array("ping".utf8))
            let request = try await executor.withDeadline(after: .seconds(5)) { try await server.receive() }
            #expect(request.bytes == Array("ping".utf8) && request.sender == client.localAddress)
            try await server.send(Array("pong".utf8), to: request.sender)
            let reply = try await executor.withDeadline(after: .seconds(5)) { try await client.receive() }
            #expect(reply.bytes == Array("pong".utf8) && reply.sender == server.localAddress)
            await client.close()
            await server.close()
        }
        try loop.close()
    }

    @Test(arguments: hosts)
    func aConnectedDatagramSocketReceivesOnlyItsPeersDatagrams(host: String) throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let server = try await DatagramSocket.bind(host: host, on: executor)
            let stranger = try await DatagramSocket.bind(host: host, on: executor)
            let client = try await DatagramSocket.connect(to: server.localAddress, on: executor)
            try await stranger.send(Array("from a stranger".utf8), to: client.localAddress)
            try await server.send(Array("from the peer".utf8), to: client.localAddress)
            let got = try await executor.withDeadline(after: .seconds(5)) { try await client.receive() }
            #expect(got.bytes == Array("from the peer".utf8), "the kernel dropped the stranger's datagram")
            #expect(got.sender == server.localAddress)
            await client.close()
            await stranger.close()
            await server.close()
        }
        try loop.close()
    }

    /// The kernel's answer to a datagram sent to a closed port on a connected
    /// socket is `ECONNREFUSED` on the next call; it ends neither the socket
    /// nor the next receive, which gets the datagram sent once a socket is
    /// bound at that port again.
    @Test(arguments: LoopBackend.available, hosts)
    func aRefusedDatagramIsReportedOnceAsConnectionRefusedAndTheSocketGoesOn(backend: LoopBackend, host: String) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let gone = try await DatagramSocket.bind(host: host, on: executor)
            let closedPort = gone.localAddress
            await gone.close()
            let client = try await DatagramSocket.connect(to: closedPort, on: executor)
            try await client.send(Array("anyone?".utf8))
            let refused = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await client.receive() }
            }
            #expect(refused?.kind == .connectionRefused && refused?.errno == .connectionRefused)
            #expect(refused?.operation.contains("\(closedPort)") == true, "\(String(describing: refused))")
            // Someone binds the port again (UDP leaves nothing behind a closed socket).
            let back = try await DatagramSocket.bind(host: host, port: closedPort.port, on: executor)
            try await back.send(Array("here now".utf8), to: client.localAddress)
            let got = try await executor.withDeadline(after: .seconds(5)) { try await client.receive() }
            #expect(got.bytes == Array("here now".utf8) && got.sender == closedPort)
            try await client.send(Array("thanks".utf8))
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await back.receive() }.bytes == Array("thanks".utf8))
            await back.close()
            await client.close()
        }
        try loop.close()
    }

    @Test func aRefusalReportedBySendIsConnectionRefusedAndTheNextSendGoesOut() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let server = try await DatagramSocket.bind(on: executor)
            let client = try await DatagramSocket.connect(to: server.localAddress, on: executor)
            let script = FaultScript()
            try script.inject(.fail(.connectionRefused), into: .send, descriptor: client.descriptor, when: .first(1))
            let refused = await script.run {
                await #expect(throws: StreamError.self) { try await client.send(Array("lost".utf8)) }
            }
            #expect(refused?.kind == .connectionRefused && refused?.operation.contains("send(\(server.localAddress))") == true)
            try await script.run { try await client.send(Array("sent".utf8)) }
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await server.receive() }.bytes == Array("sent".utf8))
            #expect(script.records(of: .send).map(\.injected) == [true, false])
            await client.close()
            await server.close()
        }
        try loop.close()
    }

    @Test func sendingToAnotherAddressOnAConnectedSocketIsRefusedWithEISCONN() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let server = try await DatagramSocket.bind(on: executor)
            let other = try await DatagramSocket.bind(on: executor)
            let client = try await DatagramSocket.connect(to: server.localAddress, on: executor)
            let script = FaultScript()
            let refused = await script.run {
                await #expect(throws: StreamError.self) { try await client.send(Array("x".utf8), to: other.localAddress) }
            }
            #expect(refused?.kind == .system && refused?.errno == .alreadyConnected)
            #expect(refused?.operation.contains("connected to \(server.localAddress)") == true, "\(String(describing: refused))")
            #expect(script.records(of: .sendto).isEmpty, "refused before the kernel saw it")
            try await client.send(Array("to the peer".utf8), to: server.localAddress) // its own peer is fine
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await server.receive() }.bytes == Array("to the peer".utf8))
            await client.close()
            await other.close()
            await server.close()
        }
        try loop.close()
    }

    @Test func sendingWithoutAnAddressOnAnUnconnectedSocketSaysDestinationAddressRequired() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let socket = try await DatagramSocket.bind(on: executor)
            let error = await #expect(throws: StreamError.self) { try await socket.send(Array("x".utf8)) }
            #expect(error?.errno == .destinationAddressRequired && error?.operation.contains("send(_:to:)") == true)
            await socket.close()
        }
        try loop.close()
    }

    @Test(arguments: hosts)
    func bindAndConnectSendsFromTheGivenLocalAddress(host: String) throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let server = try await DatagramSocket.bind(host: host, on: executor)
            // A free port to bind to: the kernel's pick for a socket closed at once.
            let probe = try await DatagramSocket.bind(host: host, on: executor)
            let local = probe.localAddress
            await probe.close()
            let client = try await DatagramSocket.connect(to: server.localAddress, from: local, on: executor)
            #expect(client.localAddress == local)
            try await client.send(Array("hi".utf8))
            let got = try await executor.withDeadline(after: .seconds(5)) { try await server.receive() }
            #expect(got.sender == local)
            await client.close()
            await server.close()
        }
        try loop.close()
    }

    @Test func aConnectFromAnAddressOfAnotherFamilyIsRefusedBeforeAnySocketIsMade() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let script = FaultScript()
            let error = await script.run {
                await #expect(throws: ArgumentError.self) {
                    try await DatagramSocket.connect(
                        to: try SocketEndpoint(ip: "::1", port: 9), from: try SocketEndpoint(ip: "127.0.0.1", port: 0), on: executor)
                }
            }
            #expect(error != nil)
            #expect(script.records(of: .socket).isEmpty)
        }
        try loop.close()
    }

    @Test func aFailedDatagramConnectClosesItsSocket() throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        try loop.run { executor in
            let taken = try await DatagramSocket.bind(on: executor)
            script.clearTrace()
            let error = await #expect(throws: StreamError.self) {
                try await DatagramSocket.connect(to: try SocketEndpoint(ip: "127.0.0.1", port: 9), from: taken.localAddress, on: executor)
            }
            #expect(error?.kind == .addressInUse)
            #expect(script.records(of: .socket).count == 1 && Self.everySocketWasClosed(script))
            await taken.close()
        }
        try loop.close()
    }
}
