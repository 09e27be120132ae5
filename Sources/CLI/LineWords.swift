/// A command line split into words, each remembering where it starts so that error markers can
/// point at it and `LINE` tokens can take the rest of the line verbatim.
///
/// Splitting works on UTF-8 bytes (space and tab are ASCII, so this is exact); columns in
/// characters are computed only when an error marker needs one.
public struct LineWords: Sendable {
    public struct Word: Sendable {
        public var text: Substring
    }

    public let line: String
    public let words: [Word]
    /// True when the line ends in whitespace (or is empty): the next word has not been started.
    public let endsWithSpace: Bool

    public init(_ line: String) {
        self.line = line
        var words: [Word] = []
        let utf8 = line.utf8
        var start: String.Index?
        var index = utf8.startIndex
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == 0x20 || byte == 0x09 {
                if let s = start {
                    words.append(Word(text: line[s..<index]))
                    start = nil
                }
            } else if start == nil {
                start = index
            }
            index = utf8.index(after: index)
        }
        if let s = start { words.append(Word(text: line[s...])) }
        self.words = words
        endsWithSpace = start == nil
    }

    /// Column (in characters) where word `index` starts.
    public func column(of index: Int) -> Int {
        line.distance(from: line.startIndex, to: words[index].text.startIndex)
    }

    /// The line from word `index` to the end, trailing whitespace removed.
    public func rest(from index: Int) -> Substring {
        guard index < words.count else { return "" }
        var rest = line[words[index].text.startIndex...]
        while let last = rest.last, last == " " || last == "\t" { rest = rest.dropLast() }
        return rest
    }

    /// The column just after the last word (where a missing word would go).
    public var endColumn: Int {
        guard let last = words.last else { return 0 }
        return line.distance(from: line.startIndex, to: last.text.endIndex) + 1
    }
}
