import AvalonCore
import CPostgres

/// The collection in PostgreSQL through libpq, ids as native UUIDs.
public final class PostgresStore: Store {
    private var conn: OpaquePointer?

    public init(uri: String) throws {
        conn = PQconnectdb(uri)
        guard PQstatus(conn) == CONNECTION_OK else {
            let msg = lastError()
            PQfinish(conn)
            conn = nil
            throw StoreError("cannot connect to PostgreSQL \(DatabaseURL.redact(uri)): \(msg)")
        }
        _ = try exec("SET client_min_messages = WARNING")
    }

    deinit { PQfinish(conn) }

    private func lastError() -> String {
        String(cString: PQerrorMessage(conn)).split(separator: "\n").joined(separator: " ")
    }

    @discardableResult
    private func exec(_ sql: String, binary: Bool = false) throws -> OpaquePointer {
        let res = binary ? PQexecParams(conn, sql, 0, nil, nil, nil, nil, 1) : PQexec(conn, sql)
        let status = PQresultStatus(res)
        guard let r = res, status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN else {
            let msg = lastError()
            PQclear(res)
            throw StoreError("PostgreSQL: \(sql.split(separator: " ").prefix(3).joined(separator: " ")): \(msg)")
        }
        return r
    }

    private func run(_ sql: String) throws { PQclear(try exec(sql)) }

    public func ensureSchema() throws {
        try run(schemaSQL(idType: "UUID"))
    }

    private func hasTable(_ name: String) throws -> Bool {
        let r = try exec("SELECT to_regclass('\(name)') IS NOT NULL")
        defer { PQclear(r) }
        return PQntuples(r) == 1 && String(cString: PQgetvalue(r, 0, 0)) == "t"
    }

    private func hasColumn(_ table: String, _ column: String) throws -> Bool {
        let r = try exec("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '\(table)' AND column_name = '\(column)'")
        defer { PQclear(r) }
        return PQntuples(r) > 0
    }

    /// The file facts' columns of an `avalon_files` from before them.
    private func addFactColumns() throws {
        for (name, type) in fileFactColumns {
            if try !hasColumn("avalon_files", name) { try run("ALTER TABLE avalon_files ADD COLUMN \(name) \(type)") }
        }
    }

    public func folder() throws -> MusicFolder? {
        guard try hasTable("avalon_music_folder") else { return nil }
        let r = try exec("SELECT root, prefix FROM avalon_music_folder", binary: true)
        defer { PQclear(r) }
        guard PQntuples(r) > 0 else { return nil }
        return MusicFolder(root: String(decoding: Self.text(r, 0, 0), as: UTF8.self), prefix: String(decoding: Self.text(r, 0, 1), as: UTF8.self))
    }

    public func covers() throws -> [ItemID: String] {
        guard try hasTable("avalon_covers") else { return [:] }
        let r = try exec("SELECT item, picture FROM avalon_covers", binary: true)
        defer { PQclear(r) }
        var out: [ItemID: String] = [:]
        for row in 0..<PQntuples(r) {
            guard let id = ItemID(hex32: Self.text(r, row, 0)) else { continue }
            out[id] = String(decoding: Self.text(r, row, 1), as: UTF8.self)
        }
        return out
    }

    public func generation() throws -> Int64 {
        guard try hasTable("avalon_generations") else { return 0 }
        let r = try exec("SELECT coalesce(max(generation), 0) FROM avalon_generations")
        defer { PQclear(r) }
        return Int64(String(cString: PQgetvalue(r, 0, 0))) ?? 0
    }

    public func generationStamp() throws -> String? {
        guard try hasTable("avalon_generations") else { return nil }
        let r = try exec(generationStampSQL)
        defer { PQclear(r) }
        return PQntuples(r) == 1 ? String(decoding: Self.text(r, 0, 0), as: UTF8.self) : nil
    }

    @inline(__always)
    private static func id(_ r: OpaquePointer, _ row: Int32, _ col: Int32) -> ItemID? {
        guard PQgetisnull(r, row, col) == 0, PQgetlength(r, row, col) == 16, let p = PQgetvalue(r, row, col) else { return nil }
        return ItemID(bytes: UnsafeRawBufferPointer(start: p, count: 16))
    }

