import CEventShim
import Glibc
import Testing

/// The io_uring half of the shim, called straight from Swift: ring setup and
/// mapping, one poll's round trip through both rings, synchronous cancel.
/// Skipped (with the kernel's answer) where this process may not use io_uring.
@Suite("CEventShim io_uring")
struct IOUringShimTests {
    /// A mapped ring, or nil (and why) where io_uring_setup is refused.
    private static func ring() -> (UnsafeMutablePointer<cevent_uring>, Int32)? {
        let ring = UnsafeMutablePointer<cevent_uring>.allocate(capacity: 1)
        ring.initialize(to: cevent_uring())
        let fd = cevent_uring_setup(8, 64, ring)
        if fd < 0 {
            print("io_uring shim tests skipped: io_uring_setup answered \(fd)")
            ring.deallocate()
            return nil
        }
        return (ring, fd)
    }

    private static func release(_ ring: UnsafeMutablePointer<cevent_uring>, _ fd: Int32) {
        cevent_uring_unmap(ring)
        #expect(cevent_close(fd) == 0)
        ring.deallocate()
    }

    @Test func setupMapsTheRingsAndIsCloseOnExec() {
        guard let (ring, fd) = Self.ring() else { return }
        #expect(ring.pointee.fd == fd)
        #expect(cevent_get_cloexec(fd) == 1)
        #expect(ring.pointee.features & cevent_IORING_FEAT_NODROP != 0)
        #expect(ring.pointee.sq_entries == 8, "rounded to a power of two: 8 stays 8")
        #expect(ring.pointee.cq_entries == 64)
        #expect(cevent_uring_ready(ring) == 0)
        #expect(cevent_uring_publish(ring) == 0, "nothing filled, nothing to submit")
        Self.release(ring, fd)
    }

    @Test func aPollRoundTripsItsUserDataAndReadiness() throws {
        guard let (ring, fd) = Self.ring() else { return }
        let pipe = try makePipe()
        let data: UInt64 = 0xABCD_0000_0000_0000 | UInt64(pipe.read)
        #expect(cevent_uring_prep_poll_add(ring, pipe.read, UInt32(cevent_POLLIN), 0, data) == 0)
        #expect(cevent_uring_publish(ring) == 1)
        #expect(cevent_uring_enter(fd, 1, 0, 0) == 1, "submitted, no wait")
        #expect(cevent_uring_ready(ring) == 0, "the pipe is empty: nothing completes")
        #expect(cevent_uring_enter(fd, 0, 1, 20_000_000) == -ETIME, "a wait with a timeout ends with ETIME")
        var byte: UInt8 = 1
        #expect(cevent_write(pipe.write, &byte, 1) == 1)
        #expect(cevent_uring_enter(fd, 0, 1, 2_000_000_000) >= 0)
        #expect(cevent_uring_ready(ring) == 1)
        var userData: UInt64 = 0
        var result: Int32 = 0
        var flags: UInt32 = 0
        cevent_uring_completion(ring, 0, &userData, &result, &flags)
        #expect(userData == data)
        #expect(result & Int32(cevent_POLLIN) != 0)
        #expect(flags & cevent_IORING_CQE_F_MORE == 0, "a single-shot poll ends with its completion")
        cevent_uring_advance(ring, 1)
        #expect(cevent_uring_ready(ring) == 0)
        closeAll(pipe.read, pipe.write)
        Self.release(ring, fd)
    }

    @Test func aFullSubmissionRingSaysBusyUntilTheKernelConsumesIt() throws {
        guard let (ring, fd) = Self.ring() else { return }
        let pipe = try makePipe()
        for index in 0..<8 {
            #expect(cevent_uring_prep_poll_add(ring, pipe.read, UInt32(cevent_POLLIN), 0, UInt64(index)) == 0)
        }
        #expect(cevent_uring_prep_poll_add(ring, pipe.read, UInt32(cevent_POLLIN), 0, 99) == -EBUSY)
        #expect(cevent_uring_publish(ring) == 8)
        #expect(cevent_uring_enter(fd, 8, 0, 0) == 8)
        #expect(cevent_uring_publish(ring) == 0)
        #expect(cevent_uring_prep_poll_add(ring, pipe.read, UInt32(cevent_POLLIN), 0, 99) == 0, "room again")
        closeAll(pipe.read, pipe.write)
        Self.release(ring, fd)
    }

    @Test func aSynchronousCancelEndsAMultishotPollAndThenFindsNothing() throws {
        guard let (ring, fd) = Self.ring() else { return }
        let pipe = try makePipe()
        #expect(cevent_uring_prep_poll_add(ring, pipe.read, UInt32(cevent_POLLIN), 1, 42) == 0)
        #expect(cevent_uring_enter(fd, cevent_uring_publish(ring), 0, 0) == 1)
        #expect(cevent_uring_cancel(fd, 42, 0) == 1, "one request ended")
        #expect(cevent_uring_enter(fd, 0, 0, 0) >= 0)
        #expect(cevent_uring_ready(ring) == 1)
        var userData: UInt64 = 0
        var result: Int32 = 0
        var flags: UInt32 = 0
        cevent_uring_completion(ring, 0, &userData, &result, &flags)
        #expect(userData == 42 && result == -ECANCELED && flags & cevent_IORING_CQE_F_MORE == 0)
        cevent_uring_advance(ring, 1)
        #expect([0, -ENOENT].contains(cevent_uring_cancel(fd, 42, 0)), "none left: 0, or ENOENT on older kernels")
        #expect(cevent_uring_cancel(closedFD, 42, 0) == EBADF_)
        // Every request, whatever its user data (what closing the ring does first).
        #expect(cevent_uring_prep_poll_add(ring, pipe.read, UInt32(cevent_POLLIN), 1, 7) == 0)
        #expect(cevent_uring_prep_poll_add(ring, pipe.read, UInt32(cevent_POLLIN), 1, 8) == 0)
        #expect(cevent_uring_enter(fd, cevent_uring_publish(ring), 0, 0) == 2)
        #expect(cevent_uring_cancel(fd, 0, 1) >= 0)
        #expect([0, -ENOENT].contains(cevent_uring_cancel(fd, 7, 0)) && [0, -ENOENT].contains(cevent_uring_cancel(fd, 8, 0)))
        closeAll(pipe.read, pipe.write)
        Self.release(ring, fd)
    }
}
