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
            for k in Self.names.indices {
                let name = Self.names[k]
                if name.utf8CodeUnitCount == bytes.count
                    && UnsafeBufferPointer(start: name.utf8Start, count: bytes.count).elementsEqual(bytes) {
                    self.init(rawValue: k)
                    return
                }
            }
            return nil
        }
    }

    /// The decoded keys and values, back to back, as valid UTF-8.
    private var text: [UInt8] = []
    /// Each parameter, first occurrence only, as offsets into `text`: where
    /// its key starts, where its value starts and where it ends. A request has
    /// a handful, so a linear scan beats hashing every key; and plain offsets
    /// cost nothing to free, where an array of Strings costs a release each.
    private var spans: [(key: Int, value: Int, end: Int)] = []
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
        text.reserveCapacity(raw.count)
        var separators = 0
        for b in raw where b == UInt8(ascii: "&") { separators += 1 }
        spans.reserveCapacity(separators + 1)
        capacity = separators + 1
        var start = 0
        var i = 0
        while i <= raw.count {
            if i == raw.count || raw[i] == UInt8(ascii: "&") {
                if i > start { add(UnsafeBufferPointer(rebasing: raw[start..<i])) }
                start = i + 1
            }
            i += 1
        }
    }

    private mutating func add(_ pair: UnsafeBufferPointer<UInt8>) {
        let eq = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.count
        let keyStart = text.count
        decode(UnsafeBufferPointer(rebasing: pair[0..<eq]))
        let valueStart = text.count
        let (duplicate, slot) = text.withUnsafeBufferPointer { t in find(UnsafeBufferPointer(rebasing: t[keyStart..<valueStart])) }
        if duplicate != nil {
            text.removeLast(valueStart - keyStart)
            return
        }
        if eq < pair.count { decode(UnsafeBufferPointer(rebasing: pair[(eq + 1)...])) }
        let k = text.withUnsafeBufferPointer { Key(UnsafeBufferPointer(rebasing: $0[keyStart..<valueStart])) }
        if let k { known |= UInt64(min(spans.count + 1, 31)) << UInt64(5 * k.rawValue) }
        spans.append((keyStart, valueStart, text.count))
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
                let key = UnsafeBufferPointer(rebasing: t[spans[i].key..<spans[i].value])
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

    /// Appends `s` to `text` with `+` as space and percent escapes decoded;
    /// invalid UTF-8 is replaced, as Python's decoding replaced it.
    private mutating func decode(_ s: UnsafeBufferPointer<UInt8>) {
        // Most keys and values are plain ASCII: copied at once.
        if !s.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") || $0 >= 0x80 }) {
            text.append(contentsOf: s)
            return
        }
        let start = text.count
        var i = 0
        var ascii = true
        while i < s.count {
            var b = s[i]
            if b == UInt8(ascii: "+") {
                b = 0x20
            } else if b == UInt8(ascii: "%"), i + 2 < s.count, let h = hexValue(s[i + 1]), let l = hexValue(s[i + 2]) {
                b = h << 4 | l
                i += 2
            }
            ascii = ascii && b < 0x80
            text.append(b)
            i += 1
        }
        if !ascii {
            let repaired = Array(String(decoding: text[start...], as: UTF8.self).utf8)
            text.replaceSubrange(start..., with: repaired)
        }
    }

    /// The parameter whose key is `key`, compared as code points (as Python
    /// compares); without it, the empty table slot where it would go.
    private func find(_ key: UnsafeBufferPointer<UInt8>) -> (index: Int?, slot: Int?) {
        if table.isEmpty {
            // A handful of parameters: the plain scan, as cheap as before the table.
            let i = text.withUnsafeBufferPointer { t in
                spans.firstIndex { s in
                    #if DEBUG
                    QueryParameters.keyComparisons += 1
                    #endif
                    return s.value - s.key == key.count && UnsafeBufferPointer(rebasing: t[s.key..<s.value]).elementsEqual(key)
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
                if s.value - s.key == key.count && UnsafeBufferPointer(rebasing: t[s.key..<s.value]).elementsEqual(key) { return (i, nil) }
                slot = (slot + 1) & mask
            }
            return (nil, slot)
        }
    }

    private func index(of key: UnsafeBufferPointer<UInt8>) -> Int? { find(key).index }

    private func value(_ i: Int) -> String {
        String(decoding: text[spans[i].value..<spans[i].end], as: UTF8.self)
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
}