    @inline(__always)
    private static func text(_ r: OpaquePointer, _ row: Int32, _ col: Int32) -> UnsafeBufferPointer<UInt8> {
        guard PQgetisnull(r, row, col) == 0, let p = PQgetvalue(r, row, col) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeRawPointer(p).withMemoryRebound(to: UInt8.self, capacity: 1) {
            UnsafeBufferPointer(start: $0, count: Int(PQgetlength(r, row, col)))
        }
    }

    /// A binary integer column of any width; NULL reads as 0.
    @inline(__always)
    private static func int(_ r: OpaquePointer, _ row: Int32, _ col: Int32) -> Int64 {
        guard PQgetisnull(r, row, col) == 0, let p = PQgetvalue(r, row, col) else { return 0 }
        let n = Int(PQgetlength(r, row, col))
        var v: Int64 = 0
        let raw = UnsafeRawPointer(p)
        for i in 0..<n { v = v << 8 | Int64(raw.load(fromByteOffset: i, as: UInt8.self)) }
        // Sign-extend from the column's width.
        let shift = Int64(64 - 8 * n)
        return n < 8 ? (v << shift) >> shift : v
    }

    /// On a hot standby, replay may cancel a long read that holds back its
    /// cleanup ("conflict with recovery"): the load is tried again, twice.
    public func load() throws -> MusicCollection {
        var attempt = 0
        while true {
            do {
                return try loadOnce()
            } catch let e as StoreError where e.description.contains("conflict with recovery") && attempt < 2 {
                attempt += 1
                PQclear(PQexec(conn, "ROLLBACK"))
            }
        }
    }

    private func loadOnce() throws -> MusicCollection {
        var b = CollectionBuilder()
        try run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { PQclear(PQexec(conn, "COMMIT")) }
        b.generation = try generation()
        for (kind, table) in [(Kind.album, "albums"), (.artist, "artists"), (.genre, "genres")] {
            let r = try exec("SELECT id, name FROM \(table)", binary: true)
            defer { PQclear(r) }
            for row in 0..<PQntuples(r) {
                guard let id = Self.id(r, row, 0) else { continue }
                b.addElement(kind, id: id, name: Self.text(r, row, 1))
            }
        }
        try forEachRow(cursor: "avalon_tracks", "SELECT id, name, length, track, year, album_id, artist_id, genre_id FROM tracks") { r, row in
            guard let id = Self.id(r, row, 0), let album = Self.id(r, row, 5), let artist = Self.id(r, row, 6),
                  let genre = Self.id(r, row, 7) else { return }
            b.addSong(id: id, name: Self.text(r, row, 1), length: Self.int(r, row, 2), track: Self.int(r, row, 3),
                      year: Self.int(r, row, 4), album: album, artist: artist, genre: genre)
        }
        try loadFiles(into: &b)
        b.pictures = try covers()
        return b.build()
    }

    /// Runs `sql` through a cursor, 50,000 rows a fetch (a whole result of
    /// millions would sit in memory at once), calling `body` on each row.
    private func forEachRow(cursor: String, _ sql: String, _ body: (OpaquePointer, Int32) -> Void) throws {
        try run("DECLARE \(cursor) NO SCROLL CURSOR FOR \(sql)")
        while true {
            let r = try exec("FETCH 50000 FROM \(cursor)", binary: true)
            defer { PQclear(r) }
            let n = PQntuples(r)
            if n == 0 { break }
            for row in 0..<n { body(r, row) }
        }
        try run("CLOSE \(cursor)")
    }

    /// The scanner's file facts, when a scan of this version wrote them.
    private func loadFiles(into b: inout CollectionBuilder) throws {
        guard try hasTable("avalon_files"), try hasColumn("avalon_files", "created"), let folder = try folder() else { return }
        b.musicFolder = folder.root
        b.reserveFiles()
        let head = folder.pathHead
        try head.withUnsafeBufferPointer { head in
            try forEachRow(cursor: "avalon_file_facts", "SELECT song, path, size, bitrate, disc, created FROM avalon_files WHERE song IS NOT NULL") { r, row in
                guard let song = ItemID(hex32: Self.text(r, row, 0)),
                      let relative = MusicFolder.relative(bytes: Self.text(r, row, 1), head: head) else { return }
                b.addFile(song: song, relativePath: relative, size: Self.int(r, row, 2), bitRate: Self.int(r, row, 3),
                          disc: Self.int(r, row, 4), created: Self.int(r, row, 5))
            }
        }
    }

