/// The lines of a text read from a file, as vrrpd and vtysh both read them: a configuration file
/// (the startup file, `copy FILE running-config`, `vrrpd --check-config`) or a script (`vtysh -f`,
/// piped standard input).
///
/// - A UTF-8 byte order mark at the very start is not part of the first line (some editors write
///   one); anywhere else U+FEFF is an invisible character a line may not contain (`LineSafety`).
/// - A line ends at LF; a CR before it is dropped (CRLF files).
/// - Each line is decoded on its own: a byte that is not UTF-8 makes that line fail, naming the
///   byte and its column, and costs no other line.
public struct TextLines: Sendable {
    public static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    private let bytes: [UInt8]
    private var position: Int
    /// The number of the line `next` returned last (1-based).
    public private(set) var number = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        position = TextLines.startsWithByteOrderMark(bytes) ? TextLines.byteOrderMark.count : 0
    }

    public static func startsWithByteOrderMark(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.starts(with: byteOrderMark)
    }

    public var isAtEnd: Bool { position >= bytes.count }

    /// The next line (its text, or why it has none), nil after the last.
    public mutating func next() -> Result<String, InvalidUTF8>? {
        guard position < bytes.count else { return nil }
        let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        var line = bytes[position..<end]
        position = end < bytes.count ? end + 1 : end
        number += 1
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        return TextLines.decode(line)
    }

    /// Skips what is left (nothing more is read).
    public mutating func skipRest() { position = bytes.count }

    /// The line's text, or where it stops being UTF-8.
    public static func decode(_ line: ArraySlice<UInt8>) -> Result<String, InvalidUTF8> {
        if let text = String(validating: line, as: UTF8.self) { return .success(text) }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = line.makeIterator()
        var offset = line.startIndex
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar):
                offset += scalar.count
            case .error:
                let prefix = String(decoding: line[line.startIndex..<offset], as: UTF8.self)
                return .failure(InvalidUTF8(
                    byte: line[offset], column: prefix.count + 1, prefix: prefix, text: String(decoding: line, as: UTF8.self)))
            case .emptyInput:
                return .success(String(decoding: line, as: UTF8.self))  // not reached: it did not validate
            }
        }
    }

    /// The lines that are not blank (a configuration file's progress counts them). O(n).
    public static func countNonBlank(_ bytes: [UInt8]) -> Int {
        var count = 0
        var blank = true
        for byte in bytes[(startsWithByteOrderMark(bytes) ? byteOrderMark.count : 0)...] {
            switch byte {
            case UInt8(ascii: "\n"):
                if !blank { count += 1 }
                blank = true
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                break
            default:
                blank = false
            }
        }
        if !blank { count += 1 }
        return count
    }
}

/// A line that is not UTF-8: its first bad byte and where it is. The message names the byte,
/// never prints it.
public struct InvalidUTF8: Error, Sendable, Equatable, CustomStringConvertible {
    public var byte: UInt8
    /// 1-based, in characters (what an editor shows).
    public var column: Int
    /// The line's text before the bad byte (a line that starts as a comment is one, whatever
    /// follows).
    public var prefix: String
    /// The whole line, each bad byte shown as U+FFFD: to echo, never to run.
    public var text: String

    public init(byte: UInt8, column: Int, prefix: String, text: String) {
        self.byte = byte
        self.column = column
        self.prefix = prefix
        self.text = text
    }

    public var message: String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "not valid UTF-8: byte 0x\(hex.count == 1 ? "0" : "")\(hex) at column \(column)"
    }

    public var description: String { message }
}
