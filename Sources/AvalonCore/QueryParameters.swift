/// Query-string parameters as the old server (Werkzeug) read them: pairs split
/// on `&`, `+` as space, percent escapes decoded, invalid UTF-8 replaced, and
/// the first value of a repeated key kept.
public struct QueryParameters: Sendable {
    /// The parameters the API reads. They are recognised while parsing, so
    /// that looking one up costs a shift, not a comparison with every key.
    public enum Key: Int, Sendable {
        case query, limit, offset, order, direction, album, artist, genre, albumID, artistID, genreID, secret

        static let names: [StaticString] = ["query", "limit", "offset", "order", "direction", "album", "artist", "genre",
                                            "album_id", "artist_id", "genre_id", "secret"]
        public var name: String { Self.names[rawValue].description }

        /// The key spelled by `bytes`, if the API reads it.
        init?(_ bytes: UnsafeBufferPointer<UInt8>) {
            guard bytes.count >= 5 && bytes.count <= 9 else { return nil }
            for k in Self.names.indices where Self.names[k].utf8CodeUnitCount == bytes.count {
                if QueryParameters.equal(Self.names[k].utf8Start, bytes.baseAddress!, bytes.count) {
                    self.init(rawValue: k)
                    return
                }
            }
            return nil
        }
    }

    /// The query string's bytes, each key and value decoded where it stands
    /// (a decoded escape is shorter than the escape, so plain ones cost no
    /// copy); one that decodes to invalid UTF-8 is repaired, which can
    /// lengthen it, and appended instead. Keys and values are valid UTF-8.
    private var text: [UInt8] = []
    private struct Span {
        var key: Int, keyEnd: Int, value: Int, end: Int
    }
    /// Each parameter, first occurrence only, as ranges of `text`. A request
    /// has a handful, so a linear scan beats hashing every key; and plain
    /// offsets cost nothing to free, where an array of Strings costs a release each.
    private var spans: [Span] = []
    /// Past `hashedFrom` parameters, an open-addressed table of 1 + span index
    /// (0: empty), so that many keys cost linear time, not quadratic. Hasher
    /// is seeded per process: keys cannot be chosen to collide.
    private var table: [Int32] = []
    /// The most parameters this query string can hold (its `&`s + 1).
    private var capacity = 0
    static let hashedFrom = 16
    #if DEBUG
    /// Keys compared while parsing and looking up, for the tests.
    nonisolated(unsafe) static var keyComparisons = 0
    #endif
    /// For each `Key`, 5 bits: 0 when absent, else 1 + its index in `spans`
    /// (31: look it up by name).
    private var known: UInt64 = 0

    public init(queryString: String) {
        var qs = queryString
        self = qs.withUTF8 { QueryParameters(raw: $0) }
    }

    public init(raw: UnsafeBufferPointer<UInt8>) {
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        text = Array(raw)
        let n = raw.count
        var separators = 0
        for i in 0..<n where base[i] == UInt8(ascii: "&") { separators += 1 }
        spans.reserveCapacity(separators + 1)
        capacity = separators + 1
        var start = 0
        while start <= n {
            var end = start
            while end < n && base[end] != UInt8(ascii: "&") { end += 1 }
            if end > start { add(base, start, end) }
            start = end + 1
        }
    }

    /// The pair `raw[start..<end]`: split at its first `=` before decoding.
    private mutating func add(_ raw: UnsafePointer<UInt8>, _ start: Int, _ end: Int) {
        var eq = start
        while eq < end && raw[eq] != UInt8(ascii: "=") { eq += 1 }
        let (key, keyEnd) = decode(raw, start, eq)
        let (duplicate, slot) = find(key, keyEnd)
        if duplicate != nil { return }
        let (value, valueEnd) = eq < end ? decode(raw, eq + 1, end) : (end, end)
        let k = text.withUnsafeBufferPointer { Key(UnsafeBufferPointer(rebasing: $0[key..<keyEnd])) }
        if let k { known |= UInt64(min(spans.count + 1, 31)) << UInt64(5 * k.rawValue) }
        spans.append(Span(key: key, keyEnd: keyEnd, value: value, end: valueEnd))
        if let slot {
            table[slot] = Int32(spans.count)
        } else if spans.count == Self.hashedFrom {
            buildTable()
        }
    }

