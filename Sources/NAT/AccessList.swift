import HashTreeCollections
import NetTypes

/// One line of a standard access list: permit or deny a source.
public struct AccessListEntry: Hashable, Sendable, CustomStringConvertible {
    public enum Action: String, Sendable { case permit, deny }
    public enum Match: Hashable, Sendable {
        case any
        case host(IPv4Address)
        /// Address and wildcard bits (1 = don't care); the address has no bits under the wildcard.
        case wildcard(IPv4Address, IPv4Address)
    }

    public var action: Action
    public var match: Match

    public init(action: Action, match: Match) {
        self.action = action
        switch match {
        case .wildcard(let address, let wild) where wild.value == 0:
            self.match = .host(address)
        case .wildcard(_, let wild) where wild.value == UInt32.max:
            self.match = .any
        case .wildcard(let address, let wild):
            self.match = .wildcard(IPv4Address(address.value & ~wild.value), wild)
        default:
            self.match = match
        }
    }

    public func matches(_ address: IPv4Address) -> Bool {
        switch match {
        case .any: return true
        case .host(let host): return host == address
        case .wildcard(let base, let wild): return address.value & ~wild.value == base.value
        }
    }

    /// The source part as IOS prints it: `any`, `10.0.0.5`, `10.0.0.0 0.0.0.255`.
    public var sourceText: String {
        switch match {
        case .any: return "any"
        case .host(let host): return "\(host)"
        case .wildcard(let base, let wild): return "\(base) \(wild)"
        }
    }

    public var description: String { "\(action.rawValue) \(sourceText)" }
}

/// A standard access list: its lines in the order typed, each line once.
///
/// A persistent value: appending, removing and looking up a line cost O(log n) however long the
/// list is and however many copies of the configuration share it (a 20,000-line list is built in
/// time proportional to its lines, not to their square). `entries` gives the ordered lines.
public struct AccessList: Sendable, Equatable, ExpressibleByArrayLiteral {
    private var bySequence: TreeDictionary<Int64, AccessListEntry> = [:]
    private var sequenceOf: TreeDictionary<AccessListEntry, Int64> = [:]
    private var nextSequence: Int64 = 0
    private var firstSequence: Int64 = 0

    public init() {}

    public init(_ entries: [AccessListEntry]) {
        for entry in entries { append(entry) }
    }

    public init(arrayLiteral elements: AccessListEntry...) { self.init(elements) }

    public var count: Int { bySequence.count }
    public var isEmpty: Bool { bySequence.isEmpty }

    public func contains(_ entry: AccessListEntry) -> Bool { sequenceOf[entry] != nil }

    /// The lines in order (O(n log n): for evaluation caches and printing, not per packet).
    public var entries: [AccessListEntry] {
        bySequence.sorted { $0.key < $1.key }.map(\.value)
    }

    /// The first line matching `predicate`, in order.
    public func first(where predicate: (AccessListEntry) -> Bool) -> AccessListEntry? {
        entries.first(where: predicate)
    }

    /// Adds a line at the end; a line already there stays where it is. True if added.
    @discardableResult
    public mutating func append(_ entry: AccessListEntry) -> Bool {
        guard sequenceOf[entry] == nil else { return false }
        bySequence[nextSequence] = entry
        sequenceOf[entry] = nextSequence
        nextSequence += 1
        return true
    }

    /// Adds a line before every other (tests and tools; the CLI appends).
    public mutating func prepend(_ entry: AccessListEntry) {
        guard sequenceOf[entry] == nil else { return }
        firstSequence -= 1
        bySequence[firstSequence] = entry
        sequenceOf[entry] = firstSequence
    }

    /// Removes a line; true if it was there.
    @discardableResult
    public mutating func remove(_ entry: AccessListEntry) -> Bool {
        guard let sequence = sequenceOf.removeValue(forKey: entry) else { return false }
        bySequence[sequence] = nil
        return true
    }

    public static func == (a: AccessList, b: AccessList) -> Bool {
        a.count == b.count && a.entries == b.entries
    }
}

/// What an access list says about a source, and which line said it.
public struct AccessListVerdict: Equatable, Sendable {
    public var permitted: Bool
    /// 1-based line number; nil for the implicit deny at the end.
    public var line: Int?
    public var entry: AccessListEntry?

    public var description: String {
        guard let line, let entry else { return "no line matched: implicit deny" }
        return "line \(line) \"\(entry)\": \(entry.action.rawValue)"
    }
}

public enum AccessLists {
    /// First match wins; no match (or no list) denies.
    public static func evaluate(_ entries: [AccessListEntry]?, _ address: IPv4Address) -> AccessListVerdict {
        for (index, entry) in (entries ?? []).enumerated() where entry.matches(address) {
            return AccessListVerdict(permitted: entry.action == .permit, line: index + 1, entry: entry)
        }
        return AccessListVerdict(permitted: false, line: nil, entry: nil)
    }
}
