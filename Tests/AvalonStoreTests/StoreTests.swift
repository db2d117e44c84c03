import AvalonCore
@testable import AvalonStore
import Foundation
import TestSupport
import XCTest

func sampleRows(_ n: Int = 5, tag: String = "") -> CollectionRows {
    var rows = CollectionRows()
    let albums = ["Dear You", "¡Firme!", "Группа крови"].map { $0 + tag }
    let artists = ["Jawbreaker", "Σωκράτης"].map { $0 + tag }
    rows.albums = albums.map { .init(id: .album($0), name: $0) }
    rows.artists = artists.map { .init(id: .artist($0), name: $0) }
    rows.genres = [.init(id: .genre("Punk"), name: "Punk")]
    for i in 0..<n {
        rows.tracks.append(.init(id: .song(path: "/m/\(i)\(tag).mp3"), name: "Song \(i)\t\\ \"é\" \n\(tag)", length: Int64(i * 10),
                                 track: Int64(i), year: 1990 + Int64(i), album: .album(albums[i % 3]),
                                 artist: .artist(artists[i % 2]), genre: .genre("Punk")))
    }
    return rows
}

func assertCollection(_ c: MusicCollection, equals rows: CollectionRows, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(c.songs.count, rows.tracks.count, file: file, line: line)
    XCTAssertEqual(c.albums.count, rows.albums.count, file: file, line: line)
    XCTAssertEqual(c.artists.count, rows.artists.count, file: file, line: line)
    XCTAssertEqual(c.genres.count, rows.genres.count, file: file, line: line)
    let byID = Dictionary(uniqueKeysWithValues: c.songs.map { ($0.id, $0) })
    for t in rows.tracks {
        guard let s = byID[t.id] else { XCTFail("song \(t.id.uuidString) missing", file: file, line: line); continue }
        XCTAssertEqual(c.text(s.name), t.name, file: file, line: line)
        XCTAssertEqual([s.length, s.track, s.year], [t.length, t.track, t.year], file: file, line: line)
        XCTAssertEqual(c.albums.items[Int(s.album)].id, t.album, file: file, line: line)
        XCTAssertEqual(c.artists.items[Int(s.artist)].id, t.artist, file: file, line: line)
        XCTAssertEqual(c.genres.items[Int(s.genre)].id, t.genre, file: file, line: line)
    }
    for a in rows.albums {
        XCTAssertEqual(c.albums.index(of: a.id).map { c.text(c.albums.items[Int($0)].name) }, a.name, file: file, line: line)
    }
}

final class DatabaseURLTests: XCTestCase {
    func testForms() throws {
        XCTAssertEqual(try DatabaseURL(parsing: "sqlite:///relative/a.db"), .sqlite(path: "relative/a.db"))
        XCTAssertEqual(try DatabaseURL(parsing: "sqlite:////var/db/a.db"), .sqlite(path: "/var/db/a.db"))
        XCTAssertEqual(try DatabaseURL(parsing: "postgresql://u:p@h:5432/db?sslmode=require"), .postgres(uri: "postgresql://u:p@h:5432/db?sslmode=require"))
        XCTAssertEqual(try DatabaseURL(parsing: "postgres://u@h/db"), .postgres(uri: "postgresql://u@h/db"))
        XCTAssertEqual(try DatabaseURL(parsing: "postgresql+psycopg2://u:p@h/db"), .postgres(uri: "postgresql://u:p@h/db"))
    }

    func testErrorsNameTheProblemAndHideThePassword() {
        for bad in ["", "mysql://u:secret@h/db", "sqlite://", "sqlite:///", "sqlite:/a.db", "postgresql://", "sqlite:///:memory:"] {
            XCTAssertThrowsError(try DatabaseURL(parsing: bad), bad) { e in
                XCTAssertTrue("\(e)".contains("DATABASE_URL"), "\(e)")
                XCTAssertFalse("\(e)".contains("secret"), "\(e)")
            }
        }
        XCTAssertEqual(DatabaseURL.postgres(uri: "postgresql://user:hunter2@db:5432/x").description, "postgresql://user:***@db:5432/x")
        XCTAssertEqual(DatabaseURL.redact("postgresql://user@db/x"), "postgresql://user@db/x")
    }
}

