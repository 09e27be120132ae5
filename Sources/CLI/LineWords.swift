/// A command line split into words, each remembering its column so that error markers can point
/// at it and `LINE` tokens can take the rest of the line verbatim.
public struct LineWords: Sendable {
    public struct Word: Sendable {
        public var text: Substring
        /// Column (in characters) of the word's first character.
        public var column: Int
    }

    public let line: String
    public let words: [Word]
    /// True when the line ends in whitespace (or is empty): the next word has not been started.
    public let endsWithSpace: Bool

    public init(_ line: String) {
        self.line = line
        var words: [Word] = []
        var column = 0
        var start: String.Index?
        var startColumn = 0
        var index = line.startIndex
        while index < line.endIndex {
            let c = line[index]
            if c == " " || c == "\t" {
                if let s = start {
                    words.append(Word(text: line[s..<index], column: startColumn))
                    start = nil
                }
            } else if start == nil {
                start = index
                startColumn = column
            }
            column += 1
            index = line.index(after: index)
        }
        if let s = start { words.append(Word(text: line[s...], column: startColumn)) }
        self.words = words
        endsWithSpace = start == nil
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
        return last.column + last.text.count + 1
    }
}
