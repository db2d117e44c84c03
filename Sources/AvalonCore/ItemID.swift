import CCrypto

/// A 128-bit UUID as two integers: compares as the 128-bit number and costs
/// no allocation, so ids can live in flat arrays.
public struct ItemID: Hashable, Comparable, Sendable, BitwiseCopyable {
    public var hi: UInt64
    public var lo: UInt64

    public init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    // Ids are SHA-1 output: one word is hash enough.
    public func hash(into h: inout Hasher) { h.combine(hi ^ lo) }

    public static func < (a: ItemID, b: ItemID) -> Bool {
        a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo
    }

    /// Parses exactly 32 hex digits (either case), the form SQLite columns
    /// hold: eight digits at a time in one word (a load reads four ids a song).
    public init?(hex32 bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count == 32, let base = bytes.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        var bad: UInt64 = 0
        let a = Self.hex8(raw.loadUnaligned(as: UInt64.self), &bad)
        let b = Self.hex8(raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self), &bad)
        let c = Self.hex8(raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), &bad)
        let d = Self.hex8(raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self), &bad)
        guard bad == 0 else { return nil }
        self.init(hi: a << 32 | b, lo: c << 32 | d)
    }

    /// Eight hex digits, the first in the lowest byte of `word` (as loaded),
    /// as a number; a byte that is no hex digit sets bits of `bad`.
    @inline(__always)
    static func hex8(_ word: UInt64, _ bad: inout UInt64) -> UInt64 {
        let x = UInt64(littleEndian: word)
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        // For bytes below 0x80, (b | 0x80) - k borrows from no other byte and
        // keeps its high bit exactly when b >= k (k <= 0x80).
        @inline(__always) func atLeast(_ v: UInt64, _ k: UInt64) -> UInt64 { ((v | highs) &- ones &* k) & highs }
        let folded = x | (ones &* 0x20)  // A-F as a-f; digits unchanged
        let digit = atLeast(x, 0x30) & ~atLeast(x, 0x3A)
        let letter = atLeast(folded, 0x61) & ~atLeast(folded, 0x67)
        bad |= (x & highs) | ((digit | letter) ^ highs)
        // A digit's value is its low nibble; a letter's (bit 6 set) that plus 9.
        let v = (x & (ones &* 0x0F)) &+ ((x >> 6) & ones) &* 9
        // Nibbles n0…n7 (n0 lowest byte) into n0n1…n7, most significant first.
        let pairs = ((v << 4) | (v >> 8)) & 0x00FF_00FF_00FF_00FF
        let quads = ((pairs << 8) | (pairs >> 16)) & 0x0000_FFFF_0000_FFFF
        return ((quads << 16) | (quads >> 32)) & 0xFFFF_FFFF
    }

    public init?(hex32 bytes: [UInt8]) {
        guard let id = bytes.withUnsafeBufferPointer({ ItemID(hex32: $0) }) else { return nil }
        self = id
    }

    public init?(hex32 s: String) {
        self.init(hex32: Array(s.utf8))
    }

    /// A UUID as a client may type it (docs/API.md): hyphens anywhere, `{}` braces at
    /// the ends, an optional `urn:uuid:` prefix, 32 hex digits in any case.
    public init?(parsing s: String) {
        var s = s
        if let id = s.withUTF8({ ItemID(hyphenated: $0) }) {
            self = id
            return
        }
        var b = Array(s.utf8)
        for prefix in ["urn:uuid:", "uuid:", "urn:"] {
            let p = Array(prefix.utf8)
            if b.starts(with: p) { b.removeFirst(p.count); break }
        }
        while let f = b.first, f == UInt8(ascii: "{") || f == UInt8(ascii: "}") { b.removeFirst() }
        while let l = b.last, l == UInt8(ascii: "{") || l == UInt8(ascii: "}") { b.removeLast() }
        b.removeAll { $0 == UInt8(ascii: "-") }
        self.init(hex32: b)
    }

    /// The form clients send nearly always, 8-4-4-4-12 hex digits, read in
    /// place: the general parser copies the text several times.
    init?(hyphenated b: UnsafeBufferPointer<UInt8>) {
        let dash = UInt8(ascii: "-")
        guard b.count == 36, b[8] == dash, b[13] == dash, b[18] == dash, b[23] == dash else { return nil }
        let id = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digits -> ItemID? in
            var n = 0
            for c in b where c != dash {
                guard n < 32 else { return nil }
                digits[n] = c
                n += 1
            }
            return n == 32 ? ItemID(hex32: UnsafeBufferPointer(digits)) : nil
        }
        guard let id else { return nil }
        self = id
    }

    /// 32 lower-case hex digits, no hyphens: the SQLite column form.
    public var hex32: String {
        var out = [UInt8]()
        out.reserveCapacity(32)
        appendHex(hi, 16, to: &out)
        appendHex(lo, 16, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical hyphenated lower-case form used in JSON.
    public var uuidString: String {
        var out = [UInt8]()
        out.reserveCapacity(36)
        writeHyphenated(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    func writeHyphenated(to out: inout [UInt8]) {
        appendHex(hi >> 32, 8, to: &out)
        out.append(UInt8(ascii: "-"))
        appendHex((hi >> 16) & 0xFFFF, 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendHex(hi & 0xFFFF, 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendHex(lo >> 48, 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendHex(lo & 0xFFFF_FFFF_FFFF, 12, to: &out)
    }

    /// The 16 bytes in network order, for libpq's binary UUID format.
    public var bytes: [UInt8] {
        (0..<16).map { i in
            i < 8 ? UInt8(truncatingIfNeeded: hi >> (56 - 8 * i)) : UInt8(truncatingIfNeeded: lo >> (56 - 8 * (i - 8)))
        }
    }

    public init(bytes b: UnsafeRawBufferPointer) {
        precondition(b.count >= 16)
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(b[i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(b[i]) }
        self.init(hi: hi, lo: lo)
    }

    /// UUID version 5: SHA-1 of namespace bytes + name bytes (RFC 4122).
    public static func v5(namespace: ItemID, name: [UInt8]) -> ItemID {
        var input = namespace.bytes
        input.append(contentsOf: name)
        var digest = [UInt8](repeating: 0, count: 20)
        input.withUnsafeBufferPointer { p in
            _ = SHA1(p.baseAddress, p.count, &digest)
        }
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        return digest.withUnsafeBytes { ItemID(bytes: $0) }
    }

    public static let albumNamespace = ItemID(hex32: "7655e6056eaa40d8a25f5c6c92a4d31a")!
    public static let artistNamespace = ItemID(hex32: "fe4df0f62c554ba6acf3134eae3e710e")!
    public static let genreNamespace = ItemID(hex32: "dd8dbd9c8ed7471980c571d978665dd0")!
    public static let songNamespace = ItemID(hex32: "4151ace36a9841cda3de8c242654cb67")!

    /// Album/artist/genre ids hash the Python-lower-cased name, so names that
    /// differ only in case share an id.
    public static func album(_ name: String) -> ItemID { v5(namespace: albumNamespace, name: Array(pythonLowercased(name).utf8)) }
    public static func artist(_ name: String) -> ItemID { v5(namespace: artistNamespace, name: Array(pythonLowercased(name).utf8)) }
    public static func genre(_ name: String) -> ItemID { v5(namespace: genreNamespace, name: Array(pythonLowercased(name).utf8)) }
    /// Song ids hash the path exactly as given (case kept).
    public static func song(path: String) -> ItemID { v5(namespace: songNamespace, name: Array(path.utf8)) }
    /// A song whose path is given as the file system's bytes (the same id as
    /// `song(path:)` when they are UTF-8; also defined when they are not).
    public static func song(pathBytes: [UInt8]) -> ItemID { v5(namespace: songNamespace, name: pathBytes) }
}

private let hexTable: [UInt8] = (0..<256).map { b -> UInt8 in
    switch UInt8(b) {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt8(b) - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt8(b) - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt8(b) - UInt8(ascii: "A") + 10
    default: return 0xFF
    }
}

@inline(__always)
func hexValue(_ b: UInt8) -> UInt8? {
    let v = hexTable[Int(b)]
    return v == 0xFF ? nil : v
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

@inline(__always)
func appendHex(_ v: UInt64, _ digits: Int, to out: inout [UInt8]) {
    var shift = (digits - 1) * 4
    while shift >= 0 {
        out.append(hexDigits[Int((v >> UInt64(shift)) & 0xF)])
        shift -= 4
    }
}