final class SQLiteStoreTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTempDir() }
    override func tearDown() { removeTree(dir) }

    func testRoundTripAndReplace() throws {
        let store = try SQLiteStore(path: dir + "/a.sqlite")
        try store.ensureSchema()
        XCTAssertEqual(try store.load().songs.count, 0)
        let rows = sampleRows(7)
        try store.replace(with: rows)
        assertCollection(try SQLiteStore(path: dir + "/a.sqlite").load(), equals: rows)
        // A second scan replaces everything.
        let next = sampleRows(3, tag: " II")
        try store.replace(with: next)
        assertCollection(try store.load(), equals: next)
        // Ids are stored as 32 lower-case hex digits.
        let ids = try runProgram(["/usr/bin/sqlite3", dir + "/a.sqlite", "SELECT id, album_id FROM tracks LIMIT 1"]).stdout
        XCTAssertNotNil(ids.range(of: "^[0-9a-f]{32}\\|[0-9a-f]{32}\n$", options: .regularExpression), ids)
    }

    /// The reading thread copies rows into batches (8,192 rows, four in
    /// flight) that grow for a row larger than their room (1.4 MB) and are
    /// handed back and forth: names of every size, empty ones among them,
    /// arrive whole, through batches that grew and were then used again.
    func testRowsOfAnySizeCrossTheBatches() throws {
        let store = try SQLiteStore(path: dir + "/big.sqlite")
        try store.ensureSchema()
        var rows = sampleRows(45_000)
        let sizes = [9_000_000, 0, 1, 180, 1_500_000, 40, 3_000_000, 0, 2_000_000]
        for (k, n) in sizes.enumerated() {
            rows.tracks[100 + 4_700 * k].name = String(repeating: "\(k)", count: n)
        }
        try store.replace(with: rows)
        assertCollection(try SQLiteStore(path: dir + "/big.sqlite").load(), equals: rows)
    }

    /// The DDL SQLAlchemy emitted for the old server; ids written as "%.32x".
    static let oldSchema = """
        CREATE TABLE albums (id CHAR(32) NOT NULL, name VARCHAR, PRIMARY KEY (id));
        CREATE TABLE artists (id CHAR(32) NOT NULL, name VARCHAR, PRIMARY KEY (id));
        CREATE TABLE genres (id CHAR(32) NOT NULL, name VARCHAR, PRIMARY KEY (id));
        CREATE TABLE tracks (id CHAR(32) NOT NULL, name VARCHAR, length INTEGER, track INTEGER, year INTEGER,
            album_id CHAR(32), artist_id CHAR(32), genre_id CHAR(32), PRIMARY KEY (id),
            FOREIGN KEY(album_id) REFERENCES albums (id), FOREIGN KEY(artist_id) REFERENCES artists (id),
            FOREIGN KEY(genre_id) REFERENCES genres (id));
        CREATE INDEX ix_tracks_album_id ON tracks (album_id);
        CREATE INDEX ix_tracks_artist_id ON tracks (artist_id);
        CREATE INDEX ix_tracks_genre_id ON tracks (genre_id);
        """

    func testLoadsAnOldDatabaseAndLeavesItsSchemaAlone() throws {
        let path = dir + "/old.sqlite"
        let a = ItemID.album("Dear You"), r = ItemID.artist("Jawbreaker"), g = ItemID.genre("Punk")
        let s = ItemID.song(path: "/music/x.mp3")
        let sql = Self.oldSchema + """
            INSERT INTO albums VALUES ('\(a.hex32)', 'Dear You');
            INSERT INTO artists VALUES ('\(r.hex32)', 'Jawbreaker');
            INSERT INTO genres VALUES ('\(g.hex32)', 'Punk');
            INSERT INTO tracks VALUES ('\(s.hex32)', 'Accident Prone', 362, 12, 1995, '\(a.hex32)', '\(r.hex32)', '\(g.hex32)');
            INSERT INTO tracks VALUES ('\(ItemID.song(path: "/music/null.mp3").hex32)', NULL, NULL, NULL, NULL, '\(a.hex32)', '\(r.hex32)', '\(g.hex32)');
            INSERT INTO tracks VALUES ('\(ItemID.song(path: "/music/orphan.mp3").hex32)', 'Orphan', 1, 1, 1, '\(ItemID.album("gone").hex32)', '\(r.hex32)', '\(g.hex32)');
            """
        XCTAssertEqual(try runProgram(["/usr/bin/sqlite3", path], input: sql).status, 0)
        let before = try runProgram(["/usr/bin/sqlite3", path, "SELECT sql FROM sqlite_master ORDER BY name"]).stdout
        let store = try SQLiteStore(path: path)
        try store.ensureSchema()
        let c = try store.load()
        XCTAssertEqual(try runProgram(["/usr/bin/sqlite3", path, "SELECT sql FROM sqlite_master ORDER BY name"]).stdout, before)
        XCTAssertEqual(c.songs.count, 2)
        XCTAssertEqual(c.droppedTracks, 1, "the old server's inner join dropped tracks without an album too")
        let answer = String(decoding: c.respond(.songs, QueryParameters(queryString: "query=accident")).body, as: UTF8.self)
        XCTAssertTrue(answer.contains("\"id\": \"\(s.uuidString)\""), answer)
        XCTAssertTrue(answer.contains("\"length\": 362, \"track\": 12, \"year\": 1995"), answer)
    }

    func testCreatedSchemaMatchesTheOldOne() throws {
        try SQLiteStore(path: dir + "/n.sqlite").ensureSchema()
        let tables = try runProgram(["/usr/bin/sqlite3", dir + "/n.sqlite", "SELECT name FROM sqlite_master ORDER BY name"]).stdout
        XCTAssertEqual(tables.split(separator: "\n"), ["albums", "artists", "genres", "ix_tracks_album_id", "ix_tracks_artist_id",
                                                       "ix_tracks_genre_id", "sqlite_autoindex_albums_1", "sqlite_autoindex_artists_1",
                                                       "sqlite_autoindex_genres_1", "sqlite_autoindex_tracks_1", "tracks"])
        let cols = try runProgram(["/usr/bin/sqlite3", dir + "/n.sqlite", "SELECT name || ' ' || type FROM pragma_table_info('tracks')"]).stdout
        XCTAssertEqual(cols.split(separator: "\n"), ["id CHAR(32)", "name VARCHAR", "length INTEGER", "track INTEGER", "year INTEGER",
                                                     "album_id CHAR(32)", "artist_id CHAR(32)", "genre_id CHAR(32)"])
    }

    func testUnopenableFileIsAClearError() {
        XCTAssertThrowsError(try SQLiteStore(path: dir + "/no/such/dir/a.sqlite")) { e in
            XCTAssertTrue("\(e)".contains("cannot open SQLite database"), "\(e)")
        }
    }

    /// kill -9 in the middle of writing a big collection leaves the old one whole.
    /// A writer killed mid-write leaves the old collection. The kill lands
    /// only once the write transaction has provably begun: SQLite creates the
    /// rollback journal when it first changes a page (the DELETE of the old
    /// rows), and the bench builds all its rows in memory before that.
    func testKilledWriteKeepsTheOldCollection() throws {
        let path = dir + "/crash.sqlite"
        let old = sampleRows(11)
        try SQLiteStore(path: path).replace(with: old)
        for extra in [0, 150_000] as [UInt32] {
            let writer = try Background([product("avalon-bench"), "generate", "300000", "sqlite:///" + path],
                                        environment: [:], logPath: dir + "/bench.log")
            let started = waitUntil(timeout: 60, interval: 0.001) { FileManager.default.fileExists(atPath: path + "-journal") }
            usleep(extra)
            writer.signal(SIGKILL)
            writer.stop()
            XCTAssertTrue(started, "the write never began")
            XCTAssertNotEqual(writer.process.terminationReason, .exit, "the writer finished before it was killed; the test proves nothing")
            XCTAssertTrue(FileManager.default.fileExists(atPath: path + "-journal"), "the kill did not land inside the transaction")
            assertCollection(try SQLiteStore(path: path).load(), equals: old)
        }
    }
}

