/// A set of VLAN ids (1-4094) as a bitmap, with Cisco's list syntax: `1,10-20,30`.
public struct VLANSet: Equatable, Hashable, Sendable, CustomStringConvertible {
    private var words: [UInt64]

    public init() { words = Array(repeating: 0, count: 64) }

    public static let none = VLANSet()
    public static let all: VLANSet = {
        var set = VLANSet()
        for vlan in 1...4094 { set.insert(UInt16(vlan)) }
        return set
    }()

    /// From the data path's 64-word bitmap.
    init(words pointer: UnsafePointer<UInt64>) {
        words = (0..<64).map { pointer[$0] }
    }

    public init<S: Sequence>(_ vlans: S) where S.Element == UInt16 {
        self.init()
        for vlan in vlans { insert(vlan) }
    }

    /// Parses `1,10-20,30` (spaces allowed around commas); nil when malformed or out of range.
    public init?(parsing text: String) {
        self.init()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingSpaces
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                let low = UInt16(bounds[0]), let high = UInt16(bounds.count == 2 ? bounds[1] : bounds[0]),
                low >= 1, high <= 4094, low <= high
            else { return nil }
            for vlan in low...high { insert(vlan) }
        }
    }

    @inline(__always)
    public func contains(_ vlan: UInt16) -> Bool {
        vlan < 4096 && words[Int(vlan >> 6)] & (1 << UInt64(vlan & 63)) != 0
    }

    public mutating func insert(_ vlan: UInt16) {
        guard vlan >= 1 && vlan <= 4094 else { return }
        words[Int(vlan >> 6)] |= 1 << UInt64(vlan & 63)
    }

    public mutating func remove(_ vlan: UInt16) {
        guard vlan < 4096 else { return }
        words[Int(vlan >> 6)] &= ~(1 << UInt64(vlan & 63))
    }

    public func union(_ other: VLANSet) -> VLANSet {
        var out = self
        for index in out.words.indices { out.words[index] |= other.words[index] }
        return out
    }

    public func subtracting(_ other: VLANSet) -> VLANSet {
        var out = self
        for index in out.words.indices { out.words[index] &= ~other.words[index] }
        return out
    }

    /// Writes the 64-word bitmap (bit v = VLAN v) for the data path.
    func copyWords(to target: UnsafeMutablePointer<UInt64>) {
        for (index, word) in words.enumerated() { target[index] = word }
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
    public var isAll: Bool { self == VLANSet.all }

    public var members: [UInt16] { (1...4094).map { UInt16($0) }.filter { contains($0) } }

    /// `1,10-20,30`; `none` when empty, `1-4094` for all.
    public var description: String {
        var parts: [String] = []
        var start: UInt16?
        var previous: UInt16 = 0
        for vlan in members {
            if let s = start, vlan == previous + 1 {
                previous = vlan
                _ = s
                continue
            }
            if let s = start { parts.append(s == previous ? "\(s)" : "\(s)-\(previous)") }
            start = vlan
            previous = vlan
        }
        if let s = start { parts.append(s == previous ? "\(s)" : "\(s)-\(previous)") }
        return parts.isEmpty ? "none" : parts.joined(separator: ",")
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
