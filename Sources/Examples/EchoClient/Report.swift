import EventLoop
import ExampleSupport

/// What a run measured, and how it prints.
struct Report {
    let roundTrips: Int
    let elapsed: Duration
    /// Sorted, in nanoseconds.
    let latencies: [Int64]
    let perClient: [Int]
    /// Clients whose connection was made (queued, at least) but never answered.
    let waiting: Int
    let failed: Int
    let firstFailure: String?
    let stoppedBy: String?

    init(clients: [Client], latencies: [Int64], elapsed: Duration, failures: [String], stoppedBy: String?) {
        self.latencies = latencies.sorted()
        self.elapsed = elapsed
        roundTrips = latencies.count
        perClient = clients.map(\.roundTrips)
        waiting = clients.filter { $0.roundTrips == 0 && !$0.failed }.count
        failed = clients.filter(\.failed).count
        firstFailure = failures.first
        self.stoppedBy = stoppedBy
    }

    var answered: Int { perClient.filter { $0 > 0 }.count }

    /// The nearest-rank percentile `p` (0...100) of the latencies.
    func percentile(_ p: Int) -> Int64 {
        guard !latencies.isEmpty else { return 0 }
        let rank = (p * latencies.count + 99) / 100
        return latencies[max(rank, 1) - 1]
    }

    func print() {
        if let stoppedBy { Swift.print("stopped early by \(stoppedBy)") }
        let rate = elapsed > .zero ? Double(roundTrips) / elapsed.seconds : 0
        Swift.print("round trips: \(roundTrips) in \(formatSeconds(elapsed)) (\(formatDecimal(rate, places: 0)) per second)")
        if roundTrips > 0 {
            let parts = [50, 90, 99].map { "p\($0) \(formatMilliseconds(nanoseconds: percentile($0)))" }
            Swift.print("latency: " + parts.joined(separator: ", ") + ", max \(formatMilliseconds(nanoseconds: latencies.last ?? 0))")
        }
        Swift.print("clients answered: \(answered) of \(perClient.count) "
                    + "(round trips per client: min \(perClient.min() ?? 0), max \(perClient.max() ?? 0))")
        if waiting > 0 {
            Swift.print("\(waiting) clients got no answer in \(formatSeconds(elapsed)): they waited in line "
                        + "(the server serves one client at a time, or is overloaded)")
        }
        if failed > 0 { Swift.print("\(failed) clients failed; the first: \(firstFailure ?? "?")") }
    }
}