final class PostgresStoreTests: XCTestCase {
    static var server: PostgresServer?
    static var startError: Error?

    override class func setUp() {
        do { server = try PostgresServer() } catch { startError = error }
    }

    override class func tearDown() { server?.stop() }

    func pg() throws -> PostgresServer {
        if let e = Self.startError { throw e }
        let s = Self.server!
        _ = try s.psql("DROP TABLE IF EXISTS tracks, albums, artists, genres, avalon_files, avalon_generations")
        return s
    }

    func testRoundTripWithNativeUUIDs() throws {
        let server = try pg()
        let store = try PostgresStore(uri: try DatabaseURL(parsing: server.url).uri)
        let rows = sampleRows(9)
        try store.replace(with: rows)
        assertCollection(try store.load(), equals: rows)
        XCTAssertEqual(try server.psql("SELECT data_type FROM information_schema.columns WHERE table_name = 'tracks' AND column_name = 'album_id'"), "uuid")
        XCTAssertEqual(try server.psql("SELECT count(*) FROM tracks"), "9")
        let next = sampleRows(2, tag: " B")
        try store.replace(with: next)
        assertCollection(try store.load(), equals: next)
    }

    func testLoadsTheOldSchema() throws {
        let server = try pg()
        let a = ItemID.album("A"), r = ItemID.artist("R"), g = ItemID.genre("G"), s = ItemID.song(path: "/x.ogg")
        _ = try server.psql("""
            CREATE TABLE albums (id UUID NOT NULL, name VARCHAR, PRIMARY KEY (id));
            CREATE TABLE artists (id UUID NOT NULL, name VARCHAR, PRIMARY KEY (id));
            CREATE TABLE genres (id UUID NOT NULL, name VARCHAR, PRIMARY KEY (id));
            CREATE TABLE tracks (id UUID NOT NULL, name VARCHAR, length INTEGER, track INTEGER, year INTEGER,
                album_id UUID REFERENCES albums (id), artist_id UUID REFERENCES artists (id), genre_id UUID REFERENCES genres (id),
                PRIMARY KEY (id));
            INSERT INTO albums VALUES ('\(a.uuidString)', 'A'); INSERT INTO artists VALUES ('\(r.uuidString)', 'R');
            INSERT INTO genres VALUES ('\(g.uuidString)', 'G');
            INSERT INTO tracks VALUES ('\(s.uuidString)', 'T', -3, 7, 2001, '\(a.uuidString)', '\(r.uuidString)', '\(g.uuidString)');
            """)
        let c = try PostgresStore(uri: try DatabaseURL(parsing: server.url).uri).load()
        XCTAssertEqual(c.songs.map(\.id), [s])
        XCTAssertEqual(c.songs.map { [$0.length, $0.track, $0.year] }, [[-3, 7, 2001]])
    }

