/// Writes one Subsonic answer as XML or as JSON from the same calls: an
/// element with attributes and children in XML is an object with keys in
/// JSON, and repeated children (a `list`) are a JSON array. Straight into a
/// `ResponseBuffer`, each value through a cursor with room sized from its length.
public struct NodeWriter {
    public enum Format: Sendable { case xml, json }

    public let out: ResponseBuffer
    public let format: Format
    /// Per open level: whether something was written in it (JSON: a comma
    /// before the next; XML: the start tag was closed by `>`).
    private var written: [Bool] = []
    /// Per open level: JSON array (list) or object; XML lists are not levels of their own.
    private var isList: [Bool] = []
    private var names: [StaticString] = []

    public init(_ out: ResponseBuffer, format: Format) {
        self.out = out
        self.format = format
        written.reserveCapacity(8)
        isList.reserveCapacity(8)
        names.reserveCapacity(8)
    }

    public var json: Bool { format == .json }

    // MARK: structure

    /// Opens an element: in a list, one more item of it.
    public mutating func open(_ name: StaticString) {
        var c = out.cursor(room: name.utf8CodeUnitCount + 8)
        if json {
            separator(&c)
            if isList.last != true { key(&c, name) }
            c.raw("{")
        } else {
            closeStartTag(&c)
            c.raw("<"); c.raw(name)
        }
        out.commit(c)
        written.append(false)
        isList.append(false)
        names.append(name)
    }

    public mutating func close() {
        let name = names.removeLast()
        let had = written.removeLast()
        isList.removeLast()
        var c = out.cursor(room: name.utf8CodeUnitCount + 4)
        if json {
            c.raw("}")
        } else if had {
            c.raw("</"); c.raw(name); c.raw(">")
        } else {
            c.raw("/>")
        }
        out.commit(c)
    }

    /// Starts repeated children named `name` (JSON: an array under that key).
    public mutating func beginList(_ name: StaticString) {
        guard json else { return }
        var c = out.cursor(room: name.utf8CodeUnitCount + 8)
        separator(&c)
        key(&c, name)
        c.raw("[")
        out.commit(c)
        written.append(false)
        isList.append(true)
        names.append(name)
    }

    public mutating func endList() {
        guard json else { return }
        names.removeLast(); written.removeLast(); isList.removeLast()
        var c = out.cursor(room: 1)
        c.raw("]")
        out.commit(c)
    }

    // MARK: attributes (JSON keys); written before any child element

    public mutating func attr(_ name: StaticString, _ value: UnsafeBufferPointer<UInt8>) {
        var c = out.cursor(room: name.utf8CodeUnitCount + 8 + JSONCursor.maxBytes(string: value.count))
        head(&c, name)
        if json { c.string(value) } else { c.xmlEscaped(value); c.raw("\"") }
        out.commit(c)
    }

    public mutating func attr(_ name: StaticString, _ value: String) {
        var v = value
        v.withUTF8 { attr(name, $0) }
    }