    public func rows() throws -> CollectionRows {
        var rows = CollectionRows()
        for (k, table) in ["albums", "artists", "genres"].enumerated() {
            let r = try exec("SELECT id, name FROM \(table)", binary: true)
            defer { PQclear(r) }
            let list = (0..<PQntuples(r)).compactMap { row in
                Self.id(r, row, 0).map { CollectionRows.Named(id: $0, name: String(decoding: Self.text(r, row, 1), as: UTF8.self)) }
            }
            switch k {
            case 0: rows.albums = list
            case 1: rows.artists = list
            default: rows.genres = list
            }
        }
        let r = try exec("SELECT id, name, length, track, year, album_id, artist_id, genre_id FROM tracks", binary: true)
        defer { PQclear(r) }
        for row in 0..<PQntuples(r) {
            guard let id = Self.id(r, row, 0), let album = Self.id(r, row, 5), let artist = Self.id(r, row, 6),
                  let genre = Self.id(r, row, 7) else { continue }
            rows.tracks.append(.init(id: id, name: String(decoding: Self.text(r, row, 1), as: UTF8.self), length: Self.int(r, row, 2),
                                     track: Self.int(r, row, 3), year: Self.int(r, row, 4), album: album, artist: artist, genre: genre))
        }
        return rows
    }

    public func files() throws -> [FileRecord] {
        guard try hasTable("avalon_files") else { return [] }
        let facts = try hasColumn("avalon_files", "created") ? "song, bitrate, disc, created" : "NULL, NULL::bigint, NULL::bigint, NULL::bigint"
        let pictures = try hasColumn("avalon_files", "picture") ? "picture, picture_front" : "NULL::varchar, NULL::bigint"
        let r = try exec("SELECT path, size, mtime_ns, ctime_ns, racy, readable, title, album, artist, genre, track, year, length, reason, \(facts), \(pictures) FROM avalon_files",
                         binary: true)
        defer { PQclear(r) }
        return (0..<PQntuples(r)).map { row in
            func text(_ c: Int32) -> String { String(decoding: Self.text(r, row, c), as: UTF8.self) }
            var tags: FileTags?
            if Self.int(r, row, 5) != 0 {
                var t = FileTags()
                (t.title, t.album, t.artist, t.genre) = (text(6), text(7), text(8), text(9))
                (t.track, t.year, t.length) = (Self.int(r, row, 10), Self.int(r, row, 11), Self.int(r, row, 12))
                (t.bitRate, t.disc) = (Self.int(r, row, 15), Self.int(r, row, 16))
                tags = t
            }
            var f = FileRecord(path: text(0), size: Self.int(r, row, 1), mtime: Self.int(r, row, 2), ctime: Self.int(r, row, 3),
                               racy: Self.int(r, row, 4) != 0, tags: tags, reason: text(13), created: Self.int(r, row, 17))
            f.song = ItemID(hex32: Self.text(r, row, 14))
            if PQgetisnull(r, row, 18) == 0 { f.picture = text(18) }
            f.pictureFront = Self.int(r, row, 19) != 0
            return f
        }
    }

