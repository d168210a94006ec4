// The self-contained demo: an echo server and its clients on one event loop,
// on loopback, in one process. Callback style: watchers for I/O, a repeating
// timer for progress, a one-shot timer as a deadline, and a worker thread that
// hands its result to the loop through the loop's Sendable handle.
// It stops by itself.
import EventLoop
import Glibc

let clientCount = 8
let roundTrips = 2_000
let message = Array("hello, event loop\n".utf8)

let loop = try IOLoop()
let listener = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: 0)).release()
let address = try listener.localAddress()
print("echo server on \(address), \(clientCount) clients x \(roundTrips) round trips")

/// Everything the demo counts. Loop thread only.
final class Tally {
    var echoedBytes = 0
    var finishedClients = 0
    var ticks = 0
}
let tally = Tally()
var owned: [Descriptor] = [] // closed at the end

// The server: accept, then echo whatever arrives.
try loop.watch(listener) { _ in
    while let connection = try listener.accept().take() {
        let fd = connection.release()
        owned.append(fd)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4_096, alignment: 8)
        var watcher: IOWatcher?
        watcher = try loop.watch(fd) { _ in
            guard case .completed(let count) = try fd.read(into: buffer) else { return }
            if count == 0 { // the client is done
                watcher?.cancel()
                buffer.deallocate()
                return
            }
            _ = try fd.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            tally.echoedBytes += count
        }
    }
}

// The clients: connect, then ping-pong until done.
for _ in 0..<clientCount {
    let fd = try Socket.connectTCP(to: address).release()
    owned.append(fd)
    var remaining = roundTrips
    var pending = 0
    var watcher: IOWatcher?
    watcher = try loop.watch(fd, interest: .writable) { events in
        if events.contains(.writable) { // connected: switch to reading and send the first message
            if let error = try fd.pendingError() { throw SystemError(error, operation: "connect(\(fd))") }
            try watcher?.setInterest(.readable)
            _ = try fd.write(message)
            return
        }
        guard let bytes = try fd.read(upTo: 4_096).value, !bytes.isEmpty else { return }
        pending += bytes.count
        guard pending >= message.count else { return } // the whole echo has not come back yet
        pending -= message.count
        remaining -= 1
        if remaining > 0 {
            _ = try fd.write(message)
        } else {
            watcher?.cancel()
            try fd.shutdown()
            tally.finishedClients += 1
            if tally.finishedClients == clientCount { loop.stop() }
        }
    }
}

// Progress every 20 ms; a worker thread's answer; a deadline so the demo always ends.
let ticker = try loop.scheduleRepeating(every: .milliseconds(20)) { tally.ticks += 1 }
let handle = loop.handle
let worker = WorkerThread { [handle] in
    let sum = (1...1_000).reduce(0, +) // some work off the loop thread
    try? handle.submit { print("a worker thread says: 1 + ... + 1000 = \(sum)") }
}
let deadline = try loop.schedule(after: .seconds(10)) { loop.stop() }

let start = MonotonicInstant.now()
try loop.run()
let elapsed = MonotonicInstant.now() - start
worker.join()
try loop.runOnce(timeout: .zero) // the worker's message, if it came in after the stop
ticker.cancel()
deadline.cancel()

let metrics = loop.metrics
print("\(tally.finishedClients) of \(clientCount) clients done: \(tally.echoedBytes) bytes echoed in \(elapsed)")
print("loop: \(metrics.iterations) iterations, \(tally.ticks) progress ticks, waited \(metrics.waiting), ran \(metrics.running)")
try loop.close()
for fd in owned { try? OwnedDescriptor(adopting: fd).close() }
try OwnedDescriptor(adopting: listener).close()
exit(tally.finishedClients == clientCount ? 0 : 1)
