/// Appends JSON to one growing byte buffer, written through a raw pointer: no
/// intermediate Strings or dictionaries, no per-byte capacity checks.
public struct JSONWriter {
    final class Storage {
        var ptr: UnsafeMutablePointer<UInt8>
        var count = 0
        var capacity: Int

        init(_ capacity: Int) {
            self.capacity = max(64, capacity)
            ptr = .allocate(capacity: self.capacity)
        }

        deinit { ptr.deallocate() }

        /// Room for `n` more bytes; returns where they go.
        @inline(__always)
        func reserve(_ n: Int) -> UnsafeMutablePointer<UInt8> {
            if count + n > capacity { grow(count + n) }
            return ptr + count
        }

        func grow(_ needed: Int) {
            var c = capacity * 2
            while c < needed { c *= 2 }
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
            p.update(from: ptr, count: count)
            ptr.deallocate()
            ptr = p
            capacity = c
        }
    }

    private let s: Storage

    public init(capacity: Int = 1024) { s = Storage(capacity) }

    /// The JSON written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: s.ptr, count: s.count)) }
    public var count: Int { s.count }

    /// Writes at most `maxBytes` through a cursor: one capacity check for many values.
    @inline(__always)
    public mutating func write(maxBytes: Int, _ body: (inout JSONCursor) -> Void) {
        var c = JSONCursor(s.reserve(maxBytes))
        let start = c.p
        body(&c)
        s.count += c.p - start
    }

    @inline(__always)
    public mutating func raw(_ str: StaticString) {
        write(maxBytes: str.utf8CodeUnitCount) { $0.raw(str) }
    }

    /// A JSON string from UTF-8 bytes (see `JSONCursor.string`).
    public mutating func string(_ str: UnsafeBufferPointer<UInt8>) {
        write(maxBytes: JSONCursor.maxBytes(string: str.count)) { $0.string(str) }
    }

    public mutating func string(_ str: String) {
        var str = str
        str.withUTF8 { string($0) }
    }

    public mutating func int(_ v: Int64) {
        write(maxBytes: JSONCursor.maxBytesInt) { $0.int(v) }
    }

    public mutating func uuid(_ id: ItemID) {
        write(maxBytes: JSONCursor.maxBytesUUID) { $0.uuid(id) }
    }
}

/// Where the next JSON byte goes, inside room reserved by `JSONWriter.write`.
/// A value on the stack, so the position stays in a register across a record.
public struct JSONCursor {
    public var p: UnsafeMutablePointer<UInt8>

    /// Writes from `p`, which must have room for what is written (ints take
    /// up to `maxBytesInt`).
    public init(_ p: UnsafeMutablePointer<UInt8>) { self.p = p }

    public static func maxBytes(string count: Int) -> Int { count * 6 + 2 }  // every byte as \u00XX
    public static let maxBytesInt = 20
    public static let maxBytesUUID = 38

    @inline(__always)
    public mutating func raw(_ str: StaticString) {
        let n = str.utf8CodeUnitCount
        p.update(from: str.utf8Start, count: n)
        p += n
    }

    /// Bytes that are already JSON.
    @inline(__always)
    public mutating func raw(_ bytes: UnsafeBufferPointer<UInt8>) {
        p.update(from: bytes.baseAddress!, count: bytes.count)
        p += bytes.count
    }

    /// Bytes readable past the end of every text that `copy(padded:)` and
    /// `string(padded:)` read: the collection's arena and fragments end with them.
    public static let padding = 16

