// swift-tools-version: 6.0
import PackageDescription

// Zero package dependencies, by design: only Benchmarks/ may depend on others.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "EventLoop",
    products: [
        .library(name: "CEventShim", targets: ["CEventShim"]),
        .library(name: "EventLoop", targets: ["EventLoop"]),
        .executable(name: "demo", targets: ["Demo"]),
        .executable(name: "blocking-echo-server", targets: ["BlockingEchoServer"]),
        .executable(name: "echo-server", targets: ["EchoServer"]),
        .executable(name: "echo-client", targets: ["EchoClient"]),
        .executable(name: "poetry", targets: ["Poetry"]),
        .executable(name: "io-models", targets: ["IOModels"]),
        .executable(name: "echo-server-async", targets: ["EchoServerAsync"]),
        .executable(name: "http-hello", targets: ["HTTPHello"]),
        .executable(name: "http-get", targets: ["HTTPGet"]),
    ],
    targets: [
        .target(name: "CEventShim"),
        .target(name: "EventLoop", dependencies: ["CEventShim"], swiftSettings: strict),
        .executableTarget(
            name: "Demo", dependencies: ["EventLoop", "ExampleSupport", "SeedPrograms"], path: "Sources/Examples/Demo",
            swiftSettings: strict),
        .target(
            name: "ExampleSupport", dependencies: ["EventLoop"], path: "Sources/Examples/ExampleSupport",
            swiftSettings: strict),
        // The seeds' programs that more than one executable runs: the poetry
        // servers and clients, and the asyncio echo handler (the demo runs them in-process).
        .target(
            name: "SeedPrograms", dependencies: ["EventLoop", "ExampleSupport"], path: "Sources/Examples/SeedPrograms",
            swiftSettings: strict),
        // What http-hello and http-get share: reading an HTTP/1.1 message head within limits.
        .target(
            name: "HTTPHead", dependencies: ["EventLoop"], path: "Sources/Examples/HTTPHead",
            swiftSettings: strict),
        .executableTarget(
            name: "BlockingEchoServer", dependencies: ["EventLoop", "ExampleSupport"],
            path: "Sources/Examples/BlockingEchoServer", swiftSettings: strict),
        .executableTarget(
            name: "EchoServer", dependencies: ["EventLoop", "ExampleSupport"],
            path: "Sources/Examples/EchoServer", swiftSettings: strict),
        .executableTarget(
            name: "EchoClient", dependencies: ["EventLoop", "ExampleSupport"],
            path: "Sources/Examples/EchoClient", swiftSettings: strict),
        .executableTarget(
            name: "Poetry", dependencies: ["EventLoop", "ExampleSupport", "SeedPrograms"],
            path: "Sources/Examples/Poetry", swiftSettings: strict),
        .executableTarget(
            name: "IOModels", dependencies: ["EventLoop", "ExampleSupport"],
            path: "Sources/Examples/IOModels", swiftSettings: strict),
        .executableTarget(
            name: "EchoServerAsync", dependencies: ["EventLoop", "ExampleSupport", "SeedPrograms"],
            path: "Sources/Examples/EchoServerAsync", swiftSettings: strict),
        .executableTarget(
            name: "HTTPHello", dependencies: ["EventLoop", "ExampleSupport", "HTTPHead"],
            path: "Sources/Examples/HTTPHello", swiftSettings: strict),
        .executableTarget(
            name: "HTTPGet", dependencies: ["EventLoop", "ExampleSupport", "HTTPHead"],
            path: "Sources/Examples/HTTPGet", swiftSettings: strict),
        .testTarget(name: "CEventShimTests", dependencies: ["CEventShim"]),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "CEventShim"]),
        // Runs the examples' executables as child processes. Depending on the
        // executable targets makes `swift test` build them before the tests run.
        .testTarget(
            name: "ExamplesTests",
            dependencies: [
                "EventLoop", "BlockingEchoServer", "EchoServer", "EchoClient", "Poetry", "IOModels",
                "EchoServerAsync", "HTTPHello", "HTTPGet", "Demo",
            ],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
