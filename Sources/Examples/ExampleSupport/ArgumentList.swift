import EventLoop

/// A bad or unknown flag: the example prints it on one line, then its usage,
/// and exits with status 2.
public struct UsageError: Error, CustomStringConvertible {
    /// What was wrong, e.g. `unknown flag --bogus`.
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A hand-rolled command-line parser: each example takes the flags it knows
/// off the list, then `finish()` refuses whatever is left.
///
/// Accepted spellings: `--name value`, `--name=value`, and `--switch` for
/// switches. A subcommand is a leading word (`poetry serve`).
public struct ArgumentList {
    private var remaining: [String]

    /// The arguments after the program's name.
    public init(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        remaining = arguments
    }

    /// Whether `--help` or `-h` is anywhere in the list.
    public var wantsHelp: Bool { remaining.contains { $0 == "--help" || $0 == "-h" } }

    /// Takes the first argument if it is a word (not a flag); nil otherwise.
    public mutating func subcommand() -> String? {
        guard let first = remaining.first, !first.hasPrefix("-") else { return nil }
        remaining.removeFirst()
        return first
    }

    /// Takes `--name` if present: a switch, which takes no value.
    public mutating func flag(_ name: String) throws(UsageError) -> Bool {
        var found = false
        while let index = remaining.firstIndex(where: { $0 == name || $0.hasPrefix(name + "=") }) {
            if remaining[index] != name { throw UsageError("\(name) takes no value") }
            remaining.remove(at: index)
            found = true
        }
        return found
    }

    /// Takes `--name value` or `--name=value`; the last one wins. Nil when absent.
    public mutating func value(_ name: String) throws(UsageError) -> String? {
        var result: String?
        while let index = remaining.firstIndex(where: { $0 == name || $0.hasPrefix(name + "=") }) {
            let argument = remaining.remove(at: index)
            if argument == name {
                guard index < remaining.count, !remaining[index].hasPrefix("--") else {
                    throw UsageError("\(name) needs a value")
                }
                result = remaining.remove(at: index)
            } else {
                result = String(argument.dropFirst(name.count + 1))
            }
        }
        return result
    }

    /// Takes `--name VALUE` and converts it with `parse`, which returns nil for
    /// text it refuses; `expected` says what was wanted, for the error.
    public mutating func value<T>(
        _ name: String, default defaultValue: T, expected: String, _ parse: (String) -> T?
    ) throws(UsageError) -> T {
        guard let text = try value(name) else { return defaultValue }
        guard let parsed = parse(text) else { throw UsageError("\(name) \(text): expected \(expected)") }
        return parsed
    }

    /// Takes an integer flag within `range`.
    public mutating func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        try value(name, default: defaultValue, expected: "a whole number in \(range.lowerBound)...\(range.upperBound)") {
            Int($0).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    /// Takes a port flag (0 asks the kernel for a free port).
    public mutating func port(_ name: String = "--port", default defaultValue: UInt16) throws(UsageError) -> UInt16 {
        try value(name, default: defaultValue, expected: "a port number in 0...65535 (0 picks a free one)") { UInt16($0) }
    }

    /// Takes a comma-separated list of ports.
    public mutating func ports(_ name: String = "--ports", default defaultValue: [UInt16]) throws(UsageError) -> [UInt16] {
        try value(name, default: defaultValue, expected: "comma-separated port numbers, e.g. 10000,10001,10002") { text in
            let ports = text.split(separator: ",", omittingEmptySubsequences: false).map { UInt16($0) }
            return ports.contains(nil) || ports.isEmpty ? nil : ports.compactMap { $0 }
        }
    }

    /// Takes a numeric IP address flag (no host names: there is no DNS here).
    public mutating func host(_ name: String = "--host", default defaultValue: String = "127.0.0.1") throws(UsageError) -> String {
        try value(name, default: defaultValue, expected: "a numeric IP address such as 127.0.0.1 or ::1") { text in
            (try? SocketEndpoint(ip: text, port: 0)) == nil ? nil : text
        }
    }

    /// Takes a duration: `250ms`, `1.5s` or a plain number of seconds, within `range`.
    public mutating func duration(_ name: String, default defaultValue: Duration, in range: ClosedRange<Duration>) throws(UsageError) -> Duration {
        try value(name, default: defaultValue, expected: "a duration such as 0.2, 200ms or 1.5s, within \(range.lowerBound.seconds)...\(range.upperBound.seconds) s") {
            ArgumentList.parseDuration($0).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    /// Takes a flag whose value is one of `T`'s raw values.
    public mutating func choice<T: RawRepresentable & CaseIterable>(_ name: String, default defaultValue: T) throws(UsageError) -> T
    where T.RawValue == String {
        try value(name, default: defaultValue, expected: "one of " + T.allCases.map(\.rawValue).joined(separator: ", ")) { T(rawValue: $0) }
    }

    /// Takes `--backend NAME`, the loop's backend (default epoll). A backend
    /// this process cannot use is not refused here: making the loop fails
    /// with `SelectorError.unavailable`, which says why.
    public mutating func backend() throws(UsageError) -> LoopBackend {
        try choice("--backend", default: LoopBackend.epoll)
    }

    /// Takes the first word that is not a flag (`http-get URL`). Call it after
    /// taking every flag that has a value, since a flag's value is a word too.
    public mutating func positional() -> String? {
        guard let index = remaining.firstIndex(where: { !$0.hasPrefix("-") }) else { return nil }
        return remaining.remove(at: index)
    }

    /// Takes a byte count: a whole number, or one ending in `K` or `M` (KiB, MiB), within `range`.
    public mutating func byteCount(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        try value(name, default: defaultValue, expected: "a byte count such as 8192, 64K or 1M, within \(range.lowerBound)...\(range.upperBound)") { text in
            var digits = Substring(text)
            var scale = 1
            if digits.hasSuffix("K") { digits = digits.dropLast(); scale = 1 << 10 }
            else if digits.hasSuffix("M") { digits = digits.dropLast(); scale = 1 << 20 }
            guard let number = Int(digits), number >= 0, number <= Int.max / scale else { return nil }
            return range.contains(number * scale) ? number * scale : nil
        }
    }

    /// Refuses what no one took: an unknown flag or a stray word.
    public func finish() throws(UsageError) {
        guard let first = remaining.first else { return }
        if first.hasPrefix("-") { throw UsageError("unknown flag \(first.split(separator: "=").first.map(String.init) ?? first)") }
        throw UsageError("unexpected argument \(first)")
    }

    static func parseDuration(_ text: String) -> Duration? {
        var number = Substring(text)
        var scale = 1.0
        if number.hasSuffix("ms") {
            number = number.dropLast(2)
            scale = 0.001
        } else if number.hasSuffix("s") {
            number = number.dropLast()
        }
        guard let value = Double(number), value.isFinite, value >= 0 else { return nil }
        return .nanoseconds(Int64((value * scale * 1e9).rounded()))
    }
}

extension Duration {
    /// Seconds as a `Double`, for printing.
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
