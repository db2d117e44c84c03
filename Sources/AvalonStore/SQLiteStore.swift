import AvalonCore
import CSQLite

private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The collection in a SQLite file, ids as 32 lower-case hex digits.
public final class SQLiteStore: Store {
    let path: String
    private var db: OpaquePointer?

    public init(path: String) throws {
        self.path = path
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        if rc != SQLITE_OK {
            let msg = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)"
            sqlite3_close(handle)
            throw StoreError("cannot open SQLite database \(path): \(msg)")
        }
        db = handle
        // A scan holds the write lock briefly at commit; readers wait rather than fail.
        sqlite3_busy_timeout(db, 60_000)
    }

    deinit { sqlite3_close(db) }

    private func fail(_ what: String) -> StoreError {
        StoreError("SQLite \(path): \(what): \(String(cString: sqlite3_errmsg(db)))")
    }

    func exec(_ sql: String) throws {
        if sqlite3_exec(db, sql, nil, nil, nil) != SQLITE_OK { throw fail(sql.split(separator: " ").prefix(3).joined(separator: " ")) }
    }

    /// Runs `sql` and calls `body` on each row; an error names `what` was being read.
    private func forEachRow(_ sql: String, reading what: String, _ body: (OpaquePointer) -> Void) throws {
        let stmt = try prepare(sql)
        defer { sqlite3_finalize(stmt) }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw fail("reading \(what)") }
            body(stmt)
        }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let s = stmt else { throw fail("prepare \(sql)") }
        return s
    }

    public func ensureSchema() throws {
        try exec(schemaSQL(idType: "CHAR(32)"))
    }

    @inline(__always)
    private static func id(_ stmt: OpaquePointer, _ col: Int32) -> ItemID? {
        guard let p = sqlite3_column_text(stmt, col) else { return nil }
        let buf = UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, col)))
        // The old scanner's form; anything else a client-style UUID parse may still read.
        return ItemID(hex32: buf) ?? ItemID(parsing: String(decoding: buf, as: UTF8.self))
    }

    @inline(__always)
    private static func text(_ stmt: OpaquePointer, _ col: Int32) -> UnsafeBufferPointer<UInt8> {
        guard let p = sqlite3_column_text(stmt, col) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, col)))
    }

    public func load() throws -> MusicCollection {
        var b = CollectionBuilder()
        try exec("BEGIN")
        defer { _ = sqlite3_exec(db, "COMMIT", nil, nil, nil) }
        for (kind, table) in [(Kind.album, "albums"), (.artist, "artists"), (.genre, "genres")] {
            try forEachRow("SELECT id, name FROM \(table)", reading: table) { stmt in
                guard let id = Self.id(stmt, 0) else { return }
                b.addElement(kind, id: id, name: Self.text(stmt, 1))
            }
        }
        let count = try prepare("SELECT count(*) FROM tracks")
        if sqlite3_step(count) == SQLITE_ROW { b.reserve(songs: Int(sqlite3_column_int64(count, 0))) }
        sqlite3_finalize(count)
        try forEachRow("SELECT id, name, length, track, year, album_id, artist_id, genre_id FROM tracks", reading: "tracks") { stmt in
            guard let id = Self.id(stmt, 0), let album = Self.id(stmt, 5), let artist = Self.id(stmt, 6),
                  let genre = Self.id(stmt, 7) else { return }
            b.addSong(id: id, name: Self.text(stmt, 1), length: sqlite3_column_int64(stmt, 2),
                      track: sqlite3_column_int64(stmt, 3), year: sqlite3_column_int64(stmt, 4),
                      album: album, artist: artist, genre: genre)
        }
        return b.build()
    }

    public func replace(with rows: CollectionRows, check: ([ItemID]) throws -> Void) throws {
        try ensureSchema()
        try exec("BEGIN IMMEDIATE")
        do {
            var current: [ItemID] = []
            try forEachRow("SELECT id FROM tracks", reading: "tracks") { stmt in
                if let id = Self.id(stmt, 0) { current.append(id) }
            }
            try check(current)
            try exec("DELETE FROM tracks; DELETE FROM albums; DELETE FROM artists; DELETE FROM genres;")
            for (table, items) in [("albums", rows.albums), ("artists", rows.artists), ("genres", rows.genres)] {
                let stmt = try prepare("INSERT INTO \(table) (id, name) VALUES (?, ?)")
                defer { sqlite3_finalize(stmt) }
                for e in items {
                    sqlite3_bind_text(stmt, 1, e.id.hex32, -1, SQLITE_TRANSIENT)
                    sqlite3_bind_text(stmt, 2, e.name, -1, SQLITE_TRANSIENT)
                    try step(stmt, table)
                }
            }
            let stmt = try prepare("INSERT INTO tracks (id, name, length, track, year, album_id, artist_id, genre_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            defer { sqlite3_finalize(stmt) }
            for t in rows.tracks {
                sqlite3_bind_text(stmt, 1, t.id.hex32, -1, SQLITE_TRANSIENT)
                sqlite3_bind_text(stmt, 2, t.name, -1, SQLITE_TRANSIENT)
                sqlite3_bind_int64(stmt, 3, t.length)
                sqlite3_bind_int64(stmt, 4, t.track)
                sqlite3_bind_int64(stmt, 5, t.year)
                sqlite3_bind_text(stmt, 6, t.album.hex32, -1, SQLITE_TRANSIENT)
                sqlite3_bind_text(stmt, 7, t.artist.hex32, -1, SQLITE_TRANSIENT)
                sqlite3_bind_text(stmt, 8, t.genre.hex32, -1, SQLITE_TRANSIENT)
                try step(stmt, "tracks")
            }
            try exec("COMMIT")
        } catch {
            _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    private func step(_ stmt: OpaquePointer, _ table: String) throws {
        guard sqlite3_step(stmt) == SQLITE_DONE else {
            let e = fail("inserting into \(table)")
            sqlite3_reset(stmt)
            throw e
        }
        sqlite3_reset(stmt)
    }
}
