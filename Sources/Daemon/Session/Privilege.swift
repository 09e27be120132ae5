import CLI

extension Modes {
    /// What a privileged command typed in view mode answers.
    public static let privilegedMessage = FailureText.refused("this command needs privileged mode: type enable first")
}

extension ControlPlane {
    /// Whether a line that view mode does not know (`failure`) is a privileged command: it
    /// matches in enable mode, or goes further there before it fails (`configure`). View mode's
    /// `?` and TAB still show only view mode's commands.
    func isPrivileged(_ line: String, beyond failure: MatchError) -> Bool {
        switch registry.grammar.match(line, mode: Modes.enable) {
        case .command: return true
        case .failure(let error): return error.column > failure.column
        case .empty: return false
        }
    }
}
