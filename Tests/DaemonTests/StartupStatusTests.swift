import Testing

@testable import Daemon

/// Where the startup configuration stands, on the status value alone: what `show version`
/// says, and what a reload or `write file` is refused with.
@Suite struct StartupStatusTests {
    static let path = "/etc/vrrpd/vrrpd.conf"

    static func report(lines: Int, errors: [String] = []) -> ConfigLoadReport {
        ConfigLoadReport(source: path, lines: lines, commands: lines - errors.count, errors: errors, seconds: 0.25)
    }

    /// While it loads, configuration commands, saves and reloads wait for it; then they go.
    @Test func whileItLoadsSavesAndReloadsAreRefused() {
        var status = StartupStatus()
        #expect(status.text == "not loaded")
        let began = [status.beginLoad(), status.beginLoad()]
        #expect(began == [true, false], "one load")
        #expect(status.loadingMessage == "the startup configuration is still being read")
        status.read(lines: 40)
        status.progressed(ConfigLoadProgress(done: 10, total: 40, errors: 0))
        #expect(status.loadingMessage == "the startup configuration is still loading (10 of 40 lines)")
        #expect(status.saveRefusal(force: true) == "the startup configuration is still loading (10 of 40 lines); nothing saved")
        #expect(status.beginReload() == "the startup configuration is still loading (10 of 40 lines)")
        #expect(status.loaded(Self.report(lines: 40)) == nil)
        #expect(status.loadingMessage == nil && status.saveRefusal(force: false) == nil)
        #expect(status.text == "loaded: 40 commands from 40 lines, 0 errors in 0.3 s")
        #expect(status.beginReload() == nil)
        #expect(status.beginReload() == "a reload is already under way")
    }

    /// A file that did not load whole: `write file` refuses unless forced, `show version` says
    /// so, and a reload that applies lifts it.
    @Test func aFileNotLoadedWholeHoldsSavesBackUntilAReloadApplies() {
        var status = StartupStatus()
        _ = status.beginLoad()
        let problem = status.loaded(Self.report(lines: 3, errors: ["\(Self.path):2: % Unknown command"]))
        #expect(problem?.failedLines == 1)
        #expect(status.text == "loaded: 2 commands from 3 lines, 1 error in 0.3 s; write file refuses to replace it (1 line failed): write memory force overrides")
        #expect(status.saveRefusal(force: false) == problem?.refusal)
        #expect(status.saveRefusal(force: true) == nil)
        #expect(status.beginReload() == nil)
        status.reloaded(Self.report(lines: 2))
        #expect(status.notWhole == nil && !status.reloading)
        #expect(status.text == "reloaded: 2 commands from 2 lines, 0 errors")
    }

    /// A reload that fails keeps the running configuration; one that could not read the file
    /// makes it not whole; either way another reload may begin.
    @Test func aFailedReloadEndsTheReload() {
        var status = StartupStatus()
        _ = status.beginLoad()
        status.notFound()
        #expect(status.text == "not found; defaults in use")
        #expect(status.beginReload() == nil)
        status.reloadFailed()
        #expect(status.notWhole == nil)
        #expect(status.beginReload() == nil)
        let unreadable = StartupFileProblem(path: Self.path, occasion: .reload, failedLines: 0, first: "Permission denied")
        status.reloadFailed(unreadable)
        #expect(status.notWhole == unreadable && !status.reloading)
        #expect(status.text == "not found; defaults in use; write file refuses to replace it (unreadable): write memory force overrides")
    }

    /// A forced save lifts the problem it overrode, not one a reload found since; applying the
    /// file whole lifts any.
    @Test func aForcedSaveLiftsOnlyTheProblemItOverrode() {
        var status = StartupStatus()
        _ = status.beginLoad()
        status.unreadable(Self.path, error: "Permission denied")
        #expect(status.text == "unreadable: Permission denied; write file refuses to replace it (unreadable): write memory force overrides")
        let overridden = status.notWhole!
        _ = status.beginReload()
        let found = StartupFileProblem(path: Self.path, occasion: .reload, failedLines: 2, first: "\(Self.path):7: % Invalid input")
        status.reloadFailed(found)
        let liftedOverridden = status.replaced(over: overridden)
        #expect(!liftedOverridden && status.notWhole == found)
        let lifted = [status.appliedWhole(), status.appliedWhole()]
        #expect(lifted == [found, nil])
        _ = status.beginReload()
        status.reloadFailed(found)
        let liftedFound = status.replaced(over: found)
        #expect(liftedFound && status.notWhole == nil)
    }
}
