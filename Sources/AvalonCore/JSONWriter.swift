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

    @inline(__always)
    public mutating func raw(_ str: StaticString) {
        let n = str.utf8CodeUnitCount
        s.reserve(n).update(from: str.utf8Start, count: n)
        s.count += n
    }

    @inline(__always)
    private mutating func byte(_ b: UInt8) {
        s.reserve(1).pointee = b
        s.count += 1
    }

    private static let hex: StaticString = "0123456789abcdef"

    /// A JSON string from UTF-8 bytes: quotes, backslashes and control
    /// characters escaped, everything else passed through as UTF-8.
    public mutating func string(_ str: UnsafeBufferPointer<UInt8>) {
        // Worst case every byte becomes \u00XX.
        var out = s.reserve(str.count * 6 + 2)
        let start = out
        let hex = Self.hex.utf8Start
        out.pointee = 0x22; out += 1
        for b in str {
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
        out.pointee = 0x22; out += 1
        s.count += out - start
    }

    public mutating func string(_ str: String) {
        var str = str
        str.withUTF8 { string($0) }
    }

    public mutating func int(_ v: Int64) {
        var out = s.reserve(20)
        if v < 0 { out.pointee = UInt8(ascii: "-"); out += 1; s.count += 1 }
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
        s.count += digits
    }

    /// Two hex digits for every byte value.
    private static let hexPairs: StaticString = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

    /// A quoted hyphenated lower-case UUID, two digits a byte from a table.
    public mutating func uuid(_ id: ItemID) {
        let out = s.reserve(38)
        let pairs = Self.hexPairs.utf8Start
        out[0] = 0x22
        var pos = 1
        for k in 0..<16 {
            if k == 4 || k == 6 || k == 8 || k == 10 { out[pos] = UInt8(ascii: "-"); pos += 1 }
            let word = k < 8 ? id.hi : id.lo
            let b = Int((word >> UInt64(56 - 8 * (k & 7))) & 0xFF)
            out[pos] = pairs[2 * b]
            out[pos + 1] = pairs[2 * b + 1]
            pos += 2
        }
        out[37] = 0x22
        s.count += 38
    }
}
