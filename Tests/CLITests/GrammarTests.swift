import Testing

@testable import CLI

/// A small grammar shaped like vrrpd's, with the competing commands the matcher must tell apart.
private func makeGrammar() throws -> Grammar { try makeGrammarWithSyntaxes().0 }

private func makeGrammarWithSyntaxes() throws -> (Grammar, [Int: Syntax]) {
    let g = RecordingGrammar()
    let exec = Mode("enable")
    let config = Mode("config")
    let iface = Mode("config-if")
    try g.add("show version", help: ["Show", "Version"], modes: [exec], action: 1)
    try g.add("show vrrp [interface IFNAME] [(1-255)$vrid] [json]", help: ["Show", "VRRP", "Interface", "Name", "VRID", "JSON"], modes: [exec], action: 2)
    try g.add("show running-config", help: ["Show", "Running"], modes: [exec], action: 3)
    try g.add("configure terminal", help: ["Configure", "Terminal"], modes: [exec], action: 4)
    try g.add("write [<file|memory>]", help: ["Write", "File", "Memory"], modes: [exec], action: 5)
    try g.add("hostname WORD$name", help: ["Hostname", "Name"], modes: [config], no: .optionalValues, action: 6)
    try g.add("interface IFNAME", help: ["Interface", "Name"], modes: [config], no: .sameArguments, action: 7)
    try g.add("vrrp (1-255)$vrid [version (2-3)$version]", help: ["VRRP", "VRID", "Version", "Number"], modes: [iface],
              no: .custom("vrrp (1-255)$vrid", help: ["VRRP", "VRID"]), action: 8)
    try g.add("vrrp (1-255)$vrid priority (1-254)$priority", help: ["VRRP", "VRID", "Priority", "Value"], modes: [iface], no: .optionalValues, action: 9)
    try g.add("vrrp (1-255)$vrid ip A.B.C.D$vip", help: ["VRRP", "VRID", "IP", "Address"], modes: [iface], no: .sameArguments, action: 10)
    try g.add("vrrp (1-255)$vrid ipv6 X:X::X:X$vip6", help: ["VRRP", "VRID", "IPv6", "Address"], modes: [iface], no: .sameArguments, action: 11)
    try g.add("ip address A.B.C.D/M$prefix", help: ["IP", "Address", "Prefix"], modes: [iface], action: 12)
    try g.add("description LINE", help: ["Description", "Text"], modes: [iface], no: .optionalValues, action: 13)
    try g.add("mac address-table static MAC$mac vlan (1-4094)$vlan", help: ["MAC", "Table", "Static", "MAC", "VLAN", "ID"], modes: [config], action: 14)
    try g.add("switchport mode <access|trunk>$mode", help: ["Switchport", "Mode", "Access", "Trunk"], modes: [iface], action: 15)
    try g.grammar.addSubcommand("do", help: ["Do", "Command"], modes: [config, iface], target: exec, action: 16)
    return (g.grammar, g.syntaxes)
}

/// Keeps the syntax of each action, as the daemon's registry does, to render lines back.
private final class RecordingGrammar {
    let grammar = Grammar()
    var syntaxes: [Int: Syntax] = [:]

    func add(_ syntax: String, help: [String], modes: [Mode], no: NoForm = .none, action: Int) throws {
        syntaxes[action] = try grammar.add(syntax, help: help, modes: modes, no: no, action: action)
    }
}

private func command(_ result: MatchResult) -> (Int, Arguments)? {
    if case .command(let action, let args, _) = result { return (action, args) }
    return nil
}

private func failure(_ result: MatchResult) -> MatchError? {
    if case .failure(let error) = result { return error }
    return nil
}

@Suite struct MatchingTests {
    let g: Grammar
    init() throws { g = try makeGrammar() }

    @Test func exactAndAbbreviatedKeywords() throws {
        #expect(command(g.match("show version", mode: Mode("enable")))?.0 == 1)
        #expect(command(g.match("sh ver", mode: Mode("enable")))?.0 == 1)
        #expect(command(g.match("conf t", mode: Mode("enable")))?.0 == 4)
        #expect(command(g.match("sh run", mode: Mode("enable")))?.0 == 3)
        #expect(command(g.match("wr", mode: Mode("enable")))?.0 == 5)
        #expect(command(g.match("  SHOW   VERSION  ", mode: Mode("enable")))?.0 == 1)
    }

