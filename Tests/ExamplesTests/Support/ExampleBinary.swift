import Glibc

/// Where the examples' executables are: beside this test binary, in the build
/// directory (`.build/<triple>/debug/`), where `swift build --build-tests`
/// and `swift test` put every product of the package.
enum ExampleBinary {
    static func path(_ product: String, filePath: String = #filePath) throws -> String {
        var candidates: [String] = []
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            let executable = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var directory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            // On Linux the test binary is `<dir>/EventLoopPackageTests.xctest`; elsewhere a bundle's MacOS folder.
            if directory.hasSuffix(".xctest/Contents/MacOS") { directory = String(directory.dropLast(".xctest/Contents/MacOS".count)) }
            candidates.append(directory + "/" + product)
        }
        // Fallback: the package's own .build/debug, found from this file.
        let packageRoot = filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(4).joined(separator: "/")
        candidates.append(packageRoot + "/.build/debug/" + product)
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw ChildProcessError(description: "cannot find the \(product) executable (looked in \(candidates)); run `swift build` first")
        }
        return found
    }
}