    /// `n` bytes of JSON, copied 16 at a time: reads up to 15 bytes past the
    /// source (padded text) and writes as many past the cursor, which the next
    /// value overwrites (answers reserve more room than that).
    @inline(__always)
    public mutating func copy(padded src: UnsafePointer<UInt8>, count n: Int) {
        var i = 0
        repeat {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<UInt8>.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD16<UInt8>.self)
            i += 16
        } while i < n
        p += n
    }

    /// Like `string(_:)`, for a span of padded text: the last partial word is
    /// also read and written as eight bytes, so a name without specials takes
    /// no byte loop. Writes up to 8 bytes past the closing quote.
    @inline(__always)
    public mutating func string(padded str: UnsafeBufferPointer<UInt8>) {
        guard let base = str.baseAddress else { raw("\"\""); return }
        var out = p
        out.pointee = 0x22; out += 1
        let n = str.count
        var i = 0
        // Whole words, with no mask to compute.
        while i &+ 8 <= n {
            let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            if Self.specials(x) & Self.highs != 0 {
                // Rare: escape the rest byte by byte.
                p = out
                string(rest: UnsafeBufferPointer(rebasing: str[i...]))
                return
            }
            UnsafeMutableRawPointer(out).storeBytes(of: x, as: UInt64.self)
            out += 8
            i &+= 8
        }
        let left = n &- i
        if left > 0 {
            // The last partial word, read past the end: only its own bytes
            // count, and a borrow only runs upwards, so bytes past the end
            // cannot flag earlier ones.
            let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            if Self.specials(x) & Self.highs & ((1 << UInt64(8 &* left)) &- 1) != 0 {
                p = out
                string(rest: UnsafeBufferPointer(rebasing: str[i...]))
                return
            }
            UnsafeMutableRawPointer(out).storeBytes(of: x, as: UInt64.self)
            out += left
        }
        out.pointee = 0x22
        p = out + 1
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of each byte below 0x20 or equal to '"' or '\\' is set
    /// (and possibly bits above it, from borrows); other bits are noise.
    @inline(__always)
    private static func specials(_ x: UInt64) -> UInt64 {
        let quote = x ^ (ones &* 0x22), slash = x ^ (ones &* 0x5C)
        return ((x &- ones &* 0x20) & ~x) | ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash)
    }

    /// The rest of a string after its opening quote, escaped byte by byte, and
    /// the closing quote.
    mutating func string(rest: UnsafeBufferPointer<UInt8>) {
        var out = p
        let hex = Self.hex.utf8Start
        for b in rest {
            if b >= 0x20 && b != 0x22 && b != 0x5C {
                out.pointee = b; out += 1
                continue
            }
            out.pointee = 0x5C; out += 1
            switch b {
            case 0x22: out.pointee = 0x22
            case 0x5C: out.pointee = 0x5C
            case 0x0A: out.pointee = UInt8(ascii: "n")
            case 0x0D: out.pointee = UInt8(ascii: "r")
            case 0x09: out.pointee = UInt8(ascii: "t")
            case 0x08: out.pointee = UInt8(ascii: "b")
            case 0x0C: out.pointee = UInt8(ascii: "f")
            default:
                out[0] = UInt8(ascii: "u"); out[1] = 0x30; out[2] = 0x30
                out[3] = hex[Int(b >> 4)]; out[4] = hex[Int(b & 0xF)]
                out += 5
                continue
            }
            out += 1
        }
        out.pointee = 0x22
        p = out + 1
    }

    private static let hex: StaticString = "0123456789abcdef"

    /// A JSON string from UTF-8 bytes: quotes, backslashes and control
    /// characters escaped, everything else passed through as UTF-8.
    @inline(__always)
    public mutating func string(_ str: UnsafeBufferPointer<UInt8>) {
        var out = p
        out.pointee = 0x22; out += 1
        // Eight bytes at a time while none of them needs escaping (most names).
        var i = 0
        if let base = str.baseAddress {
            while i + 8 <= str.count {
                let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                if Self.specials(x) & Self.highs != 0 { break }
                UnsafeMutableRawPointer(out).storeBytes(of: x, as: UInt64.self)
                out += 8
                i += 8
            }
            let n = str.count, left = n &- i
            if left < 8 && n >= 8 {
                // The last partial word as the string's last eight bytes: the
                // ones before it were copied as they are, so writing them
                // again changes nothing. Borrows only flag upwards, so only
                // its own (top) bytes are checked.
                let x = UnsafeRawPointer(base + n - 8).loadUnaligned(as: UInt64.self)
                if Self.specials(x) & Self.highs & ~(UInt64.max >> UInt64(8 &* left)) == 0 {
                    UnsafeMutableRawPointer(out - (8 &- left)).storeBytes(of: x, as: UInt64.self)
                    out += left
                    out.pointee = 0x22
                    p = out + 1
                    return
                }
            }
        }
        p = out
        string(rest: UnsafeBufferPointer(rebasing: str[i...]))
    }

    /// Four decimal digits of `u` (below 10000, leading zeros kept), the
    /// first in the lowest byte, without a loop or a division instruction.
    @inline(__always)
    static func fourDigits(_ u: UInt32) -> UInt32 {
        let hi = (u &* 5243) >> 19, lo = u &- hi &* 100  // u / 100, exact below 43699
        let t1 = (hi &* 103) >> 10, t2 = (lo &* 103) >> 10  // x / 10, exact below 179
        return 0x3030_3030 | t1 | (hi &- t1 &* 10) << 8 | t2 << 16 | (lo &- t2 &* 10) << 24
    }

    @inline(__always)
    private static func digits(_ u: UInt32) -> Int {
        1 + (u >= 10 ? 1 : 0) + (u >= 100 ? 1 : 0) + (u >= 1000 ? 1 : 0)
    }

    @inline(__always)
    public mutating func int(_ v: Int64) {
        // Lengths, tracks and years: four digits at once, without a loop.
        if UInt64(bitPattern: v) < 10000 {
            let u = UInt32(truncatingIfNeeded: v), n = Self.digits(u)
            // The first digit is the lowest byte: leading zeros shift out.
            UnsafeMutableRawPointer(p).storeBytes(of: (Self.fourDigits(u) >> UInt32(32 - 8 * n)).littleEndian, as: UInt32.self)
            p += n
            return
        }
        // File sizes and counts: up to eight digits as two such words.
        if UInt64(bitPattern: v) < 100_000_000 {
            let u = UInt32(truncatingIfNeeded: v), high = u / 10000, n = Self.digits(high)
            UnsafeMutableRawPointer(p).storeBytes(of: (Self.fourDigits(high) >> UInt32(32 - 8 * n)).littleEndian, as: UInt32.self)
            UnsafeMutableRawPointer(p + n).storeBytes(of: Self.fourDigits(u &- high &* 10000).littleEndian, as: UInt32.self)
            p += n + 4
            return
        }
        int(slow: v)
    }

    private mutating func int(slow v: Int64) {
        var out = p
        if v < 0 { out.pointee = UInt8(ascii: "-"); out += 1 }
        var m = v.magnitude
        var digits = 1
        var t = m
        while t >= 10 { t /= 10; digits += 1 }
        var i = digits - 1
        repeat {
            out[i] = UInt8(ascii: "0") + UInt8(m % 10)
            m /= 10
            i -= 1
        } while i >= 0
        p = out + digits
    }

    /// Each byte value's two lower-case hex digits, `00` to `ff`: a literal,
    /// so reading it costs no lazy initialisation.
    static var hexPairs: StaticString {
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
    }

    /// A quoted hyphenated lower-case UUID: two digits a byte from `hexPairs`
    /// (a load and a store each, where computing them took twice that).
    @inline(__always)
    public mutating func uuid(_ id: ItemID) {
        let out = UnsafeMutableRawPointer(p), pairs = UnsafeRawPointer(Self.hexPairs.utf8Start)
        @inline(__always) func byte(_ word: UInt64, _ shift: UInt64, _ at: Int) {
            let digits = pairs.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: word >> shift & 0xFF) &* 2, as: UInt16.self)
            out.storeBytes(of: digits, toByteOffset: at, as: UInt16.self)
        }
        let quote: UInt8 = 0x22, dash: UInt8 = 0x2D
        out.storeBytes(of: quote, as: UInt8.self)
        byte(id.hi, 56, 1); byte(id.hi, 48, 3); byte(id.hi, 40, 5); byte(id.hi, 32, 7)
        out.storeBytes(of: dash, toByteOffset: 9, as: UInt8.self)
        byte(id.hi, 24, 10); byte(id.hi, 16, 12)
        out.storeBytes(of: dash, toByteOffset: 14, as: UInt8.self)
        byte(id.hi, 8, 15); byte(id.hi, 0, 17)
        out.storeBytes(of: dash, toByteOffset: 19, as: UInt8.self)
        byte(id.lo, 56, 20); byte(id.lo, 48, 22)
        out.storeBytes(of: dash, toByteOffset: 24, as: UInt8.self)
        byte(id.lo, 40, 25); byte(id.lo, 32, 27); byte(id.lo, 24, 29); byte(id.lo, 16, 31); byte(id.lo, 8, 33); byte(id.lo, 0, 35)
        out.storeBytes(of: quote, toByteOffset: 37, as: UInt8.self)
        p += 38
    }
}