    @Test func ambiguousPrefixIsReportedUnderTheWord() throws {
        let error = try #require(failure(g.match("show v", mode: Mode("enable"))))
        #expect(error.kind == .ambiguous)
        #expect(error.column == 5)
        #expect(error.message == "% Ambiguous command:  \"show v\"")
    }

    @Test func unknownWordIsMarked() throws {
        let error = try #require(failure(g.match("show vrp", mode: Mode("enable"))))
        #expect(error.kind == .unknown)
        #expect(error.column == 5)
        let second = try #require(failure(g.match("show version extra", mode: Mode("enable"))))
        #expect(second.kind == .unknown)
        #expect(second.column == 13)
        #expect(second.message == "show version extra\n" + String(repeating: " ", count: 13) + "^\n% Invalid input detected at '^' marker.")
    }

    @Test func incompleteCommand() throws {
        let error = try #require(failure(g.match("configure", mode: Mode("enable"))))
        #expect(error.kind == .incomplete)
        #expect(error.column == 10)
        #expect(failure(g.match("vrrp 5 priority", mode: Mode("config-if")))?.kind == .incomplete)
    }

    @Test func rangesBindIntegersAndRejectOutOfRange() throws {
        let (action, args) = try #require(command(g.match("vrrp 5 priority 200", mode: Mode("config-if"))))
        #expect(action == 9)
        #expect(args[Binding<Int>("vrid")] == 5)
        #expect(args[Binding<Int>("priority")] == 200)
        let error = try #require(failure(g.match("vrrp 256 priority 200", mode: Mode("config-if"))))
        #expect(error.kind == .unknown)
        #expect(error.column == 5)
        #expect(failure(g.match("vrrp 5 priority 255", mode: Mode("config-if")))?.column == 16)
        #expect(failure(g.match("vrrp 05x priority 1", mode: Mode("config-if")))?.kind == .unknown)
    }

    @Test func optionalPartsAndKeywords() throws {
        let (action, args) = try #require(command(g.match("show vrrp interface vlan10 5 json", mode: Mode("enable"))))
        #expect(action == 2)
        #expect(args[Binding<String>("ifname")] == "vlan10")
        #expect(args[Binding<Int>("vrid")] == 5)
        #expect(args[Flag("json")])
        let (_, bare) = try #require(command(g.match("show vrrp", mode: Mode("enable"))))
        #expect(bare.values.isEmpty)
        #expect(!bare[Flag("json")])
        let (_, onlyJSON) = try #require(command(g.match("sh vr j", mode: Mode("enable"))))
        #expect(onlyJSON[Flag("json")])
    }

    @Test func addressTypes() throws {
        let (_, v4) = try #require(command(g.match("vrrp 1 ip 10.0.0.254", mode: Mode("config-if"))))
        #expect(v4[Binding<IPv4Address>("vip")] == IPv4Address(10, 0, 0, 254))
        #expect(failure(g.match("vrrp 1 ip 10.0.0.256", mode: Mode("config-if")))?.kind == .unknown)
        #expect(failure(g.match("vrrp 1 ip 10.0.0", mode: Mode("config-if")))?.kind == .unknown)
        let (_, v6) = try #require(command(g.match("vrrp 1 ipv6 FE80::1", mode: Mode("config-if"))))
        #expect(v6[Binding<IPv6Address>("vip6")]?.description == "fe80::1")
        let (_, prefix) = try #require(command(g.match("ip address 10.1.2.3/24", mode: Mode("config-if"))))
        #expect(prefix[Binding<IPv4Prefix>("prefix")]?.description == "10.1.2.3/24")
        #expect(failure(g.match("ip address 10.1.2.3/33", mode: Mode("config-if")))?.kind == .unknown)
        let (_, colon) = try #require(command(g.match("mac address-table static 00:00:5E:00:01:05 vlan 10", mode: Mode("config"))))
        let (_, dotted) = try #require(command(g.match("mac address-table static 0000.5e00.0105 vlan 10", mode: Mode("config"))))
        #expect(colon[Binding<MACAddress>("mac")] == dotted[Binding<MACAddress>("mac")])
        #expect(colon[Binding<MACAddress>("mac")]?.description == "00:00:5e:00:01:05")
        #expect(failure(g.match("mac address-table static 0000.5e00.01 vlan 10", mode: Mode("config")))?.column == 25)
    }

