/// The bytes as a quoted string, like Python's `repr`: printable ASCII as is, the rest escaped.
public func quoted(_ bytes: some Collection<UInt8>) -> String {
    var text = "\""
    for byte in bytes {
        switch byte {
        case 0x0A: text += "\\n"
        case 0x0D: text += "\\r"
        case 0x09: text += "\\t"
        case 0x22, 0x5C: text += "\\" + String(UnicodeScalar(byte))
        case 0x20..<0x7F: text += String(UnicodeScalar(byte))
        default: text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }
    }
    return text + "\""
}
