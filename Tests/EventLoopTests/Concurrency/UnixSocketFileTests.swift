import EventLoop
import Glibc
import Testing

/// What the package may remove at a Unix socket's path: only a socket file
/// nobody listens on, or its own, and only while the path still names it.
@Suite("Unix socket files")
struct UnixSocketFileTests {
    /// What a test puts at the path before binding there with `replacingStale`.
    enum Occupant: String, CaseIterable, CustomTestStringConvertible {
        case regularFile, directory, fifo
        case symlinkToStaleSocket, symlinkToRegularFile, danglingSymlink, symlinkToLiveListener

        var testDescription: String { rawValue }

        /// Makes it at `path`; `aside` is a free path in the same directory for a link's target.
        func make(at path: String, aside: String) throws {
            switch self {
            case .regularFile: try writeFile(path, "user=alice\n")
            case .directory: try check(mkdir(path, 0o700), "mkdir")
            case .fifo: try check(mkfifo(path, 0o600), "mkfifo")
            case .symlinkToStaleSocket:
                try Socket.listenUnix(on: try SocketEndpoint(unixPath: aside)).close()
                try check(symlink(aside, path), "symlink")
            case .symlinkToRegularFile:
                try writeFile(aside, "log line\n")
                try check(symlink(aside, path), "symlink")
            case .danglingSymlink: try check(symlink(aside, path), "symlink")
            case .symlinkToLiveListener: try check(symlink(aside, path), "symlink") // the test listens at `aside`
            }
        }
    }

    @Test(arguments: Occupant.allCases)
    func replacingStaleLeavesAPathThatIsNotASocketUntouchedAndSaysSo(occupant: Occupant) throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/app.sock"
            let aside = "\(directory)/aside"
            try occupant.make(at: path, aside: aside)
            let before = try #require(fileState(path))
            let targetBefore = fileState(aside)
            let loop = try IOLoop()
            try loop.run { executor in
                let live = occupant == .symlinkToLiveListener ? try await StreamListener.bind(unixPath: aside, on: executor) : nil
                let error = await #expect(throws: StreamError.self) {
                    try await StreamListener.bind(unixPath: path, replacingStale: true, on: executor)
                }
                #expect(error?.kind == .addressInUse)
                #expect(error?.operation.contains(path) == true && error?.operation.contains("not a socket") == true,
                        "\(error.map(String.init(describing:)) ?? "no error")")
                await live?.close()
            }
            try loop.close()
            #expect(fileState(path) == before, "the same file, unchanged, is still at the path")
            if occupant != .symlinkToLiveListener { #expect(fileState(aside) == targetBefore, "and the link's target too") }
        }
    }

    @Test func aStaleSocketFileIsStillReplacedAfterAnLstatAndAnIdentityCheck() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/stale.sock"
            try Socket.listenUnix(on: try SocketEndpoint(unixPath: path)).close() // as a crashed process leaves it
            let script = FaultScript()
            let loop = try script.run { try IOLoop() } // the loop's calls go through the script
            try loop.run { executor in
                let listener = try await StreamListener.bind(unixPath: path, replacingStale: true, on: executor)
                // (The new file may have the stale one's inode number: the file system is free to reuse it.)
                #expect(fileState(path)?.isSocket == true)
                async let accepted = listener.accept()
                let client = try await StreamConnection.connect(unixPath: path, on: executor)
                await client.close()
                await (try accepted).close()
                await listener.close()
            }
            try loop.close()
            let calls = script.trace.map(\.call).filter { [.lstat, .connect, .unlink, .bind].contains($0) }
            #expect(calls.prefix(5) == [.bind, .lstat, .connect, .lstat, .unlink], "checked, probed, checked again, removed")
            #expect(access(path, F_OK) != 0, "and the listener removed its own file on close")
        }
    }

    @Test func aLiveListenerIsNeverTouchedEvenWithItsQueueFull() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/live.sock"
            let loop = try IOLoop()
            try loop.run { executor in
                let live = try await StreamListener.bind(unixPath: path, backlog: 0, on: executor)
                let file = try #require(fileState(path))
                let queued = try fillQueue(of: live.localAddress) // the probe then says EAGAIN, not ECONNREFUSED
                #expect(queued.count >= 1 && queued.count < 64, "a backlog of 0 holds a connection or two")
                let full = await #expect(throws: StreamError.self) {
                    try await StreamListener.bind(unixPath: path, replacingStale: true, on: executor)
                }
                #expect(full?.kind == .addressInUse && fileState(path) == file)
                closeAll(queued)
                let roomy = await #expect(throws: StreamError.self) {
                    try await StreamListener.bind(unixPath: path, replacingStale: true, on: executor)
                }
                #expect(roomy?.kind == .addressInUse && fileState(path) == file)
                await live.close()
            }
            try loop.close()
        }
    }

    @Test func removeSocketFileRemovesOnlyTheVerySocketFileItWasGiven() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/own.sock"
            let endpoint = try SocketEndpoint(unixPath: path)
            // Kept open while others take the path, as a listener is, so its
            // file's inode number cannot be handed to theirs.
            let own = try Socket.listenUnix(on: endpoint)
            let first = try #require(try Socket.entry(atPath: path))
            #expect(first.isSocket && first.kind == .socket)
            try Socket.unlink(path)
            let other = try Socket.listenUnix(on: endpoint) // another socket file at the same path
            #expect(try !Socket.removeSocketFile(atPath: path, ifStill: first), "a different socket file")
            #expect(access(path, F_OK) == 0)
            try other.close()
            try Socket.unlink(path)
            try writeFile(path, "not mine")
            #expect(try !Socket.removeSocketFile(atPath: path, ifStill: first), "not a socket at all")
            #expect(try Socket.entry(atPath: path)?.kind == .regularFile && fileState(path)?.contents == Array("not mine".utf8))
            try Socket.unlink(path)
            #expect(try !Socket.removeSocketFile(atPath: path, ifStill: first), "nothing there")
            try own.close()
            try Socket.listenUnix(on: endpoint).close()
            let second = try #require(try Socket.entry(atPath: path))
            #expect(try Socket.removeSocketFile(atPath: path, ifStill: second))
            #expect(try Socket.entry(atPath: path) == nil)
        }
    }

    @Test func aListenerThatCouldNotRecordItsFileRemovesNothingOnClose() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/unrecorded.sock"
            let script = FaultScript()
            try script.inject(.fail(.inputOutput), into: .lstat, when: .first(1))
            let loop = try script.run { try IOLoop() } // the loop's calls go through the script
            try loop.run { executor in
                let listener = try await StreamListener.bind(unixPath: path, on: executor)
                await listener.close()
            }
            try loop.close()
            #expect(script.records(of: .lstat).first?.injected == true)
            #expect(script.records(of: .unlink).isEmpty, "without its own file's identity, it removes nothing")
            #expect(fileState(path)?.isSocket == true)
        }
    }
}

