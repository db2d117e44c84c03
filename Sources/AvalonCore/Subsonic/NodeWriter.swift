/// Writes one Subsonic answer as XML or as JSON from the same calls: an
/// element with attributes and children in XML is an object with keys in
/// JSON, and repeated children (a `list`) are a JSON array. Straight into a
/// `ResponseBuffer`, each value through a cursor with room sized from its length.
public struct NodeWriter {
    public enum Format: Sendable { case xml, json }

    public let out: ResponseBuffer
    public let format: Format
    public let json: Bool
    /// Open levels, and per level a bit (level d: bit d-1) of whether
    /// something was written in it (JSON: a comma before the next; XML: the
    /// start tag was closed by `>`) and whether it is a JSON array (list).
    /// Bits, not arrays: an attribute costs no bounds or uniqueness check.
    private var depth = 0
    private var written: UInt64 = 0
    private var lists: UInt64 = 0
    /// XML only: the open elements' names, for their end tags.
    private var names: [StaticString] = []

    public init(_ out: ResponseBuffer, format: Format) {
        self.out = out
        self.format = format
        json = format == .json
        if !json { names.reserveCapacity(8) }
    }

    // MARK: structure

    /// Opens an element: in a list, one more item of it.
    public mutating func open(_ name: StaticString) {
        var c = out.cursor(room: name.utf8CodeUnitCount + 8)
        if json {
            separator(&c)
            if !inList { c.key(name) }
            c.raw("{")
        } else {
            closeStartTag(&c)
            c.raw("<"); c.raw(name)
            names.append(name)
        }
        out.commit(c)
        push(list: false)
    }

