// A self-contained echo demo over the default selector: one thread, one
// selector, a server and its clients on loopback. It stops by itself.
import EventLoop
import Glibc

/// Who a registration belongs to.
enum Role {
    case listener
    case serverConnection
    case client(index: Int)
}

let clientCount = 8
let messagesPerClient = 1_000
let message = Array("hello, selector\n".utf8)

let selector = try DefaultSelector<Role>()
let listener = try Socket.listenTCP(on: SocketAddress(ip: "127.0.0.1", port: 0)).release()
let address = try listener.localAddress()
try selector.register(listener, interest: .readable, value: .listener)
print("echo server listening on \(address) with the \(DefaultSelector<Role>.backendName) selector")

var owned: [Descriptor] = [] // closed at the end
var clients: [Descriptor] = []
var remaining = [Int](repeating: messagesPerClient, count: clientCount)
var received = [Int](repeating: 0, count: clientCount)
for index in 0..<clientCount {
    let fd = try Socket.connectTCP(to: address).release()
    owned.append(fd)
    clients.append(fd)
    try selector.register(fd, interest: .writable, value: .client(index: index))
}

var buffer = [UInt8](repeating: 0, count: 64 * 1024)
var echoed = 0
var finished = 0
let start = MonotonicInstant.now()
var events: [SelectorEvent<Role>] = []

while finished < clientCount && MonotonicInstant.now() - start < .seconds(10) {
    try selector.select(timeout: .seconds(1), into: &events)
    for event in events {
        let fd = event.descriptor
        switch event.key.value {
        case .listener:
            while let connection = try fd.accept() {
                let connectionFD = connection.release()
                owned.append(connectionFD)
                try selector.register(connectionFD, interest: .readable, value: .serverConnection)
            }
        case .serverConnection:
            // Echo what arrived; a real server would buffer what the socket does not take.
            let n = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
            guard case .completed(let count) = n else { continue }
            if count == 0 {
                try selector.unregister(fd)
                continue
            }
            _ = try buffer.withUnsafeBytes { try fd.write(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            echoed += count
        case .client(let index):
            if event.events.contains(.writable) {
                // Connected (or refused): start the ping-pong.
                if let error = try fd.pendingError() { throw SystemError(error, operation: "connect(\(fd))") }
                _ = try fd.write(message)
                try selector.modify(fd, interest: .readable, value: .client(index: index))
                continue
            }
            let n = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
            guard case .completed(let count) = n, count > 0 else { continue }
            received[index] += count
            if received[index] % message.count != 0 { continue } // wait for the whole echo
            remaining[index] -= 1
            if remaining[index] == 0 {
                try selector.unregister(fd)
                try fd.shutdown()
                finished += 1
            } else {
                _ = try fd.write(message)
            }
        }
    }
}

let elapsed = MonotonicInstant.now() - start
let total = clientCount * messagesPerClient
print("\(finished) clients x \(messagesPerClient) round trips: \(total) messages, \(echoed) bytes echoed in \(elapsed)")
for fd in owned { try? OwnedDescriptor(adopting: fd).close() }
try OwnedDescriptor(adopting: listener).close()
try selector.close()
if finished != clientCount {
    print("demo did not finish in time")
    exit(1)
}
