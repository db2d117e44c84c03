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
    /// `starts[firstAt[k]..<firstAt[k+1]]` begin with the two bytes `k` (big-endian):
    /// the first steps of every binary search, in one read.
    private(set) var firstAt = [UInt32](repeating: 0, count: 65537)
    /// The first eight bytes (big-endian) of every `sampleStep`-th suffix, in
    /// order: a binary search over them reads one array, not starts and text.
    private(set) var sampleKeys: [UInt64] = []
    static let sampleStep = 16

    static let terminator: UInt8 = 0xFF
    /// Words of one name that start keys: the first this many. Sorting and
    /// placing a name's suffixes costs their count times its length, so a
    /// tag of a million words (a crafted file) would make a load quadratic;
    /// past this many (no real title has them) later words are not keys.
    static let maxKeyWords = 256

    init() {}

    /// An index as a snapshot held it.
    init(text: [UInt8], starts: [UInt32], elements: [UInt32], firstAt: [UInt32], sampleKeys: [UInt64]) {
        self.text = text; self.starts = starts; self.elements = elements; self.firstAt = firstAt; self.sampleKeys = sampleKeys
    }

    /// Builds the index over the names of elements `range`, given as spans of `arena`.
    init(_ range: Range<Int>, arena: [UInt8], span: (Int) -> (Int, Int)) {
        let count = range.count
        var text: [UInt8] = []
        var starts: [UInt32] = []
        // While building, each block of text (a name's whole text, or its later
        // words joined) is followed, after its terminator, by its ordinal and
        // its element (four bytes each): the sort moves the starts themselves,
        // and a suffix finds its place without those bytes and its element by
        // reading on to its terminator, in the cache line it reads anyway (a
        // table of elements by block cost a cache miss per suffix: seconds at
        // ten million songs). Removed once sorted.
        var blocks = 0
        let bytes = range.reduce(0) { $0 + span($1).1 }
        text.reserveCapacity(bytes + bytes / 8 + 13 * count + 8)
        starts.reserveCapacity(count * 3)
        var term: [UInt8] = []
        var words: [Range<Int>] = []
        arena.withUnsafeBufferPointer { a in
            for i in range {
                let (s, l) = span(i)
                searchableBytes(UnsafeBufferPointer(rebasing: a[s..<(s + l)]), into: &term, words: &words)
                if words.isEmpty { continue }
                assert(!term.contains(Self.terminator), "searchable text is UTF-8: no 0xFF, which ends a block")
                // Starts are 32 bits: what this name can add (its text twice, two
                // ends) must fit, or the load stops saying so.
                OffsetLimit.check(text.count + 2 * term.count + 2 * (1 + Self.blockTail), "search texts")
                let e = UInt32(i)
                let whole = text.count
                text.append(contentsOf: term)
                Self.endBlock(&text, &blocks, e)
                starts.append(UInt32(whole))
                if words.count == 1 { continue }
                var single = true
                for w in 1..<words.count where words[w].lowerBound != words[w - 1].upperBound + 1 || term[words[w - 1].upperBound] != 0x20 {
                    single = false
                    break
                }
                if single {
                    // The later words' suffixes are already in the whole text.
                    for w in words[1..<min(words.count, Self.maxKeyWords)] { starts.append(UInt32(whole + w.lowerBound)) }
                } else {
                    // Words 2…n joined by single spaces, a suffix per word (of the first `maxKeyWords`).
                    for (k, w) in words.dropFirst().enumerated() {
                        if k > 0 { text.append(0x20) }
                        if k + 1 < Self.maxKeyWords { starts.append(UInt32(text.count)) }
                        text.append(contentsOf: term[w])
                    }
                    Self.endBlock(&text, &blocks, e)
                }
            }
        }
        // Room to read eight bytes at any suffix (see `matchRanges`).
        text.append(contentsOf: repeatElement(Self.terminator, count: 8))
        // Sorting keeps suffixes with the same first two bytes together, so the
        // counts per two-byte prefix give where each group starts.
        var firstAt = [UInt32](repeating: 0, count: 65537)
        for st in starts { firstAt[(Int(text[Int(st)]) << 8 | Int(text[Int(st) + 1])) + 1] += 1 }
        for k in 0..<65536 { firstAt[k + 1] += firstAt[k] }
        self.firstAt = firstAt
        elements = Self.sortEntries(&text, &starts, blocks: blocks)
        // A copy of its own size: the ordinals' room would stay allocated (and resident).
        self.text = text.withUnsafeBufferPointer { Array($0) }
        text = []
        self.starts = starts
        sampleKeys = self.text.withUnsafeBufferPointer { t in
            stride(from: 0, to: self.starts.count, by: Self.sampleStep).map { i in
                UInt64(bigEndian: UnsafeRawPointer(t.baseAddress! + Int(self.starts[i])).loadUnaligned(as: UInt64.self))
            }
        }
    }

    /// Bytes after a block's terminator while building: its ordinal and its element.
    private static let blockTail = 8

    /// The terminator, then the block's ordinal and its element (little-endian).
    @inline(__always)
    private static func endBlock(_ text: inout [UInt8], _ blocks: inout Int, _ e: UInt32) {
        let b = UInt32(blocks)
        blocks += 1
        text.append(terminator)
        text.append(UInt8(truncatingIfNeeded: b)); text.append(UInt8(truncatingIfNeeded: b >> 8))
        text.append(UInt8(truncatingIfNeeded: b >> 16)); text.append(UInt8(truncatingIfNeeded: b >> 24))
        text.append(UInt8(truncatingIfNeeded: e)); text.append(UInt8(truncatingIfNeeded: e >> 8))
        text.append(UInt8(truncatingIfNeeded: e >> 16)); text.append(UInt8(truncatingIfNeeded: e >> 24))
    }

    /// Sorts the starts by the bytes that follow them (stable: equal suffixes
    /// stay in text order), then takes the blocks' ordinals out of the text and
    /// moves each start back by those before it. Returns each suffix's element.
    private static func sortEntries(_ text: inout [UInt8], _ starts: inout [UInt32], blocks: Int) -> [UInt32] {
        var elements: [UInt32] = []
        text.withUnsafeMutableBufferPointer { t in
            let out = t.baseAddress!, base = UnsafePointer(out)
            sortStrings(&starts, chunk: { item, depth in
                // The 0xFF terminator sorts after every UTF-8 byte and ends the
                // string: the bytes after it count as zeros. Eight bytes at once
                // (the text ends with eight terminators, so the load stays inside).
                let w = UInt64(littleEndian: UnsafeRawPointer(base + Int(item) + depth * 8).loadUnaligned(as: UInt64.self))
                let first = firstTerminator(littleEndian: w)
                let kept = first >= 7 ? UInt64.max : (UInt64(1) << UInt64(8 * (first + 1))) - 1
                return (w & kept).byteSwapped
            }, ended: { _, _, key in firstTerminator(littleEndian: key) < 8 })  // the chunk holds its terminator
            // Where the terminator at or after `at` is (none of a suffix's bytes is 0xFF).
            @inline(__always) func terminatorIndex(from at: Int) -> Int {
                var p = at
                while true {
                    let f = firstTerminator(littleEndian: UInt64(littleEndian: UnsafeRawPointer(base + p).loadUnaligned(as: UInt64.self)))
                    if f < 8 { return p + f }
                    p += 8
                }
            }
            elements = [UInt32](repeating: 0, count: starts.count)  // after the sort: not beside its scratch
            starts.withUnsafeMutableBufferPointer { st in
                for i in 0..<st.count {
                    let end = terminatorIndex(from: Int(st[i]))
                    let b = Int(UInt32(littleEndian: UnsafeRawPointer(base + end + 1).loadUnaligned(as: UInt32.self)))
                    elements[i] = UInt32(littleEndian: UnsafeRawPointer(base + end + 5).loadUnaligned(as: UInt32.self))
                    st[i] -= UInt32(blockTail * b)
                }
            }
            // The text without the tails: each block moves down a tail per block before it.
            var from = 0, to = 0
            for _ in 0..<blocks {
                let end = terminatorIndex(from: from)
                if to != from { (out + to).update(from: out + from, count: end + 1 - from) }
                to += end + 1 - from
                from = end + 1 + blockTail
            }
            (out + to).update(from: out + from, count: t.count - from)  // the eight final terminators
        }
        text.removeLast(blockTail * blocks)
        return elements
    }

    /// The range of `starts` whose suffixes begin with `query` (already searchable).
    private func matchRange(_ query: [UInt8]) -> Range<Int> { Self.matchRanges(query, in: [self])[0] }

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

    /// The element of every key in `range` (from `matchRanges`), in key order;
    /// an element may repeat.
    func matches(in range: Range<Int>) -> ArraySlice<UInt32> { elements[range] }

    /// The ranges of `starts` whose suffixes begin with `query`, in each of
    /// `indexes`. The binary searches run in lockstep without branches on the
    /// data, so the cache misses of one step in every index overlap instead of
    /// following one another.
    static func matchRanges(_ query: [UInt8], in indexes: [SearchIndex]) -> [Range<Int>] {
        if query.isEmpty { return indexes.map { _ in 0..<0 } }
        let n = query.count
        // The query's first eight bytes as a big-endian key, and the mask of its length.
        var qk: UInt64 = 0
        for i in 0..<8 { qk = qk << 8 | UInt64(i < n ? query[i] : 0) }
        let mask: UInt64 = n >= 8 ? ~0 : ~(~0 >> UInt64(8 * n))
        return query.withUnsafeBufferPointer { q in
            withSearchPointers(indexes) { ix in
                // Whether the suffix at `p` sorts before the query (or, with
                // `orEqual`, also when it starts with it). Free of branches on
                // the data unless eight bytes tie on a longer query.
                @inline(__always) func before(_ p: UnsafePointer<UInt8>, orEqual: Bool) -> Bool {
                    let k = UInt64(bigEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) & mask
                    var equal = orEqual
                    if n > 8 && k == qk {
                        var i = 8
                        while i < n && p[i] == q[i] { i += 1 }
                        if i < n { return p[i] < q[i] }
                    } else if k != qk {
                        equal = false
                    }
                    return (k < qk) != equal  // never both: k < qk implies k != qk
                }
                // Searches 2i and 2i+1 in index i: the first suffix not before the
                // query, and the first after it. Each step takes one step in every
                // search that is not done; `right(j, at)` tells search j to go past `at`.
                let m = 2 * ix.count
                return withUnsafeTemporaryAllocation(of: Int.self, capacity: 6 * m) { scratch in
                let base = UnsafeMutableBufferPointer(rebasing: scratch[0..<m])
                let len = UnsafeMutableBufferPointer(rebasing: scratch[m..<2 * m])
                @inline(__always) func lockstep(_ right: (Int, Int) -> Bool) {
                    var active = true
                    while active {
                        active = false
                        for j in 0..<m where len[j] > 1 {
                            let half = len[j] / 2
                            base[j] = right(j, base[j] + half) ? base[j] + half : base[j]
                            len[j] -= half
                            active = active || len[j] > 1
                        }
                    }
                }
                /// Where search j ends: past `base` when that one still sorts before.
                @inline(__always) func finish(_ j: Int, _ right: (Int, Int) -> Bool) -> Int {
                    len[j] == 0 ? base[j] : base[j] + (right(j, base[j]) ? 1 : 0)
                }
                // Start from the group of suffixes that share the query's first one or two bytes.
                let first = Int(q[0]) << 8
                let g0: Int = n >= 2 ? first | Int(q[1]) : first
                let g1: Int = n >= 2 ? g0 + 1 : first + 256
                for j in 0..<m {
                    base[j] = Int(ix[j / 2].firstAt[g0])
                    len[j] = Int(ix[j / 2].firstAt[g1]) - base[j]
                }
                let step = Self.sampleStep
                if n <= 8 {
                    // Eight bytes decide a short query, so the sampled keys narrow
                    // each search to the `step` suffixes between two samples.
                    // Each search's suffix range and sample range, 4 values from 2m on.
                    let bounds = UnsafeMutableBufferPointer(rebasing: scratch[2 * m..<6 * m])
                    for j in 0..<m {
                        let lo = base[j], hi = lo + len[j]
                        let kLo = (lo + step - 1) / step, kHi = (hi + step - 1) / step
                        bounds[4 * j] = lo; bounds[4 * j + 1] = hi
                        bounds[4 * j + 2] = kLo; bounds[4 * j + 3] = kHi
                        (base[j], len[j]) = (kLo, kHi - kLo)
                    }
                    let sampleRight = { (j: Int, k: Int) -> Bool in
                        let key = ix[j / 2].sampleKeys[k] & mask
                        return j & 1 == 0 ? key < qk : key <= qk
                    }
                    lockstep(sampleRight)
                    for j in 0..<m {
                        let lo = bounds[4 * j], hi = bounds[4 * j + 1]
                        let kLo = bounds[4 * j + 2], kHi = bounds[4 * j + 3]
                        let k = finish(j, sampleRight)
                        let start = k == kLo ? lo : max(lo, (k - 1) * step + 1)
                        let end = k == kHi ? hi : min(hi, k * step)
                        (base[j], len[j]) = (start, end - start)
                    }
                }
                let textRight = { (j: Int, at: Int) -> Bool in
                    before(ix[j / 2].text + Int(ix[j / 2].starts[at]), orEqual: j & 1 == 1)
                }
                lockstep(textRight)
                return (0..<ix.count).map { i in
                    let lo = finish(2 * i, textRight), hi = finish(2 * i + 1, textRight)
                    return lo..<max(lo, hi)
                }
                }
            }
        }
    }

    typealias SearchPointers = (text: UnsafePointer<UInt8>, starts: UnsafePointer<UInt32>, firstAt: UnsafePointer<UInt32>,
                                sampleKeys: UnsafePointer<UInt64>)

    /// Runs `body` with the text, start and group pointers of every index.
    private static func withSearchPointers<R>(_ indexes: [SearchIndex], _ body: (UnsafeBufferPointer<SearchPointers>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: SearchPointers.self, capacity: indexes.count) { table in
            func fill(_ i: Int) -> R {
                if i == indexes.count { return body(UnsafeBufferPointer(table)) }
                return indexes[i].text.withUnsafeBufferPointer { t in
                    indexes[i].starts.withUnsafeBufferPointer { s in
                        indexes[i].firstAt.withUnsafeBufferPointer { f in
                            indexes[i].sampleKeys.withUnsafeBufferPointer { k in
                                // An empty index has empty groups: its searches read nothing else.
                                table.initializeElement(at: i, to: (t.baseAddress ?? UnsafePointer(bitPattern: 1)!,
                                                                    s.baseAddress ?? UnsafePointer(bitPattern: 4)!, f.baseAddress!,
                                                                    k.baseAddress ?? UnsafePointer(bitPattern: 8)!))
                                return fill(i + 1)
                            }
                        }
                    }
                }
            }
            return fill(0)
        }
    }

    var memoryBytes: Int {
        text.capacity + starts.capacity * 4 + elements.capacity * 4 + firstAt.capacity * 4 + sampleKeys.capacity * 8
    }
}

/// The index of the first 0xFF byte of eight (first in memory = least
/// significant), 8 when there is none. Exact: the borrow of the zero-byte
/// test only marks bytes above the first match.
@inline(__always)
func firstTerminator(littleEndian w: UInt64) -> Int {
    let x = ~w
    let t = (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080
    return t == 0 ? 8 : t.trailingZeroBitCount / 8
}

func uniqueSorted(_ a: [UInt32]) -> [UInt32] {
    var out: [UInt32] = []
    out.reserveCapacity(a.count)
    for x in a where out.last != x { out.append(x) }
    return out
}