    public mutating func close() {
        precondition(depth > 0, "close without open")
        let had = written & bit != 0
        depth -= 1
        if json {
            var c = out.cursor(room: 1)
            c.raw("}")
            out.commit(c)
            return
        }
        let name = names.removeLast()
        var c = out.cursor(room: name.utf8CodeUnitCount + 4)
        if had {
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
        c.key(name)
        c.raw("[")
        out.commit(c)
        push(list: true)
    }

    public mutating func endList() {
        guard json else { return }
        precondition(depth > 0, "endList without beginList")
        depth -= 1
        var c = out.cursor(room: 1)
        c.raw("]")
        out.commit(c)
    }

    /// The innermost level's bit.
    private var bit: UInt64 {
        @inline(__always) get { 1 &<< UInt64(truncatingIfNeeded: depth &- 1) }
    }

    private var inList: Bool {
        @inline(__always) get { depth > 0 && lists & bit != 0 }
    }

    private mutating func push(list: Bool) {
        precondition(depth < 64, "answers nest a few levels deep")
        depth += 1
        written &= ~bit
        if list { lists |= bit } else { lists &= ~bit }
    }

    // MARK: attributes (JSON keys); written before any child element

    /// Room for attributes written one after another (a song's twenty): one
    /// capacity check and one commit for all of them, not one each. Taken
    /// right after `open`, given back to `commit` before anything else is written.
    @inline(__always)
    public mutating func attributes(room: Int) -> Attributes {
        precondition(depth > 0, "attributes belong to an element")
        return Attributes(c: out.cursor(room: room), json: json, comma: written & bit != 0)
    }

    /// An element with attributes and no children (a song): its start, its
    /// attributes (`room` bytes of them) and its end in one room, taken
    /// here and given back to `endLeaf`; the level does not change.
    @inline(__always)
    mutating func leaf(_ name: StaticString, room: Int) -> Attributes {
        var c = out.cursor(room: room + name.utf8CodeUnitCount + 16)
        if json {
            separator(&c)
            if !inList { c.key(name) }
            c.byte(0x7B)  // {
        } else {
            closeStartTag(&c)
            c.byte(0x3C); c.small(name)  // <
        }
        return Attributes(c: c, json: json, comma: false)
    }

    @inline(__always)
    mutating func endLeaf(_ a: Attributes) {
        var c = a.c
        if json { c.byte(0x7D) } else { c.two(0x2F, 0x3E) }  // } or />
        out.commit(c)
    }

    @inline(__always)
    public mutating func commit(_ a: Attributes) {
        out.commit(a.c)
        if json && a.comma { written |= bit }
    }

    @inline(__always)
    public mutating func attr(_ name: StaticString, _ value: UnsafeBufferPointer<UInt8>) {
        var a = attributes(room: Attributes.room(name, string: value.count))
        a.attr(name, value)
        commit(a)
    }

    @inline(__always)
    public mutating func attr(_ name: StaticString, arena value: UnsafeBufferPointer<UInt8>) {
        var a = attributes(room: Attributes.room(name, arena: value.count))
        a.attr(name, arena: value)
        commit(a)
    }

    public mutating func attr(_ name: StaticString, date ms: Int64) {
        var a = attributes(room: Attributes.room(name, value: Attributes.maxDate))
        a.attr(name, date: ms)
        commit(a)
    }

    public mutating func attr(_ name: StaticString, _ value: String) {
        var v = value
        v.withUTF8 { attr(name, $0) }
    }

    @inline(__always)
    public mutating func attr(_ name: StaticString, static value: StaticString) {
        var a = attributes(room: Attributes.room(name, value: value.utf8CodeUnitCount + 2))
        a.attr(name, static: value)
        commit(a)
    }

    @inline(__always)
    public mutating func attr(_ name: StaticString, _ value: Int64) {
        var a = attributes(room: Attributes.room(name, value: JSONCursor.maxBytesInt))
        a.attr(name, value)
        commit(a)
    }

    @inline(__always)
    public mutating func attr(_ name: StaticString, _ value: Bool) {
        var a = attributes(room: Attributes.room(name, value: 5))
        a.attr(name, value)
        commit(a)
    }

    /// An id: a UUID, hyphenated.
    @inline(__always)
    public mutating func attr(_ name: StaticString, id: ItemID) {
        var a = attributes(room: Attributes.room(name, value: JSONCursor.maxBytesUUID))
        a.attr(name, id: id)
        commit(a)
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
            if !inList { c.key(name) }
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

    @inline(__always)
    private mutating func separator(_ c: inout JSONCursor) {
        guard depth > 0 else { return }
        if written & bit != 0 { c.two(0x2C, 0x20) } else { written |= bit }  // ", "
    }

    /// XML: the first child or text closes the parent's start tag.
    @inline(__always)
    private mutating func closeStartTag(_ c: inout JSONCursor) {
        guard depth > 0, written & bit == 0 else { return }
        written |= bit
        c.raw(">")
    }
}

/// Attributes inside one room (`NodeWriter.attributes(room:)`), which the
/// caller sizes with `room(…)` per attribute; `ResponseBuffer.commit` stops
/// the process if they wrote past it.
public struct Attributes {
    var c: JSONCursor
    let json: Bool
    /// JSON: a separator goes before the next key.
    var comma: Bool

    /// A key and its punctuation around a value of at most `value` bytes
    /// (XML escapes take at most what JSON's do).
    @inline(__always)
    public static func room(_ name: StaticString, value: Int) -> Int { name.utf8CodeUnitCount + 8 + value }
    @inline(__always)
    public static func room(_ name: StaticString, string count: Int) -> Int { room(name, value: JSONCursor.maxBytes(string: count)) }
    /// An arena span: JSON writes it in whole words, up to eight bytes past its end.
    @inline(__always)
    public static func room(_ name: StaticString, arena count: Int) -> Int { room(name, value: JSONCursor.maxBytes(string: count) + 8) }
    /// A date, quoted: the general path's longest is Int64.min's, a ten-character year (`-292275055-05-16T16:47:04.192Z`).
    public static let maxDate = 32

    /// JSON: `"name": ` after a separator; XML: ` name="`.
    @inline(__always)
    mutating func head(_ name: StaticString) {
        if json {
            if comma { c.two(0x2C, 0x20) } else { comma = true }  // ", "
            c.key(name)
        } else {
            c.byte(0x20); c.small(name); c.two(0x3D, 0x22)  // ="
        }
    }

    @inline(__always)
    public mutating func attr(_ name: StaticString, _ value: UnsafeBufferPointer<UInt8>) {
        head(name)
        if json { c.string(value) } else { c.xmlEscaped(value); c.byte(0x22) }
    }

    /// A span of the collection's arena, which is padded: JSON reads it eight
    /// bytes at a time to its end, with no byte loop for the last few.
    @inline(__always)
    public mutating func attr(_ name: StaticString, arena value: UnsafeBufferPointer<UInt8>) {
        guard json else { attr(name, value); return }
        head(name)
        c.string(padded: value)
    }

    /// A time as ISO 8601 in UTC with milliseconds, as `isoDate` spells it.
    public mutating func attr(_ name: StaticString, date ms: Int64) {
        // Years 1970...9999 straight into the answer; others (never a file's
        // time) through the general path.
        guard ms >= 0 && ms < 253_402_300_800_000 else {
            var v = isoDate(milliseconds: ms)
            v.withUTF8 { attr(name, $0) }
            return
        }
        head(name)
        if json { c.byte(0x22) }
        c.isoDate(milliseconds: ms)
        c.byte(0x22)
    }

    /// A literal of this program's: copied, never escaped (debug builds check it needs none).
    @inline(__always)
    public mutating func attr(_ name: StaticString, static value: StaticString) {
        assert(!UnsafeBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount).contains {
            $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x26 || $0 == 0x27 || $0 == 0x3C || $0 == 0x3E
        }, "a literal that needs escaping")
        head(name)
        if json { c.byte(0x22) }
        c.small(value)
        c.byte(0x22)
    }

    // Transparent: a song's writer is past the size where the optimizer
    // inlines even `@inline(__always)` calls, and a call costs three times the number.
    @_transparent
    mutating func attr(_ name: StaticString, _ value: Int64) {
        head(name)
        c.int(value)
        if !json { c.byte(0x22) }
    }

    @inline(__always)
    public mutating func attr(_ name: StaticString, _ value: Bool) {
        head(name)
        if value { c.raw("true") } else { c.raw("false") }
        if !json { c.byte(0x22) }
    }

    /// An id: a UUID, hyphenated.
    @inline(__always)
    public mutating func attr(_ name: StaticString, id: ItemID) {
        head(name)
        c.uuid(id)
        if !json {
            // quoted: drop the opening quote by writing over it
            let p = c.p - 38
            p.update(from: p + 1, count: 37)
            c.p -= 1
        }
    }
}

extension JSONCursor {
    /// `"name": `
    @inline(__always)
    mutating func key(_ name: StaticString) {
        byte(0x22); small(name); two(0x22, 0x3A); byte(0x20)
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        p.pointee = b
        p += 1
    }

