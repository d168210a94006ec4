// The interop check: every public top-level name of the EventLoop module,
// unqualified, in one file that also imports SwiftNIO, swift-system and
// Foundation and uses their look-alike names unqualified too. If this file
// builds without warnings, none of our names is ambiguous beside theirs.
//
// `check-public-names.sh` (next to Package.swift) fails CI when a public
// top-level name in Sources/EventLoop does not appear here as a word: add each
// new public type, protocol, typealias or function to `ourNames()` below.

import EventLoop
import Foundation
import NIOCore
import NIOPosix
import SystemPackage

// MARK: - Their names, unqualified

/// SwiftNIO's and swift-system's names that ours were renamed away from.
func theirNames() throws {
    let _: (any EventLoop)? = nil                     // NIOCore's protocol, not our module
    let _: SocketAddress? = nil                       // NIOCore's, not our SocketEndpoint
    let _: Errno = .badFileDescriptor                 // swift-system's, not our ErrnoCode
    // `FileDescriptor` is in both NIOCore (a protocol) and swift-system (a
    // struct): their clash, not ours, so it is qualified here.
    let _: SystemPackage.FileDescriptor? = nil        // not our Descriptor
    let _: ByteBuffer? = nil
    let _: (any Channel)? = nil
    let _: MultiThreadedEventLoopGroup.Type = MultiThreadedEventLoopGroup.self
    let _: Thread.Type = Thread.self                  // Foundation's
    let _: Timer.Type = Timer.self
    let _: RunLoop.Type = RunLoop.self
    let _: FileHandle.Type = FileHandle.self
}

// MARK: - Our names, unqualified

/// Every public top-level name of the EventLoop module, once as a type (or
/// function value), so a clash shows up as an ambiguous lookup here.
func ourNames() {
    // Loop/
    let _: IOLoop.Type = IOLoop.self
    let _: LoopHandle.Type = LoopHandle.self
    let _: LoopThread.Type = LoopThread.self
    let _: LoopGroup.Type = LoopGroup.self
    let _: LoopGroupMetrics.Type = LoopGroupMetrics.self
    let _: ConnectionBalancing = .acceptor
    let _: LoopBackend = .epoll
    let _: LoopError = .closed
    let _: LoopClock = .monotonic
    let _: ManualClock.Type = ManualClock.self
    let _: LoopMetrics.Type = LoopMetrics.self
    let _: TimerHandle.Type = TimerHandle.self
    let _: TimerID.Type = TimerID.self
    let _: IOWatcher.Type = IOWatcher.self
    let _: SignalSubscription.Type = SignalSubscription.self

    // System/
    let _: SignalInfo.Type = SignalInfo.self
    let _: SignalSet = SignalSet()
    let _: ErrnoCode = .badFileDescriptor
    // The accept errors' constants, unqualified beside swift-system's `Errno`
    // members (several share a meaning, not a spelling).
    let _: [ErrnoCode] = [
        .protocolError, .noBufferSpace, .networkDown, .networkUnreachable, .hostDown, .hostUnreachable,
        .noNetwork, .protocolNotAvailable, .operationNotSupported, .connectionAborted,
        .alreadyConnected, .destinationAddressRequired, .protocolWrongType, .addressFamilyNotSupported,
    ]
    let _: SystemError = SystemError(.invalidArgument, operation: "interop")
    let _: SocketEndpoint.Type = SocketEndpoint.self
    let _: Socket.Type = Socket.self
    let _: IOOutcome<Int> = .wouldBlock
    let _: Descriptor = Descriptor(0)
    let _: OwnedDescriptor.Type = OwnedDescriptor.self
    let _: DescriptorPair.Type = DescriptorPair.self
    let _: EventFD.Type = EventFD.self
    let _: TimerFD.Type = TimerFD.self
    let _: SignalFD.Type = SignalFD.self
    let _: FDSet = FDSet()
    let _: MonotonicInstant = .distantFuture
    let _: (Int32) throws(SystemError) -> Void = raiseInProcess
    let _: ArgumentError = ArgumentError("interop", argument: "x", requirement: "must be y")
    let _: Epoll.Type = Epoll.self
    let _: EpollEvents = .input
    let _: EpollEventBuffer.Type = EpollEventBuffer.self
    let _: FaultScript = FaultScript()
    let _: SystemCall = .read
    let _: SignalDisposition = .default
    let _: LoopExecutor.Type = LoopExecutor.self
    let _: DeadlineExceeded = DeadlineExceeded(duration: .seconds(1))
    let _: DatagramSocket.Type = DatagramSocket.self
    let _: StreamConnection.Type = StreamConnection.self
    let _: StreamError = StreamError(.closed, operation: "interop")
    let _: StreamListener.Type = StreamListener.self
    let _: StreamServer.Type = StreamServer.self

    // Selector/
    let _: (any EventSelector<Int>)? = nil
    let _: EpollSelector<Int>.Type = EpollSelector<Int>.self
    let _: IOUringSelector<Int>.Type = IOUringSelector<Int>.self
    let _: [LoopBackend] = LoopBackend.available
    let _: String? = LoopBackend.ioUring.unavailableReason
    let _: LoopBackend = .automatic
    let _: PollSelector<Int>.Type = PollSelector<Int>.self
    let _: SelectSelector<Int>.Type = SelectSelector<Int>.self
    let _: DefaultSelector<Int>.Type = DefaultSelector<Int>.self
    let _: SelectorKey<Int>.Type = SelectorKey<Int>.self
    let _: SelectorEvent<Int>.Type = SelectorEvent<Int>.self
    let _: SelectorError = .closed
    let _: Interest = .readable
    let _: Trigger = .level
    let _: ReadyEvents = .readable
}

