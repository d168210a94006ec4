import Synchronization

/// Two players (0 and 1) pass a turn back and forth through continuations:
/// each `play` waits for its turn, counts a hop, gives the turn to the other
/// and resumes it, until `hops` hops in all. One hop is one task resuming
/// another, which its executor then runs: the task-hop workload.
public final class PingPong: Sendable {
    private struct State {
        var hops = 0
        var turn = 0
        var waiting: (CheckedContinuation<Void, Never>?, CheckedContinuation<Void, Never>?) = (nil, nil)
    }

    private let state = Mutex(State())

    public init() {}

    /// Plays as `player` until `hops` hops have been made by both.
    public func play(as player: Int, until hops: Int) async {
        while true {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.turn == player || state.hops >= hops { return true }
                    if player == 0 { state.waiting.0 = continuation } else { state.waiting.1 = continuation }
                    return false
                }
                if now { continuation.resume() }
            }
            let (done, other) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                let other = player == 0 ? state.waiting.1 : state.waiting.0
                if player == 0 { state.waiting.1 = nil } else { state.waiting.0 = nil }
                if state.hops >= hops { return (true, other) }
                state.hops += 1
                state.turn = 1 - player
                return (false, other)
            }
            other?.resume()
            if done { return }
        }
    }
}