    @Test func lineTakesTheRestVerbatim() throws {
        let (_, args) = try #require(command(g.match("description  uplink to  core  ", mode: Mode("config-if"))))
        #expect(args[Binding<String>("line")] == "uplink to  core")
    }

    @Test func choiceBindsTheKeyword() throws {
        let (_, args) = try #require(command(g.match("switchport mode tr", mode: Mode("config-if"))))
        #expect(args[Binding<String>("mode")] == "trunk")
    }

    @Test func noForms() throws {
        let (action, args) = try #require(command(g.match("no hostname", mode: Mode("config"))))
        #expect(action == 6)
        #expect(args.negated)
        let (_, withValue) = try #require(command(g.match("no hostname sw1", mode: Mode("config"))))
        #expect(withValue[Binding<String>("name")] == "sw1")
        let (_, priority) = try #require(command(g.match("no vrrp 5 priority", mode: Mode("config-if"))))
        #expect(priority.negated && priority[Binding<Int>("vrid")] == 5 && priority[Binding<Int>("priority")] == nil)
        // The custom no form: `no vrrp 5` removes the instance.
        let (instanceAction, instance) = try #require(command(g.match("no vrrp 5", mode: Mode("config-if"))))
        #expect(instanceAction == 8 && instance.negated)
        // A same-arguments no form needs its arguments.
        #expect(failure(g.match("no vrrp 5 ip", mode: Mode("config-if")))?.kind == .incomplete)
        #expect(failure(g.match("no ip address 10.0.0.1/24", mode: Mode("config-if")))?.kind == .unknown)
    }

    @Test func subcommandRunsInTargetMode() throws {
        guard case .command(let action, _, let mode) = g.match("do sh ver", mode: Mode("config-if")) else {
            Issue.record("do did not match")
            return
        }
        #expect(action == 1)
        #expect(mode == Mode("enable"))
        let error = try #require(failure(g.match("do show vrp", mode: Mode("config"))))
        #expect(error.column == 8)
    }

    @Test func specificValueBeatsWordAndExactBeatsPartial() throws {
        let g = Grammar()
        let m = Mode("m")
        try g.add("x WORD$w", help: ["X", "Word"], modes: [m], action: 1)
        try g.add("x (1-10)$n", help: ["X", "Number"], modes: [m], action: 2)
        try g.add("x route", help: ["X", "Route"], modes: [m], action: 3)
        try g.add("x rou-map", help: ["X", "Map"], modes: [m], action: 4)
        #expect(command(g.match("x 5", mode: m))?.0 == 2)
        #expect(command(g.match("x 50", mode: m))?.0 == 1)
        #expect(command(g.match("x route", mode: m))?.0 == 3)
        #expect(command(g.match("x hello", mode: m))?.0 == 1)
        #expect(failure(g.match("x rou", mode: m))?.kind == .ambiguous)
        #expect(command(g.match("x rout", mode: m))?.0 == 3)
    }

    @Test func declarationsAreChecked() {
        let g = Grammar()
        let m = Mode("m")
        #expect(throws: SyntaxError.self) { try g.add("a b", help: ["only one"], modes: [m], action: 0) }
        #expect(throws: SyntaxError.self) { try g.add("a [b", help: ["A", "B"], modes: [m], action: 0) }
        #expect(throws: SyntaxError.self) { try g.add("a LINE b", help: ["A", "L", "B"], modes: [m], action: 0) }
        #expect(throws: SyntaxError.self) {
            try g.add("dup", help: ["D"], modes: [m], action: 0)
            try g.add("dup", help: ["D"], modes: [m], action: 1)
        }
    }
}

@Suite struct HelpAndCompletionTests {
    let g: Grammar
    init() throws { g = try makeGrammar() }

    @Test func helpListsNextWords() throws {
        guard case .options(let items) = g.help("show ", mode: Mode("enable")) else {
            Issue.record("no options")
            return
        }
        #expect(items.map(\.word) == ["running-config", "version", "vrrp"])
        #expect(items.first?.help == "Running")
    }

