import ExampleSupport
import Glibc

/// Three short poems in the public domain, one per server.
public let defaultPoems: [[UInt8]] = [
    """
    "Hope" is the thing with feathers -
    That perches in the soul -
    And sings the tune without the words -
    And never stops - at all -
    (Emily Dickinson)

    """,
    """
    Who has seen the wind?
    Neither I nor you:
    But when the leaves hang trembling,
    The wind is passing through.
    (Christina Rossetti)

    """,
    """
    Tyger Tyger, burning bright,
    In the forests of the night;
    What immortal hand or eye,
    Could frame thy fearful symmetry?
    (William Blake)

    """,
].map { Array($0.utf8) }

/// The bytes of a text file, for `--poem`.
public func readPoem(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw ExampleFailure("cannot read \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4_096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count == 0 { break }
        bytes += chunk[..<count]
        if bytes.count > 1 << 20 { throw ExampleFailure("\(path) is over 1 MB: a poem, please") }
    }
    if bytes.isEmpty { throw ExampleFailure("\(path) is empty") }
    return bytes
}
