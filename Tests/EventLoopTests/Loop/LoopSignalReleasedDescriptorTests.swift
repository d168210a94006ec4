import EventLoop
import Glibc
import Synchronization
import Testing

extension LoopSignalTests {
    /// Issue 9, fault 15: the only handler of a signal cancels itself, so the
    /// loop releases its signal descriptors, and opens a descriptor that takes
    /// one of their numbers. The loop must never touch a number it released:
    /// the user's data stays, nothing traps, nothing blocks. In child processes,
    /// where the reuse of the lowest free number is predictable, a trap or a
    /// hang ends the child and not the run, and SIGHUP's default action (the
    /// signal of the report) cannot hurt the run.
    @Suite("Descriptors a signal handler released")
    struct ReleasedDescriptors {
        @Test func aHandlerThatCancelsItselfAndOpensAPipeKeepsItsData() async {
            await #expect(processExitsWith: .success) {
                exit(cancelItselfThenOpen(.pipeWithData))
            }
        }

        @Test func aHandlerThatCancelsItselfAndOpensAFileKeepsItsOffset() async {
            await #expect(processExitsWith: .success) {
                exit(cancelItselfThenOpen(.regularFile))
            }
        }

        @Test func aHandlerThatCancelsItselfAndOpensABlockingPipeDoesNotHangTheLoop() async {
            await #expect(processExitsWith: .success) {
                exit(cancelItselfThenOpen(.blockingPipe))
            }
        }

        /// The catcher writes to the pipe from whichever thread took the signal.
        /// Once the loop has released the pipe (its last handler cancelled),
        /// no write may reach a descriptor that took one of its numbers, even
        /// from a catcher that was running on another thread at that moment.
        /// Probabilistic for a regression (the race is narrow); never flaky.
        @Test func aCatcherOnAnotherThreadNeverWritesIntoANumberTheLoopReleased() throws {
            let loop = try IOLoop()
            let stop = Atomic<Bool>(false)
            let started = Atomic<Bool>(false)
            let sender = TestThread {
                _ = try? SignalSet([SIGURG]).unblockOnThisThread()
                started.store(true, ordering: .releasing)
                var sent = 0
                while !stop.load(ordering: .acquiring) && sent < 2_000_000 {
                    pthread_kill(pthread_self(), SIGURG) // caught here while the loop handles it, else ignored
                    sent += 1
                }
            }
            defer {
                stop.store(true, ordering: .releasing)
                sender.join()
            }
            while !started.load(ordering: .acquiring) { sched_yield() } // its first step
            for _ in 0..<1_000 {
                let subscription = try loop.onSignal(SIGURG) { _ in }
                subscription.cancel() // the loop's last handler: its pipe is closed
                let pipe = try DescriptorPair.pipe() // takes the numbers just released
                let stray = try pipe.first.descriptor.read(upTo: 64).value
                #expect(stray == nil, "a catcher wrote \(stray?.count ?? 0) bytes into a descriptor that reused the loop's number")
                if stray != nil { break }
            }
            try loop.close()
        }
    }
}

/// What the handler opens after cancelling itself.
private enum Reuse {
    /// A pipe with 128 bytes in it: the loop must not eat them.
    case pipeWithData
    /// A regular file of 128 bytes: the loop must not read it (reading it as
    /// signal records once trapped converting a signal number).
    case regularFile
    /// An empty blocking pipe: a read of it would never return.
    case blockingPipe
}

/// In a child process: the only SIGHUP handler cancels itself and opens
/// `reuse`; returns 0 when the loop left the new descriptor alone.
private func cancelItselfThenOpen(_ reuse: Reuse) -> Int32 {
    alarm(20) // a loop blocked reading the new descriptor ends this child, not the run
    // Small bytes for the pipe (read as signal records, they were eaten),
    // large ones for the file (read as records, they trapped converting a signal number).
    let payload = (0..<128).map { UInt8(reuse == .regularFile ? 255 - $0 : $0) }
    do {
        let loop = try IOLoop()
        var opened: (reader: Descriptor, writer: Descriptor?)?
        var failure: Int32 = 0
        var subscription: SignalSubscription?
        subscription = try loop.onSignal(SIGHUP) { _ in
            subscription?.cancel() // the last handler: the loop releases its descriptors now
            switch reuse {
            case .pipeWithData, .blockingPipe:
                let pipe = try DescriptorPair.pipe(nonBlocking: reuse == .pipeWithData)
                if reuse == .pipeWithData, try pipe.second.descriptor.write(payload) != .completed(payload.count) { failure = 11 }
                opened = (pipe.first.release(), pipe.second.release())
            case .regularFile:
                var template = Array("/tmp/cevent-signal-XXXXXX".utf8CString)
                let fd = mkstemp(&template)
                guard fd >= 0 else { failure = 12; return }
                unlink(template)
                if write(fd, payload, payload.count) != payload.count || lseek(fd, 0, SEEK_SET) != 0 { failure = 13 }
                opened = (Descriptor(fd), nil)
            }
        }
        pthread_kill(pthread_self(), SIGHUP)
        try spin(loop) { opened != nil }
        guard let opened else { return 1 }
        guard failure == 0 else { return failure }
        // Iterations after the one that released the descriptors: each must return, leaving it alone.
        for _ in 0..<3 { try loop.runOnce(timeout: .milliseconds(200)) }
        switch reuse {
        case .pipeWithData:
            guard try opened.reader.read(upTo: 256) == .completed(payload) else { return 2 }
        case .regularFile:
            guard lseek(opened.reader.rawValue, 0, SEEK_CUR) == 0 else { return 3 }
            guard try opened.reader.read(upTo: 256) == .completed(payload) else { return 4 }
        case .blockingPipe:
            // Still empty: nothing of the loop's went into it, nothing was taken out.
            try opened.reader.setNonBlocking()
            guard try opened.reader.read(upTo: 1) == .wouldBlock else { return 5 }
        }
        try OwnedDescriptor(adopting: opened.reader).close()
        if let writer = opened.writer { try OwnedDescriptor(adopting: writer).close() }
        guard subscription?.isActive == false, loop.metrics.activeSignalHandlers == 0 else { return 6 }
        try loop.close()
        return 0
    } catch {
        return 9
    }
}
