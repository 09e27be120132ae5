import Testing

@testable import Channel

@Suite struct FrameCodecTests {
    @Test func roundTripEveryType() throws {
        var decoder = FrameDecoder(maxPayload: 1 << 20)
        var stream: [UInt8] = []
        let frames = FrameType.allCases.enumerated().map { index, type in
            Frame(type, id: UInt32(index * 1000 + 7), payload: Array("payload \(type) é".utf8))
        }
        for frame in frames { frame.encode(into: &stream) }
        decoder.append(stream)
        for expected in frames {
            #expect(try decoder.next() == expected)
        }
        #expect(try decoder.next() == nil)
        #expect(!decoder.hasPartialFrame)
    }

    @Test func headerLayoutIsAsDocumented() {
        let frame = Frame(.exec, id: 0x0102_0304, text: "show version")
        let bytes = frame.encoded
        #expect(Array(bytes[0..<12]) == [0x76, 0x79, 1, 0x02, 1, 2, 3, 4, 0, 0, 0, 12])
        #expect(Array(bytes[12...]) == Array("show version".utf8))
    }

    @Test func framesSplitAtEveryByteBoundary() throws {
        let frame = Frame(.data, id: 42, text: "a reply that arrives one byte at a time")
        let bytes = frame.encoded
        var decoder = FrameDecoder(maxPayload: 1024)
        for (index, byte) in bytes.enumerated() {
            decoder.append([byte])
            let decoded = try decoder.next()
            if index < bytes.count - 1 {
                #expect(decoded == nil)
                #expect(decoder.hasPartialFrame)
            } else {
                #expect(decoded == frame)
            }
        }
    }

    @Test func oversizedFrameIsRejectedFromItsHeader() throws {
        var decoder = FrameDecoder(maxPayload: 8192)
        var header = Frame(.exec, id: 1, payload: []).encoded
        header[8...11] = [0, 0, 0x20, 0x01]  // 8193 bytes announced
        decoder.append(header)
        #expect(throws: ProtocolError.tooLarge(8193, max: 8192)) { try decoder.next() }
    }

    @Test func garbageIsRejectedAtTheFirstByte() throws {
        var decoder = FrameDecoder(maxPayload: 8192)
        decoder.append(Array("GET / HTTP/1.1\r\n".utf8))
        #expect(throws: ProtocolError.badMagic) { try decoder.next() }
        var second = FrameDecoder(maxPayload: 8192)
        second.append([0x76])
        #expect(try second.next() == nil)
        second.append([0x00])
        #expect(throws: ProtocolError.badMagic) { try second.next() }
    }

    @Test func unsupportedVersionAndType() {
        var decoder = FrameDecoder(maxPayload: 8192)
        decoder.append([0x76, 0x79, 9])
        #expect(throws: ProtocolError.unsupportedVersion(9)) { try decoder.next() }
        var typed = FrameDecoder(maxPayload: 8192)
        typed.append([0x76, 0x79, 1, 0x7f])
        #expect(throws: ProtocolError.unknownType(0x7f)) { try typed.next() }
    }

    @Test func textRejectsInvalidUTF8AndNUL() {
        #expect(Frame(.exec, id: 1, payload: [0x73, 0xff, 0xfe]).text == nil)
        #expect(Frame(.exec, id: 1, payload: [0x73, 0x00, 0x74]).text == nil)
        #expect(Frame(.exec, id: 1, payload: Array("héllo".utf8)).text == "héllo")
    }

    @Test func endOfReplyPayload() throws {
        let end = EndOfReply(status: .inputRequired, prompt: "Password: ", hideInput: true, sessionClosed: false)
        #expect(try EndOfReply(payload: end.payload) == end)
        #expect(throws: ProtocolError.self) { try EndOfReply(payload: [0]) }
        #expect(throws: ProtocolError.self) { try EndOfReply(payload: [99, 0]) }
        #expect(throws: ProtocolError.self) { try EndOfReply(payload: [0, 0, 0xff]) }
    }

    @Test func bufferIsReusedAcrossManyFrames() throws {
        var decoder = FrameDecoder(maxPayload: 64)
        for round in 0..<10_000 {
            decoder.append(Frame(.exec, id: UInt32(round), text: "line \(round)").encoded)
            let frame = try #require(try decoder.next())
            #expect(frame.id == UInt32(round))
        }
        #expect(decoder.bufferedByteCount == 0)
    }
}
