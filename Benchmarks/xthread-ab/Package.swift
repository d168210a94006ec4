// swift-tools-version: 6.0
import Foundation
import PackageDescription

// A before-and-after measurement of cross-thread submission that needs only
// the root package (the full suite next door builds SwiftNIO, which takes
// minutes). `run.sh` builds this twice, against two checkouts of the root
// package, and runs the two programs in turn (see Benchmarks/README.md, "The submission queue's lock").
//
// XTHREAD_AB_ROOT: the checkout to build against (default: this one). SwiftPM
// names a path dependency after its folder, hence the folder name below.
let root = URL(fileURLWithPath: Context.environment["XTHREAD_AB_ROOT"] ?? "\(Context.packageDirectory)/../..")
    .standardizedFileURL

let package = Package(
    name: "xthread-ab",
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "xthread-ab",
            dependencies: [.product(name: "EventLoop", package: root.lastPathComponent)]
        )
    ],
    swiftLanguageModes: [.v6]
)
