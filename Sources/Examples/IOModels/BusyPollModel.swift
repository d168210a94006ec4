import EventLoop
import ExampleSupport
import Glibc

/// Model 2, non-blocking I/O polled by hand: every pass tries to accept, then
/// tries to read every connection in the list (most say `.wouldBlock`), then
/// sleeps a little so the CPU is not spent on nothing (the seed's
/// `time.sleep(0.01)`). The stop signal is polled the same way, through a
/// non-blocking signalfd.
func serveBusyPolling(_ listener: Descriptor, _ context: ServeContext) throws -> String {
    let signals = try StopSignals()
    try context.reserveDescriptors()
    let connections = context.connections
    var clients: [Descriptor] = [] // the seed's socket_addr_list
    let pause = context.interval.nanosecondsRoundedUp
    var rest = timespec(tv_sec: Int(pause / 1_000_000_000), tv_nsec: Int(pause % 1_000_000_000))
    while true {
        if let signal = try signals.take() {
            for fd in clients { connections.close(fd) }
            return signal
        }
        while let connection = try listener.accept().take() { // .wouldBlock: nobody new
            let fd = connection.release() // closed by `connections.close`
            clients.append(fd)
            connections.add(fd)
        }
        clients.removeAll { fd in
            guard connections.serve(fd, drain: false) else { return false } // nothing yet, or not all
            connections.close(fd)
            return true
        }
        if pause > 0 { nanosleep(&rest, nil) }
    }
}
