import EventLoop
import Testing

/// The README's loop example, verbatim between the markers, so it keeps compiling.
@Suite("README examples")
struct ReadmeExampleTests {
    @Test func descriptorsAndSelectorsTour() throws {
        // README: descriptors example begins
        let pipe = try DescriptorPair.pipe()              // non-blocking, close-on-exec
        _ = try pipe.second.descriptor.write(Array("hi".utf8))
        var bytes = [UInt8](repeating: 0, count: 64)
        let result = try bytes.withUnsafeMutableBytes { try pipe.first.descriptor.read(into: $0) }
        switch result {
        case .completed(0): print("end of file")
        case .completed(let n): print("read \(n) bytes")
        case .wouldBlock: print("nothing yet")
        }
        // A failure reads like: epoll_ctl(ADD, fd 7): Bad file descriptor (EBADF)
        // README: descriptors example ends
        #expect(result == .completed(2))
        _ = try pipe.second.descriptor.write(Array("again".utf8))
        var seen: [String] = []
        // README: selector example begins
        let selector = try DefaultSelector<String>()      // epoll on Linux
        try selector.register(pipe.first.descriptor, interest: .readable, value: "pipe")
        for event in try selector.select(timeout: .seconds(1)) {
            print(event.key.value, event.events)          // "pipe readable"
            seen.append("\(event.key.value) \(event.events)")
        }
        // README: selector example ends
        #expect(seen == ["pipe readable"])
    }

    @Test func ioUringTour() throws {
        // README: io_uring example begins
        if let reason = LoopBackend.ioUring.unavailableReason {
            print("no io_uring here: \(reason)")        // e.g. refused by a seccomp profile
        } else {
            let loop = try IOLoop(backend: .ioUring)     // or LoopGroup(backend: .ioUring)
            // watchers, timers, signals, streams: the same API, the same guarantees
            try loop.close()
        }
        // README: io_uring example ends
        #expect(LoopBackend.available.contains(.epoll))
    }

    @Test func loopTour() throws {
        // README: loop example begins
        let loop = try IOLoop()                 // epoll by default (IOLoop(backend: .poll)…); used by one thread at a time
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        var received: [UInt8] = []
        var ticks = 0

        try loop.watch(reader, interest: .readable) { events in
            if let bytes = try reader.read(upTo: 1024).value { received += bytes }
        }
        try loop.schedule(after: .milliseconds(10)) {
            _ = try pipe.second.descriptor.write(Array("hello".utf8))
        }
        let ticker = try loop.scheduleRepeating(every: .milliseconds(5)) { ticks += 1 }
        try loop.callSoon { print("first iteration") }

        let handle = loop.handle                   // Sendable: give it to other threads
        try handle.submit { print("submitted from anywhere, run on the loop") }

        try loop.schedule(after: .milliseconds(30)) {
            ticker.cancel()
            loop.stop()
        }
        try loop.run()                             // until stop()
        try loop.close()                           // closes what the loop owns
        // README: loop example ends
        #expect(received == Array("hello".utf8))
        #expect(ticks >= 3)
    }

    @Test func faultInjectionTour() throws {
        // README: fault injection example begins
        /// The code under test: writes all of `bytes`, however the kernel splits them.
        func sendAll(_ bytes: [UInt8], to fd: Descriptor) throws {
            var sent = 0
            while sent < bytes.count {
                if case .completed(let n) = try fd.write(bytes[sent...]) { sent += n }
            }
        }

        let pair = try DescriptorPair.socketPair()
        let script = FaultScript()
        try script.inject(.fail(.interrupted), into: .write, when: .nth(1))   // a signal arrives
        try script.inject(.shortCount(3), into: .write, when: .nth(2))        // the kernel takes 3 bytes
        try script.run {
            try sendAll(Array("hello, world".utf8), to: pair.first.descriptor)
        }
        print(script.records(of: .write).map(\.description))
        // ["write(fd 5) = EINTR (injected)", "write(fd 5) = 3 (injected)", "write(fd 5) = 9"]
        // README: fault injection example ends
        #expect(script.records(of: .write).map(\.result) == [-Int(ErrnoCode.interrupted.rawValue), 3, 9])
        #expect(try pair.second.descriptor.read(upTo: 64) == .completed(Array("hello, world".utf8)))
    }

    @Test func asyncTour() throws {
        // README: async example begins
        let loop = try IOLoop()
        let greeting = try loop.run { executor in
            let server = try await StreamServer.listening(port: 0, on: executor) { connection in
                let name = try await connection.readLine()                 // "world\n"
                try await connection.write("hello, " + String(decoding: name, as: UTF8.self))
            }
            let serving = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "localhost", port: server.port, timeout: .seconds(5), on: executor)
            try await client.write("world\n")
            let reply = try await client.readToEnd()                       // until the server closes
            serving.cancel()                                               // closes the listener, ends the handlers
            try await serving.value
            return String(decoding: reply, as: UTF8.self)
        }
        print(greeting)                                                    // "hello, world\n"
        try loop.close()
        // README: async example ends
        #expect(greeting == "hello, world\n")
    }

    @Test func everyCoreTour() async throws {
        // README: group example begins
        let group = try LoopGroup(loopCount: 2)            // default: one per allowed CPU
        let server = try await StreamServer.listening(port: 0, on: group) { connection in
            while case let line = try await connection.readLine(), !line.isEmpty {
                try await connection.write(line)            // on this connection's loop
            }
        }
        let serving = Task { try await server.run() }
        let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: group.next())
        try await client.write("hello\n")
        print(String(decoding: try await client.readLine(), as: UTF8.self))   // "hello\n"
        await client.close()
        await group.shutdown(gracePeriod: .seconds(5))    // servers stop accepting first, then every loop
        try await serving.value
        // README: group example ends
        let allFinished = group.threads.allSatisfy { $0.isFinished }
        #expect(allFinished)
    }
}
