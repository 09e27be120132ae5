import Channel
import Foundation
import NIOCore
import Testing
import TestSupport

@testable import Daemon

/// Configuration files as vrrpd reads them (a bad byte is its line's error, a byte order mark is
/// not part of the first line).
@Suite struct ReloadTests {
    /// A file's bytes through the loader: the line with a byte that is not UTF-8 fails, naming
    /// the byte and its column; the lines around it apply; a comment is one whatever its bytes.
    @Test func aFileIsDecodedLineByLine() throws {
        let h = try PlaneHarness()
        let bytes = TextLines.byteOrderMark + Array("hostname bom-first\ninterface eth1\n description caf".utf8) + [0xE9]
            + Array(" corner\n shutdown\n! caf".utf8) + [0xE9] + Array(" in a comment\nexit\n".utf8)
        let plane = h.plane
        let loop = h.group.next()
        let (rendered, errors) = try loop.flatSubmit { () -> EventLoopFuture<LoadBox> in
            let workspace = ConfigWorkspace()
            return ConfigLoader.apply(bytes, source: "test.conf", plane: plane.value, workspace: workspace).assumeIsolated().map { report in
                LoadBox(rendered: plane.value.renderConfig(workspace.config), errors: report.errors)
            }.nonisolated()
        }.wait().pair
        #expect(errors == ["test.conf:3: not valid UTF-8: byte 0xE9 at column 17"])
        #expect(rendered.contains("hostname bom-first\n"), "\(rendered)")
        #expect(rendered.contains("interface eth1\n shutdown\nexit"), "\(rendered)")
    }
}
