/// What the scanner recorded of each song's file (its own table, beside the
/// old schema), in flat arrays indexed like `MusicCollection.songs`. Empty
/// for a database no scan of this version wrote: songs then have no file.
public struct SongFiles: Sendable {
    /// The folder the paths are relative to, as the scanner recorded it.
    public let root: String?
    /// Each song's path relative to `root` (empty: no file recorded).
    let paths: [UInt8]
    let spans: [TextRef]
    public let sizes: [Int64]
    public let bitRates: [Int32]
    public let discs: [Int32]
    /// When the scanner first saw the file, Unix seconds.
    public let created: [Int64]

    public static let none = SongFiles(root: nil, paths: [], spans: [], sizes: [], bitRates: [], discs: [], created: [])

    init(root: String?, paths: [UInt8], spans: [TextRef], sizes: [Int64], bitRates: [Int32], discs: [Int32], created: [Int64]) {
        self.root = root; self.paths = paths; self.spans = spans
        self.sizes = sizes; self.bitRates = bitRates; self.discs = discs; self.created = created
    }

    /// Whether song `i` has a recorded file.
    @inline(__always)
    public func has(_ i: Int) -> Bool { i < spans.count && spans[i].count > 0 }

    /// Song `i`'s relative path as stored (the caller checks `has`).
    public func path(_ i: Int) -> ArraySlice<UInt8> {
        paths[pathRange(i)]
    }

    @inline(__always)
    private func pathRange(_ i: Int) -> Range<Int> { Int(spans[i].start)..<Int(spans[i].start + spans[i].count) }

    /// Song `i`'s path's length in bytes.
    @inline(__always)
    func pathCount(_ i: Int) -> Int { Int(spans[i].count) }

    /// Song `i`'s relative path's bytes (the caller checks `has`).
    @inline(__always)
    func withPath<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        paths.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[pathRange(i)])) }
    }

    /// The path's suffix after its last dot (in its last segment), lower-cased.
    public func suffix(_ i: Int) -> String {
        String(decoding: paths[suffixRange(i)], as: UTF8.self).lowercased()
    }

    /// Where in `paths` song `i`'s suffix is, as stored: after the last dot of
    /// the path's last segment, scanned back from its end on the bytes
    /// themselves (a slice of the array costs a retain and a release).
    @inline(__always)
    private func suffixRange(_ i: Int) -> Range<Int> {
        let r = pathRange(i)
        return paths.withUnsafeBufferPointer { t in
            var j = r.upperBound - 1
            while j >= r.lowerBound {
                if t[j] == UInt8(ascii: ".") { return (j + 1)..<r.upperBound }
                if t[j] == UInt8(ascii: "/") { break }
                j -= 1
            }
            return r.upperBound..<r.upperBound
        }
    }

    /// `suffix(i)`'s bytes, without building a String when the suffix is
    /// short and ASCII (nearly always): answers list one per song.
    public func withSuffix<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        var buffer: (UInt64, UInt64) = (0, 0)
        if let n = shortSuffix(i, into: &buffer) {
            return try withUnsafeBytes(of: &buffer) {
                try body(UnsafeBufferPointer(start: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n))
            }
        }
        var str = suffix(i)
        return try str.withUTF8(body)
    }

    /// `suffix(i)` into `buffer` when it is ASCII and at most 16 bytes,
    /// returning its length; otherwise nil. (The song writer calls it
    /// directly: through the generic `withSuffix` a song cost ~75 more instructions.)
    @inline(__always)
    func shortSuffix(_ i: Int, into buffer: inout (UInt64, UInt64)) -> Int? {
        let s = suffixRange(i)
        guard s.count <= 16 else { return nil }
        return paths.withUnsafeBufferPointer { t in
            withUnsafeMutableBytes(of: &buffer) { raw -> Int? in
                for n in 0..<s.count {
                    let c = t[s.lowerBound + n]
                    if c >= 0x80 { return nil }
                    raw[n] = c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c
                }
                return s.count
            }
        }
    }

    /// The MIME type of a suffix (the formats the scanner reads).
    public static func contentType(suffix: String) -> String {
        var s = suffix
        return s.withUTF8 { contentType(suffix: $0) }.description
    }

    public static func contentType(suffix: UnsafeBufferPointer<UInt8>) -> StaticString {
        // The suffix's bytes as one little-endian word, against the known ones.
        guard suffix.count == 3 || suffix.count == 4 else { return "application/octet-stream" }
        var word: UInt32 = 0
        for (i, b) in suffix.enumerated() { word |= UInt32(b) << UInt32(8 * i) }
        // The length too: "mp3" and "mp3\0" are the same word.
        switch (suffix.count, word) {
        case (3, 0x33_70_6D): return "audio/mpeg"  // mp3
        case (3, 0x67_67_6F), (3, 0x61_67_6F), (4, 0x73_75_70_6F): return "audio/ogg"  // ogg oga opus
        case (4, 0x63_61_6C_66): return "audio/flac"  // flac
        case (3, 0x61_34_6D), (3, 0x34_70_6D), (3, 0x62_34_6D): return "audio/mp4"  // m4a mp4 m4b
        case (3, 0x76_61_77): return "audio/wav"  // wav
        default: return "application/octet-stream"
        }
    }
}