    /// Room for every parameter the query string can hold at half load:
    /// it never grows.
    private mutating func buildTable() {
        var size = 64
        while size < 2 * capacity { size <<= 1 }
        table = [Int32](repeating: 0, count: size)
        text.withUnsafeBufferPointer { t in
            for i in spans.indices {
                let key = UnsafeBufferPointer(rebasing: t[spans[i].key..<spans[i].keyEnd])
                var slot = Self.hash(key) & (size - 1)
                while table[slot] != 0 { slot = (slot + 1) & (size - 1) }
                table[slot] = Int32(i + 1)
            }
        }
    }

    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(key))
        return h.finalize()
    }

    /// Whether span `s` of text `t` has the key `key`.
    @inline(__always)
    private static func same(_ t: UnsafeBufferPointer<UInt8>, _ s: Span, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        s.keyEnd - s.key == key.count && (key.count == 0 || equal(t.baseAddress! + s.key, key.baseAddress!, key.count))
    }

    /// Keys are a few bytes: an inline loop, where a call of memcmp per
    /// comparison cost getAlbum ~450 instructions more.
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        var i = 0
        while i < count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// `raw[start..<end]` with `+` as space and percent escapes decoded,
    /// as a range of `text`; invalid UTF-8 is replaced, as Python's decoding
    /// replaced it.
    private mutating func decode(_ raw: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> (Int, Int) {
        // Most keys and values are plain ASCII: already in place.
        var i = start
        while i < end {
            let b = raw[i]
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "%") || b >= 0x80 { break }
            i += 1
        }
        if i == end { return (start, end) }
        var w = i
        var ascii = true
        text.withUnsafeMutableBufferPointer { t in
            while i < end {
                var b = raw[i]
                if b == UInt8(ascii: "+") {
                    b = 0x20
                } else if b == UInt8(ascii: "%"), i + 2 < end, let h = hexValue(raw[i + 1]), let l = hexValue(raw[i + 2]) {
                    b = h << 4 | l
                    i += 2
                }
                ascii = ascii && b < 0x80
                t[w] = b
                w += 1
                i += 1
            }
        }
        if ascii { return (start, w) }
        let repaired = text.withUnsafeBufferPointer { Array(String(decoding: UnsafeBufferPointer(rebasing: $0[start..<w]), as: UTF8.self).utf8) }
        let at = text.count
        text.append(contentsOf: repaired)
        return (at, text.count)
    }

    /// The parameter whose key is `text[key..<keyEnd]`, compared as code
    /// points (as Python compares); without it, the empty table slot where it would go.
    private func find(_ key: Int, _ keyEnd: Int) -> (index: Int?, slot: Int?) {
        text.withUnsafeBufferPointer { find(UnsafeBufferPointer(rebasing: $0[key..<keyEnd])) }
    }

    private func find(_ key: UnsafeBufferPointer<UInt8>) -> (index: Int?, slot: Int?) {
        if table.isEmpty {
            // A handful of parameters: the plain scan, as cheap as before the table.
            let i = text.withUnsafeBufferPointer { t in
                spans.firstIndex { s in
                    #if DEBUG
                    QueryParameters.keyComparisons += 1
                    #endif
                    return Self.same(t, s, key)
                }
            }
            return (i, nil)
        }
        return findHashed(key)
    }

    private func findHashed(_ key: UnsafeBufferPointer<UInt8>) -> (index: Int?, slot: Int?) {
        text.withUnsafeBufferPointer { t in
            let mask = table.count - 1
            var slot = Self.hash(key) & mask
            while table[slot] != 0 {
                #if DEBUG
                QueryParameters.keyComparisons += 1
                #endif
                let i = Int(table[slot]) - 1, s = spans[i]
                if Self.same(t, s, key) { return (i, nil) }
                slot = (slot + 1) & mask
            }
            return (nil, slot)
        }
    }

    private func index(of key: UnsafeBufferPointer<UInt8>) -> Int? { find(key).index }

    private func value(_ i: Int) -> String {
        let s = spans[i]
        return text.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[s.value..<s.end]), as: UTF8.self) }
    }

    public subscript(_ key: Key) -> String? {
        let slot = Int(known >> UInt64(5 * key.rawValue) & 31)
        if slot == 0 { return nil }
        return slot < 31 ? value(slot - 1) : self[key.name]
    }

    public subscript(_ key: String) -> String? {
        var key = key
        return key.withUTF8 { index(of: $0) }.map(value)
    }

    /// `body` on `key`'s value as bytes (valid UTF-8), without building a
    /// String; nil when `key` was not given.
    public func withValue<R>(_ key: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        var key = key
        guard let i = key.withUTF8({ index(of: $0) }) else { return nil }
        let s = spans[i]
        return try text.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[s.value..<s.end])) }
    }

    /// Whether `key` was given, without building its value.
    public func contains(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { index(of: $0) } != nil
    }
}
