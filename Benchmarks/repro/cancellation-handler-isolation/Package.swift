// swift-tools-version:6.0
// A minimal program for a Swift 6.3 behaviour the streams build around: see README.md.
import PackageDescription

let package = Package(
    name: "cancellation-handler-isolation",
    targets: [.executableTarget(name: "repro", swiftSettings: [.swiftLanguageMode(.v6)])]
)