/// A path's own file (not followed through a link), and a regular file's contents.
struct FileState: Equatable {
    let device: UInt64
    let inode: UInt64
    let mode: UInt32
    let contents: [UInt8]?
    let linkTarget: String?
    var isSocket: Bool { mode_t(mode) & S_IFMT == S_IFSOCK }
}

/// What `path` names itself now, read with the C library (not the package); nil when nothing.
func fileState(_ path: String) -> FileState? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    var contents: [UInt8]?
    if info.st_mode & S_IFMT == S_IFREG {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            var buffer = [UInt8](repeating: 0, count: 4_096)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            contents = count >= 0 ? Array(buffer[0..<count]) : nil
        }
    }
    var linkTarget: String?
    if info.st_mode & S_IFMT == S_IFLNK {
        var buffer = [CChar](repeating: 0, count: 512)
        let length = readlink(path, &buffer, buffer.count - 1)
        if length > 0 { linkTarget = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }
    return FileState(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), mode: UInt32(info.st_mode),
                     contents: contents, linkTarget: linkTarget)
}

/// Creates (or truncates) a regular file at `path` holding `text`.
func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    try check(fd, "open")
    defer { close(fd) }
    let bytes = Array(text.utf8)
    precondition(write(fd, bytes, bytes.count) == bytes.count)
}

/// A C call in a test's setup failed.
struct SetupError: Error {
    let call: String
    let errno: Int32
}

/// Throws for a C call's -1.
func check(_ result: Int32, _ call: String) throws {
    if result < 0 { throw SetupError(call: call, errno: errno) }
}
