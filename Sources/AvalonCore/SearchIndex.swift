/// Prefix search over the old server's search keys, as one sorted table of
/// suffixes into one byte arena (no node objects, no per-item allocations).
///
/// The keys of a name are its searchable text, its words and its trailing runs
/// of words. Every word is a prefix of the trailing run it starts, and the
/// first word a prefix of the whole text, so it is enough to index the whole
/// text plus, for words 2…n, the single-spaced text starting at that word:
/// a query matches when it is a byte prefix of one of those suffixes.
struct SearchIndex: Sendable {
    /// Searchable texts, each followed by 0xFF (never a UTF-8 byte).
    private(set) var text: [UInt8] = []
    /// Suffix starts into `text`, sorted by the bytes that follow them.
    private(set) var starts: [UInt32] = []
    /// The element each suffix belongs to, parallel to `starts`.
    private(set) var elements: [UInt32] = []

    static let terminator: UInt8 = 0xFF

    init() {}

    /// Builds the index over the names of elements `range`, given as spans of `arena`.
    init(_ range: Range<Int>, arena: [UInt8], span: (Int) -> (Int, Int)) {
        let count = range.count
        var text: [UInt8] = []
        var starts: [UInt32] = []
        var elems: [UInt32] = []
        text.reserveCapacity(arena.count + count)
        starts.reserveCapacity(count * 3)
        elems.reserveCapacity(count * 3)
        var term: [UInt8] = []
        var words: [Range<Int>] = []
        arena.withUnsafeBufferPointer { a in
            for i in range {
                let (s, l) = span(i)
                searchableBytes(UnsafeBufferPointer(rebasing: a[s..<(s + l)]), into: &term, words: &words)
                if words.isEmpty { continue }
                let e = UInt32(i)
                let whole = text.count
                text.append(contentsOf: term)
                text.append(Self.terminator)
                starts.append(UInt32(whole)); elems.append(e)
                if words.count == 1 { continue }
                var single = true
                for w in 1..<words.count where words[w].lowerBound != words[w - 1].upperBound + 1 || term[words[w - 1].upperBound] != 0x20 {
                    single = false
                    break
                }
                if single {
                    // The later words' suffixes are already in the whole text.
                    for w in words.dropFirst() { starts.append(UInt32(whole + w.lowerBound)); elems.append(e) }
                } else {
                    // Words 2…n joined by single spaces, a suffix per word.
                    for w in words.dropFirst() {
                        if text.last != Self.terminator { text.append(0x20) }
                        starts.append(UInt32(text.count)); elems.append(e)
                        text.append(contentsOf: term[w])
                    }
                    text.append(Self.terminator)
                }
            }
        }
        self.text = text
        self.starts = starts
        self.elements = elems
        sortEntries()
    }

    private mutating func sortEntries() {
        var order = (0..<UInt32(starts.count)).map { $0 }
        let starts = self.starts
        text.withUnsafeBufferPointer { t in
            let base = t.baseAddress!
            sortStrings(&order) { item, depth in
                // The 0xFF terminator sorts after every UTF-8 byte and ends the string.
                let p = base + Int(starts[Int(item)]) + depth * 8
                var k: UInt64 = 0
                var ended = false
                for j in 0..<8 {
                    let b: UInt8 = ended ? 0 : p[j]
                    if b == Self.terminator { ended = true }
                    k = k << 8 | UInt64(b)
                }
                return (k, ended)
            }
        }
        self.starts = order.map { starts[Int($0)] }
        elements = order.map { elements[Int($0)] }
    }

    /// The range of `starts` whose suffixes begin with `query` (already searchable).
    private func matchRange(_ query: [UInt8]) -> Range<Int> {
        if query.isEmpty || starts.isEmpty { return 0..<0 }
        return text.withUnsafeBufferPointer { t in
            query.withUnsafeBufferPointer { q in
                let base = t.baseAddress!
                // <0: the suffix sorts before the query; 0: the query is its prefix.
                func cmp(_ s: UInt32) -> Int {
                    let p = base + Int(s)
                    for i in 0..<q.count {
                        let x = p[i]
                        if x != q[i] { return x < q[i] ? -1 : 1 }
                    }
                    return 0
                }
                var lo = 0, hi = starts.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if cmp(starts[mid]) < 0 { lo = mid + 1 } else { hi = mid }
                }
                var end = lo
                hi = starts.count
                while end < hi {
                    let mid = (end + hi) / 2
                    if cmp(starts[mid]) == 0 { end = mid + 1 } else { hi = mid }
                }
                return lo..<end
            }
        }
    }

    /// Elements with a key that `query` is a prefix of, ascending, without
    /// repeats. An empty query matches nothing.
    func search(_ query: [UInt8]) -> [UInt32] {
        var out = Array(elements[matchRange(query)])
        if out.count > 1 {
            out.sort()
            out = uniqueSorted(out)
        }
        return out
    }

    /// The element of every matching key, in key order (an element may repeat).
    func matches(_ query: [UInt8]) -> ArraySlice<UInt32> { elements[matchRange(query)] }

    /// Adds the matching elements to `set`.
    func search(_ query: [UInt8], into set: inout Bitmap) {
        for i in matchRange(query) { set.insert(elements[i]) }
    }

    var memoryBytes: Int { text.capacity + starts.capacity * 4 + elements.capacity * 4 }
}

func uniqueSorted(_ a: [UInt32]) -> [UInt32] {
    var out: [UInt32] = []
    out.reserveCapacity(a.count)
    for x in a where out.last != x { out.append(x) }
    return out
}