    /// A write that fails half way (a track whose album is missing breaks the
    /// foreign key) rolls back: the old collection stays.
    func testFailedWriteRollsBack() throws {
        let server = try pg()
        let store = try PostgresStore(uri: try DatabaseURL(parsing: server.url).uri)
        let old = sampleRows(4)
        try store.replace(with: old)
        var broken = sampleRows(50, tag: " new")
        broken.tracks[40].album = ItemID.album("missing")
        XCTAssertThrowsError(try store.replace(with: broken))
        assertCollection(try store.load(), equals: old)
    }

    func testUnreachableServerIsAClearErrorWithoutPassword() {
        XCTAssertThrowsError(try PostgresStore(uri: "postgresql://u:topsecret@127.0.0.1:\(freePort())/db?connect_timeout=2")) { e in
            XCTAssertTrue("\(e)".contains("cannot connect to PostgreSQL"), "\(e)")
            XCTAssertFalse("\(e)".contains("topsecret"), "\(e)")
        }
    }
}

extension DatabaseURL {
    var uri: String {
        if case .postgres(let u) = self { return u }
        return ""
    }
}

/// Generations, through the store and through the master's short-lived probe:
/// 0 without Avalon's table (the old scanner's databases), a new one only
/// when rows change, and only what differs written.
func checkGenerations(_ store: Store, _ url: DatabaseURL, file: StaticString = #filePath, line: UInt = #line) throws {
    try store.ensureSchema()
    XCTAssertEqual(try DatabaseProbe.generation(url, timeout: 5), 0, file: file, line: line)
    XCTAssertEqual(try store.load().generation, 0, file: file, line: line)
    XCTAssertNil(try store.generationStamp(), "generation 0 has no stamp (and no snapshot)", file: file, line: line)
    let rows = sampleRows(6)
    var w = try store.write(ScanWrite(rows: rows, files: nil, scanner: "test"), check: { _ in })
    XCTAssertEqual(w.generation, 1, file: file, line: line)
    XCTAssertEqual(w.diff.addedTracks.count, 6, file: file, line: line)
    // The stamp names the generation's row, the same in both databases' SQL.
    let stamp = try XCTUnwrap(try store.generationStamp(), file: file, line: line)
    XCTAssertTrue(stamp.hasPrefix("generation 1 written "), stamp, file: file, line: line)
    XCTAssertTrue(stamp.hasSuffix(": 6 songs, \(Set(rows.albums.map(\.id)).count) albums, \(Set(rows.artists.map(\.id)).count) artists, \(Set(rows.genres.map(\.id)).count) genres, by test"), stamp, file: file, line: line)
    w = try store.write(ScanWrite(rows: rows, files: nil, scanner: "test"), check: { _ in })
    XCTAssertFalse(w.rowsChanged, file: file, line: line)
    XCTAssertEqual(w.generation, 1, file: file, line: line)
    var next = rows
    next.tracks[0].name = "Renamed"
    next.tracks.removeLast()
    next.albums[0].name = next.albums[0].name.uppercased()  // same id, another spelling
    w = try store.write(ScanWrite(rows: next, files: nil, scanner: "test"), check: { _ in })
    XCTAssertEqual(w.generation, 2, file: file, line: line)
    XCTAssertEqual([w.diff.changedTracks.count, w.diff.removedTracks.count, w.diff.addedTracks.count, w.diff.elements[0].renamed.count],
                   [1, 1, 0, 1], file: file, line: line)
    XCTAssertEqual(try DatabaseProbe.generation(url, timeout: 5), 2, file: file, line: line)
    XCTAssertTrue(try store.generationStamp()?.hasPrefix("generation 2 written ") == true, file: file, line: line)
    let loaded = try store.load()
    XCTAssertEqual(loaded.generation, 2, file: file, line: line)
    assertCollection(loaded, equals: next)
}

