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
        paths[Int(spans[i].start)..<Int(spans[i].start + spans[i].count)]
    }

    /// The path's suffix after its last dot (in its last segment), lower-cased.
    public func suffix(_ i: Int) -> String {
        let p = path(i)
        guard let dot = p.lastIndex(of: UInt8(ascii: ".")), !p[dot...].contains(UInt8(ascii: "/")) else { return "" }
        return String(decoding: p[(dot + 1)...], as: UTF8.self).lowercased()
    }

    /// The MIME type of a suffix (the formats the scanner reads).
    public static func contentType(suffix: String) -> String {
        switch suffix {
        case "mp3": "audio/mpeg"
        case "ogg", "oga", "opus": "audio/ogg"
        case "flac": "audio/flac"
        case "m4a", "mp4", "m4b": "audio/mp4"
        case "wav": "audio/wav"
        default: "application/octet-stream"
        }
    }
}

/// Collects file facts as a database yields them, keyed by song id.
struct SongFilesBuilder {
    var root: String?
    private var paths: [UInt8] = []
    private var facts: [ItemID: (span: TextRef, size: Int64, bitRate: Int32, disc: Int32, created: Int64)] = [:]

    mutating func add(song: ItemID, relativePath: UnsafeBufferPointer<UInt8>, size: Int64, bitRate: Int64, disc: Int64, created: Int64) {
        guard relativePath.count > 0, facts[song] == nil else { return }
        let start = UInt32(paths.count)
        paths.append(contentsOf: relativePath)
        OffsetLimit.check(paths.count, "file paths")
        facts[song] = (TextRef(start: start, count: UInt32(relativePath.count)), size, Int32(clamping: bitRate), Int32(clamping: disc), created)
    }

    /// The facts in the order of `songs`.
    func build(_ songs: [Song]) -> SongFiles {
        guard !facts.isEmpty else { return SongFiles(root: root, paths: [], spans: [], sizes: [], bitRates: [], discs: [], created: []) }
        var spans = [TextRef](repeating: TextRef(start: 0, count: 0), count: songs.count)
        var sizes = [Int64](repeating: 0, count: songs.count), created = sizes
        var bitRates = [Int32](repeating: 0, count: songs.count), discs = bitRates
        for (i, s) in songs.enumerated() {
            guard let f = facts[s.id] else { continue }
            (spans[i], sizes[i], bitRates[i], discs[i], created[i]) = (f.span, f.size, f.bitRate, f.disc, f.created)
        }
        return SongFiles(root: root, paths: paths, spans: spans, sizes: sizes, bitRates: bitRates, discs: discs, created: created)
    }
}
