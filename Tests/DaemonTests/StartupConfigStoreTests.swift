import Foundation
import Glibc
import Testing
import TestSupport

@testable import Daemon

@Suite struct StartupConfigStoreTests {
    @Test func saveCreatesFileWithMode0600AndKeepsPrevious() throws {
        let dir = try Scratch()
        let path = dir.file("vrrpd.conf")
        try StartupConfigStore.atomicWrite("hostname one\n", to: path)
        #expect(dir.read("vrrpd.conf") == "hostname one\n")
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        try StartupConfigStore.atomicWrite("hostname two\n", to: path)
        #expect(dir.read("vrrpd.conf") == "hostname two\n")
        #expect(dir.read("vrrpd.conf.sav") == "hostname one\n")
        // No temporary files are left behind.
        #expect(dir.entries == [".vrrpd.conf.lock", "vrrpd.conf", "vrrpd.conf.sav"])
    }

    /// A failure injected at any step leaves the previous file exactly as it was.
    @Test(arguments: StartupConfigStore.Step.allCases)
    func failureAtAnyStepLeavesOldFileIntact(step: StartupConfigStore.Step) throws {
        let dir = try Scratch()
        let path = dir.file("vrrpd.conf")
        try StartupConfigStore.atomicWrite("hostname old\n", to: path)
        var faults = WriteFaults()
        faults.failStep = step
        faults.failErrno = ENOSPC
        let newText = String(repeating: "interface eth1\n description new\nexit\n", count: 1000)
        #expect(throws: DaemonError.self) { try StartupConfigStore.atomicWrite(newText, to: path, faults: faults) }
        if step == .syncDirectory {
            // The rename already happened; the new file is complete (only its durability failed).
            #expect(dir.read("vrrpd.conf") == newText)
        } else {
            #expect(dir.read("vrrpd.conf") == "hostname old\n")
        }
        #expect(!dir.entries.contains { $0.contains(".tmp") })
    }

    @Test func errorNamesTheStepAndCause() throws {
        let dir = try Scratch()
        var faults = WriteFaults()
        faults.failStep = .fsync
        faults.failErrno = EIO
        do {
            try StartupConfigStore.atomicWrite("x\n", to: dir.file("a.conf"), faults: faults)
            Issue.record("expected a failure")
        } catch {
            #expect("\(error)".contains("fsync"))
            #expect("\(error)".contains("Input/output error"))
        }
    }

    @Test func missingDirectoryIsAClearError() {
        do {
            try StartupConfigStore.atomicWrite("x\n", to: "/nonexistent-dir-for-vrrpd/a.conf")
            Issue.record("expected a failure")
        } catch {
            #expect("\(error)".contains("/nonexistent-dir-for-vrrpd"))
            #expect("\(error)".contains("No such file or directory"))
        }
    }

    @Test func readFile() throws {
        let dir = try Scratch()
        #expect(try StartupConfigStore.readFile(dir.file("missing")) == nil)
        try dir.write("a", "hostname x\n")
        #expect(try StartupConfigStore.readFile(dir.file("a")) == Array("hostname x\n".utf8))
        // Bytes that are not UTF-8 are read as they are: each line is decoded on its own.
        _ = FileManager.default.createFile(atPath: dir.file("bad"), contents: Data([0x68, 0xff, 0x0a]))
        #expect(try StartupConfigStore.readFile(dir.file("bad")) == [0x68, 0xff, 0x0a])
        #expect(throws: DaemonError.self) { try StartupConfigStore.readFile(dir.path) }
    }

    /// Saves from several threads at once are serialised: the file is always one whole version.
    @Test func concurrentSavesAreSerialised() async throws {
        let dir = try Scratch()
        let path = dir.file("vrrpd.conf")
        let versions = (0..<8).map { n in String(repeating: "! version \(n)\n", count: 2000) }
        await withTaskGroup(of: Void.self) { group in
            for text in versions {
                group.addTask { try? StartupConfigStore.atomicWrite(text, to: path) }
            }
        }
        let final = try #require(dir.read("vrrpd.conf"))
        #expect(versions.contains(final))
        let saved = try #require(dir.read("vrrpd.conf.sav"))
        #expect(versions.contains(saved))
    }
}

@Suite struct EnableSecretTests {
    /// The published example of Cisco's type 9 (hashcat mode 9300, password "hashcat").
    @Test func ciscoType9Vector() throws {
        let stored = "$9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6"
        #expect(try EnableSecret.hash("hashcat", salt: "2MJBozw/9R3UsU") == stored)
        #expect(EnableSecret.verify("hashcat", against: stored))
        #expect(!EnableSecret.verify("hashcaT", against: stored))
    }

    @Test func freshHashesUseRandomSalts() throws {
        let a = try EnableSecret.hash("s3cret")
        let b = try EnableSecret.hash("s3cret")
        #expect(a != b)
        #expect(EnableSecret.isWellFormed(a))
        #expect(EnableSecret.verify("s3cret", against: a))
        #expect(!a.contains("s3cret"))
    }

    @Test func malformedStoredSecrets() {
        #expect(!EnableSecret.isWellFormed("$9$short$abc"))
        #expect(!EnableSecret.isWellFormed("plaintext"))
        #expect(!EnableSecret.verify("x", against: "$8$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6"))
    }
}
