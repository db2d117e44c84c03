import AvalonCore

/// The rows of a scanned collection, ready to be written.
public struct CollectionRows: Sendable {
    public struct Named: Sendable, Equatable {
        public var id: ItemID
        public var name: String
        public init(id: ItemID, name: String) { self.id = id; self.name = name }
    }
    public struct Track: Sendable, Equatable {
        public var id: ItemID
        public var name: String
        public var length: Int64, track: Int64, year: Int64
        public var album: ItemID, artist: ItemID, genre: ItemID
        public init(id: ItemID, name: String, length: Int64, track: Int64, year: Int64, album: ItemID, artist: ItemID, genre: ItemID) {
            self.id = id; self.name = name; self.length = length; self.track = track; self.year = year
            self.album = album; self.artist = artist; self.genre = genre
        }
    }
    public var albums: [Named] = []
    public var artists: [Named] = []
    public var genres: [Named] = []
    public var tracks: [Track] = []
    public init() {}
}

public struct StoreError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A database holding a collection in the old server's schema, and Avalon's
/// own tables beside it (generations, the scanner's file records).
public protocol Store: AnyObject {
    /// Creates the old schema's tables and indexes that are missing; never
    /// alters existing ones. (Avalon's own tables come with the first write.)
    func ensureSchema() throws
    /// Reads the whole collection and its generation in one consistent
    /// snapshot. Creates nothing: a read-only database (a standby) loads.
    func load() throws -> MusicCollection
    /// The generation stored now: 0 for a database no scan of ours wrote.
    func generation() throws -> Int64
    /// The row of the generation stored now, as text (nil: generation 0). A
    /// generation's rows never change once written, so this names the
    /// collection's contents: a snapshot is valid for it and nothing else.
    func generationStamp() throws -> String?
    /// The collection's rows as stored.
    func rows() throws -> CollectionRows
    /// The scanner's file records as stored.
    func files() throws -> [FileRecord]
    /// The folder the last scan read, when a scan of this version wrote.
    func folder() throws -> MusicFolder?
    /// The covers the last scan chose (item → picture in the cover cache).
    func covers() throws -> [ItemID: String]
    /// Writes what differs between the stored rows and the scan's, in one
    /// transaction, and a new generation when any row changed; nothing at
    /// all when nothing changed. `check` sees the ids of the songs stored
    /// now, inside the transaction, and may refuse (throw), which leaves the
    /// database as it was.
    @discardableResult
    func write(_ scan: ScanWrite, check: ([ItemID]) throws -> Void) throws -> WriteOutcome
}

/// The old server's schema (SQLAlchemy's DDL), with its id column type:
/// CHAR(32) hex in SQLite, native UUID in PostgreSQL. IF NOT EXISTS: an
/// existing schema is never altered.
func schemaSQL(idType: String) -> String {
    """
    CREATE TABLE IF NOT EXISTS albums (id \(idType) NOT NULL, name VARCHAR, PRIMARY KEY (id));
    CREATE TABLE IF NOT EXISTS artists (id \(idType) NOT NULL, name VARCHAR, PRIMARY KEY (id));
    CREATE TABLE IF NOT EXISTS genres (id \(idType) NOT NULL, name VARCHAR, PRIMARY KEY (id));
    CREATE TABLE IF NOT EXISTS tracks (
        id \(idType) NOT NULL, name VARCHAR, length INTEGER, track INTEGER, year INTEGER,
        album_id \(idType), artist_id \(idType), genre_id \(idType),
        PRIMARY KEY (id),
        FOREIGN KEY(album_id) REFERENCES albums (id),
        FOREIGN KEY(artist_id) REFERENCES artists (id),
        FOREIGN KEY(genre_id) REFERENCES genres (id));
    CREATE INDEX IF NOT EXISTS ix_tracks_album_id ON tracks (album_id);
    CREATE INDEX IF NOT EXISTS ix_tracks_artist_id ON tracks (artist_id);
    CREATE INDEX IF NOT EXISTS ix_tracks_genre_id ON tracks (genre_id);
    """
}

/// Opens the store a URL names.
public func openStore(_ url: DatabaseURL) throws -> Store {
    switch url {
    case .sqlite(let path): return try SQLiteStore(path: path)
    case .postgres(let uri): return try PostgresStore(uri: uri)
    }
}

/// `generationStamp`'s query: the newest generation row, one text.
let generationStampSQL = """
    SELECT 'generation ' || generation || ' written ' || written_at || ': ' || songs || ' songs, ' || albums \
    || ' albums, ' || artists || ' artists, ' || genres || ' genres, by ' || scanner \
    FROM avalon_generations ORDER BY generation DESC LIMIT 1
    """

/// The old schema's INTEGER is 32-bit in PostgreSQL; larger values would
/// fail the whole scan, so they are clamped.
@inline(__always)
func clamp32(_ v: Int64) -> Int32 { Int32(clamping: v) }
