import Testing

/// The examples, run as a user runs them: each test starts the built
/// executable as a child process, talks to it over loopback, reads its output
/// and exit status, and ends it by its PID. The suites run one test at a time
/// (`.serialized` reaches the nested suites), so the timing comparison of the
/// poetry clients holds on a busy machine.
@Suite(.serialized)
struct ExamplesTests {}

/// Every example's product name.
let allExamples = [
    "blocking-echo-server", "echo-server", "echo-client", "poetry", "io-models",
    "echo-server-async", "http-hello", "http-get", "demo",
]