    @Test func helpOnPartialWordAndCr() throws {
        guard case .options(let partial) = g.help("show v", mode: Mode("enable")) else {
            Issue.record("no options")
            return
        }
        #expect(partial.map(\.word) == ["version", "vrrp"])
        guard case .options(let vrrp) = g.help("show vrrp ", mode: Mode("enable")) else {
            Issue.record("no options")
            return
        }
        #expect(vrrp.first?.word == "<cr>")
        #expect(vrrp.map(\.word).contains("interface"))
        #expect(vrrp.map(\.word).contains("(1-255)"))
    }

    @Test func helpForValuesAndSubcommands() throws {
        guard case .options(let prio) = g.help("vrrp 5 priority ", mode: Mode("config-if")) else {
            Issue.record("no options")
            return
        }
        #expect(prio.map(\.word) == ["(1-254)"])
        guard case .options(let sub) = g.help("do show ", mode: Mode("config-if")) else {
            Issue.record("no options")
            return
        }
        #expect(sub.map(\.word) == ["running-config", "version", "vrrp"])
        guard case .failure(let error) = g.help("show bogus ", mode: Mode("enable")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .unknown)
    }

    @Test func completion() {
        #expect(g.complete("sh", mode: Mode("enable")) == ["show"])
        #expect(g.complete("show v", mode: Mode("enable")) == ["version", "vrrp"])
        #expect(g.complete("show vrrp ", mode: Mode("enable")) == ["interface", "json"])
        #expect(g.complete("interface e", mode: Mode("config")) { _ in ["eth1", "eth2", "vlan10"] } == ["eth1", "eth2"])
        #expect(g.complete("do conf", mode: Mode("config")) == ["configure"])
        #expect(g.complete("bogus ", mode: Mode("enable")).isEmpty)
    }
}

@Suite struct RenderingTests {
    @Test func renderFromBindings() throws {
        let s = try Syntax("vrrp (1-255)$vrid [version (2-3)$version]", help: ["V", "ID", "Version", "N"])
        #expect(s.render(Arguments(["vrid": .int(5)])) == "vrrp 5")
        #expect(s.render(Arguments(["vrid": .int(5), "version": .int(2)])) == "vrrp 5 version 2")
        #expect(s.render(Arguments([:])) == nil)
        let choice = try Syntax("switchport mode <access|trunk>$mode", help: ["S", "M", "A", "T"])
        #expect(choice.render(Arguments(["mode": .keyword("trunk")])) == "switchport mode trunk")
        let flag = try Syntax("ip address A.B.C.D/M$prefix [secondary]", help: ["I", "A", "P", "S"])
        let prefix = IPv4Prefix(parsing: "10.0.0.1/24")!
        #expect(flag.render(Arguments(["prefix": .ipv4Prefix(prefix)])) == "ip address 10.0.0.1/24")
        #expect(flag.render(Arguments(["prefix": .ipv4Prefix(prefix)], keywords: ["secondary"])) == "ip address 10.0.0.1/24 secondary")
    }

    /// Every rendered line must parse back to the same arguments.
    @Test func renderedLinesRoundTrip() throws {
        let (g, syntaxes) = try makeGrammarWithSyntaxes()
        let lines: [(String, Mode)] = [
            ("vrrp 5 version 2", Mode("config-if")), ("vrrp 5 priority 200", Mode("config-if")),
            ("vrrp 5 ip 10.0.0.254", Mode("config-if")), ("vrrp 7 ipv6 2001:db8::1", Mode("config-if")),
            ("hostname core-1", Mode("config")), ("mac address-table static 00:00:5e:00:01:05 vlan 10", Mode("config")),
            ("description to the core", Mode("config-if")), ("switchport mode access", Mode("config-if")),
        ]
        for (line, mode) in lines {
            let (action, args) = try #require(command(g.match(line, mode: mode)), "\(line)")
            let syntax = try #require(syntaxes[action])
            #expect(syntax.render(args) == line)
        }
    }
}