final class GenerationTests: XCTestCase {
    func testSQLite() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        try checkGenerations(try SQLiteStore(path: dir + "/g.sqlite"), try DatabaseURL(parsing: "sqlite:///\(dir)/g.sqlite"))
    }

    func testPostgreSQL() throws {
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try DatabaseURL(parsing: server.url)
        try checkGenerations(try PostgresStore(uri: url.uri), url)
    }
}

/// What the server serves of files (a song's file, its size, bit rate, disc,
/// first sighting), covers and the folder makes a new generation, so servers
/// reload and a snapshot of the old facts is never taken for the new ones;
/// what only the scanner keeps (times) does not.
final class ServedFactsGenerationTests: XCTestCase {
    func testServedFileFactsMakeAGeneration() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let store = try SQLiteStore(path: dir + "/f.sqlite")
        let rows = sampleRows(3)
        func record(_ i: Int, size: Int64 = 1000, mtime: Int64 = 1, bitRate: Int64 = 320) -> FileRecord {
            var tags = FileTags()
            tags.title = rows.tracks[i].name
            tags.bitRate = bitRate
            var f = FileRecord(path: "/music/\(i).mp3", size: size, mtime: mtime, ctime: mtime, racy: false, tags: tags, created: 100)
            f.song = rows.tracks[i].id
            return f
        }
        func write(_ files: [FileRecord], covers: [ItemID: String]? = nil) throws -> WriteOutcome {
            var w = ScanWrite(rows: rows, files: files, scanner: "test")
            w.covers = covers
            return try store.write(w, check: { _ in })
        }
        XCTAssertEqual(try write((0..<3).map { record($0) }).generation, 1)
        var o = try write((0..<3).map { record($0, mtime: 2) })
        XCTAssertTrue(o.filesChanged)
        XCTAssertFalse(o.generationWritten, "a touch changes no served fact")
        XCTAssertEqual(o.generation, 1)
        o = try write([record(0, size: 2000, mtime: 3), record(1, mtime: 2), record(2, mtime: 2)])
        XCTAssertTrue(o.generationWritten, "a new size")
        XCTAssertEqual(o.generation, 2)
        XCTAssertEqual(try store.generationStamp()?.hasPrefix("generation 2 written "), true)
        o = try write([record(0, size: 2000, mtime: 3), record(1, mtime: 2, bitRate: 128), record(2, mtime: 2)])
        XCTAssertEqual(o.generation, 3, "a new bit rate")
        o = try write([record(0, size: 2000, mtime: 3), record(1, mtime: 2, bitRate: 128), record(2, mtime: 2)],
                      covers: [rows.tracks[0].id: String(repeating: "a", count: 64) + ".jpg"])
        XCTAssertEqual(o.generation, 4, "a new cover")
        XCTAssertFalse(o.rowsChanged)
        XCTAssertEqual(try DatabaseProbe.generation(try DatabaseURL(parsing: "sqlite:///" + dir + "/f.sqlite"), timeout: 5), 4)
    }
}

