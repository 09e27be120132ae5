import CLI

/// The running configuration: everything `show running-config` prints and `write file` saves.
///
/// A value type owned by the control plane. Commands edit it; subsystems reconcile against it;
/// a reload builds a new one from the file and swaps it in.
public struct RunningConfig: Equatable, Sendable {
    public static let defaultHostname = "switch"

    public var hostname = RunningConfig.defaultHostname
    /// The enable secret as a Cisco type 9 (scrypt) string, never the password itself.
    public var enableSecret: String?
    public var interfaces: [String: InterfaceConfig] = [:]

    public init() {}

    /// Interfaces in the order people expect (`eth2` before `eth10`).
    public var sortedInterfaceNames: [String] {
        interfaces.keys.sorted(by: InterfaceName.precedes)
    }
}

/// Per-interface configuration (`interface NAME` blocks).
public struct InterfaceConfig: Equatable, Sendable {
    public var description: String?
    public var shutdown = false
    public var addresses: [IPv4Prefix] = []

    public init() {}
}

public enum InterfaceName {
    /// Natural order: by the alphabetic stem, then numerically by each number in the name.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        let ka = key(a)
        let kb = key(b)
        if ka.stem != kb.stem { return ka.stem < kb.stem }
        if ka.numbers != kb.numbers { return ka.numbers.lexicographicallyPrecedes(kb.numbers) }
        return a < b
    }

    static func key(_ name: String) -> (stem: String, numbers: [Int]) {
        let stem = String(name.prefix { !$0.isNumber })
        let numbers = name.dropFirst(stem.count).split { !$0.isNumber }.compactMap { Int($0) }
        return (stem, numbers)
    }
}
