import CLI

/// All declared commands, compiled into the grammar, plus the running-config renderer that
/// walks the same declarations.
///
/// Immutable once built, so a rendering may run on a worker thread.
final class CommandRegistry: @unchecked Sendable {  // built once in init, then only read (the grammar is a class)
    let grammar = Grammar()
    private(set) var declarations: [CommandDeclaration] = []
    private var syntaxes: [Syntax] = []
    /// The top-level configuration declarations that print lines, in order.
    private var topLevel: [Int] = []
    /// For each sub-mode, the declarations that print lines inside its blocks.
    private var inside: [Mode: [Int]] = [:]

    init(_ declarations: [CommandDeclaration]) throws(SyntaxError) {
        let listed = CommandArguments.catalogue.listed
        for entry in listed where entry.label != entry.argument.name {
            throw SyntaxError(syntax: entry.label, message: "the catalogue entry \(entry.label) names $\(entry.argument.name)")
        }
        let catalogue = try BindingCatalogue(listed.map(\.argument))
        var used: Set<String> = []
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
            used.formUnion(try catalogue.check(syntaxes.last!))
            self.declarations.append(declaration)
        }
        if let unused = listed.first(where: { !used.contains($0.argument.name) }) {
            throw SyntaxError(syntax: unused.label, message: "no command binds the catalogue entry \(unused.label)")
        }
        for (index, declaration) in self.declarations.enumerated() where declaration.show != nil {
            if declaration.modes.contains(Modes.config) { topLevel.append(index) }
            for mode in Modes.subModes where declaration.modes.contains(mode) { inside[mode, default: []].append(index) }
        }
    }

    /// The configuration as `show running-config` prints and `write file` saves it (without the
    /// "Building configuration..." banner): top-level lines in declaration order, sub-mode blocks
    /// closed by `exit`, sections separated by `!`, and `end`.
    func render(_ config: RunningConfig) -> String {
        var renderer = ConfigRenderer(registry: self, config: config)
        var out = ""
        while let chunk = renderer.next(lines: 4096) { out += chunk }
        return out
    }

    /// A renderer of `config` that gives its text a piece at a time.
    func renderer(_ config: RunningConfig) -> ConfigRenderer { ConfigRenderer(registry: self, config: config) }

    /// Renders the line(s) of one top-level argument set, with its block if it opens one.
    fileprivate func renderItem(_ index: Int, _ args: Arguments, _ config: RunningConfig, into out: inout String, lines: inout Int) {
        guard let line = syntaxes[index].render(args) else { return }
        let declaration = declarations[index]
        guard let submode = declaration.submode else {
            out += line + "\n"
            lines += 1
            return
        }
        // A sub-mode block: `!` before (once), its lines indented, `exit` and `!` after.
        if !out.hasSuffix("!\n") { out += "!\n" }
        out += line + "\n"
        let subLines = blockLines(submode, key: declaration.submodeKey?(args), config)
        for line in subLines { out += " " + line + "\n" }
        out += "exit\n!\n"
        lines += subLines.count + 3
    }

    /// The lines inside one sub-mode block (unindented): those of one group (`vrrp 5 ...`)
    /// together, in declaration order.
    private func blockLines(_ submode: Mode, key: BlockKey?, _ config: RunningConfig) -> [String] {
        var subLines: [(group: Int, order: Int, text: String)] = []
        for subIndex in inside[submode] ?? [] {
            for subArgs in declarations[subIndex].show?(config, key) ?? [] {
                if let subLine = syntaxes[subIndex].render(subArgs) {
                    subLines.append((subArgs[\.vrid].map { Int($0.rawValue) } ?? -1, subIndex, (subArgs.negated ? "no " : "") + subLine))
                }
            }
        }
        return subLines.enumerated()
            .sorted { ($0.element.group, $0.element.order, $0.offset) < ($1.element.group, $1.element.order, $1.offset) }
            .map(\.element.text)
    }

    /// One block of the running configuration (`interface vlan10` and its lines, unindented
    /// lines inside), or nil when nothing is configured under that name.
    func block(named key: BlockKey, _ config: RunningConfig) -> (opening: String, lines: [String])? {
        for index in topLevel {
            let declaration = declarations[index]
            guard let submode = declaration.submode, let keyOf = declaration.submodeKey else { continue }
            for args in declaration.show?(config, nil) ?? [] where keyOf(args) == key {
                guard let opening = syntaxes[index].render(args) else { continue }
                return (opening, blockLines(submode, key: key, config))
            }
        }
        return nil
    }

    fileprivate var topLevelDeclarations: [Int] { topLevel }

    fileprivate func arguments(_ index: Int, _ config: RunningConfig) -> [Arguments] {
        declarations[index].show?(config, nil) ?? []
    }
}

/// Renders a configuration snapshot a piece at a time: `show running-config` of a full switch
/// streams as the client reads, each piece a bounded amount of work on the loop.
struct ConfigRenderer {
    private let registry: CommandRegistry
    private let config: RunningConfig
    private var declaration = 0
    private var items: [Arguments] = []
    private var item = 0
    private var started = false
    private var finished = false
    /// The last characters rendered and not given yet (to place `!` separators exactly as a
    /// whole rendering does).
    private var tail = ""

    init(registry: CommandRegistry, config: RunningConfig) {
        self.registry = registry
        self.config = config
    }

    /// The next piece of text, of about `lines` lines; nil at the end.
    mutating func next(lines limit: Int) -> String? {
        guard !finished else { return nil }
        // What was held back from the last piece comes first.
        var out = tail
        var lines = 0
        if !started {
            started = true
            out += "!\n"
        }
        let order = registry.topLevelDeclarations
        while lines < limit {
            if item < items.count {
                registry.renderItem(order[declaration - 1], items[item], config, into: &out, lines: &lines)
                item += 1
                continue
            }
            guard declaration < order.count else {
                if !out.hasSuffix("!\n") { out += "!\n" }
                out += "end\n"
                finished = true
                break
            }
            items = registry.arguments(order[declaration], config)
            item = 0
            declaration += 1
        }
        if finished {
            tail = ""
            return out
        }
        // Hold the last two characters back: the next piece decides on a `!` by them.
        tail = String(out.suffix(2))
        return String(out.dropLast(2))
    }
}
