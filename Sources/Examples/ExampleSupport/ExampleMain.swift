@preconcurrency import Glibc // stdout and stderr are C globals; they are only used from the main thread here

/// A failure worth one clear line on standard error (exit status 1), such as
/// a port in use or a server that refuses connections.
public struct ExampleFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The frame every example runs in: `--help`, usage errors, failures and exit statuses.
///
/// - `--help` or `-h` anywhere: the usage on standard output, exit status 0.
/// - A `UsageError`: `name: error: ...` and the usage on standard error, exit status 2.
/// - Any other error: `name: error: ...` on standard error, exit status 1.
/// - Otherwise the status `body` returns.
///
/// Standard output is line-buffered, so a reader on a pipe (a test, `grep`)
/// sees each line, such as `listening on 127.0.0.1:PORT`, as it is printed.
public func runExample(name: String, usage: String, _ body: (inout ArgumentList) throws -> Int32) -> Never {
    setvbuf(stdout, nil, _IOLBF, 0)
    var arguments = ArgumentList()
    if arguments.wantsHelp {
        print(usage)
        exit(0)
    }
    do {
        exit(try body(&arguments))
    } catch let error as UsageError {
        printError("\(name): error: \(error)")
        printError(usage)
        exit(2)
    } catch {
        printError("\(name): error: \(error)")
        exit(1)
    }
}

/// Writes one line to standard error.
public func printError(_ line: String) {
    fputs(line + "\n", stderr)
}
