// swift-tools-version: 6.0
import Foundation
import PackageDescription

// The interop check: one Swift file that imports SwiftNIO, swift-system,
// Foundation and our EventLoop module together and names every public type
// and function of ours unqualified, beside NIO's `EventLoop` and
// `SocketAddress` and swift-system's `Errno`. If it builds, no name of ours
// clashes with theirs. A separate package so the root keeps zero dependencies.

/// SwiftPM names a path dependency after its folder, so the root package is
/// found under whatever name the checkout has (`main`, `wt-interop`, ...).
let rootFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Tests/Interop/
    .deletingLastPathComponent()  // Tests/
    .deletingLastPathComponent()  // the root package
    .lastPathComponent

let package = Package(
    name: "EventLoopInterop",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "InteropCheck",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "EventLoop", package: rootFolder),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
