import Glibc

/// Runs `body` with the path of a new, empty directory under the system's
/// temporary directory (`$TMPDIR`, or `/tmp` when that is unset or too long
/// for Unix socket paths under it), and removes the directory with everything
/// in it afterwards, whether `body` returns or throws.
func withTemporaryDirectory<R>(_ label: String = "eventloop", _ body: (String) throws -> R) throws -> R {
    var base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    if base.isEmpty || base.utf8.count > 48 { base = "/tmp" }
    while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
    var template = Array("\(base)/\(label)-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw TemporaryDirectoryError(base: base, errno: errno)
    }
    let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    defer { removeTree(path) }
    return try body(path)
}

/// `mkdtemp(3)` failed under `base`.
struct TemporaryDirectoryError: Error {
    let base: String
    let errno: Int32
}

/// Removes `path` and, for a directory (never followed through a link), what it holds.
private func removeTree(_ path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    guard info.st_mode & S_IFMT == S_IFDIR, let dir = opendir(path) else {
        unlink(path)
        return
    }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    closedir(dir)
    for name in names { removeTree("\(path)/\(name)") }
    rmdir(path)
}
