import AvalonCore
import CSQLite

private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The collection in a SQLite file, ids as 32 lower-case hex digits.
public final class SQLiteStore: Store {
    let path: String
    private var db: OpaquePointer?
    /// Tests: whether the last load read the file facts on a second connection,
    /// and calls after this connection's first read (before the second's) and
    /// once the write lock is given back.
    private(set) var filesReadBeside = false
    #if DEBUG
    nonisolated(unsafe) static var betweenFirstReads: (() -> Void)?
    nonisolated(unsafe) static var afterWriteLock: (() -> Void)?
    #endif

    public convenience init(path: String) throws {
        try self.init(path: path, create: true)
    }

    /// `create: false`: an existing file only (the load's extra connections).
    init(path: String, create: Bool) throws {
        self.path = path
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, nil)
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

    private func hasTable(_ name: String) throws -> Bool {
        var found = false
        try forEachRow("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '\(name)'", reading: "the schema") { _ in found = true }
        return found
    }

    private func hasColumn(_ table: String, _ column: String) throws -> Bool {
        var found = false
        try forEachRow("SELECT 1 FROM pragma_table_info('\(table)') WHERE name = '\(column)'", reading: "the schema") { _ in found = true }
        return found
    }

    /// The file facts' columns of an `avalon_files` from before them.
    private func addFactColumns() throws {
        for (name, type) in fileFactColumns {
            if try !hasColumn("avalon_files", name) { try exec("ALTER TABLE avalon_files ADD COLUMN \(name) \(type)") }
        }
    }

    public func folder() throws -> MusicFolder? {
        guard try hasTable("avalon_music_folder") else { return nil }
        var f: MusicFolder?
        try forEachRow("SELECT root, prefix FROM avalon_music_folder", reading: "avalon_music_folder") { stmt in
            f = MusicFolder(root: String(decoding: Self.text(stmt, 0), as: UTF8.self), prefix: String(decoding: Self.text(stmt, 1), as: UTF8.self))
        }
        return f
    }

    public func covers() throws -> [ItemID: String] {
        guard try hasTable("avalon_covers") else { return [:] }
        var out: [ItemID: String] = [:]
        try forEachRow("SELECT item, picture FROM avalon_covers", reading: "avalon_covers") { stmt in
            guard let id = Self.id(stmt, 0) else { return }
            out[id] = String(decoding: Self.text(stmt, 1), as: UTF8.self)
        }
        return out
    }

    public func generation() throws -> Int64 {
        guard try hasTable("avalon_generations") else { return 0 }
        var g: Int64 = 0
        try forEachRow("SELECT coalesce(max(generation), 0) FROM avalon_generations", reading: "avalon_generations") {
            g = sqlite3_column_int64($0, 0)
        }
        return g
    }

    public func generationStamp() throws -> String? {
        guard try hasTable("avalon_generations") else { return nil }
        var stamp: String?
        try forEachRow(generationStampSQL, reading: "avalon_generations") { stmt in
            stamp = String(decoding: Self.text(stmt, 0), as: UTF8.self)
        }
        return stamp
    }

