import Foundation
import Glibc

/// A temporary directory for one test, removed when the test ends.
public final class Scratch: @unchecked Sendable {
    public let path: String

    public init() throws {
        var template = Array("/tmp/vrrpd-test.XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw TestFailure("mkdtemp failed") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
    public func read(_ name: String) -> String? { try? String(contentsOfFile: file(name), encoding: .utf8) }
    public func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
    }
    public func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
    public var entries: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}

/// A failure of the test harness itself (not of the code under test).
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