/// The socket-level additions, by their members, unqualified beside NIO's
/// `SocketAddress`, `Channel` and swift-system's `Errno` (never run: it
/// only has to build).
func socketLevelNames(on executor: LoopExecutor) async throws {
    let endpoint = try SocketEndpoint(abstractUnixName: "interop")
    let _: String? = endpoint.abstractUnixName
    let listener = try await StreamListener.bind(abstractUnixName: "interop", on: executor)
    let _: StreamListener = try await StreamListener.adopt(OwnedDescriptor(adopting: Descriptor(3)), on: executor)
    let connection = try await StreamConnection.connect(abstractUnixName: "interop", timeout: .seconds(1), on: executor)
    let _: StreamConnection = try await StreamConnection.adopt(OwnedDescriptor(adopting: Descriptor(4)), on: executor)
    let _: StreamConnection = try await StreamConnection.connect(
        host: "localhost", port: 9, timeout: .seconds(1), attemptDelay: .milliseconds(250), on: executor)
    let datagrams = try await DatagramSocket.connect(to: endpoint, from: nil, on: executor)
    let _: DatagramSocket = try await DatagramSocket.adopt(OwnedDescriptor(adopting: Descriptor(5)), on: executor)
    let _: SocketEndpoint? = datagrams.peerAddress
    let _: Int32 = try datagrams.descriptor.option(1, 8)
    try await datagrams.send([1])
    let _: OwnedDescriptor = try Socket.connectedDatagram(to: endpoint, from: nil)
    let _: IOOutcome<Int> = try [UInt8]([1]).withUnsafeBytes { try connection.descriptor.send($0) }
    await listener.close()
}

/// `loop.run(cancellingOnInterrupt:)`, beside NIO's `EventLoop.execute`.
func interruptibleRun(_ loop: IOLoop) throws -> Int {
    try loop.run(cancellingOnInterrupt: true) { _ in 1 }
}

/// The stream's members named after asyncio's and NIO's (`drain`,
/// `isWritable`, `readUntil`…), used beside NIO's `Channel` and
/// `ByteBuffer` in one file: never called, only compiled.
func ourStreamMembers(_ connection: StreamConnection, _ channel: any Channel) async throws {
    try connection.bufferWrite([UInt8]("head".utf8))
    try connection.bufferWrite("body")
    try await connection.drain()
    try await connection.drain(untilEmpty: true)
    let _: Int = connection.bufferedByteCount
    let _: Bool = connection.isWritable && channel.isWritable
    let _: (low: Int, high: Int) = connection.writeBufferWaterMarks
    try connection.setWriteBufferWaterMarks(low: 16_384, high: 65_536)
    let _: [UInt8] = try await connection.readUntil(Array("\r\n\r\n".utf8), limit: 8_192)
    let _: Bool = try await connection.atEndOfStream
    let error = StreamError(.endOfStream, operation: "interop", partial: [1], expected: 2)
    let _: ([UInt8], Int?) = (error.partial, error.expected)
    let _: ByteBuffer = channel.allocator.buffer(bytes: error.partial)
}

// MARK: - Side by side, in real use

/// Ours and theirs in the same expressions: the same address, the same errno,
/// the same descriptor number, and a loop of ours running beside NIO's.
func sideBySide() throws {
    let endpoint = try SocketEndpoint(ip: "127.0.0.1", port: 8080)
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: 8080)
    precondition(Int(endpoint.port) == address.port)

    let code: ErrnoCode = .badFileDescriptor
    let errno = Errno(rawValue: code.rawValue)
    precondition(errno == .badFileDescriptor)

    let pipe = try DescriptorPair.pipe()
    let reader: Descriptor = pipe.first.descriptor
    let fileDescriptor = SystemPackage.FileDescriptor(rawValue: reader.rawValue)
    precondition(fileDescriptor.rawValue == reader.rawValue)

    let selector = try DefaultSelector<String>()
    try selector.register(reader, interest: .readable, trigger: .level, value: "pipe")
    _ = try pipe.second.descriptor.write(Array("hi".utf8))
    let ready: [SelectorEvent<String>] = try selector.select(timeout: .seconds(1))
    precondition(ready.map(\.key.value) == ["pipe"])
    try selector.close()

    let clock = ManualClock()
    let loop = try IOLoop(backend: .epoll, clock: .manual(clock))
    var fired = false
    try loop.schedule(after: .milliseconds(5)) { fired = true }
    clock.advance(by: .milliseconds(5))
    precondition(fired)
    // The handler-and-tag forms: a timer, and a submission from any thread.
    var tags: [Int] = []
    let handler: (Int) throws -> Void = { tags.append($0) }
    try loop.schedule(at: clock.now + .milliseconds(1), tag: 7, handler)
    clock.advance(by: .milliseconds(1))
    precondition(tags == [7])
    final class Submitted: @unchecked Sendable { var tags: [Int] = [] } // touched on the loop thread only
    let submitted = Submitted()
    try loop.handle.submit(tag: 8) { tag in submitted.tags.append(tag) }
    try loop.runOnce(timeout: .zero)
    precondition(submitted.tags == [8])
    try loop.close()

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let nioLoop: any EventLoop = group.next()
    let answer = try nioLoop.submit { 42 }.wait()
    precondition(answer == 42)
    try group.syncShutdownGracefully()
}

try theirNames()
ourNames()
try sideBySide()
print("interop: EventLoop, NIOCore, NIOPosix, SystemPackage and Foundation share one file")