@Suite struct ValueTests {
    @Test func ipv4() {
        #expect(IPv4Address(parsing: "192.168.1.1")?.description == "192.168.1.1")
        #expect(IPv4Address(parsing: "1.2.3") == nil)
        #expect(IPv4Address(parsing: "1.2.3.4.5") == nil)
        #expect(IPv4Address(parsing: "01234.1.1.1") == nil)
        #expect(IPv4Address(parsing: "1..3.4") == nil)
        #expect(IPv4Address(parsing: " 1.2.3.4") == nil)
        #expect(IPv4Prefix(parsing: "10.0.0.0/8")?.contains(IPv4Address(10, 9, 8, 7)) == true)
        #expect(IPv4Prefix(parsing: "10.0.0.0/") == nil)
    }

    @Test func mac() {
        #expect(MACAddress(parsing: "aa:bb:cc:dd:ee:ff")?.dottedDescription == "aabb.ccdd.eeff")
        #expect(MACAddress(parsing: "AABB.CCDD.EEFF")?.description == "aa:bb:cc:dd:ee:ff")
        #expect(MACAddress(parsing: "aa:bb:cc:dd:ee") == nil)
        #expect(MACAddress(parsing: "aa:bb-cc:dd:ee:ff") == nil)
        #expect(MACAddress(parsing: "gg:bb:cc:dd:ee:ff") == nil)
        #expect(MACAddress(parsing: "01:00:5e:00:00:12")?.isMulticast == true)
    }

    @Test func interfaceNames() {
        #expect(TokenSpec.interfaceName("Eth1") == "eth1")
        #expect(TokenSpec.interfaceName("vlan10") == "vlan10")
        #expect(TokenSpec.interfaceName("lo") == "lo")
        #expect(TokenSpec.interfaceName("eth") == nil)
        #expect(TokenSpec.interfaceName("1eth") == nil)
        #expect(TokenSpec.interfaceName("eth1/") == nil)
    }
}

@Suite struct OutputFilterTests {
    @Test func includeExcludeBeginCount() throws {
        let text = "hostname a\n!\ninterface eth1\n description x\nexit\n"
        var include = try OutputFilter(parsing: " include ^inter|desc")
        #expect(include.feed(text) + include.finish() == "interface eth1\n description x\n")
        var exclude = try OutputFilter(parsing: "exclude !")
        #expect(exclude.feed(text) + exclude.finish() == "hostname a\ninterface eth1\n description x\nexit\n")
        var begin = try OutputFilter(parsing: "begin interface")
        #expect(begin.feed(text) + begin.finish() == "interface eth1\n description x\nexit\n")
        var count = try OutputFilter(parsing: "include e | count")
        #expect(count.feed(text) + count.finish() == "Count: 4 lines\n")
    }

    /// IOS's `section`: a matching line and the lines indented under it; a matching child line
    /// alone; the section ends at the next line indented no deeper.
    @Test func section() throws {
        let text = "hostname a\n!\ninterface vlan10\n ip address 10.0.0.1/24\n vrrp 10 ip 10.0.0.5\nexit\n!\n"
            + "interface vlan20\n description no group\nexit\n!\ninterface vlan30\n vrrp 30 ip 10.3.0.5\nexit\n"
        var byHeader = try OutputFilter(parsing: "section interface vlan(10|30)")
        #expect(byHeader.feed(text) + byHeader.finish()
            == "interface vlan10\n ip address 10.0.0.1/24\n vrrp 10 ip 10.0.0.5\ninterface vlan30\n vrrp 30 ip 10.3.0.5\n")
        var byChild = try OutputFilter(parsing: "section vrrp")
        #expect(byChild.feed(text) + byChild.finish() == " vrrp 10 ip 10.0.0.5\n vrrp 30 ip 10.3.0.5\n")
        var chained = try OutputFilter(parsing: "section ^interface | include vrrp|^interface")
        #expect(chained.feed(text) + chained.finish() == "interface vlan10\n vrrp 10 ip 10.0.0.5\ninterface vlan20\ninterface vlan30\n vrrp 30 ip 10.3.0.5\n")
    }

    @Test func chunkedInput() throws {
        var filter = try OutputFilter(parsing: "include eth")
        var out = filter.feed("interf")
        out += filter.feed("ace et")
        out += filter.feed("h1\nexit\nvlan")
        out += filter.finish()
        #expect(out == "interface eth1\n")
    }

    @Test func errors() {
        #expect(throws: FilterError.self) { try OutputFilter(parsing: "include [") }
        #expect(throws: FilterError.self) { try OutputFilter(parsing: "grep x") }
        #expect(throws: FilterError.self) { try OutputFilter(parsing: "") }
        let (command, filter) = OutputFilter.split("show running-config | include vrrp")
        #expect(command == "show running-config ")
        #expect(filter == " include vrrp")
    }
}

