/// Where the startup configuration stands, as a state value: how far it has come while it
/// loads, what the last load or reload came to, whether the file is in the running
/// configuration whole (`write file` refuses to replace it otherwise, unless forced), whether a
/// reload is under way, and whether vrrpd is stopping. The driver
/// (`ControlPlane+StartupConfig.swift`) reads and applies the file and logs; this value says
/// what `show version` and the refusals say.
public struct StartupStatus {
    /// A one-line summary of the last load or reload.
    private(set) var summary = "not loaded"
    /// Set while the startup file is not in the running configuration whole (a line failed or
    /// it could not be read, at start-up or on the last reload): `write file` would replace what
    /// did not load, so it refuses unless forced.
    public private(set) var notWhole: StartupFileProblem?
    /// How far the startup configuration has come while it loads (nil once it is applied).
    public private(set) var loading: ConfigLoadProgress?
    /// A SIGHUP reload is being read or applied.
    private(set) var reloading = false
    /// Set once vrrpd is stopping: a configuration file being applied stops where it is.
    public internal(set) var stopping = false

    /// For `show version`.
    public var text: String {
        summary + (notWhole.map { "; write file refuses to replace it (\($0.count)): write memory force overrides" } ?? "")
    }

    /// While the startup configuration loads, what a configuration command gets instead.
    var loadingMessage: String? {
        loading.map {
            $0.total == 0 ? "the startup configuration is still being read" : "the startup configuration is still loading (\($0.done) of \($0.total) lines)"
        }
    }

    /// Why `write file` must not replace the startup file now, or nil. While it loads, never:
    /// saving half of it would lose the other half. While it is not in the running
    /// configuration whole, only when forced.
    func saveRefusal(force: Bool) -> String? {
        if let message = loadingMessage { return message + "; nothing saved" }
        if !force, let problem = notWhole { return problem.refusal }
        return nil
    }

    // MARK: The load at start-up

    /// The load begins (the file is being read); false if it already has.
    mutating func beginLoad() -> Bool {
        guard loading == nil else { return false }
        loading = ConfigLoadProgress()
        summary = "reading"
        return true
    }

    /// The file is read: it has `lines` lines to apply.
    mutating func read(lines: Int) { loading?.total = lines }

    mutating func progressed(_ progress: ConfigLoadProgress) {
        loading?.done = progress.done
        loading?.errors = progress.errors
    }

    mutating func notFound() {
        summary = "not found; defaults in use"
        loading = nil
    }

    /// The file is applied; what did not load, if anything.
    mutating func loaded(_ report: ConfigLoadReport) -> StartupFileProblem? {
        loading = nil
        summary = "loaded: \(report.summary) in \(formatSeconds(report.seconds))"
        notWhole = StartupFileProblem(report, occasion: .startup)
        return notWhole
    }

    mutating func unreadable(_ path: String, error: String) {
        summary = "unreadable: \(error)"
        notWhole = StartupFileProblem(path: path, occasion: .startup, failedLines: 0, first: error)
        loading = nil
    }

    // MARK: Reload (SIGHUP)

    /// A reload is asked for: nil when it begins, or why it is not applied.
    mutating func beginReload() -> String? {
        if let message = loadingMessage { return message }
        guard !reloading else { return "a reload is already under way" }
        reloading = true
        return nil
    }

    /// The reload ended without changing the running configuration; `problem`, if any, is why
    /// the file is not whole now.
    mutating func reloadFailed(_ problem: StartupFileProblem? = nil) {
        reloading = false
        if let problem { notWhole = problem }
    }

    /// The file replaced the running configuration: it is in it whole.
    mutating func reloaded(_ report: ConfigLoadReport) {
        reloading = false
        summary = "reloaded: \(report.summary)"
        notWhole = nil
    }

    // MARK: Whole again

    /// The startup file was applied whole (`copy startup-config running-config`): the problem
    /// it had, now gone, if any.
    mutating func appliedWhole() -> StartupFileProblem? {
        defer { notWhole = nil }
        return notWhole
    }

    /// A forced save replaced the file that had `overridden`: true if that was still the
    /// problem (now gone); one found since, by a reload, stays.
    mutating func replaced(over overridden: StartupFileProblem) -> Bool {
        guard notWhole == overridden else { return false }
        notWhole = nil
        return true
    }
}
