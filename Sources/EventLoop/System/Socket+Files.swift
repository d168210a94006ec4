import Glibc

// A Unix socket's file: what a path names, and removing it only while it is
// still the socket file the caller means.
//
// The trap this file defends against: a path is a name, and the file behind
// it can change between two calls. `connect(2)` follows symbolic links and
// refuses a regular file, a directory or a FIFO with the same ECONNREFUSED as
// a dead socket; `unlink(2)` removes whatever the name holds at that moment.
// So nothing here removes a path without first asking `lstat(2)` (links not
// followed) whether it is a socket, and the very file (device and inode) the
// caller checked or made. What remains is the window between the `lstat` and
// the `unlink`: no Linux call removes a name only if it still names a given
// inode, so a file swapped in during that window, by someone who may write
// the directory, would go.

extension Socket {
    /// What a path names itself, as `lstat(2)` reports it: the file's identity
    /// and type (a symbolic link is reported as one, not followed).
    public struct PathEntry: Hashable, Sendable, CustomStringConvertible {
        /// The type of file a path names.
        public enum Kind: String, Hashable, Sendable {
            /// A Unix domain socket (`S_IFSOCK`).
            case socket = "a socket"
            /// A regular file (`S_IFREG`).
            case regularFile = "a regular file"
            /// A directory (`S_IFDIR`).
            case directory = "a directory"
            /// A named pipe (`S_IFIFO`).
            case fifo = "a FIFO"
            /// A symbolic link, to anything or nothing (`S_IFLNK`).
            case symbolicLink = "a symbolic link"
            /// A character device (`S_IFCHR`).
            case characterDevice = "a character device"
            /// A block device (`S_IFBLK`).
            case blockDevice = "a block device"
            /// A type Linux does not define.
            case unknown = "a file of unknown type"
        }

        /// The device the file lives on (`st_dev`).
        public let device: UInt64
        /// The file's inode number on that device (`st_ino`).
        public let inode: UInt64
        /// Its type (from `st_mode`).
        public let kind: Kind

        /// Whether it is a Unix domain socket.
        public var isSocket: Bool { kind == .socket }

        /// Reads like `a socket (device 2049, inode 1234)`.
        public var description: String { "\(kind.rawValue) (device \(device), inode \(inode))" }

        init(device: UInt64, inode: UInt64, mode: UInt32) {
            self.device = device
            self.inode = inode
            kind = switch mode_t(mode) & S_IFMT {
            case S_IFSOCK: .socket
            case S_IFREG: .regularFile
            case S_IFDIR: .directory
            case S_IFIFO: .fifo
            case S_IFLNK: .symbolicLink
            case S_IFCHR: .characterDevice
            case S_IFBLK: .blockDevice
            default: .unknown
            }
        }
    }

    /// What `path` names now, itself (a symbolic link is not followed); nil
    /// when it names nothing (`ENOENT`). The corresponding C call is `lstat(2)`.
    /// Any thread.
    /// - Throws: `SystemError` (`EACCES`, `ENOTDIR` for a path through a
    ///   file, `ENAMETOOLONG`…).
    public static func entry(atPath path: String) throws(SystemError) -> PathEntry? {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var mode: UInt32 = 0
        do {
            _ = try Syscall.check(Kernel.lstat(path, &device, &inode, &mode), "lstat(\(path))")
        } catch where error.errno == .noSuchEntry {
            return nil
        }
        return PathEntry(device: device, inode: inode, mode: mode)
    }

    /// Removes the socket file at `path` only if it is still `expected`: a
    /// socket with the same device and inode, checked with `lstat(2)` just
    /// before the `unlink(2)`. Anything else at the path (another socket, a
    /// regular file, a directory, a FIFO, a symbolic link) is left untouched.
    /// Returns whether the file was removed (false also when nothing is there
    /// any more). The window between the two calls is the only one left (see
    /// the top of this file). Any thread.
    /// - Throws: `SystemError` from either call, except `ENOENT`.
    @discardableResult
    public static func removeSocketFile(atPath path: String, ifStill expected: PathEntry) throws(SystemError) -> Bool {
        guard expected.isSocket, let now = try entry(atPath: path), now == expected else { return false }
        do {
            _ = try Syscall.check(Kernel.unlink(path), "unlink(\(path))")
        } catch where error.errno == .noSuchEntry {
            return false // someone else removed it in the window: what we wanted
        }
        return true
    }

    /// Which file `path` names now, as (device, inode), following a symbolic
    /// link to its target; nil when it names none. Before removing a path,
    /// use `entry(atPath:)` instead: `unlink` removes the link, not its
    /// target. The corresponding C call is `stat(2)`. Any thread.
    public static func fileIdentity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        guard (try? Syscall.check(Kernel.fileIdentity(path, &device, &inode), "stat(\(path))")) != nil else { return nil }
        return (device, inode)
    }

    /// Removes whatever `path` names, unconditionally: a socket file or any
    /// other file (a link itself, not its target). To remove a socket file
    /// only while it is the one you made, use `removeSocketFile(atPath:ifStill:)`;
    /// the package itself never calls this directly. The corresponding C call
    /// is `unlink(2)`. Any thread.
    /// - Throws: `SystemError` (`ENOENT`, `EISDIR` for a directory…).
    public static func unlink(_ path: String) throws(SystemError) {
        _ = try Syscall.check(Kernel.unlink(path), "unlink(\(path))")
    }
}
