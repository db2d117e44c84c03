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

    public func load() throws -> MusicCollection {
        var b = CollectionBuilder()
        try run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { PQclear(PQexec(conn, "COMMIT")) }
        for (kind, table) in [(Kind.album, "albums"), (.artist, "artists"), (.genre, "genres")] {
            let r = try exec("SELECT id, name FROM \(table)", binary: true)
            defer { PQclear(r) }
            for row in 0..<PQntuples(r) {
                guard let id = Self.id(r, row, 0) else { continue }
                b.addElement(kind, id: id, name: Self.text(r, row, 1))
            }
        }
        try run("DECLARE avalon_tracks NO SCROLL CURSOR FOR SELECT id, name, length, track, year, album_id, artist_id, genre_id FROM tracks")
        while true {
            let r = try exec("FETCH 50000 FROM avalon_tracks", binary: true)
            defer { PQclear(r) }
            let n = PQntuples(r)
            if n == 0 { break }
            for row in 0..<n {
                guard let id = Self.id(r, row, 0), let album = Self.id(r, row, 5), let artist = Self.id(r, row, 6),
                      let genre = Self.id(r, row, 7) else { continue }
                b.addSong(id: id, name: Self.text(r, row, 1), length: Self.int(r, row, 2), track: Self.int(r, row, 3),
                          year: Self.int(r, row, 4), album: album, artist: artist, genre: genre)
            }
        }
        return b.build()
    }

    public func replace(with rows: CollectionRows, check: ([ItemID]) throws -> Void) throws {
        try ensureSchema()
        try run("BEGIN")
        do {
            // Two scans at once: the second waits here, then sees what the first wrote.
            try run("LOCK TABLE tracks IN EXCLUSIVE MODE")
            let r = try exec("SELECT id FROM tracks", binary: true)
            defer { PQclear(r) }
            try check((0..<PQntuples(r)).compactMap { Self.id(r, $0, 0) })
            try run("DELETE FROM tracks; DELETE FROM albums; DELETE FROM artists; DELETE FROM genres")
            for (table, items) in [("albums", rows.albums), ("artists", rows.artists), ("genres", rows.genres)] {
                try copy("COPY \(table) (id, name) FROM STDIN", items) { e, line in
                    line.append(contentsOf: e.id.uuidString.utf8); line.append(9)
                    Self.copyText(e.name, into: &line)
                }
            }
            try copy("COPY tracks (id, name, length, track, year, album_id, artist_id, genre_id) FROM STDIN", rows.tracks) { t, line in
                line.append(contentsOf: t.id.uuidString.utf8); line.append(9)
                Self.copyText(t.name, into: &line); line.append(9)
                line.append(contentsOf: "\(clamp32(t.length))\t\(clamp32(t.track))\t\(clamp32(t.year))\t".utf8)
                line.append(contentsOf: t.album.uuidString.utf8); line.append(9)
                line.append(contentsOf: t.artist.uuidString.utf8); line.append(9)
                line.append(contentsOf: t.genre.uuidString.utf8)
            }
            try run("COMMIT")
        } catch {
            PQclear(PQexec(conn, "ROLLBACK"))
            throw error
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
