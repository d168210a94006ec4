import EventLoop
import Testing

/// What the kernel holds for a registration is let go with it: a socket
/// unregistered and closed is gone at once (its port free to bind again),
/// as with epoll, where `close` drops the file from the interest list. The
/// io_uring backend's poll requests hold a reference to the file, so its
/// unregister must reach the kernel before it returns.
@Suite("Selector registrations release their files")
struct SelectorReleaseTests {
    @Test(arguments: Backend.allCases)
    func aSocketUnregisteredThenClosedFreesItsPortAtOnce(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        for trigger in [Trigger.level, .edge, .oneShot] where trigger == .level || backend.supportsEdge {
            for interest in [Interest.readable, .all] {
            let udp = try Socket.bindUDP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
            let address = try udp.descriptor.localAddress()
            try selector.register(udp.descriptor, interest: interest, trigger: trigger, value: 1)
            #expect(try selector.select(timeout: .zero).count == (interest == .all ? 1 : 0), "\(interest), \(trigger)")
            try selector.unregister(udp.descriptor)
            try udp.close()
            // A second socket on the same port: refused while the first is alive.
            let again = try Socket.bindUDP(on: address)
            try again.close()
            }
        }
        try selector.close()
    }

    @Test(arguments: Backend.allCases)
    func aSocketRegisteredButNeverWaitedOnIsFreedByUnregisterAndClose(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let udp = try Socket.bindUDP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
        let address = try udp.descriptor.localAddress()
        try selector.register(udp.descriptor, interest: .all, trigger: backend.supportsEdge ? .edge : .level, value: 1)
        try selector.unregister(udp.descriptor)
        try udp.close()
        let again = try Socket.bindUDP(on: address)
        try again.close()
        try selector.close()
    }
}
