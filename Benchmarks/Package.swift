// swift-tools-version: 6.1
import Foundation
import PackageDescription

// The benchmark package: a separate SwiftPM package so the root package keeps
// zero dependencies. Executable targets are named `<peer>-<workload>`; the
// harness (harness/bench.py) finds a program by that name in
// .build/release/ (Swift) or .build-c/ (C, built by c/Makefile), and skips a
// peer whose program is missing. The command-line contract every program
// follows is in README.md, "Program interface".

/// One executable target per workload for a peer, all in Sources/<name>/.
func programs(
    peer: String, workloads: [String], dependencies: [Target.Dependency]
) -> [Target] {
    workloads.map { workload in
        .executableTarget(
            name: "\(peer)-\(workload)",
            dependencies: ["BenchKit"] + dependencies
        )
    }
}

let workloads = ["echo", "timers", "xthread", "loop"]

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]

/// SwiftPM names a path dependency after its folder, so "ours" is found under
/// whatever name the checkout has (`main` here, anything in another clone).
let rootFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "EventLoopBenchmarks",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // "ours": the root package, by path.
        .package(path: ".."),
    ],
    targets: [
        // Clocks, CPU, RSS, xorshift and the malloc counter, shared with the C peers.
        .target(name: "BenchSupport"),
        // Swift helpers for the Swift programs: arguments, RESULT lines, inputs.
        .target(name: "BenchKit", dependencies: ["BenchSupport"]),
        // The async echo handler ours-async-echo and ours-group-echo share.
        .target(name: "OursAsyncEcho", dependencies: ["BenchKit", .product(name: "EventLoop", package: rootFolder)]),
    ]
        + programs(peer: "nio", workloads: workloads, dependencies: nio)
        + programs(peer: "ours", workloads: workloads,
                   dependencies: [.product(name: "EventLoop", package: rootFolder)])
        // The async layer: echo servers on async streams, and the task-hop workload.
        + programs(peer: "ours-async", workloads: ["echo"],
                   dependencies: ["OursAsyncEcho", .product(name: "EventLoop", package: rootFolder)])
        + programs(peer: "nio-async", workloads: ["echo"], dependencies: nio)
        // Every core (issue 19): the async echo over a LoopGroup.
        + programs(peer: "ours-group", workloads: ["echo"],
                   dependencies: ["OursAsyncEcho", .product(name: "EventLoop", package: rootFolder)])
        + programs(peer: "ours", workloads: ["hop"],
                   dependencies: [.product(name: "EventLoop", package: rootFolder)])
        + programs(peer: "nio", workloads: ["hop"], dependencies: nio)
        + programs(peer: "global", workloads: ["hop"], dependencies: [])
        + [
            // Not a peer program: per-operation instruction counts of ours
            // for callgrind (harness/callgrind.py).
            .executableTarget(
                name: "profile-timers",
                dependencies: ["BenchKit", .product(name: "EventLoop", package: rootFolder)]
            ),
        ]
)
