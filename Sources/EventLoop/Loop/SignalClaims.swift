import Synchronization

/// Which loop handles each signal, process-wide: a signal's pending state and
/// mask are shared by the whole process, so two loops reading one signal
/// would steal deliveries from each other. Any thread; guarded by the mutex.
enum SignalClaims {
    private static let owners = Mutex<[Int32: ObjectIdentifier]>([:])

    /// Claims `signal` for `loop`; false when another loop holds it.
    static func claim(_ signal: Int32, for loop: ObjectIdentifier) -> Bool {
        owners.withLock { owners in
            if let owner = owners[signal], owner != loop { return false }
            owners[signal] = loop
            return true
        }
    }

    static func release(_ signal: Int32, from loop: ObjectIdentifier) {
        owners.withLock { owners in
            if owners[signal] == loop { owners[signal] = nil }
        }
    }
}
