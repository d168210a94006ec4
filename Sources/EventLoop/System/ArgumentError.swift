/// A request refused before any system call was made: an argument out of range.
///
/// Thrown for a negative count, an absurd size, a signal number that is not a
/// signal, a descriptor an `FDSet` cannot hold, text that is not an address.
/// No errno is made up for these: the kernel never saw the request.
public struct ArgumentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that refused, e.g. `read(upTo:)`.
    public let operation: String
    /// The argument and its value, e.g. `maxCount -1`.
    public let argument: String
    /// What the argument must be, e.g. `must be at least 0`.
    public let requirement: String

    /// An error for `operation` refusing `argument`, which `requirement` says how to fix.
    public init(_ operation: String, argument: String, requirement: String) {
        self.operation = operation
        self.argument = argument
        self.requirement = requirement
    }

    /// Reads like `read(upTo:): maxCount -1 must be at least 0`.
    public var description: String { "\(operation): \(argument) \(requirement)" }

    /// Refuses a count below `minimum` (the usual check for sizes and counts).
    static func checkCount(_ value: Int, _ name: String, in operation: String, minimum: Int = 0) throws(ArgumentError) {
        if value < minimum { throw ArgumentError(operation, argument: "\(name) \(value)", requirement: "must be at least \(minimum)") }
    }
}