/// Collects file facts as a database yields them, keyed by song id.
struct SongFilesBuilder {
    var root: String?
    private var paths: [UInt8] = []
    // One entry per file row, in the order the rows came: no table keyed by
    // song id (at 10M songs a dictionary cost seconds and a gigabyte).
    private var ids: [ItemID] = []
    private var spans: [TextRef] = []
    private var sizes: [Int64] = []
    private var bitRates: [Int32] = []
    private var discs: [Int32] = []
    private var created: [Int64] = []

    mutating func reserve(_ rows: Int) {
        paths.reserveCapacity(rows * 64)
        ids.reserveCapacity(rows)
        spans.reserveCapacity(rows)
        sizes.reserveCapacity(rows)
        bitRates.reserveCapacity(rows)
        discs.reserveCapacity(rows)
        created.reserveCapacity(rows)
    }

    mutating func add(song: ItemID, relativePath: UnsafeBufferPointer<UInt8>, size: Int64, bitRate: Int64, disc: Int64, created: Int64) {
        guard relativePath.count > 0 else { return }
        let start = UInt32(paths.count)
        paths.append(contentsOf: relativePath)
        OffsetLimit.check(paths.count, "file paths")
        ids.append(song)
        spans.append(TextRef(start: start, count: UInt32(relativePath.count)))
        sizes.append(size)
        bitRates.append(Int32(clamping: bitRate))
        discs.append(Int32(clamping: disc))
        self.created.append(created)
    }

    /// The rows sorted by song id (for `build`; a sort of its own, so that it
    /// can run beside the songs' one).
    func rowsByID() -> [UInt32] {
        MusicCollection.sortedByID(count: ids.count) { ids[$0] }
    }

    /// Each song's facts: the rows sorted by id (`order`, from `rowsByID`),
    /// walked beside the songs in id order (`byID`); of several rows for one
    /// song the first that came wins. Leaves the builder empty.
    mutating func build(_ songs: [Song], byID: [UInt32], rowsByID order: [UInt32]) -> SongFiles {
        guard !ids.isEmpty else { return SongFiles(root: root, paths: [], spans: [], sizes: [], bitRates: [], discs: [], created: []) }
        var rowOf = [UInt32](repeating: .max, count: songs.count)
        var j = 0
        for s in byID {
            let id = songs[Int(s)].id
            while j < order.count && ids[Int(order[j])] < id { j += 1 }
            var first = UInt32.max
            while j < order.count && ids[Int(order[j])] == id {
                first = min(first, order[j])
                j += 1
            }
            rowOf[Int(s)] = first
        }
        ids = []
        // One column at a time, each row column freed once gathered.
        func gather<T>(_ rows: inout [T], _ none: T) -> [T] {
            defer { rows = [] }
            return rows.withUnsafeBufferPointer { r in rowOf.map { $0 == .max ? none : r[Int($0)] } }
        }
        let files = SongFiles(root: root, paths: paths, spans: gather(&spans, TextRef(start: 0, count: 0)), sizes: gather(&sizes, 0),
                              bitRates: gather(&bitRates, 0), discs: gather(&discs, 0), created: gather(&created, 0))
        paths = []
        return files
    }
}
