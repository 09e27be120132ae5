import Glibc
import CLI
import Channel
import NIOCore
import Time

/// Saving, loading and showing the configuration: `write`, `copy`, `show running-config`,
/// `show startup-config`.
enum ConfigFileCommands {
    static var declarations: [CommandDeclaration] {
        [
        CommandDeclaration(
            "write [<file|memory>]",
            help: [
                "Write running configuration to memory, network, or terminal",
                "Write configuration to the startup-config file", "Write configuration to the startup-config file",
            ],
            modes: [Modes.enable]
        ) { ctx, _ in
            save(ctx)
        },
        // Only after `file` or `memory`, so that `write f` stays `write file`.
        CommandDeclaration(
            "write <file|memory> force",
            help: [
                "Write running configuration to memory, network, or terminal",
                "Write configuration to the startup-config file", "Write configuration to the startup-config file",
                "Replace the startup-config file even though it did not load whole",
            ],
            modes: [Modes.enable]
        ) { ctx, _ in
            save(ctx, force: true)
        },
        CommandDeclaration(
            "copy running-config startup-config",
            help: ["Copy from one file to another", "Copy from the current running configuration",
                   "Copy to the startup configuration"],
            modes: [Modes.enable]
        ) { ctx, _ in
            // Refused before the question, not after it.
            if let refusal = ctx.plane.startup.saveRefusal(force: false) { return ctx.fail(refusal) }
            // IOS asks for the destination; RETURN takes the default (scripts answer it so).
            return .input(prompt: "Destination filename [startup-config]? ", hidden: false) { ctx, answer in
                let name = answer.trimmingCharacters(in: .whitespaces)
                guard name.isEmpty || name == "startup-config" else {
                    return ctx.refuse("Only startup-config can be written here (\(ctx.plane.options.configPath)); nothing saved")
                }
                return save(ctx)
            }
        },
        CommandDeclaration(
            "copy startup-config running-config",
            help: ["Copy from one file to another", "Copy from the startup configuration",
                   "Merge into the running configuration"],
            modes: [Modes.enable]
        ) { ctx, _ in
            merge(ctx, path: ctx.plane.options.configPath)
        },
        CommandDeclaration(
            "copy FILE running-config",
            help: ["Copy from one file to another", "Path of a configuration file (e.g. /etc/vrrpd/site.conf)",
                   "Merge into the running configuration"],
            modes: [Modes.enable]
        ) { ctx, args in
            let path = try args.value(\.file)
            guard path.contains("/") else {
                return ctx.refuse("Give the file as a path, e.g. ./\(path) or /etc/vrrpd/\(path)")
            }
            // Only from the configuration directories (a policy: `vrrpd --copy-dir`), the path
            // resolved first, so no `..` or symbolic link leads out of them.
            let allowed = ctx.plane.options.readableDirectories
            guard let resolved = realPath(path) else { return ctx.refuse("\(path) does not exist") }
            guard allowed.contains(where: { dir in realPath(dir).map { resolved.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") } ?? false }) else {
                return ctx.refuse("copy reads only files under \(allowed.joined(separator: ", ")) (vrrpd --copy-dir); \(path) is not")
            }
            return merge(ctx, path: resolved)
        },
        CommandDeclaration(
            "write terminal", help: ["Write running configuration to memory, network, or terminal", "Write to terminal"],
            modes: [Modes.enable]
        ) { ctx, _ in
            showRunning(ctx)
        },
        CommandDeclaration(
            "show running-config", help: [Help.show, "Current operating configuration"], modes: [Modes.enable]
        ) { ctx, _ in
            showRunning(ctx)
        },
        CommandDeclaration(
            "show running-config interface IFNAME$ifname",
            help: [Help.show, "Current operating configuration", "Show the configuration of one interface", Help.interfaceName],
            modes: [Modes.enable]
        ) { ctx, args in
            let name: InterfaceID
            switch try ctx.interface(args, \.ifname) {
            case .success(let id): name = id
            case .failure(let unknown): return ctx.refuse(unknown.message)
            }
            // IOS's layout: the banner, then the block closed by `!` (the form ntc-templates'
            // parser reads; it refuses IOS's closing `end`). It pastes back as it is.
            let block = ctx.plane.registry.block(named: .interface(name), ctx.workspace.config)
            let lines = [block?.opening ?? "interface \(name)"] + (block?.lines ?? []).map { " " + $0 }
            let text = lines.joined(separator: "\n") + "\n!\n"
            ctx.print("Building configuration...")
            ctx.print("")
            ctx.print("Current configuration : \(text.utf8.count) bytes")
            ctx.print("!")
            ctx.write(text)
            return .done(.success)
        },
        CommandDeclaration(
            "show startup-config", help: [Help.show, "Contents of startup configuration"], modes: [Modes.enable]
        ) { ctx, _ in
            let path = ctx.plane.options.configPath
            let read = ctx.plane.store.read(on: ctx.loop, pool: ctx.plane.pool)
            let result = read.assumeIsolated().map { bytes -> Status in
                guard let bytes else {
                    ctx.print(FailureText.failed("No startup configuration: \(path) does not exist (use write file)"))
                    return .error
                }
                // As loaded: no byte order mark; a byte that is not UTF-8 shows as U+FFFD (the
                // load names it, `show version` counts it).
                let start = TextLines.startsWithByteOrderMark(bytes) ? TextLines.byteOrderMark.count : 0
                ctx.write(String(decoding: bytes[start...], as: UTF8.self))
                return .success
            }.recover { error in
                ctx.print(FailureText.failed("\(error)"))
                return .error
            }.nonisolated()
            return .pending(result, waitingFor: { "reading \(path)" })
        },
    ]
    }

    /// The running configuration, streamed as the client reads it: a snapshot (which costs
    /// nothing to take) rendered a few hundred lines at a time.
    static func showRunning(_ ctx: CommandContext) -> CommandOutcome {
        // Comments, so that the whole output pastes back into configuration mode.
        ctx.print("! Building configuration...")
        ctx.print("!")
        ctx.print("! Current configuration:")
        var renderer = ctx.plane.registry.renderer(ctx.workspace.config)
        ctx.stream = { renderer.next(lines: 512) }
        return .done(.success)
    }

    /// `write file`: the running configuration, saved atomically and durably.
    static func save(_ ctx: CommandContext, force: Bool = false) -> CommandOutcome {
        let plane = ctx.plane
        if let refusal = plane.startup.saveRefusal(force: force) { return ctx.fail(refusal) }
        let overridden = plane.startup.notWhole
        let header = "! vrrpd \(plane.options.version) configuration, saved \(plane.clock.wallNow.iso8601)\n"
        ctx.print("Building configuration...")
        let path = plane.options.configPath
        let started = plane.clock.now
        // Rendered on a worker thread from a snapshot (which costs nothing to take): a full
        // switch's 100,000 lines never hold up the control plane.
        let snapshot = ctx.workspace.config
        let registry = plane.registry
        let store = plane.store
        let requester = ctx.session.name
        let loop = ctx.loop
        let rendered = plane.pool.runIfActive(eventLoop: loop) { header + registry.render(snapshot) }
        let saved = rendered.flatMap { text in store.save(text, requester: requester, on: loop) }
        let result = saved.assumeIsolated().map { () -> Status in
            plane.logger.info(
                "configuration saved", metadata: ["path": "\(path)", "by": "\(ctx.session.name)",
                "ms": "\(plane.clock.elapsed(since: started).inMilliseconds)"])
            // Forced over a file that did not load whole: the file is the running configuration
            // now (a problem found since, by a reload, stays).
            if let overridden, plane.startup.replaced(over: overridden) {
                plane.logger.notice("\(path) replaced by write memory force (it had not loaded whole: \(overridden.count))", metadata: ["by": "\(ctx.session.name)"])
            }
            ctx.print("Configuration saved to \(path)")
            ctx.print("[OK]")
            return .success
        }.recover { error in
            plane.logger.error("configuration not saved", metadata: ["path": "\(path)", "error": "\(error)"])
            ctx.print(FailureText.failed("Configuration NOT saved (\(path) is unchanged): \(error)"))
            return .error
        }.nonisolated()
        return .pending(result, waitingFor: { store.activity })
    }

    /// The canonical absolute path (symbolic links and `..` resolved), or nil if it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `copy FILE running-config`: applies a file on top of the running configuration, line by
    /// line (a bad line is that line's error). The startup file applied whole this way is in the
    /// running configuration whole again: `write file` saves again.
    static func merge(_ ctx: CommandContext, path: String) -> CommandOutcome {
        let plane = ctx.plane
        if let message = plane.startup.loadingMessage { return ctx.fail(message) }
        let startupPath = plane.options.configPath
        let read = plane.pool.runIfActive(eventLoop: ctx.loop) { () -> (bytes: [UInt8], isStartupFile: Bool)? in
            guard let bytes = try StartupConfigStore.readFile(path) else { return nil }
            return (bytes, realPath(path) == realPath(startupPath))
        }
        let result = read.assumeIsolated().flatMap { read -> EventLoopFuture<Status> in
            // The reply already said it timed out (or was interrupted): nothing is applied, ever.
            guard !ctx.abandoned else {
                plane.logger.notice("copy not applied: the command had already timed out or been interrupted", metadata: ["path": "\(path)"])
                return ctx.loop.makeSucceededFuture(.cancelled)
            }
            guard let (bytes, isStartupFile) = read else {
                ctx.print(FailureText.refused("\(path) does not exist"))
                return ctx.loop.makeSucceededFuture(.error)
            }
            return ConfigLoader.apply(bytes, source: path, plane: plane, workspace: ctx.workspace)
                .assumeIsolated().map { report -> Status in
                    for error in report.errors { ctx.print("% " + error) }
                    ctx.print("\(report.summary) applied from \(path)")
                    if isStartupFile, report.errors.isEmpty, let problem = plane.startup.appliedWhole() {
                        plane.logger.notice("\(path) applied whole (it had not loaded whole: \(problem.count)); write file saves again")
                        ctx.print("\(path) is in the running configuration whole: write file saves again")
                    }
                    // The good lines stay applied (a merge, as in IOS); a script still learns
                    // that some failed.
                    return report.errors.isEmpty ? .success : .error
                }.nonisolated()
        }.recover { error in
            ctx.print(FailureText.failed("\(error)"))
            return .error
        }.nonisolated()
        return .pending(result, waitingFor: { "applying \(path)" })
    }
}
