import Glibc
import AvalonCore

/// What the scanner knows of one file: who it is on disk and what its tags
/// said, so that an incremental scan reads only files that changed.
/// Avalon's own table; the old server never reads it.
public struct FileRecord: Sendable, Equatable {
    public var path: String
    public var size: Int64
    public var mtime: Int64
    public var ctime: Int64
    /// Changed too recently to trust its times (within a timestamp tick of
    /// the scan): read again next time, as git does with racily clean files.
    public var racy: Bool
    /// The tags, or nil for a file that is not readable audio.
    public var tags: FileTags?
    /// Why it was skipped, when `tags` is nil.
    public var reason: String
    /// When a scan first saw this path (Unix seconds), kept while it stays;
    /// 0 for a record written before scans kept it (read again once).
    public var created: Int64
    /// The song this file is (its id comes from the path's bytes), when it has tags.
    public var song: ItemID?
    /// Its picture's name in the cover cache: the embedded one of an audio
    /// file, or the file itself when it is a folder image; "" none; nil for a
    /// record written before scans kept pictures (read again once).
    public var picture: String?
    /// The embedded picture is a front cover.
    public var pictureFront = false

    public init(path: String, size: Int64, mtime: Int64, ctime: Int64, racy: Bool, tags: FileTags?, reason: String = "", created: Int64 = 0) {
        self.path = path; self.size = size; self.mtime = mtime; self.ctime = ctime
        self.racy = racy; self.tags = tags; self.reason = reason; self.created = created
    }

    /// Whether the file on disk is still the one read (and the record has
    /// every fact this version keeps).
    public func unchanged(size: Int64, mtime: Int64, ctime: Int64) -> Bool {
        !racy && created != 0 && picture != nil && self.size == size && self.mtime == mtime && self.ctime == ctime
    }
}

public struct FileTags: Sendable, Equatable {
    public var title = "", album = "", artist = "", genre = ""
    public var track: Int64 = 0, year: Int64 = 0, length: Int64 = 0
    /// kbit/s, and the disc tag's leading integer (0 when absent).
    public var bitRate: Int64 = 0, disc: Int64 = 0
    public init() {}
}

/// The folder a scan read: `root` absolute (what Subsonic streams from),
/// `prefix` as the file records' paths begin (the root as typed, normalised).
public struct MusicFolder: Sendable, Equatable {
    public var root: String
    public var prefix: String
    public init(root: String, prefix: String) { self.root = root; self.prefix = prefix }

    /// What every stored path of the folder starts with: the prefix and a `/`.
    var pathHead: [UInt8] {
        var head = Array(prefix.utf8)
        if head.last != UInt8(ascii: "/") { head.append(UInt8(ascii: "/")) }
        return head
    }

    /// A stored path's bytes within the folder (`head`: `pathHead`, made
    /// once for all rows), or nil for one outside it.
    static func relative(bytes path: UnsafeBufferPointer<UInt8>, head: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        guard path.count > head.count, let p = path.baseAddress, let h = head.baseAddress, memcmp(p, h, head.count) == 0 else { return nil }
        return UnsafeBufferPointer(rebasing: path[head.count...])
    }

    /// A record's path within the folder, or nil for one outside it.
    public func relative(_ path: String) -> String? {
        // By bytes: a combining mark after "/" would join it in a Character.
        let head = pathHead
        guard path.utf8.starts(with: head) else { return nil }
        return String(decoding: path.utf8.dropFirst(head.count), as: UTF8.self)
    }
}

/// One collection a scan wrote: generation 0 is a database no scan of ours
/// wrote (the old scanner's), which has no such row.
public struct Generation: Sendable, Equatable {
    public var number: Int64
    public var writtenAt: String
    public var songs: Int64, albums: Int64, artists: Int64, genres: Int64
    public var scanner: String

    public init(number: Int64, writtenAt: String, songs: Int64, albums: Int64, artists: Int64, genres: Int64, scanner: String) {
        self.number = number; self.writtenAt = writtenAt
        self.songs = songs; self.albums = albums; self.artists = artists; self.genres = genres
        self.scanner = scanner
    }
}

/// What a scan hands the store: the rows, and the file records when the
/// scanner keeps them (nil leaves the stored records as they are).
public struct ScanWrite: Sendable {
    public var rows: CollectionRows
    public var files: [FileRecord]?
    /// The scan reused every stored record and found no file gone: the
    /// stored records stand, and the store need not read them to compare.
    public var filesUnchanged = false
    public var scanner: String
    /// The scanned folder; nil leaves the stored one.
    public var folder: MusicFolder?
    /// Each album's, artist's and song's cover (its name in the cover cache);
    /// nil leaves the stored ones.
    public var covers: [ItemID: String]?
    public init(rows: CollectionRows, files: [FileRecord]?, scanner: String) {
        self.rows = rows; self.files = files; self.scanner = scanner
    }
}

/// What writing a scan did.
public struct WriteOutcome: Sendable {
    /// The generation now current; a new one when rows changed, or what is
    /// served of the files, covers or folder.
    public var generation: Int64
    public var rowsChanged: Bool
    public var filesChanged: Bool
    public var diff: RowDiff
    /// A new generation was written.
    public var generationWritten = false
}

/// How stored rows differ from a scan's, table by table, keyed by id.
public struct RowDiff: Sendable {
    public struct Elements: Sendable {
        public var added: [CollectionRows.Named] = []
        public var renamed: [CollectionRows.Named] = []
        public var removed: [ItemID] = []
        var isEmpty: Bool { added.isEmpty && renamed.isEmpty && removed.isEmpty }
    }
    /// Albums, artists, genres.
    public var elements = [Elements(), Elements(), Elements()]
    public var addedTracks: [CollectionRows.Track] = []
    /// Tracks whose id stays and something else changed: deleted and inserted again.
    public var changedTracks: [CollectionRows.Track] = []
    public var removedTracks: [ItemID] = []

