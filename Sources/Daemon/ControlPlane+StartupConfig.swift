import Logging
import NIOCore
import NIOPosix

extension ControlPlane {
    /// Applies the startup configuration to the live configuration, in slices (the socket is
    /// already answering: `show` commands work, `show version` says how far it got, and
    /// configuration commands are refused until it is done); a bad line (a byte that is not
    /// UTF-8 included) is logged as `file:line: message` and the rest still applies, and
    /// `write file` then refuses to replace the file unless forced. The file is read off the
    /// loop.
    func beginStartupLoad() {
        loop.assertInEventLoop()
        _ = startup.beginLoad()
    }

    func loadStartupConfig() -> EventLoopFuture<Void> {
        let path = options.configPath
        beginStartupLoad()
        // Read, and its lines counted, off the loop; what a killed save left is removed first.
        let logger = self.logger
        let read = pool.runIfActive(eventLoop: loop) { () -> ([UInt8], Int)? in
            let stale = StartupConfigStore.removeStaleTemporaries(of: path)
            if !stale.isEmpty { logger.notice("removed what an interrupted save left: \(stale.sorted().joined(separator: ", "))") }
            return try StartupConfigStore.readFile(path).map { ($0, ConfigLoader.countLines($0)) }
        }
        return read.hop(to: loop).assumeIsolated().flatMap { [self] read -> EventLoopFuture<Void> in
            guard let (bytes, total) = read else {
                logger.notice("no startup configuration at \(path); starting with defaults")
                startup.notFound()
                return loop.makeSucceededVoidFuture()
            }
            startup.read(lines: total)
            logger.info("applying the startup configuration: \(total) lines", metadata: ["path": "\(path)"])
            return ConfigLoader.apply(bytes, source: path, plane: self, workspace: live) { [self] progress in
                startup.progressed(progress)
            }.assumeIsolated().map { [self] report in
                for error in report.errors { logger.error("\(error)") }
                let problem = startup.loaded(report)
                logger.notice("startup configuration applied: \(report.summary) in \(formatSeconds(report.seconds))", metadata: ["path": "\(path)"])
                if let problem {
                    logger.warning("write file will not replace \(path) until it loads whole (\(problem.count)); write memory force overrides")
                }
            }.nonisolated()
        }.recover { [self] error in
            logger.error("cannot read startup configuration: \(error)")
            startup.unreadable(path, error: "\(error)")
            logger.warning("write file will not replace \(path) until it can be read; write memory force overrides")
        }.nonisolated()
    }

    /// SIGHUP: re-reads the startup configuration (off the loop) and, if every line is valid,
    /// makes the running configuration the file's, logging every line that changes; the
    /// subsystems and the HAL redo only what differs. Otherwise logs why not, keeps the running
    /// configuration as it is, and `write file` refuses to replace the file unless forced.
    ///
    /// The file's configuration takes the running one's place as one edit in the queue of edits
    /// (`ConfigCommitter.replace`), at the moment the reload has the file ready: edits accepted
    /// before that land first and, where the file differs, are replaced (each such line logged
    /// `reload: - ...`); edits accepted after it apply on top of the file. The difference is
    /// taken against the running configuration as it is when the replacement lands.
    func reload() {
        loop.assertInEventLoop()
        let path = options.configPath
        if let refusal = startup.beginReload() { return logger.error("reload not applied: \(refusal)") }
        // The file, and the chip's tables to hold it to (14 MB on trident2: made off the loop).
        let chip = options.chip
        let read = pool.runIfActive(eventLoop: loop) { () -> ([UInt8], CapacityModel)? in
            try StartupConfigStore.readFile(path).map { ($0, CapacityModel(chip: chip)) }
        }
        read.hop(to: loop).assumeIsolated().whenComplete { [self] result in
            let bytes: [UInt8]
            let capacity: CapacityModel
            switch result {
            case .failure(let error):
                startup.reloadFailed(StartupFileProblem(path: path, occasion: .reload, failedLines: 0, first: "\(error)"))
                logger.error("reload not applied: \(error); running configuration unchanged")
                return
            case .success(nil):
                startup.reloadFailed()
                logger.error("reload not applied: \(path) does not exist; running configuration unchanged")
                return
            case .success(let value?):
                (bytes, capacity) = value
            }
            let candidate = ConfigWorkspace(placingIn: capacity)
            ConfigLoader.apply(bytes, source: path, plane: self, workspace: candidate).assumeIsolated().whenSuccess { [self] report in
                if let problem = StartupFileProblem(report, occasion: .reload) {
                    startup.reloadFailed(problem)
                    logger.error("reload not applied: \(report.errors.count) error(s) in \(path); running configuration unchanged")
                    for error in report.errors { logger.error("\(error)") }
                    logger.warning("write file will not replace \(path) until it loads whole (\(problem.count)); write memory force overrides")
                    return
                }
                replaceRunning(with: candidate.config, report: report)
            }
        }
    }