/// At load the file facts are read on a second connection beside the tracks:
/// both connections start reading while a third holds the write lock, so no
/// commit falls between them; with the lock taken (a scan writing) the facts
/// are read after the tracks on the one connection, with the same result.
final class FileFactsBesideTests: XCTestCase {
    func testFactsReadBesideTheTracksMatchThoseReadAfter() throws {
        for mode in ["DELETE", "WAL"] { try check(journalMode: mode) }
    }

    private func check(journalMode mode: String) throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let path = dir + "/f.sqlite"
        let store = try SQLiteStore(path: path)
        let rows = sampleRows(40)
        let files: [FileRecord] = rows.tracks.enumerated().map { i, t in
            var tags = FileTags()
            tags.title = t.name
            tags.bitRate = Int64(100 + i)
            tags.disc = Int64(i % 3)
            var f = FileRecord(path: "/music/d\(i % 4)/\(i).mp3", size: Int64(1000 + i), mtime: 1, ctime: 1, racy: false, tags: tags,
                               created: Int64(5000 + i))
            f.song = t.id
            return f
        }
        var w = ScanWrite(rows: rows, files: files, scanner: "test")
        w.folder = MusicFolder(root: "/music", prefix: "/music/")
        try store.write(w, check: { _ in })
        try store.exec("PRAGMA journal_mode=\(mode)")

        // No one else holds the lock: the second connection reads. A writer
        // finds the lock taken between the two first reads; once it is given
        // back, a writer's commit is refused (rollback journal: the readers'
        // shared locks) or not seen (WAL: both snapshots taken already).
        var writerGotTheLock: Bool?
        var committed: Bool?
        SQLiteStore.betweenFirstReads = { writerGotTheLock = SQLiteStore.writeLockNow(path) != nil }
        SQLiteStore.afterWriteLock = {
            guard let writer = SQLiteStore.writeLockNow(path) else { committed = false; return }
            try? writer.exec("UPDATE avalon_files SET size = size + 1000000")
            committed = (try? writer.exec("COMMIT")) != nil
            if committed == false { try? writer.exec("ROLLBACK") }
        }
        let beside = try store.load()
        SQLiteStore.betweenFirstReads = nil
        SQLiteStore.afterWriteLock = nil
        XCTAssertTrue(store.filesReadBeside, mode)
        XCTAssertEqual(writerGotTheLock, false, "\(mode): the write lock is held between the two connections' first reads")
        XCTAssertEqual(committed, mode == "WAL", "\(mode): a commit after the lock is given back")
        XCTAssertNotNil(SQLiteStore.writeLockNow(path), "\(mode): and the lock is free after the load")

        // A scan holds the write lock: one connection, facts after the tracks.
        let scan = try SQLiteStore(path: path)
        try scan.exec("BEGIN IMMEDIATE")
        let after = try store.load()
        try scan.exec("ROLLBACK")
        XCTAssertFalse(store.filesReadBeside, mode)

        for (c, grown) in [(beside, Int64(0)), (after, committed == true ? 1_000_000 : 0)] {
            XCTAssertEqual(c.songs.count, 40)
            for (i, s) in c.songs.enumerated() {
                let k = try XCTUnwrap(files.firstIndex { $0.song == s.id })
                XCTAssertTrue(c.files.has(i))
                XCTAssertEqual(c.files.sizes[i], Int64(1000 + k) + grown, mode)
                XCTAssertEqual(c.files.bitRates[i], Int32(100 + k))
                XCTAssertEqual(c.files.discs[i], Int32(k % 3))
                XCTAssertEqual(c.files.created[i], Int64(5000 + k))
                XCTAssertEqual(String(decoding: c.files.path(i), as: UTF8.self), "d\(k % 4)/\(k).mp3")
            }
        }
    }
}