/// The typed bindings: a catalogue check refuses, when the commands are declared, a syntax whose
/// values a handler could not read as the types it asks for.
@Suite struct BindingCatalogueTests {
    enum Side: String, KeywordValue { case inside, outside }

    let catalogue: BindingCatalogue = try! BindingCatalogue([
        Binding<Int>("vrid"), Binding<IPv4Address>("vip"), Binding<Side>("side"), Binding<String>("ifname"), Flag("secondary"),
    ])

    func problem(_ syntax: String) -> String? {
        let help = Array(repeating: "h", count: 12)
        do {
            // The help count must match the token count; find it by trying.
            for count in 1...help.count {
                guard let parsed = try? Syntax(syntax, help: Array(help.prefix(count))) else { continue }
                _ = try catalogue.check(parsed)
                return nil
            }
            return "unparsable"
        } catch {
            return error.message
        }
    }

    @Test func matchingBindingsPassAndReportWhatTheyUse() throws {
        #expect(problem("vrrp (1-255)$vrid ip A.B.C.D$vip") == nil)
        #expect(problem("nat <inside|outside>$side") == nil)
        #expect(problem("interface IFNAME [secondary]") == nil)
        let used = try catalogue.check(try Syntax("vrrp (1-255)$vrid ip A.B.C.D$vip [secondary]", help: ["a", "b", "c", "d", "e"]))
        #expect(used == ["vrrp", "vrid", "ip", "vip", "secondary"])
    }

    @Test func aBindingOfTheWrongTypeIsRefused() {
        #expect(problem("vrrp A.B.C.D$vrid") == "$vrid reads Int but A.B.C.D is not a number range")
        #expect(problem("vrrp (1-255)$vip") == "$vip reads IPv4Address but (1-255) is not A.B.C.D")
        #expect(problem("vrrp (1-255)$ifname") == "$ifname reads String but (1-255) is not text")
    }

    @Test func aKeywordThatNamesNoValueIsRefused() {
        #expect(problem("nat <inside|outside|sideways>$side") == "$side reads Side but sideways names no Side")
    }

    @Test func aNameOutsideTheCatalogueIsRefused() {
        #expect(problem("vrrp (1-255)$vird") == "$vird ((1-255)) is not in the argument catalogue")
        // The default name of an unnamed range.
        #expect(problem("vrrp (1-255)") == "$number ((1-255)) is not in the argument catalogue")
    }

    @Test func aNameDeclaredTwiceIsRefused() {
        #expect(throws: SyntaxError.self) { try BindingCatalogue([Binding<Int>("vrid"), Binding<String>("vrid")]) }
    }

    @Test func typedReadsAndWrites() throws {
        let g = Grammar()
        let mode = Mode("m")
        try g.add("nat <inside|outside>$side (1-255)$vrid [secondary]", help: ["n", "i", "o", "v", "s"], modes: [mode], action: 1)
        guard case .command(_, let args, _) = g.match("nat out 7", mode: mode) else {
            Issue.record("no match")
            return
        }
        #expect(args[Binding<Side>("side")] == .outside)
        #expect(args[Binding<Int>("vrid")] == 7)
        #expect(args[Binding<IPv4Address>("vrid")] == nil)
        #expect(args[Flag("secondary")] == false)
        var built = Arguments()
        built[Binding<Side>("side")] = .inside
        built[Binding<Int>("vrid")] = 9
        built[Flag("secondary")] = true
        let syntax = try Syntax("nat <inside|outside>$side (1-255)$vrid [secondary]", help: ["n", "i", "o", "v", "s"])
        #expect(syntax.render(built) == "nat inside 9 secondary")
    }
}