    public mutating func attr(_ name: StaticString, static value: StaticString) {
        attr(name, UnsafeBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount))
    }

    public mutating func attr(_ name: StaticString, _ value: Int64) {
        var c = out.cursor(room: name.utf8CodeUnitCount + 8 + JSONCursor.maxBytesInt)
        head(&c, name)
        c.int(value)
        if !json { c.raw("\"") }
        out.commit(c)
    }

    public mutating func attr(_ name: StaticString, _ value: Bool) {
        var c = out.cursor(room: name.utf8CodeUnitCount + 16)
        head(&c, name)
        c.raw(value ? "true" : "false")
        if !json { c.raw("\"") }
        out.commit(c)
    }

    /// An id: a UUID, hyphenated.
    public mutating func attr(_ name: StaticString, id: ItemID) {
        var c = out.cursor(room: name.utf8CodeUnitCount + 8 + JSONCursor.maxBytesUUID)
        head(&c, name)
        if json {
            c.uuid(id)
        } else {
            c.uuid(id)  // quoted: drop the opening quote by writing over it
            let p = c.p - 38
            (p).update(from: p + 1, count: 37)
            c.p -= 1
        }
        out.commit(c)
    }

    /// The element's text: XML content, JSON `"value"`. Written last.
    public mutating func text(_ value: UnsafeBufferPointer<UInt8>) {
        if json { attr("value", value); return }
        var c = out.cursor(room: 8 + JSONCursor.maxBytes(string: value.count))
        closeStartTag(&c)
        c.xmlEscaped(value)
        out.commit(c)
    }

    /// A child holding a number: `<name>1</name>`, or in a JSON list `1`.
    public mutating func element(_ name: StaticString, _ value: Int64) {
        var c = out.cursor(room: 2 * name.utf8CodeUnitCount + 16 + JSONCursor.maxBytesInt)
        if json {
            separator(&c)
            if isList.last != true { key(&c, name) }
            c.int(value)
        } else {
            closeStartTag(&c)
            c.raw("<"); c.raw(name); c.raw(">")
            c.int(value)
            c.raw("</"); c.raw(name); c.raw(">")
        }
        out.commit(c)
    }

    // MARK: pieces

    /// JSON: `"name": ` after a separator; XML: ` name="`.
    @inline(__always)
    private mutating func head(_ c: inout JSONCursor, _ name: StaticString) {
        if json {
            separator(&c)
            key(&c, name)
        } else {
            c.raw(" "); c.raw(name); c.raw("=\"")
        }
    }

    @inline(__always)
    private mutating func separator(_ c: inout JSONCursor) {
        guard let last = written.indices.last else { return }
        if written[last] { c.raw(", ") } else { written[last] = true }
    }

    @inline(__always)
    private func key(_ c: inout JSONCursor, _ name: StaticString) {
        c.raw("\""); c.raw(name); c.raw("\": ")
    }

    /// XML: the first child or text closes the parent's start tag.
    @inline(__always)
    private mutating func closeStartTag(_ c: inout JSONCursor) {
        guard let last = written.indices.last, !written[last] else { return }
        written[last] = true
        c.raw(">")
    }
}

extension JSONCursor {
    /// UTF-8 bytes as XML attribute or text content: `& < > "` and `'`
    /// escaped; control characters XML 1.0 cannot carry become spaces.
    @inline(__always)
    mutating func xmlEscaped(_ s: UnsafeBufferPointer<UInt8>) {
        var out = p
        // Eight bytes at a time while none needs escaping (most names).
        var i = 0
        if let base = s.baseAddress {
            while i + 8 <= s.count {
                let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                if Self.xmlSpecials(x) != 0 { break }
                UnsafeMutableRawPointer(out).storeBytes(of: x, as: UInt64.self)
                out += 8
                i += 8
            }
        }
        for b in UnsafeBufferPointer(rebasing: s[i...]) {
            switch b {
            case UInt8(ascii: "&"): for x in "&amp;".utf8 { out.pointee = x; out += 1 }
            case UInt8(ascii: "<"): for x in "&lt;".utf8 { out.pointee = x; out += 1 }
            case UInt8(ascii: ">"): for x in "&gt;".utf8 { out.pointee = x; out += 1 }
            case UInt8(ascii: "\""): for x in "&quot;".utf8 { out.pointee = x; out += 1 }
            case UInt8(ascii: "'"): for x in "&apos;".utf8 { out.pointee = x; out += 1 }
            case 0x09, 0x0A, 0x0D: out.pointee = b; out += 1
            case 0..<0x20: out.pointee = 0x20; out += 1
            default: out.pointee = b; out += 1
            }
        }
        p = out
    }

    /// Non-zero when a byte of `x` is below 0x20 or one of `& < > " '`
    /// (the high bit of such a byte is set; borrows may flag later bytes too,
    /// which only sends them to the byte loop).
    @inline(__always)
    static func xmlSpecials(_ x: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func eq(_ c: UInt64) -> UInt64 { let y = x ^ (ones &* c); return (y &- ones) & ~y }
        return (((x &- ones &* 0x20) & ~x) | eq(0x26) | eq(0x3C) | eq(0x3E) | eq(0x22) | eq(0x27)) & highs
    }
}
