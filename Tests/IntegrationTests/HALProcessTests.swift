import Foundation
import Testing

/// HAL properties that need a process of their own to measure.
@Suite struct HALProcessTests {
    /// 10 million frames through an RX pool that runs dry again and again: every buffer comes
    /// back, drops are exactly offered minus accepted, and memory stays flat.
    @Test func rxSoakKeepsMemoryFlat() throws {
        let result = try Spawned.run(Binaries.directory + "/hal-bench", ["soak", "--frames", "10000000"])
        #expect(result.status == 0, "\(result.stderr)")
        var fields: [String: Int] = [:]
        let words = result.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
        for (index, word) in words.enumerated() where index + 1 < words.count {
            if let value = Int(words[index + 1]) { fields[String(word)] = value }
        }
        let offered = try #require(fields["offered"])
        let accepted = try #require(fields["accepted"])
        let dropped = try #require(fields["dropped-no-buffer"])
        #expect(offered == 10_000_000)
        #expect(dropped == offered - accepted)
        #expect(dropped > 0, "the pool never ran dry; the soak proves nothing")
        #expect(fields["in-use"] == 0)
        let warm = try #require(fields["rss-warm-kib"])
        let end = try #require(fields["rss-end-kib"])
        #expect(end - warm < 1024, "memory grew by \(end - warm) KiB over 9 million frames")
    }
}
