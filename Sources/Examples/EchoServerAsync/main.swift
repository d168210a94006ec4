// echo-server-async: seed 004's asyncio streams server, on this package's
// async layer. The seed:
//
//     async def handle(reader, writer):
//         while True:
//             data = await reader.read(1024)
//             client = writer.get_extra_info('peername')
//             message = "{} Your msg {}".format(client, data.decode()).encode()
//             writer.write(message)
//             await writer.drain()
//
//     crt = asyncio.start_server(handle, ip, port, loop=loop)
//     server = loop.run_until_complete(crt)
//     loop.run_forever()
//
// Here: `loop.run { executor in ... }` is `run_until_complete`, a
// `StreamServer` is `start_server` (a task per connection, on the loop's
// executor), and `serveEcho` (SeedPrograms) is `handle`. Each reply is the
// peer's address as Python prints it, then what came:
// `('127.0.0.1', 50826) Your msg hello`. Unlike the seed's loop, which spins
// on empty reads once the client has gone, a connection ends when its client
// closes. `--once` is the seed's second version: one read, one reply, close.
//
// Ctrl-C / SIGTERM: the loop's `onSignal` handler (`SignalStop`) calls
// `server.shutdown(gracePeriod: .zero)`: the listener closes, the handlers
// are cancelled, `run()` returns, and the program exits 0.
import EventLoop
import ExampleSupport
import SeedPrograms

let usage = """
    usage: echo-server-async [--host IP] [--port PORT] [--loops N] [--backend NAME] [--once] [--quiet]

    Seed 004's asyncio echo server on the async/await streams: a task per connection on one IOLoop.
    Each reply is the peer's address and what came, as the seed sends it: ('127.0.0.1', 50826) Your msg hello
      --host IP       address to listen on (default 127.0.0.1, loopback only)
      --port PORT     port to listen on (default 9999, the seed's; 0 picks a free one)
      --loops N       serve on a group of N loops, one thread each (default 1, the seed's one loop)
      --backend NAME  the loops' backend: epoll (default), poll, select or io_uring
      --once          one read and one reply per connection, then close it (the seed's second version)
      --quiet         no per-connection lines (for load tests)
      --help          print this help
    It prints `listening on HOST:PORT` first, then `connected by ADDRESS`, `received "DATA" from ADDRESS`
    and `closed ADDRESS after N replies (...)`. Ctrl-C or SIGTERM stops it (exit status 0).
    """

runExample(name: "echo-server-async", usage: usage) { arguments in
    let host = try arguments.host()
    let port = try arguments.port(default: 9999)
    let loops = try arguments.integer("--loops", default: 1, in: 1...1_024)
    let backend = try arguments.backend()
    let once = try arguments.flag("--once")
    let quiet = try arguments.flag("--quiet")
    try arguments.finish()

    let tally = EchoTally()
    let signal = try serveUntilStopped(host: host, port: port, loops: loops, backend: backend, gracePeriod: .zero) { connection in
        await serveEcho(connection, once: once, quiet: quiet, tally: tally)
    }
    let totals = tally.totals
    print("stopped by \(signal): \(counted(totals.connections, "connection")), "
          + "\(counted(totals.replies, "reply", "replies")), \(counted(totals.bytes, "byte")) received")
    return 0
}
