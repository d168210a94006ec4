@testable import EventLoop
import Glibc
import Testing

/// Linux abstract-namespace Unix addresses: a leading NUL in `sun_path`, an
/// address length of only the bytes used, `@name` in print, no file made or
/// removed, and the addresses the kernel reports equal to the ones asked for.
@Suite("Abstract Unix addresses")
struct AbstractUnixAddressTests {
    /// A name no other test or process uses.
    static func uniqueName(_ label: String) -> String {
        "eventloop-test-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Whether /proc/net/unix lists a socket bound to `@name`.
    static func kernelLists(_ name: String) -> Bool {
        guard let table = try? String(contentsOfProcFile: "/proc/net/unix") else { return false }
        return table.split(separator: "\n").contains { $0.hasSuffix(" @" + name) }
    }

    @Test func anAbstractEndpointHasALeadingNulAndALengthOfOnlyTheUsedBytes() throws {
        let endpoint = try SocketEndpoint(abstractUnixName: "app")
        #expect(endpoint.family == AF_UNIX)
        #expect(endpoint.length == socklen_t(MemoryLayout<sa_family_t>.size + 1 + 3))
        #expect(endpoint.unixNameBytes == [0] + Array("app".utf8))
        #expect(endpoint.abstractUnixName == "app" && endpoint.unixPath == nil)
        #expect(endpoint.description == "unix:@app")
        #expect(endpoint.port == 0 && endpoint.ip == "")
        #expect(try endpoint != SocketEndpoint(unixPath: "app"), "a path of the same text is another address")
        #expect(try endpoint != SocketEndpoint(abstractUnixName: "ap"))
        #expect(try endpoint == SocketEndpoint(abstractUnixName: "app"))
        #expect(try SocketEndpoint(unixPath: "/tmp/x.sock").abstractUnixName == nil)
    }

    @Test func anAbstractNameMustBeOneTo107BytesWithoutNul() throws {
        #expect(throws: ArgumentError.self) { try SocketEndpoint(abstractUnixName: "") }
        #expect(throws: ArgumentError.self) { try SocketEndpoint(abstractUnixName: String(repeating: "a", count: 108)) }
        #expect(throws: ArgumentError.self) { try SocketEndpoint(abstractUnixName: "a\0b") }
        let longest = try SocketEndpoint(abstractUnixName: String(repeating: "a", count: 107))
        #expect(longest.abstractUnixName?.count == 107)
    }

    @Test(arguments: LoopBackend.available)
    func aListenerOnAnAbstractNameServesConnectionsWithoutAnyFile(backend: LoopBackend) throws {
        let name = Self.uniqueName("serve")
        let endpoint = try SocketEndpoint(abstractUnixName: name)
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let listener = try await StreamListener.bind(abstractUnixName: name, on: executor)
            #expect(listener.localAddress == endpoint && listener.localAddress.description == "unix:@\(name)")
            #expect(Self.kernelLists(name))
            #expect(try Socket.entry(atPath: name) == nil, "no file at the name, relative to the working directory")
            async let accepted = listener.accept()
            let client = try await StreamConnection.connect(abstractUnixName: name, timeout: .seconds(5), on: executor)
            let server = try await accepted
            // The addresses the kernel reports are the one asked for.
            #expect(try client.peerAddress == endpoint && client.descriptor.peerAddress() == endpoint)
            #expect(try server.localAddress == endpoint && server.descriptor.localAddress() == endpoint)
            #expect(client.localAddress.description == "unix:(unnamed)" && server.peerAddress.description == "unix:(unnamed)")
            try await client.write("abstract")
            #expect(try await server.readExactly(8) == Array("abstract".utf8))
            await client.close()
            await server.close()
            await listener.close()
            #expect(!Self.kernelLists(name), "the name went with the socket")
        }
        try loop.close()
    }

    @Test func aTakenAbstractNameIsAddressInUseAndFreeAgainOnceItsListenerCloses() throws {
        let name = Self.uniqueName("taken")
        let loop = try IOLoop()
        try loop.run { executor in
            let first = try await StreamListener.bind(abstractUnixName: name, on: executor)
            let error = await #expect(throws: StreamError.self) { try await StreamListener.bind(abstractUnixName: name, on: executor) }
            #expect(error?.kind == .addressInUse && error?.operation.contains("unix:@\(name)") == true, "\(String(describing: error))")
            await first.close()
            let second = try await StreamListener.bind(abstractUnixName: name, on: executor) // nothing stale to replace
            await second.close()
        }
        try loop.close()
    }

    @Test func connectingToAnAbstractNameNobodyListensOnIsRefused() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let error = await #expect(throws: StreamError.self) {
                try await StreamConnection.connect(abstractUnixName: Self.uniqueName("nobody"), timeout: .seconds(5), on: executor)
            }
            #expect(error?.kind == .connectionRefused)
        }
        try loop.close()
    }

    @Test func aConnectedDatagramSocketReachesAnAbstractNameAndSeesItAsItsPeer() throws {
        let name = Self.uniqueName("datagram")
        let endpoint = try SocketEndpoint(abstractUnixName: name)
        let loop = try IOLoop()
        try loop.run { executor in
            let server = try await DatagramSocket.adopt(try Socket.bindUDP(on: endpoint), on: executor) // a Unix datagram socket
            #expect(server.localAddress == endpoint)
            let clientName = try SocketEndpoint(abstractUnixName: Self.uniqueName("client"))
            let client = try await DatagramSocket.connect(to: endpoint, from: clientName, on: executor)
            #expect(client.peerAddress == endpoint && client.localAddress == clientName)
            try await client.send(Array("datagram".utf8))
            let got = try await executor.withDeadline(after: .seconds(5)) { try await server.receive() }
            #expect(got.bytes == Array("datagram".utf8) && got.sender == clientName)
            await client.close()
            await server.close()
        }
        try loop.close()
    }
}
