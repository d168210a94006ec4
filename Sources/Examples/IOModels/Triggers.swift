import EventLoop
import ExampleSupport

/// `io-models triggers`: level versus edge triggering, on one socket pair in
/// this process (no second terminal). The peer writes 3 KB at once; the
/// handler reads 1 KB per report. Each wait polls (timeout zero): the bytes
/// are already queued, so the answer never depends on timing.
///
/// - level: the socket stays readable while bytes remain, so it is reported
///   three times, and a fourth wait finds nothing.
/// - edge: it is reported once, when the bytes arrived; 2 KB stay unread and
///   nothing reports them until more data comes. That is why an edge-triggered
///   handler must drain until `.wouldBlock`,
/// - edge, drained: one report, three reads, then `.wouldBlock`.
func runTriggers() throws -> Int32 {
    let total = 3 * 1_024
    print("triggers: the peer writes \(total) bytes at once; the handler reads 1024 bytes per report")
    for (name, trigger, drain) in [("level", Trigger.level, false), ("edge", .edge, false), ("edge + drain", .edge, true)] {
        print("\(name) (EpollSelector, trigger: .\(trigger)\(drain ? ", read until .wouldBlock" : "")):")
        let (reports, read) = try experiment(trigger: trigger, drain: drain, total: total)
        let left = total - read
        print("\(name): reported \(reports) time\(reports == 1 ? "" : "s"), read \(read) of \(total) bytes"
              + (left > 0 ? " (\(left) stranded: no report comes for them until more data arrives)" : ""))
    }
    do {
        try PollSelector<Void>().register(Descriptor(0), interest: .readable, trigger: .edge)
    } catch {
        print("poll: \(error) (only epoll has it)")
    }
    return 0
}

/// One run: returns how many times the selector reported the socket and how many bytes were read.
private func experiment(trigger: Trigger, drain: Bool, total: Int) throws -> (reports: Int, read: Int) {
    let pair = try DescriptorPair.socketPair()
    let selector = try EpollSelector<Void>()
    defer { _ = try? selector.close() } // nothing to report: the pair closes with it
    let reader = pair.first.descriptor
    try selector.register(reader, interest: .readable, trigger: trigger)
    guard case .completed(total) = try pair.second.descriptor.write([UInt8](repeating: 42, count: total)) else {
        throw ExampleFailure("the socket pair did not take \(total) bytes at once")
    }
    var reports = 0
    var read = 0
    while reports < 10 { // a bound, should a kernel ever report more
        let events = try selector.select(timeout: .zero)
        if events.isEmpty {
            print("  wait \(reports + 1): nothing reported")
            break
        }
        reports += 1
        var reads: [String] = []
        repeat {
            guard let bytes = try reader.read(upTo: 1_024).value else {
                reads.append(".wouldBlock")
                break
            }
            read += bytes.count
            reads.append("\(bytes.count) bytes")
        } while drain
        print("  wait \(reports): \(events[0].events); read " + reads.joined(separator: ", ") + "; \(total - read) left")
    }
    return (reports, read)
}
