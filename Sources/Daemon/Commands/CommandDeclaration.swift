import CLI
import Channel
import NIOCore
import SwitchHAL
import Time

/// One command, declared once: its syntax and per-token help (which drive matching, `?` and
/// TAB), the modes it exists in, how its `no` form is derived, what it does, and, for
/// configuration commands, how to print it in `show running-config`.
public struct CommandDeclaration {
    public let syntax: String
    public let help: [String]
    public let modes: [Mode]
    public let noForm: NoForm
    /// Set for commands that enter a configuration sub-mode (`interface IFNAME`); their
    /// running-config lines open a block holding the sub-mode's lines.
    public let submode: Mode?
    /// For sub-mode commands: the block their arguments open (the interface, the VLAN), handed
    /// to the sub-mode's `show` closures.
    let submodeKey: ((Arguments) -> BlockKey?)?
    /// What the command does. It reads its line's values through `CommandArguments`; a value it
    /// requires and the line did not bind is a declaration bug, answered as an error.
    let run: (CommandContext, Arguments) throws -> CommandOutcome
    /// The argument sets to print for this command; the context is the sub-mode block's key
    /// (an interface) or nil at the top level.
    public let show: ((RunningConfig, BlockKey?) -> [Arguments])?

    /// An exec command that reads what configuration edits change (the running configuration,
    /// the subsystems that follow it, the HAL): it runs once the edits queued before it have
    /// landed. Edits, and the commands that only move between modes, run at once.
    public var readsConfiguration: Bool {
        !modes.contains { Modes.configModes.contains($0) } && !Self.modeCommands.contains(syntax)
    }

    static let modeCommands: Set<String> = ["enable", "disable", "configure terminal"]

    init(
        _ syntax: String, help: [String], modes: [Mode], no noForm: NoForm = .none, submode: Mode? = nil,
        submodeKey: ((Arguments) -> BlockKey?)? = nil, show: ((RunningConfig, BlockKey?) -> [Arguments])? = nil,
        run: @escaping (CommandContext, Arguments) throws -> CommandOutcome
    ) {
        self.syntax = syntax
        self.help = help
        self.modes = modes
        self.noForm = noForm
        self.submode = submode
        self.submodeKey = submodeKey
        self.run = run
        self.show = show
    }
}

/// A sub-mode block of the running configuration: the interface or the VLAN its opening line
/// names (`interface vlan10`, `vlan 10`).
public enum BlockKey: Hashable, Sendable {
    case interface(InterfaceID)
    case vlan(UInt16)

    public var interface: InterfaceID? {
        if case .interface(let id) = self { return id }
        return nil
    }

    public var vlan: UInt16? {
        if case .vlan(let vlan) = self { return vlan }
        return nil
    }
}

extension CommandDeclaration {
    /// Runs the handler; a value it required and did not get is reported as the command's error.
    func invoke(_ context: CommandContext, _ arguments: Arguments) -> CommandOutcome {
        do {
            return try run(context, arguments)
        } catch {
            context.plane.logger.error("\(syntax): \(error)")
            return context.fail("\(error)")
        }
    }
}

/// What a command handler returns.
public enum CommandOutcome {
    /// Finished; the output is in the context.
    case done(Status)
    /// Waiting for work off the control-plane thread (disk, a KDF, the HAL). If the command's
    /// deadline passes first, the reply is a timeout naming `waitingFor()`. `pipelined`: a
    /// configuration edit queued in order behind the others; a file being applied may go on with
    /// its next line before this one lands (the next line is checked against the configuration
    /// as it will be).
    case pending(EventLoopFuture<Status>, waitingFor: () -> String, pipelined: Bool = false)
    /// Asks the client for one line of input (a password), then continues with `then`.
    case input(prompt: String, hidden: Bool, then: (CommandContext, String) -> CommandOutcome)

    /// A configuration edit queued in order: what comes next may run before it lands.
    var isPipelined: Bool {
        if case .pending(_, _, let pipelined) = self { return pipelined }
        return false
    }
}
