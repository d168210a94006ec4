// http-get: the client of seed 004's aiohttp pair, on this package's async
// streams:
//
//     async def get_html(url):
//         async with ClientSession() as session:
//             async with session.get(url) as res:
//                 print(res.status)
//                 print(await res.text())
//     loop.run_until_complete(get_html('http://127.0.0.1:9999'))
//
// Here `loop.run { }` is `run_until_complete`, and the request is a plain
// HTTP/1.1 GET with `Connection: close`, written on a `StreamConnection`.
// The response is read by the same head reader as http-hello's (HTTPHead),
// then its body by `Content-Length`, chunked, or until the server closes.
// It prints the status, then the body, as the seed does. The host may be a
// name (resolved off the loop thread), an IPv4 address, or [IPv6].
//
// Ctrl-C: `loop.run(cancellingOnInterrupt: true)` cancels the body, as
// asyncio's `run` does, and the body passes the cancellation on to the
// request's task; a second Ctrl-C while it winds down ends the process at
// once. SIGTERM: the loop's `onSignal` handler (`SignalStop`) cancels the
// request's task. Either way it prints `stopped by SIGINT` (or `SIGTERM`)
// and exits 0.
import EventLoop
import ExampleSupport
import Glibc

let usage = """
    usage: http-get [--timeout DURATION] [--backend NAME] [URL]

    Seed 004's aiohttp client on the async/await streams: one GET, then the status and the body.
      URL                  an http:// URL (default http://127.0.0.1:9999/, the seed's; where http-hello listens)
      --timeout DURATION   for connecting and the whole response (default 10s)
      --backend NAME       the loop's backend: epoll (default), poll, select or io_uring
      --help               print this help
    It prints the status on the first line, then the body. Exit status 0 when a response came (any status),
    1 when none did (refused, timed out, not HTTP). Ctrl-C or SIGTERM stops it (exit status 0).
    """

runExample(name: "http-get", usage: usage) { arguments in
    let timeout = try arguments.duration("--timeout", default: .seconds(10), in: .milliseconds(1)...(.seconds(3_600)))
    let backend = try arguments.backend()
    let url = try TargetURL(parsing: arguments.positional() ?? "http://127.0.0.1:9999/")
    try arguments.finish()

    let loop = try IOLoop(backend: backend)
    let stop = try SignalStop(loop, signals: [SIGTERM]) // Ctrl-C is run's
    let result: Result<Response, any Error>
    do {
        result = .success(try loop.run(cancellingOnInterrupt: true) { executor in
            let request = Task(executorPreference: executor) {
                try await executor.withDeadline(after: timeout) { try await get(url, on: executor) }
            }
            stop.onStop { request.cancel() }
            return try await withTaskCancellationHandler { try await request.value } onCancel: { request.cancel() }
        })
    } catch {
        result = .failure(error)
    }
    try loop.close()
    switch result {
    case .success(let response):
        print(response.status)
        print(String(decoding: response.body, as: UTF8.self))
        return 0
    case .failure where stop.signal != nil:
        print("stopped by \(stop.signal!)")
        return 0
    case .failure(is CancellationError):
        print("stopped by SIGINT") // run's first Ctrl-C: nothing else cancels the body
        return 0
    case .failure(is DeadlineExceeded):
        throw ExampleFailure("no response from \(url) within \(formatSeconds(timeout))")
    case .failure(let error as StreamError):
        throw ExampleFailure("cannot get \(url): \(error)")
    case .failure(let error):
        throw error
    }
}

/// Connects, sends the GET, reads the response, and closes.
func get(_ url: TargetURL, on executor: LoopExecutor) async throws -> Response {
    let connection = try await StreamConnection.connect(host: url.host, port: url.port, on: executor)
    do {
        try await connection.write(
            "GET \(url.target) HTTP/1.1\r\nHost: \(url.hostField)\r\nUser-Agent: http-get\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        let response = try await readResponse(from: connection)
        await connection.close()
        return response
    } catch {
        await connection.close()
        throw error
    }
}