    /// The reload's second half: the file's configuration replaces the running one in its turn
    /// in the queue of edits. Most of the difference is worked out off the loop, against a copy
    /// of the running configuration; the keys edited meanwhile (kept in the live workspace's
    /// journal) are added when the replacement lands, so the difference is the one with what is
    /// running then, at the cost of what changed, not of the whole configuration.
    private func replaceRunning(with file: RunningConfig, report: ConfigLoadReport) {
        let path = options.configPath
        let copy = live.config
        live.startJournal()
        let diff = pool.runIfActive(eventLoop: loop) { ConfigChange.between(copy, file) }
        diff.hop(to: loop).assumeIsolated().whenComplete { [self] result in
            guard case .success(var keys) = result else {
                _ = live.takeJournal()
                startup.reloadFailed()
                logger.error("reload not applied: vrrpd is stopping")
                return
            }
            committer.replace(with: file, label: "reload of \(path)") { [self] _ in
                keys.formUnion(live.takeJournal())
                return keys
            }.assumeIsolated().whenSuccess { [self] replaced in
                startup.reloaded(report)
                logDifferences(replaced, file)
            }
        }
    }

    /// Logs what a reload changed, every line (the running configuration it replaced against
    /// the file's), rendering both off the loop and logging in slices. Lines removed are edits
    /// that were running and are no more: each is named. A line that carries a secret is named
    /// without it.
    private func logDifferences(_ before: RunningConfig, _ after: RunningConfig) {
        let registry = self.registry
        let diff = pool.runIfActive(eventLoop: loop) { () -> (removed: [String], added: [String]) in
            let old = ControlPlane.qualifiedLines(registry.render(before))
            let new = ControlPlane.qualifiedLines(registry.render(after))
            let oldSet = Set(old)
            let newSet = Set(new)
            return (old.filter { !newSet.contains($0) }, new.filter { !oldSet.contains($0) })
        }
        diff.hop(to: loop).assumeIsolated().whenSuccess { [self] diff in
            logger.notice("reload applied: \(diff.added.count) line(s) added, \(diff.removed.count) removed")
            // Every line that went is named (an edit that disappears says so); of those that came
            // from the file, the first `reloadAddedLinesLogged` (the file has them all).
            var removed = diff.removed[...]
            var added = diff.added.prefix(ControlPlane.reloadAddedLinesLogged)
            let unlisted = diff.added.count - added.count
            func step() {
                let slice = Slice()
                while !slice.isOver, let line = removed.popFirst() { logger.notice("reload: - \(line)") }
                while !slice.isOver, let line = added.popFirst() { logger.info("reload: + \(line)") }
                if !removed.isEmpty || !added.isEmpty { return yield { step() } }
                if unlisted > 0 { logger.info("reload: \(unlisted) more added line(s) not listed (they are the file's)") }
            }
            step()
        }
    }


    /// At most this many lines a reload added are logged one by one (every removed one is).
    static let reloadAddedLinesLogged = 1000

    /// Configuration lines with their block (`interface eth1: shutdown`), for diffs.
    static func qualifiedLines(_ text: String) -> [String] {
        var block: String?
        var out: [String] = []
        for line in text.split(separator: "\n") {
            if line == "!" || line == "end" || line.hasPrefix("! ") { continue }
            if line == "exit" {
                block = nil
                continue
            }
            if line.hasPrefix(" ") {
                out.append("\(block ?? ""): \(String(line).trimmed)")
            } else {
                out.append(String(line))
                block = String(line)
            }
        }
        return out
    }
}