    @discardableResult
    public func write(_ scan: ScanWrite, check: ([ItemID]) throws -> Void) throws -> WriteOutcome {
        // Avalon's own tables come with the first write, never with a load.
        try run(schemaSQL(idType: "UUID") + avalonSchemaSQL(textType: "VARCHAR"))
        try run("BEGIN")
        do {
            // Two scans at once: the second waits here, then sees what the first wrote.
            try run("LOCK TABLE tracks IN EXCLUSIVE MODE")
            try addFactColumns()
            let old = try rows()
            try check(old.tracks.map(\.id))
            // Compared as the old schema stores them: its INTEGER is 32-bit here.
            var new = scan.rows
            for i in new.tracks.indices {
                new.tracks[i].length = Int64(clamp32(new.tracks[i].length))
                new.tracks[i].track = Int64(clamp32(new.tracks[i].track))
                new.tracks[i].year = Int64(clamp32(new.tracks[i].year))
            }
            let diff = RowDiff(old: old, new: new)
            let fileDiff = try scan.filesUnchanged ? nil : scan.files.map { FileDiff(old: try files(), new: $0) }
            var number = try generation()
            let first = number
            if !diff.isEmpty { try apply(diff) }
            if let fileDiff, !fileDiff.isEmpty { try apply(fileDiff) }
            let coverDiff = try scan.filesUnchanged ? nil : scan.covers.map { CoverDiff(old: try covers(), new: $0) }
            if let coverDiff, !coverDiff.isEmpty {
                try delete(from: "avalon_covers", column: "item", type: "varchar", (coverDiff.removed + coverDiff.upserted.map(\.0)).map(\.hex32))
                if !coverDiff.upserted.isEmpty {
                    try copy("COPY avalon_covers (item, picture) FROM STDIN", coverDiff.upserted) { c, line in
                        line.append(contentsOf: "\(c.0.hex32)\t".utf8)
                        Self.copyText(c.1, into: &line)
                    }
                }
            }
            let folderChanged = try scan.folder.map { $0 != (try folder()) } ?? false
            if folderChanged, let f = scan.folder {
                try run("DELETE FROM avalon_music_folder")
                try copy("COPY avalon_music_folder (root, prefix) FROM STDIN", [f]) { f, line in
                    Self.copyText(f.root, into: &line); line.append(9)
                    Self.copyText(f.prefix, into: &line)
                }
            }
            let filesChanged = (fileDiff.map { !$0.isEmpty } ?? false) || (coverDiff.map { !$0.isEmpty } ?? false) || folderChanged
            // Rows, or what is served of files, covers or the folder: a new generation.
            if !diff.isEmpty || fileDiff?.servedChanged == true || coverDiff?.isEmpty == false || folderChanged {
                number += 1
                let g = new.generation(number, scanner: scan.scanner)
                try copy("COPY avalon_generations (generation, written_at, songs, albums, artists, genres, scanner) FROM STDIN", [g]) { g, line in
                    line.append(contentsOf: "\(g.number)\t\(g.writtenAt)\t\(g.songs)\t\(g.albums)\t\(g.artists)\t\(g.genres)\t".utf8)
                    Self.copyText(g.scanner, into: &line)
                }
            }
            try run(diff.isEmpty && !filesChanged ? "ROLLBACK" : "COMMIT")
            return WriteOutcome(generation: number, rowsChanged: !diff.isEmpty, filesChanged: filesChanged, diff: diff,
                                generationWritten: number != first)
        } catch {
            PQclear(PQexec(conn, "ROLLBACK"))
            throw error
        }
    }

    /// Keys to delete go through a temporary table: one COPY and one DELETE
    /// however many there are.
    private func delete(from table: String, column: String = "id", type: String = "uuid", _ keys: [String]) throws {
        guard !keys.isEmpty else { return }
        try run("CREATE TEMP TABLE IF NOT EXISTS avalon_keys (k VARCHAR) ON COMMIT DROP; TRUNCATE avalon_keys")
        try copy("COPY avalon_keys (k) FROM STDIN", keys) { k, line in Self.copyText(k, into: &line) }
        try run("DELETE FROM \(table) WHERE \(column) IN (SELECT k::\(type) FROM avalon_keys)")
    }

    /// Tracks go before the elements they name are removed and after those
    /// they name are added, so every foreign key holds at every step.
    private func apply(_ diff: RowDiff) throws {
        let tables = ["albums", "artists", "genres"]
        try delete(from: "tracks", (diff.removedTracks + diff.changedTracks.map(\.id)).map(\.uuidString))
        for (k, table) in tables.enumerated() {
            if !diff.elements[k].renamed.isEmpty {
                try run("CREATE TEMP TABLE IF NOT EXISTS avalon_names (id UUID, name VARCHAR) ON COMMIT DROP; TRUNCATE avalon_names")
                try copy("COPY avalon_names (id, name) FROM STDIN", diff.elements[k].renamed) { e, line in
                    line.append(contentsOf: e.id.uuidString.utf8); line.append(9)
                    Self.copyText(e.name, into: &line)
                }
                try run("UPDATE \(table) t SET name = n.name FROM avalon_names n WHERE t.id = n.id")
            }
            if !diff.elements[k].added.isEmpty {
                try copy("COPY \(table) (id, name) FROM STDIN", diff.elements[k].added) { e, line in
                    line.append(contentsOf: e.id.uuidString.utf8); line.append(9)
                    Self.copyText(e.name, into: &line)
                }
            }
        }
        let tracks = diff.addedTracks + diff.changedTracks
        if !tracks.isEmpty {
            try copy("COPY tracks (id, name, length, track, year, album_id, artist_id, genre_id) FROM STDIN", tracks) { t, line in
                line.append(contentsOf: t.id.uuidString.utf8); line.append(9)
                Self.copyText(t.name, into: &line); line.append(9)
                line.append(contentsOf: "\(clamp32(t.length))\t\(clamp32(t.track))\t\(clamp32(t.year))\t".utf8)
                line.append(contentsOf: t.album.uuidString.utf8); line.append(9)
                line.append(contentsOf: t.artist.uuidString.utf8); line.append(9)
                line.append(contentsOf: t.genre.uuidString.utf8)
            }
        }
        for (k, table) in tables.enumerated() {
            try delete(from: table, diff.elements[k].removed.map(\.uuidString))
        }
    }

