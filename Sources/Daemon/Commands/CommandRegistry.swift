import CLI

/// All declared commands, compiled into the grammar, plus the running-config renderer that
/// walks the same declarations.
final class CommandRegistry {
    let grammar = Grammar()
    private(set) var declarations: [CommandDeclaration] = []
    private var syntaxes: [Syntax] = []

    init(_ declarations: [CommandDeclaration]) throws(SyntaxError) {
        for declaration in declarations {
            let index = self.declarations.count
            if declaration.syntax == "do LINE" {
                try grammar.addSubcommand(
                    "do", help: declaration.help, modes: declaration.modes, target: Modes.enable, action: index)
                syntaxes.append(try Syntax("do", help: [declaration.help[0]]))
            } else {
                syntaxes.append(
                    try grammar.add(
                        declaration.syntax, help: declaration.help, modes: declaration.modes, no: declaration.noForm,
                        action: index))
            }
            self.declarations.append(declaration)
        }
    }

    /// The configuration as `show running-config` prints and `write file` saves it (without the
    /// "Building configuration..." banner): top-level lines in declaration order, sub-mode blocks
    /// closed by `exit`, sections separated by `!`, and `end`.
    func render(_ config: RunningConfig) -> String {
        var out = "!\n"
        for (index, declaration) in declarations.enumerated() {
            guard declaration.modes.contains(Modes.config), let show = declaration.show else { continue }
            for args in show(config, nil) {
                guard let line = syntaxes[index].render(args) else { continue }
                guard let submode = declaration.submode else {
                    out += line + "\n"
                    continue
                }
                // A sub-mode block: `!` before (once), its lines indented, `exit` and `!` after.
                if !out.hasSuffix("!\n") { out += "!\n" }
                out += line + "\n"
                let key = declaration.submodeKey.flatMap { args[$0]?.description }
                // Lines of one group (`vrrp 5 ...`) stay together, in declaration order.
                var lines: [(group: Int, order: Int, text: String)] = []
                for (subIndex, sub) in declarations.enumerated() where sub.modes.contains(submode) {
                    for subArgs in sub.show?(config, key) ?? [] {
                        if let subLine = syntaxes[subIndex].render(subArgs) {
                            lines.append((subArgs.int("vrid") ?? -1, subIndex, (subArgs.negated ? "no " : "") + subLine))
                        }
                    }
                }
                for line in lines.enumerated().sorted(by: { ($0.element.group, $0.element.order, $0.offset) < ($1.element.group, $1.element.order, $1.offset) }) {
                    out += " " + line.element.text + "\n"
                }
                out += "exit\n!\n"
            }
        }
        if !out.hasSuffix("!\n") { out += "!\n" }
        out += "end\n"
        return out
    }
}
