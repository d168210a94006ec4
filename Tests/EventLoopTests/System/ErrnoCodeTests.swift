import EventLoop
import Glibc
import Testing

/// Every error number Linux defines prints as its C name and its message.
@Suite("Error numbers")
struct ErrnoCodeTests {
    /// The two numbers below 134 that Linux leaves undefined.
    static let undefined: Set<Int32> = [41, 58]

    @Test func everyErrnoLinuxDefinesPrintsItsSymbolicNameNotANumber() {
        for value in Int32(1)...133 where !Self.undefined.contains(value) {
            let code = ErrnoCode(rawValue: value)
            #expect(code.name.hasPrefix("E") && code.name != "E\(value)", "errno \(value)")
            #expect(code.message != "Unknown error \(value)" && !code.message.isEmpty, "errno \(value)")
            #expect(code.description == "\(code.message) (\(code.name))")
        }
        let names = (Int32(1)...133).map { ErrnoCode(rawValue: $0).name }
        #expect(Set(names).count == names.count, "no two numbers share a name")
    }

    @Test func eprotoAndTheNetworkErrorsPrintTheirNamesAndMessages() {
        #expect(ErrnoCode(rawValue: EPROTO).description == "Protocol error (EPROTO)")
        #expect(ErrnoCode(rawValue: 71).name == "EPROTO")
        #expect(ErrnoCode(rawValue: ENOBUFS).description == "No buffer space available (ENOBUFS)")
        #expect(ErrnoCode(rawValue: EHOSTUNREACH).description == "No route to host (EHOSTUNREACH)")
        #expect(ErrnoCode(rawValue: ENETDOWN).description == "Network is down (ENETDOWN)")
        #expect(ErrnoCode(rawValue: EHWPOISON).name == "EHWPOISON" && ErrnoCode(rawValue: 133).name == "EHWPOISON")
        #expect(ErrnoCode(rawValue: ENOTRECOVERABLE).name == "ENOTRECOVERABLE")
        #expect(ErrnoCode(rawValue: E2BIG).name == "E2BIG")
    }

    @Test func anAliasPrintsUnderThePrimaryName() {
        #expect(ErrnoCode(rawValue: EWOULDBLOCK).name == "EAGAIN")
        #expect(ErrnoCode(rawValue: EDEADLOCK).name == "EDEADLK")
        #expect(ErrnoCode(rawValue: ENOTSUP).name == "EOPNOTSUPP")
    }

    @Test func aNumberLinuxDoesNotDefinePrintsAsENumber() {
        for value in Self.undefined.union([0, 134, 9_999, -1]) {
            #expect(ErrnoCode(rawValue: value).name == "E\(value)")
        }
        #expect(ErrnoCode(rawValue: 41).description == "Unknown error 41 (E41)")
    }

    @Test func theAcceptErrorConstantsNameTheirErrnos() {
        let expected: [(ErrnoCode, Int32, String)] = [
            (.protocolError, EPROTO, "EPROTO"), (.noBufferSpace, ENOBUFS, "ENOBUFS"),
            (.networkDown, ENETDOWN, "ENETDOWN"), (.networkUnreachable, ENETUNREACH, "ENETUNREACH"),
            (.hostDown, EHOSTDOWN, "EHOSTDOWN"), (.hostUnreachable, EHOSTUNREACH, "EHOSTUNREACH"),
            (.noNetwork, ENONET, "ENONET"), (.protocolNotAvailable, ENOPROTOOPT, "ENOPROTOOPT"),
            (.operationNotSupported, EOPNOTSUPP, "EOPNOTSUPP"), (.connectionAborted, ECONNABORTED, "ECONNABORTED"),
        ]
        for (code, value, name) in expected {
            #expect(code.rawValue == value && code.name == name)
        }
    }
}
