@testable import EventLoop
import Testing

/// The per-event path reads one table slot per event, and a server keeps one
/// per connection: a slot that grows costs cache lines and memory at scale
/// (Benchmarks/README.md, "Echo at thousands of connections").
@Suite("Registration table layout")
struct RegistrationTableLayoutTests {
    @Test func aLoopSlotIsTwentyFourBytesEmptyOrNot() {
        #expect(MemoryLayout<RegistrationTable<Watcher>.Slot>.stride <= 24)
        #expect(MemoryLayout<RegistrationTable<Watcher>.Slot?>.stride <= 24)
    }

    @Test func slotsRoundTripTheirRegistration() {
        var table = RegistrationTable<Int>()
        let first = table.insert(7, .readable, .edge, 70)
        let second = table.insert(3, .all, .level, 30)
        #expect(first != second && first != 0 && second != 0)
        #expect(table.slot(7, ifGeneration: first)?.value == 70)
        #expect(table.slot(7, ifGeneration: second) == nil)
        #expect(table.slot(-1, ifGeneration: first) == nil)
        #expect(table.slot(100, ifGeneration: first) == nil)
        #expect(table.generation(3) == second && table.generation(4) == 0)
        #expect(table[3]?.key(3) == SelectorKey(descriptor: Descriptor(3), interest: .all, trigger: .level, value: 30))

        let old = table.update(7, .writable, .level, 71)
        #expect(old.value == 70 && table.generation(7) == first)
        #expect(table[7]?.interest == .writable && table[7]?.value == 71)

        #expect(table.remove(7)?.value == 71)
        #expect(table.slot(7, ifGeneration: first) == nil && table.maxDescriptor == 3 && table.count == 1)
        #expect(table.registered.map(\.fd) == [3])
    }
}
