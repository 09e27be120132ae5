import Channel
import Testing

/// How vrrpd and vtysh read a file's lines (`TextLines`) and what a line may contain
/// (`LineSafety`): one rule on both sides.
@Suite struct TextLinesTests {
    static func lines(_ bytes: [UInt8]) -> [Result<String, InvalidUTF8>] {
        var reader = TextLines(bytes)
        var out: [Result<String, InvalidUTF8>] = []
        while let line = reader.next() { out.append(line) }
        return out
    }

    /// A byte order mark at the start is not part of the first line; CRLF ends a line as LF does.
    @Test func aLeadingByteOrderMarkAndCRLFAreNotPartOfTheLines() throws {
        let read = Self.lines(TextLines.byteOrderMark + Array("hostname a\r\ninterface eth1\n description x\r\n".utf8))
        #expect(read.map { try? $0.get() } == ["hostname a", "interface eth1", " description x"])
        // Only at the very start: anywhere else it stays (and a command refuses it, below).
        let later = Self.lines(Array("hostname a\n".utf8) + TextLines.byteOrderMark + Array("hostname b".utf8))
        #expect(try later[1].get() == "\u{FEFF}hostname b")
        #expect(Self.lines(TextLines.byteOrderMark).isEmpty)
        #expect(TextLines.countNonBlank(TextLines.byteOrderMark + Array("a\n\n  \n\tb\r\n".utf8)) == 2)
    }

    /// A byte that is not UTF-8 is its line's failure, naming the byte and its column (in
    /// characters, as an editor counts); the lines around it read as they are.
    @Test func aBadByteFailsItsLineOnly() throws {
        let bytes = Array("interface vlan10\n description caf".utf8) + [0xE9] + Array(" corner\n ip address 10.0.0.2/24\n".utf8)
        let read = Self.lines(bytes)
        #expect(read.count == 3)
        #expect(try read[0].get() == "interface vlan10")
        #expect(try read[2].get() == " ip address 10.0.0.2/24")
        guard case .failure(let invalid) = read[1] else {
            Issue.record("a line with byte 0xE9 alone decoded")
            return
        }
        #expect(invalid.byte == 0xE9 && invalid.column == 17 && invalid.prefix == " description caf")
        #expect(invalid.message == "not valid UTF-8: byte 0xE9 at column 17")
        #expect(!invalid.message.unicodeScalars.contains { $0.value >= 0x80 }, "the message never prints the byte")
        // Columns count characters: a valid multi-byte character before the bad byte is one.
        guard case .failure(let after) = TextLines.decode(ArraySlice(Array("é".utf8) + [0xFF])) else {
            Issue.record("0xFF decoded")
            return
        }
        #expect(after.column == 2 && after.byte == 0xFF)
        // A truncated sequence, an overlong encoding and a surrogate are refused too.
        for bad: [UInt8] in [[0x61, 0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80]] {
            #expect(throws: InvalidUTF8.self) { try TextLines.decode(ArraySlice(bad)).get() }
        }
    }

    /// Control and invisible characters are refused, named as U+XXXX, never printed.
    @Test func invisibleCharactersAreRefusedAndNamed() throws {
        let cases: [(String, String, Int)] = [
            ("\u{FEFF}hostname a", "U+FEFF", 0), ("hostname a\u{200B}b", "U+200B", 10), ("description \u{202E}txet", "U+202E", 12),
            ("hostname\u{00A0}a", "U+00A0", 8), ("description a\u{2028}b", "U+2028", 13), ("hostname \u{3164}", "U+3164", 9),
        ]
        for (line, code, column) in cases {
            let refusal = try #require(LineSafety.refusal(in: line), "\(line.debugDescription)")
            #expect(refusal.kind == .invisible && refusal.column == column, "\(line.debugDescription)")
            #expect(refusal.reason.hasPrefix("Invisible characters are not allowed in a command: \(code)"), "\(refusal.reason)")
            #expect(refusal.reason.unicodeScalars.allSatisfy { LineSafety.kind(of: $0) == nil }, "\(refusal.reason.debugDescription)")
        }
        #expect(LineSafety.refusal(in: "hostname a\u{1B}b")?.kind == .control)
        // Letters, accents and a TAB are fine.
        for line in ["description café corner", "description 東京 uplink", "description a\tb", "description naïve ñ"] {
            #expect(LineSafety.refusal(in: line) == nil, "\(line)")
        }
        #expect(LineSafety.visible("\u{FEFF}hostname a\u{200B}\u{1B}[2J\nnext\tline") == "<U+FEFF>hostname a<U+200B><U+001B>[2J\nnext\tline")
        #expect(LineSafety.visible("café") == "café")
    }

    /// A log names a line that carries a secret without the secret.
    @Test func aSecretLineIsNamedWithoutItsValue() {
        #expect(SecretLines.redacted("enable secret 9 $9$abc$def") == "enable secret <redacted>")
        #expect(SecretLines.redacted("enable sec 0 hunter2") == "enable sec <redacted>")
        #expect(SecretLines.redacted("interface eth1: description uplink") == "interface eth1: description uplink")
    }
}