    private func apply(_ diff: FileDiff) throws {
        try delete(from: "avalon_files", column: "path", type: "varchar", diff.removed + diff.upserted.map(\.path))
        guard !diff.upserted.isEmpty else { return }
        try copy("COPY avalon_files (path, size, mtime_ns, ctime_ns, racy, readable, title, album, artist, genre, track, year, length, reason, song, bitrate, disc, created, picture, picture_front) FROM STDIN",
                 diff.upserted) { f, line in
            let t = f.tags ?? FileTags()
            Self.copyText(f.path, into: &line)
            line.append(contentsOf: "\t\(f.size)\t\(f.mtime)\t\(f.ctime)\t\(f.racy ? 1 : 0)\t\(f.tags == nil ? 0 : 1)".utf8)
            for v in [t.title, t.album, t.artist, t.genre] { line.append(9); Self.copyText(v, into: &line) }
            line.append(contentsOf: "\t\(t.track)\t\(t.year)\t\(t.length)\t".utf8)
            Self.copyText(f.reason, into: &line)
            line.append(contentsOf: "\t\(f.song?.hex32 ?? "\\N")\t\(t.bitRate)\t\(t.disc)\t\(f.created)\t".utf8)
            if let p = f.picture { Self.copyText(p, into: &line) } else { line.append(contentsOf: "\\N".utf8) }
            line.append(contentsOf: "\t\(f.pictureFront ? 1 : 0)".utf8)
        }
    }

    /// COPY … FROM STDIN in text format, sent in chunks of about 1 MiB.
    private func copy<T>(_ sql: String, _ items: [T], _ row: (T, inout [UInt8]) -> Void) throws {
        PQclear(try exec(sql))
        var buf: [UInt8] = []
        buf.reserveCapacity(1 << 20 + 4096)
        func flush() throws {
            let ok = buf.withUnsafeBufferPointer { p in
                p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { PQputCopyData(conn, $0, Int32(p.count)) }
            }
            guard ok == 1 else { throw StoreError("PostgreSQL COPY: \(lastError())") }
            buf.removeAll(keepingCapacity: true)
        }
        for item in items {
            row(item, &buf)
            buf.append(10)
            if buf.count >= 1 << 20 { try flush() }
        }
        if !buf.isEmpty { try flush() }
        guard PQputCopyEnd(conn, nil) == 1 else { throw StoreError("PostgreSQL COPY: \(lastError())") }
        while let res = PQgetResult(conn) {
            defer { PQclear(res) }
            if PQresultStatus(res) != PGRES_COMMAND_OK {
                throw StoreError("PostgreSQL \(sql.split(separator: " ").prefix(2).joined(separator: " ")): \(lastError())")
            }
        }
    }

    /// COPY text escaping; NUL cannot be stored in PostgreSQL text, so it is dropped.
    private static func copyText(_ s: String, into line: inout [UInt8]) {
        for b in s.utf8 {
            switch b {
            case 0: continue
            case 0x5C: line.append(0x5C); line.append(0x5C)
            case 0x09: line.append(0x5C); line.append(UInt8(ascii: "t"))
            case 0x0A: line.append(0x5C); line.append(UInt8(ascii: "n"))
            case 0x0D: line.append(0x5C); line.append(UInt8(ascii: "r"))
            default: line.append(b)
            }
        }
    }
}