    public var isEmpty: Bool {
        addedTracks.isEmpty && changedTracks.isEmpty && removedTracks.isEmpty && elements.allSatisfy(\.isEmpty)
    }

    public init() {}

    /// `old` as stored, `new` as scanned (already in the store's value ranges).
    public init(old: CollectionRows, new: CollectionRows) {
        let lists: [(CollectionRows) -> [CollectionRows.Named]] = [\.albums, \.artists, \.genres]
        for (k, list) in lists.enumerated() {
            var stored = [ItemID: String](minimumCapacity: list(old).count)
            for e in list(old) { stored[e.id] = e.name }
            for e in list(new) {
                switch stored.removeValue(forKey: e.id) {
                case nil: elements[k].added.append(e)
                case let name? where name != e.name: elements[k].renamed.append(e)
                default: break
                }
            }
            elements[k].removed = Array(stored.keys)
        }
        var stored = [ItemID: CollectionRows.Track](minimumCapacity: old.tracks.count)
        for t in old.tracks { stored[t.id] = t }
        for t in new.tracks {
            switch stored.removeValue(forKey: t.id) {
            case nil: addedTracks.append(t)
            case let s? where s != t: changedTracks.append(t)
            default: break
            }
        }
        removedTracks = Array(stored.keys)
    }
}

/// How stored file records differ from a scan's, keyed by path.
struct FileDiff {
    var upserted: [FileRecord] = []
    var removed: [String] = []
    /// What the server serves of the files changed (a song's file, size, bit
    /// rate, disc or first sighting), not only what a scan keeps for itself
    /// (times): such a write makes a new generation, so that servers reload
    /// and no snapshot of the old facts is taken for the new ones.
    var servedChanged = false
    var isEmpty: Bool { upserted.isEmpty && removed.isEmpty }

    init(old: [FileRecord], new: [FileRecord]) {
        var stored = [String: FileRecord](minimumCapacity: old.count)
        for f in old { stored[f.path] = f }
        for f in new {
            let was = stored.removeValue(forKey: f.path)
            guard was != f else { continue }
            upserted.append(f)
            if was.map({ !Self.servedAlike($0, f) }) ?? (f.song != nil) { servedChanged = true }
        }
        removed = Array(stored.keys)
        if stored.values.contains(where: { $0.song != nil }) { servedChanged = true }
    }

    static func servedAlike(_ a: FileRecord, _ b: FileRecord) -> Bool {
        a.song == b.song && a.size == b.size && a.created == b.created && a.tags?.bitRate == b.tags?.bitRate && a.tags?.disc == b.tags?.disc
    }
}

/// How stored covers differ from a scan's, keyed by item.
struct CoverDiff {
    var upserted: [(ItemID, String)] = []
    var removed: [ItemID] = []
    var isEmpty: Bool { upserted.isEmpty && removed.isEmpty }

    init(old: [ItemID: String], new: [ItemID: String]) {
        var stored = old
        for (id, picture) in new where stored.removeValue(forKey: id) != picture { upserted.append((id, picture)) }
        removed = Array(stored.keys)
    }
}

/// Avalon's own tables, next to the old schema: created when missing, never
/// altered; the old server ignores them.
func avalonSchemaSQL(textType: String) -> String {
    """
    CREATE TABLE IF NOT EXISTS avalon_generations (
        generation BIGINT NOT NULL PRIMARY KEY, written_at VARCHAR NOT NULL,
        songs BIGINT NOT NULL, albums BIGINT NOT NULL, artists BIGINT NOT NULL, genres BIGINT NOT NULL,
        scanner VARCHAR NOT NULL);
    CREATE TABLE IF NOT EXISTS avalon_files (
        path \(textType) NOT NULL PRIMARY KEY, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL, ctime_ns BIGINT NOT NULL,
        racy INTEGER NOT NULL, readable INTEGER NOT NULL,
        title VARCHAR, album VARCHAR, artist VARCHAR, genre VARCHAR, track BIGINT, year BIGINT, length BIGINT,
        reason VARCHAR, \(fileFactColumnsSQL));
    CREATE TABLE IF NOT EXISTS avalon_music_folder (root \(textType) NOT NULL, prefix \(textType) NOT NULL);
    CREATE TABLE IF NOT EXISTS avalon_covers (item CHAR(32) NOT NULL PRIMARY KEY, picture VARCHAR NOT NULL);
    """
}

/// Facts kept per file since the Subsonic API: an older `avalon_files`
/// gets them with ALTER TABLE (NULL: unknown, so the file is read again).
let fileFactColumns = [("song", "VARCHAR"), ("bitrate", "BIGINT"), ("disc", "BIGINT"), ("created", "BIGINT"),
                       ("picture", "VARCHAR"), ("picture_front", "BIGINT")]
let fileFactColumnsSQL = fileFactColumns.map { "\($0.0) \($0.1)" }.joined(separator: ", ")


extension CollectionRows {
    /// Generation counts for these rows.
    func generation(_ number: Int64, scanner: String) -> Generation {
        Generation(number: number, writtenAt: isoTime(wallNanoseconds: wallNanoseconds()), songs: Int64(tracks.count), albums: Int64(albums.count),
                   artists: Int64(artists.count), genres: Int64(genres.count), scanner: scanner)
    }
}
