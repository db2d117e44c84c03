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

/// Python `int()` restricted as docs/API.md says: optional surrounding whitespace, an
/// optional sign, ASCII digits; out-of-range values clamp to 64 bits.
public func parseInteger(_ s: String) -> Int64? {
    if let v = parseASCIIInteger(s) { return v }
    let sc = Array(s.unicodeScalars)
    var lo = 0, hi = sc.count
    while lo < hi && isPythonWhitespace(sc[lo].value) { lo += 1 }
    while hi > lo && isPythonWhitespace(sc[hi - 1].value) { hi -= 1 }
    var negative = false
    if lo < hi && (sc[lo] == "+" || sc[lo] == "-") { negative = sc[lo] == "-"; lo += 1 }
    guard lo < hi else { return nil }
    var v: Int64 = 0
    var overflow = false
    for i in lo..<hi {
        guard sc[i].value >= 0x30 && sc[i].value <= 0x39 else { return nil }
        let d = Int64(sc[i].value - 0x30)
        if !overflow {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { overflow = true } else { v = a }
        }
    }
    if overflow { return negative ? Int64.min : Int64.max }
    return negative ? -v : v
}

/// `parseInteger` of a short ASCII value without allocating: nil when the
/// value needs the general path (non-ASCII, long or not an integer).
private func parseASCIIInteger(_ s: String) -> Int64?? {
    var s = s
    return s.withUTF8 { b -> Int64?? in
        guard b.count <= 18, !b.contains(where: { $0 >= 0x80 }) else { return nil }  // 18 digits cannot overflow
        var lo = 0, hi = b.count
        while lo < hi && isPythonWhitespace(UInt32(b[lo])) { lo += 1 }
        while hi > lo && isPythonWhitespace(UInt32(b[hi - 1])) { hi -= 1 }
        var negative = false
        if lo < hi && (b[lo] == UInt8(ascii: "+") || b[lo] == UInt8(ascii: "-")) { negative = b[lo] == UInt8(ascii: "-"); lo += 1 }
        guard lo < hi else { return nil }
        var v: Int64 = 0
        for i in lo..<hi {
            guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
            v = v * 10 + Int64(b[i] - 0x30)
        }
        return .some(negative ? -v : v)
    }
}

/// An API error as the old server rendered it.
public struct APIError: Error, Sendable {
    public enum Value: Sendable { case string(String), int(Int64) }
    public let code: Int
    public let messageKey: String
    public let status: Int
    public let message: String
    public let payload: [(String, Value)]

    public init(code: Int, messageKey: String, status: Int, message: String, payload: [(String, Value)]) {
        self.code = code
        self.messageKey = messageKey
        self.status = status
        self.message = message
        self.payload = payload
    }

    public static func invalidName(_ field: String) -> APIError {
        APIError(code: 100, messageKey: "avalon.service.error.invalid_input_name", status: 400,
                 message: "Invalid order-by field '\(field)'", payload: [("field", .string(field))])
    }
    public static func invalidType(_ field: String, _ value: String, _ type: String) -> APIError {
        APIError(code: 101, messageKey: "avalon.service.error.invalid_input_type", status: 400,
                 message: "Invalid field value for \(type) field \(field): '\(value)'",
                 payload: [("field", .string(field)), ("value", .string(value))])
    }
    public static func invalidDirection(_ direction: String) -> APIError {
        APIError(code: 102, messageKey: "avalon.service.error.invalid_input_value", status: 400,
                 message: "Invalid sort direction '\(direction)'", payload: [("direction", .string(direction))])
    }
    public static func negative(_ field: String, _ value: Int64) -> APIError {
        APIError(code: 102, messageKey: "avalon.service.error.invalid_input_value", status: 400,
                 message: "The value of \(field) may not be negative", payload: [("field", .string(field)), ("value", .int(value))])
    }
    public static func unknown(_ message: String) -> APIError {
        APIError(code: 1, messageKey: "avalon.service.error.unknown", status: 500, message: message, payload: [])
    }
    public static func unavailable(_ message: String) -> APIError {
        APIError(code: 2, messageKey: "avalon.service.error.unavailable", status: 503, message: message, payload: [])
    }
    public static func notFound(_ path: String) -> APIError {
        APIError(code: 4, messageKey: "avalon.service.error.not_found", status: 404,
                 message: "No such endpoint: \(path)", payload: [("path", .string(path))])
    }
    public static func forbidden(_ message: String) -> APIError {
        APIError(code: 6, messageKey: "avalon.service.error.forbidden", status: 403, message: message, payload: [])
    }
    public static func methodNotAllowed(_ method: String) -> APIError {
        APIError(code: 5, messageKey: "avalon.service.error.method_not_allowed", status: 405,
                 message: "Method \(method) is not allowed", payload: [("method", .string(method))])
    }

    /// The whole response envelope for this error.
    public var body: [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.raw("{\"errors\": [{\"code\": ")
        w.int(Int64(code))
        w.raw(", \"message\": ")
        w.string(message)
        w.raw(", \"message_key\": ")
        w.string(messageKey)
        w.raw(", \"payload\": {")
        for (i, (k, v)) in payload.enumerated() {
            if i > 0 { w.raw(", ") }
            w.string(k)
            w.raw(": ")
            switch v {
            case .string(let s): w.string(s)
            case .int(let n): w.int(n)
            }
        }
        w.raw("}}], \"success\": null, \"warnings\": []}")
        return w.bytes
    }
}

/// Order and paging, validated in the old server's order.
struct Paging {
    var order: String?
    var descending = false
    var limit: Int64?
    var offset: Int64 = 0

    init(_ p: QueryParameters, fields: [String]) throws {
        if let order = p[.order] {
            let direction = p[.direction] ?? "asc"
            guard direction == "asc" || direction == "desc" else { throw APIError.invalidDirection(direction) }
            guard fields.contains(order) else { throw APIError.invalidName(order) }
            self.order = order
            descending = direction == "desc"
        }
        if let s = p[.limit] {
            guard let v = parseInteger(s) else { throw APIError.invalidType("limit", s, "integer") }
            limit = v
        }
        if let s = p[.offset] {
            guard let v = parseInteger(s) else { throw APIError.invalidType("offset", s, "integer") }
            offset = v
        }
        if let l = limit {
            if l < 0 { throw APIError.negative("limit", l) }
            if offset < 0 { throw APIError.negative("offset", offset) }
        }
    }

    /// The positions of an ordered list of `count` items that are returned.
    func window(_ count: Int) -> Range<Int> {
        guard let l = limit else { return 0..<count }
        let start = Int(min(offset, Int64(count)))
        let end = Int(min(Int64(count), offset.addingReportingOverflow(l).overflow ? Int64.max : offset + l))
        return start..<max(start, end)
    }
}