    @inline(__always)
    private static func id(_ stmt: OpaquePointer, _ col: Int32) -> ItemID? {
        guard let p = sqlite3_column_text(stmt, col) else { return nil }
        return id(UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, col))))
    }

    @inline(__always)
    private static func text(_ stmt: OpaquePointer, _ col: Int32) -> UnsafeBufferPointer<UInt8> {
        guard let p = sqlite3_column_text(stmt, col) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, col)))
    }

    public func load() throws -> MusicCollection {
        var b = try read()
        return b.build()
    }

    /// The rows, in one read transaction, which ends before the indexes are
    /// built: a scan's write waits for the reading only. (Not mapped with
    /// `mmap_size`: the mapped file would count in the load's resident peak.)
    private func read() throws -> CollectionBuilder {
        var b = CollectionBuilder()
        // The file facts are read beside the tracks, on a second connection
        // whose reading starts while a third holds the write lock: both see
        // the same commit. Without the lock at once (a scan is writing, the
        // file is read-only, no file at all), one after the other.
        // (A URI file name may carry options, such as mode=ro or another VFS,
        // that a plain reopen would drop: those read on the one connection.)
        var writeLock = path.hasPrefix("file:") ? nil : Self.writeLockNow(filename)
        filesReadBeside = false
        try exec("BEGIN")
        defer { _ = sqlite3_exec(db, "COMMIT", nil, nil, nil) }
        b.generation = try generation()  // this connection's reading starts
        #if DEBUG
        Self.betweenFirstReads?()
        #endif
        let stamp = try generationStamp()
        // The same database (not one renamed over it since): the same generation row.
        let filesReader = writeLock == nil ? nil : Self.startedReader(filename, stamp: stamp)
        writeLock.map { _ = sqlite3_exec($0.db, "ROLLBACK", nil, nil, nil) }
        writeLock = nil  // and closed: nothing held to the end of the load
        #if DEBUG
        Self.afterWriteLock?()
        #endif
        filesReadBeside = filesReader != nil
        let tracks = try readRows(into: &b, filesBeside: filesReader)
        if filesReader == nil { try readFiles(into: &b, rows: tracks) }
        phase("files read")
        b.pictures = try covers()
        return b
    }

    /// The elements, then the tracks: this thread reads the elements, then
    /// steps the tracks' cursor and copies each row's bytes into batches; a
    /// second one parses them into the builder meanwhile; a third, given a
    /// connection that sees the same commit, reads the file facts from the
    /// start (beside the elements too: they take a core for a second at 10M).
    /// Returns how many tracks there are.
    private func readRows(into b: inout CollectionBuilder, filesBeside other: SQLiteStore?) throws -> Int {
        let queue = BatchQueue()
        var failure: Error?
        // Written by this thread until its first batch is queued, then by the
        // second only: the queue's lock orders the two.
        var builder = b
        b = CollectionBuilder()
        var files = CollectionBuilder()
        var filesFailure: Error?
        var tracks = 0
        onThreads(other == nil ? 2 : 3) { [self] role in
            if role == 2, let other {
                defer { _ = sqlite3_exec(other.db, "COMMIT", nil, nil, nil) }
                do {
                    var rows = 0
                    try other.forEachRow("SELECT count(*) FROM tracks", reading: "tracks") { rows = Int(sqlite3_column_int64($0, 0)) }
                    try other.readFiles(into: &files, rows: rows)
                } catch {
                    filesFailure = error
                }
                return
            }
            if role == 1 {
                var rows = TrackRows()
                while let batch = queue.takeFull() {
                    rows.add(batch, to: &builder)
                    queue.giveBack(batch)
                }
                return
            }
            defer { queue.finish() }
            var batch = queue.takeEmpty()
            do {
                for (kind, table) in [(Kind.album, "albums"), (.artist, "artists"), (.genre, "genres")] {
                    try forEachRow("SELECT id, name FROM \(table)", reading: table) { stmt in
                        guard let id = Self.id(stmt, 0) else { return }
                        builder.addElement(kind, id: id, name: Self.text(stmt, 1))
                    }
                }
                phase("elements read")
                try forEachRow("SELECT count(*) FROM tracks", reading: "tracks") { tracks = Int(sqlite3_column_int64($0, 0)) }
                builder.reserve(songs: tracks)
                try forEachRow("SELECT id, name, album_id, artist_id, genre_id, length, track, year FROM tracks", reading: "tracks") { stmt in
                    // A NULL pointer is a NULL value: no sqlite3_column_type call per column.
                    for c in Int32(0)..<5 {
                        let p = sqlite3_column_text(stmt, c)
                        batch.appendText(p.map { UnsafeBufferPointer(start: $0, count: Int(sqlite3_column_bytes(stmt, c))) })
                    }
                    for c in Int32(5)..<8 { batch.numbers.append(sqlite3_column_int64(stmt, c)) }
                    if batch.count == TrackBatch.rows {
                        queue.put(batch)
                        batch = queue.takeEmpty()
                    }
                }
                queue.put(batch)
            } catch {
                failure = error
            }
            phase("tracks read")
        }
        if other != nil { builder.adoptFiles(from: &files) }
        b = builder
        if let failure = failure ?? filesFailure { throw failure }
        return tracks
    }

    /// The database's file name; nil for one in memory or temporary, which a
    /// second connection would not see.
    private var filename: String? {
        guard let f = sqlite3_db_filename(db, "main"), f.pointee != 0 else { return nil }
        return String(cString: f)
    }

    /// A connection holding the write lock, if it is free at once (no
    /// waiting: a scan that holds it may write for minutes).
    static func writeLockNow(_ filename: String?) -> SQLiteStore? {
        guard let filename, let c = try? SQLiteStore(path: filename, create: false) else { return nil }
        sqlite3_busy_timeout(c.db, 0)
        return (try? c.exec("BEGIN IMMEDIATE")) == nil ? nil : c
    }

    /// A connection in a read transaction that has read (and so holds its snapshot).
    /// (Its generation stamp must be `stamp`, nil without one: then the file facts are not ours to read anyway.)
    private static func startedReader(_ filename: String?, stamp: String?) -> SQLiteStore? {
        guard let stamp, let filename, let c = try? SQLiteStore(path: filename, create: false), (try? c.exec("BEGIN")) != nil,
              (try? c.generationStamp()) == stamp else { return nil }
        return c
    }

    /// The scanner's file facts, when a scan of this version wrote them (`rows`: room for as many).
    private func readFiles(into b: inout CollectionBuilder, rows: Int) throws {
        guard try hasTable("avalon_files"), try hasColumn("avalon_files", "created"), let folder = try folder() else { return }
        b.musicFolder = folder.root
        b.reserveFiles(rows: rows)
        try folder.pathHead.withUnsafeBufferPointer { head in
            try forEachRow("SELECT song, path, size, bitrate, disc, created FROM avalon_files WHERE song IS NOT NULL", reading: "avalon_files") { stmt in
                guard let song = Self.id(stmt, 0), let relative = MusicFolder.relative(bytes: Self.text(stmt, 1), head: head) else { return }
                b.addFile(song: song, relativePath: relative, size: sqlite3_column_int64(stmt, 2), bitRate: sqlite3_column_int64(stmt, 3),
                          disc: sqlite3_column_int64(stmt, 4), created: sqlite3_column_int64(stmt, 5))
            }
        }
    }

    /// Tracks from batches: per batch, ids parsed, then each kind's elements
    /// looked up in one loop, then the songs added.
    private struct TrackRows {
        var ids = [ItemID](repeating: ItemID(hi: 0, lo: 0), count: 4 * TrackBatch.rows)
        var valid = [Bool](repeating: false, count: TrackBatch.rows)
        var positions = [UInt32](repeating: 0, count: 3 * TrackBatch.rows)

        mutating func add(_ batch: TrackBatch, to builder: inout CollectionBuilder) {
            let n = batch.count
            var r = 0
            batch.forEachRow { id, _, album, artist, genre, _, _, _ in
                let parsed = (id.flatMap(SQLiteStore.id), album.flatMap(SQLiteStore.id), artist.flatMap(SQLiteStore.id), genre.flatMap(SQLiteStore.id))
                valid[r] = parsed.0 != nil && parsed.1 != nil && parsed.2 != nil && parsed.3 != nil
                let none = ItemID(hi: 0, lo: 0)
                (ids[r], ids[n + r], ids[2 * n + r], ids[3 * n + r]) = (parsed.0 ?? none, parsed.1 ?? none, parsed.2 ?? none, parsed.3 ?? none)
                r += 1
            }
            ids.withUnsafeBufferPointer { ip in
                positions.withUnsafeMutableBufferPointer { pp in
                    for k in 0..<3 {
                        builder.lookUp(Kind(rawValue: k)!, UnsafeBufferPointer(rebasing: ip[(k + 1) * n..<(k + 2) * n]),
                                       into: UnsafeMutableBufferPointer(rebasing: pp[k * n..<(k + 1) * n]))
                    }
                }
            }
            r = 0
            batch.forEachRow { _, name, _, _, _, length, track, year in
                defer { r += 1 }
                guard valid[r] else { return }
                builder.addSong(id: ids[r], name: name, length: length, track: track, year: year,
                                album: ids[n + r], artist: ids[2 * n + r], genre: ids[3 * n + r],
                                positions: (positions[r], positions[n + r], positions[2 * n + r]))
            }
        }
    }

    /// An id from its text (the old scanner's 32 hex digits, or a form a client-style parse reads).
    private static func id(_ buf: UnsafeBufferPointer<UInt8>) -> ItemID? {
        ItemID(hex32: buf) ?? ItemID(parsing: String(decoding: buf, as: UTF8.self))
    }

    public func rows() throws -> CollectionRows {
        var rows = CollectionRows()
        for (k, table) in ["albums", "artists", "genres"].enumerated() {
            var list: [CollectionRows.Named] = []
            try forEachRow("SELECT id, name FROM \(table)", reading: table) { stmt in
                guard let id = Self.id(stmt, 0) else { return }
                list.append(.init(id: id, name: String(decoding: Self.text(stmt, 1), as: UTF8.self)))
            }
            switch k {
            case 0: rows.albums = list
            case 1: rows.artists = list
            default: rows.genres = list
            }
        }
        try forEachRow("SELECT id, name, length, track, year, album_id, artist_id, genre_id FROM tracks", reading: "tracks") { stmt in
            guard let id = Self.id(stmt, 0), let album = Self.id(stmt, 5), let artist = Self.id(stmt, 6),
                  let genre = Self.id(stmt, 7) else { return }
            rows.tracks.append(.init(id: id, name: String(decoding: Self.text(stmt, 1), as: UTF8.self), length: sqlite3_column_int64(stmt, 2),
                                     track: sqlite3_column_int64(stmt, 3), year: sqlite3_column_int64(stmt, 4),
                                     album: album, artist: artist, genre: genre))
        }
        return rows
    }

    public func files() throws -> [FileRecord] {
        guard try hasTable("avalon_files") else { return [] }
        var out: [FileRecord] = []
        let facts = try hasColumn("avalon_files", "created") ? "song, bitrate, disc, created" : "NULL, NULL, NULL, NULL"
        let pictures = try hasColumn("avalon_files", "picture") ? "picture, picture_front" : "NULL, NULL"
        try forEachRow("SELECT path, size, mtime_ns, ctime_ns, racy, readable, title, album, artist, genre, track, year, length, reason, \(facts), \(pictures) FROM avalon_files",
                       reading: "avalon_files") { stmt in
            func text(_ c: Int32) -> String { String(decoding: Self.text(stmt, c), as: UTF8.self) }
            var tags: FileTags?
            if sqlite3_column_int64(stmt, 5) != 0 {
                var t = FileTags()
                (t.title, t.album, t.artist, t.genre) = (text(6), text(7), text(8), text(9))
                (t.track, t.year, t.length) = (sqlite3_column_int64(stmt, 10), sqlite3_column_int64(stmt, 11), sqlite3_column_int64(stmt, 12))
                (t.bitRate, t.disc) = (sqlite3_column_int64(stmt, 15), sqlite3_column_int64(stmt, 16))
                tags = t
            }
            var f = FileRecord(path: text(0), size: sqlite3_column_int64(stmt, 1), mtime: sqlite3_column_int64(stmt, 2),
                               ctime: sqlite3_column_int64(stmt, 3), racy: sqlite3_column_int64(stmt, 4) != 0, tags: tags, reason: text(13),
                               created: sqlite3_column_int64(stmt, 17))
            f.song = Self.id(stmt, 14)
            if sqlite3_column_type(stmt, 18) != SQLITE_NULL { f.picture = text(18) }
            f.pictureFront = sqlite3_column_int64(stmt, 19) != 0
            out.append(f)
        }
        return out
    }

    @discardableResult
    public func write(_ scan: ScanWrite, check: ([ItemID]) throws -> Void) throws -> WriteOutcome {
        // Avalon's own tables come with the first write, never with a load.
        try exec(schemaSQL(idType: "CHAR(32)") + avalonSchemaSQL(textType: "VARCHAR"))
        try exec("BEGIN IMMEDIATE")
        do {
            try addFactColumns()
            let old = try rows()
            try check(old.tracks.map(\.id))
            let diff = RowDiff(old: old, new: scan.rows)
            let fileDiff = try scan.filesUnchanged ? nil : scan.files.map { FileDiff(old: try files(), new: $0) }
            var number = try generation()
            let first = number
            if !diff.isEmpty { try apply(diff) }
            if let fileDiff, !fileDiff.isEmpty { try apply(fileDiff) }
            let coverDiff = try scan.filesUnchanged ? nil : scan.covers.map { CoverDiff(old: try covers(), new: $0) }
            if let coverDiff, !coverDiff.isEmpty { try apply(coverDiff) }
            let folderChanged = try scan.folder.map { $0 != (try folder()) } ?? false
            if folderChanged, let f = scan.folder {
                try exec("DELETE FROM avalon_music_folder")
                try run("INSERT INTO avalon_music_folder (root, prefix) VALUES (?, ?)", [f], "avalon_music_folder") { stmt, f in
                    sqlite3_bind_text(stmt, 1, f.root, -1, SQLITE_TRANSIENT)
                    sqlite3_bind_text(stmt, 2, f.prefix, -1, SQLITE_TRANSIENT)
                }
            }
            let filesChanged = (fileDiff.map { !$0.isEmpty } ?? false) || (coverDiff.map { !$0.isEmpty } ?? false) || folderChanged
            // Rows, or what is served of files, covers or the folder: a new generation.
            if !diff.isEmpty || fileDiff?.servedChanged == true || coverDiff?.isEmpty == false || folderChanged {
                number += 1
                try insert(scan.rows.generation(number, scanner: scan.scanner))
            }
            try exec(diff.isEmpty && !filesChanged ? "ROLLBACK" : "COMMIT")
            return WriteOutcome(generation: number, rowsChanged: !diff.isEmpty, filesChanged: filesChanged, diff: diff,
                                generationWritten: number != first)
        } catch {
            _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// Tracks go before the elements they name are removed and after those
    /// they name are added, so every reference holds at every step.
    private func apply(_ diff: RowDiff) throws {
        let tables = ["albums", "artists", "genres"]
        try run("DELETE FROM tracks WHERE id = ?", diff.removedTracks + diff.changedTracks.map(\.id), "tracks") { stmt, id in
            sqlite3_bind_text(stmt, 1, id.hex32, -1, SQLITE_TRANSIENT)
        }
        for (k, table) in tables.enumerated() {
            try run("UPDATE \(table) SET name = ? WHERE id = ?", diff.elements[k].renamed, table) { stmt, e in
                sqlite3_bind_text(stmt, 1, e.name, -1, SQLITE_TRANSIENT)
                sqlite3_bind_text(stmt, 2, e.id.hex32, -1, SQLITE_TRANSIENT)
            }
            try run("INSERT INTO \(table) (id, name) VALUES (?, ?)", diff.elements[k].added, table) { stmt, e in
                sqlite3_bind_text(stmt, 1, e.id.hex32, -1, SQLITE_TRANSIENT)
                sqlite3_bind_text(stmt, 2, e.name, -1, SQLITE_TRANSIENT)
            }
        }
        try run("INSERT INTO tracks (id, name, length, track, year, album_id, artist_id, genre_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                diff.addedTracks + diff.changedTracks, "tracks") { stmt, t in
            sqlite3_bind_text(stmt, 1, t.id.hex32, -1, SQLITE_TRANSIENT)
            sqlite3_bind_text(stmt, 2, t.name, -1, SQLITE_TRANSIENT)
            sqlite3_bind_int64(stmt, 3, t.length)
            sqlite3_bind_int64(stmt, 4, t.track)
            sqlite3_bind_int64(stmt, 5, t.year)
            sqlite3_bind_text(stmt, 6, t.album.hex32, -1, SQLITE_TRANSIENT)
            sqlite3_bind_text(stmt, 7, t.artist.hex32, -1, SQLITE_TRANSIENT)
            sqlite3_bind_text(stmt, 8, t.genre.hex32, -1, SQLITE_TRANSIENT)
        }
        for (k, table) in tables.enumerated() {
            try run("DELETE FROM \(table) WHERE id = ?", diff.elements[k].removed, table) { stmt, id in
                sqlite3_bind_text(stmt, 1, id.hex32, -1, SQLITE_TRANSIENT)
            }
        }
    }

    private func apply(_ diff: FileDiff) throws {
        try run("DELETE FROM avalon_files WHERE path = ?", diff.removed + diff.upserted.map(\.path), "avalon_files") { stmt, path in
            sqlite3_bind_text(stmt, 1, path, -1, SQLITE_TRANSIENT)
        }
        try run("INSERT INTO avalon_files (path, size, mtime_ns, ctime_ns, racy, readable, title, album, artist, genre, track, year, length, reason, song, bitrate, disc, created, picture, picture_front) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                diff.upserted, "avalon_files") { stmt, f in
            let t = f.tags ?? FileTags()
            sqlite3_bind_text(stmt, 1, f.path, -1, SQLITE_TRANSIENT)
            sqlite3_bind_int64(stmt, 2, f.size)
            sqlite3_bind_int64(stmt, 3, f.mtime)
            sqlite3_bind_int64(stmt, 4, f.ctime)
            sqlite3_bind_int64(stmt, 5, f.racy ? 1 : 0)
            sqlite3_bind_int64(stmt, 6, f.tags == nil ? 0 : 1)
            for (i, v) in [t.title, t.album, t.artist, t.genre].enumerated() { sqlite3_bind_text(stmt, Int32(7 + i), v, -1, SQLITE_TRANSIENT) }
            sqlite3_bind_int64(stmt, 11, t.track)
            sqlite3_bind_int64(stmt, 12, t.year)
            sqlite3_bind_int64(stmt, 13, t.length)
            sqlite3_bind_text(stmt, 14, f.reason, -1, SQLITE_TRANSIENT)
            if let song = f.song { sqlite3_bind_text(stmt, 15, song.hex32, -1, SQLITE_TRANSIENT) } else { sqlite3_bind_null(stmt, 15) }
            sqlite3_bind_int64(stmt, 16, t.bitRate)
            sqlite3_bind_int64(stmt, 17, t.disc)
            sqlite3_bind_int64(stmt, 18, f.created)
            if let p = f.picture { sqlite3_bind_text(stmt, 19, p, -1, SQLITE_TRANSIENT) } else { sqlite3_bind_null(stmt, 19) }
            sqlite3_bind_int64(stmt, 20, f.pictureFront ? 1 : 0)
        }
    }

    private func apply(_ diff: CoverDiff) throws {
        try run("DELETE FROM avalon_covers WHERE item = ?", diff.removed + diff.upserted.map(\.0), "avalon_covers") { stmt, id in
            sqlite3_bind_text(stmt, 1, id.hex32, -1, SQLITE_TRANSIENT)
        }
        try run("INSERT INTO avalon_covers (item, picture) VALUES (?, ?)", diff.upserted, "avalon_covers") { stmt, c in
            sqlite3_bind_text(stmt, 1, c.0.hex32, -1, SQLITE_TRANSIENT)
            sqlite3_bind_text(stmt, 2, c.1, -1, SQLITE_TRANSIENT)
        }
    }

    private func insert(_ g: Generation) throws {
        try run("INSERT INTO avalon_generations (generation, written_at, songs, albums, artists, genres, scanner) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [g], "avalon_generations") { stmt, g in
            sqlite3_bind_int64(stmt, 1, g.number)
            sqlite3_bind_text(stmt, 2, g.writtenAt, -1, SQLITE_TRANSIENT)
            for (i, v) in [g.songs, g.albums, g.artists, g.genres].enumerated() { sqlite3_bind_int64(stmt, Int32(3 + i), v) }
            sqlite3_bind_text(stmt, 7, g.scanner, -1, SQLITE_TRANSIENT)
        }
    }

    /// One prepared statement, run once per item.
    private func run<T>(_ sql: String, _ items: [T], _ table: String, _ bind: (OpaquePointer, T) -> Void) throws {
        guard !items.isEmpty else { return }
        let stmt = try prepare(sql)
        defer { sqlite3_finalize(stmt) }
        for item in items {
            bind(stmt, item)
            try step(stmt, table)
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
