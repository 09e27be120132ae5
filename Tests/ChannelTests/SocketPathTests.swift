import Channel
import Foundation
import Glibc
import Testing
import TestSupport

/// The socket's directory and the socket itself are trusted only when nobody else could have put
/// them there (OpenSSH's StrictModes, for vrrpd's socket).
@Suite struct SocketPathTests {
    @Test func aDirectoryOthersCanWriteIsRefusedUnlessSticky() throws {
        let scratch = try Scratch()
        let socket = scratch.file("vrrpd.vty")
        #expect(chmod(scratch.path, 0o700) == 0)
        #expect(SocketPath.directoryProblem(socket) == nil)
        #expect(chmod(scratch.path, 0o777) == 0)
        let problem = try #require(SocketPath.directoryProblem(socket))
        #expect(problem.contains("can be written by others (mode 777)"), "\(problem)")
        #expect(chmod(scratch.path, 0o1777) == 0)
        #expect(SocketPath.directoryProblem(socket) == nil, "sticky, like /tmp: nobody can replace another's file")
        #expect(SocketPath.directoryProblem(scratch.file("missing/vrrpd.vty")) == nil, "not there yet: vrrpd creates it")
    }

    @Test func aDirectoryOrSocketOfAnotherUserIsRefused() throws {
        guard geteuid() == 0 else {
            print("skipped: giving a file to another user needs root; CI runs it as root")
            return
        }
        let scratch = try Scratch()
        let socket = scratch.file("vrrpd.vty")
        #expect(chown(scratch.path, 65534, 65534) == 0)
        let problem = try #require(SocketPath.directoryProblem(socket))
        #expect(problem.contains("belongs to uid 65534"), "\(problem)")
        #expect(chown(scratch.path, 0, 0) == 0)
        #expect(SocketPath.socketProblem(socket) == nil, "no socket yet")
        #expect(FileManager.default.createFile(atPath: socket, contents: nil))
        #expect(chown(socket, 65534, 65534) == 0)
        #expect(SocketPath.socketProblem(socket)?.contains("belongs to uid 65534") == true)
    }
}