    @inline(__always)
    mutating func two(_ a: UInt8, _ b: UInt8) {
        UnsafeMutableRawPointer(p).storeBytes(of: (UInt16(a) | UInt16(b) << 8).littleEndian, as: UInt16.self)
        p += 2
    }

    /// A short static text (a key) without a call to memmove: two
    /// overlapping loads and stores cover 4 to 16 bytes.
    @inline(__always)
    mutating func small(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        let src = UnsafeRawPointer(s.utf8Start), dst = UnsafeMutableRawPointer(p)
        if n >= 8 && n <= 16 {
            let head = src.loadUnaligned(as: UInt64.self), tail = src.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            dst.storeBytes(of: head, as: UInt64.self)
            dst.storeBytes(of: tail, toByteOffset: n - 8, as: UInt64.self)
        } else if n >= 4 && n < 8 {
            let head = src.loadUnaligned(as: UInt32.self), tail = src.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
            dst.storeBytes(of: head, as: UInt32.self)
            dst.storeBytes(of: tail, toByteOffset: n - 4, as: UInt32.self)
        } else {
            dst.copyMemory(from: src, byteCount: n)
        }
        p += n
    }

    /// Two decimal digits of `v` (below 100).
    @inline(__always)
    private mutating func twoDigits(_ v: Int64) {
        let t = (v &* 103) >> 10  // v / 10, exact below 179
        two(0x30 &+ UInt8(truncatingIfNeeded: t), 0x30 &+ UInt8(truncatingIfNeeded: v &- t &* 10))
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a time from 1970 to 9999 (the caller
    /// checks), the same bytes as `isoDate(milliseconds:)`.
    mutating func isoDate(milliseconds ms: Int64) {
        // Unsigned: divisions by constants without the sign's corrections.
        let u = UInt64(truncatingIfNeeded: ms)
        let secs = u / 1000, days = secs / 86400
        let rem = UInt32(truncatingIfNeeded: secs - days * 86400), milli = UInt32(truncatingIfNeeded: u - secs * 1000)
        let (y, m, d) = Self.civilDate(daysSince1970: UInt32(truncatingIfNeeded: days))
        UnsafeMutableRawPointer(p).storeBytes(of: Self.fourDigits(y).littleEndian, as: UInt32.self)
        p += 4
        byte(0x2D)
        twoDigits(Int64(m)); byte(0x2D); twoDigits(Int64(d)); byte(0x54)  // T
        twoDigits(Int64(rem / 3600)); byte(0x3A); twoDigits(Int64(rem / 60 % 60)); byte(0x3A); twoDigits(Int64(rem % 60))
        byte(0x2E); byte(0x30 &+ UInt8(truncatingIfNeeded: milli / 100)); twoDigits(Int64(milli % 100)); byte(0x5A)  // .mmmZ
    }

    /// The date `days` after 1970-01-01, to 9999-12-31: Neri and Schneider's
    /// Euclidean affine functions (2022), 32-bit multiplications where
    /// `civilDate(era:dayOfEra:)` divides by 1460, 36524, 146096 and 365.
    @inline(__always)
    static func civilDate(daysSince1970 days: UInt32) -> (year: UInt32, month: UInt32, day: UInt32) {
        let n1 = 4 &* (days &+ 719_468) &+ 3  // days since 0000-03-01, the computational calendar's start
        let century = n1 / 146_097, dayOfCentury = n1 % 146_097 / 4
        let p2 = UInt64(2_939_745) &* UInt64(4 &* dayOfCentury &+ 3)
        let yearOfCentury = UInt32(truncatingIfNeeded: p2 >> 32)
        let dayOfYear = UInt32(truncatingIfNeeded: p2) / 2_939_745 / 4  // from March 1st
        let n3 = 2141 &* dayOfYear &+ 197_913
        let month = n3 >> 16, day = (n3 & 0xFFFF) / 2141
        let january: UInt32 = dayOfYear >= 306 ? 1 : 0  // January and February end the computational year
        return (100 &* century &+ yearOfCentury &+ january, month &- 12 &* january, day &+ 1)
    }

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
            let n = s.count, left = n &- i
            if left < 8 && n >= 8 {
                // The last partial word as the text's last eight bytes (as
                // `JSONCursor.string` does): the bytes before it are rewritten unchanged.
                let x = UnsafeRawPointer(base + n - 8).loadUnaligned(as: UInt64.self)
                if Self.xmlSpecials(x) & ~(UInt64.max >> UInt64(8 &* left)) == 0 {
                    UnsafeMutableRawPointer(out - (8 &- left)).storeBytes(of: x, as: UInt64.self)
                    p = out + left
                    return
                }
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
