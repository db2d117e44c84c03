import AvalonCore
import CPostgres
import CSQLite
import Glibc

/// A health check's look at the database: a short-lived connection answers
/// a trivial query before a deadline. A database that hangs (a stopped
/// server, a dead network path) costs the caller the timeout, never more.
public enum DatabaseProbe {
    /// Returns when the database answered; throws why not, passwords masked.
    public static func ping(_ url: DatabaseURL, timeout: Double) throws {
        _ = try query(url, sqlite: "SELECT count(*) FROM sqlite_master", postgres: "SELECT 1", timeout: timeout)
    }

    /// The generation stored now (0 for a database no scan of ours wrote):
    /// one cheap query on a short-lived connection, for the master's
    /// periodic look and the freshness check.
    public static func generation(_ url: DatabaseURL, timeout: Double) throws -> Int64 {
        // SQLite refuses a statement naming a missing table, so it looks first.
        if case .sqlite = url, try query(url, sqlite: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'avalon_generations'",
                                         postgres: "", timeout: timeout) == "0" {
            return 0
        }
        let value = try query(url,
            sqlite: "SELECT coalesce(max(generation), 0) FROM avalon_generations",
            // A missing table fails a query at analysis, even in a branch not taken:
            // query_to_xml runs the inner query only when the table exists.
            postgres: """
                SELECT CASE WHEN to_regclass('avalon_generations') IS NULL THEN 0 ELSE (xpath('/row/g/text()', \
                query_to_xml('SELECT coalesce(max(generation), 0) AS g FROM avalon_generations', false, true, '')))[1]::text::bigint END
                """,
            timeout: timeout)
        guard let g = Int64(value) else { throw StoreError("unexpected generation '\(value)'") }
        return g
    }

    /// The first column of the first row, as text.
    static func query(_ url: DatabaseURL, sqlite: String, postgres: String, timeout: Double) throws -> String {
        let deadline = monotonicSeconds() + max(0.001, timeout)
        switch url {
        case .sqlite(let path): return try querySQLite(path, sqlite, timeout: timeout)
        case .postgres(let uri): return try queryPostgres(uri, postgres, deadline: deadline, timeout: timeout).first ?? ""
        }
    }

    /// What a streaming replica says of itself; nil for SQLite.
    public struct Replication: Sendable {
        /// The server that answered is a standby (in recovery).
        public var standby: Bool
        /// Seconds since the last replayed transaction, 0 when everything received is replayed.
        public var lagSeconds: Double
        /// WAL received and not yet replayed.
        public var lagBytes: Int64
    }

    /// One look at the server a URL reaches (with libpq's multi-host and
    /// target_session_attrs, whichever answered).
    public static func replication(_ url: DatabaseURL, timeout: Double) throws -> Replication? {
        guard case .postgres(let uri) = url else { return nil }
        let row = try queryPostgres(uri, """
            SELECT pg_is_in_recovery(),
                   CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END,
                   coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)
            """, deadline: monotonicSeconds() + max(0.001, timeout), timeout: timeout)
        guard row.count == 3 else { throw StoreError("unexpected answer about replication: \(row)") }
        return Replication(standby: row[0] == "t", lagSeconds: max(0, Double(row[1]) ?? 0), lagBytes: Int64(Double(row[2]) ?? 0))
    }

    static func querySQLite(_ path: String, _ sql: String, timeout: Double) throws -> String {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            throw StoreError("cannot open SQLite database \(path): \(db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory")")
        }
        sqlite3_busy_timeout(db, Int32(min(timeout * 1000, 1e9)))
        var stmt: OpaquePointer?
        defer { sqlite3_finalize(stmt) }
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, sqlite3_step(stmt) == SQLITE_ROW else {
            throw StoreError("SQLite database \(path) does not answer: \(String(cString: sqlite3_errmsg(db)))")
        }
        return sqlite3_column_text(stmt, 0).map { String(cString: $0) } ?? ""
    }

    /// libpq's non-blocking calls, each wait bounded by the deadline.
    /// The first row, as text.
    static func queryPostgres(_ uri: String, _ sql: String, deadline: Double, timeout: Double) throws -> [String] {
        let shown = DatabaseURL.redact(uri)
        guard let conn = PQconnectStart(uri) else { throw StoreError("cannot connect to PostgreSQL \(shown): out of memory") }
        defer { PQfinish(conn) }
        func failure(_ what: String) -> StoreError {
            let msg = String(cString: PQerrorMessage(conn)).split(separator: "\n").joined(separator: " ")
            return StoreError("PostgreSQL \(shown): \(what)\(msg.isEmpty ? "" : ": " + DatabaseURL.redact(msg))")
        }
        func wait(_ events: Int32, _ what: String) throws {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { throw StoreError("PostgreSQL \(shown): no answer within \((timeout * 10).rounded() / 10) s (\(what))") }
            var p = pollfd(fd: PQsocket(conn), events: Int16(events), revents: 0)
            let rc = poll(&p, 1, Int32(max(1, left * 1000)))
            if rc == 0 { throw StoreError("PostgreSQL \(shown): no answer within \((timeout * 10).rounded() / 10) s (\(what))") }
        }
        guard PQstatus(conn) != CONNECTION_BAD else { throw failure("cannot connect") }
        var state = PGRES_POLLING_WRITING
        while state != PGRES_POLLING_OK {
            switch state {
            case PGRES_POLLING_FAILED: throw failure("cannot connect")
            case PGRES_POLLING_READING: try wait(Int32(POLLIN), "connecting")
            default: try wait(Int32(POLLOUT), "connecting")
            }
            state = PQconnectPoll(conn)
        }
        guard PQsetnonblocking(conn, 1) == 0, PQsendQuery(conn, sql) == 1 else { throw failure("cannot send a query") }
        while true {
            let f = PQflush(conn)
            if f == 0 { break }
            if f < 0 { throw failure("cannot send a query") }
            try wait(Int32(POLLOUT), "sending")
        }
        var value: [String]?
        while true {
            while PQisBusy(conn) == 1 {
                try wait(Int32(POLLIN), "waiting for the answer")
                guard PQconsumeInput(conn) == 1 else { throw failure("lost the connection") }
            }
            guard let r = PQgetResult(conn) else { break }
            if value == nil, PQresultStatus(r) == PGRES_TUPLES_OK, PQntuples(r) > 0 {
                value = (0..<PQnfields(r)).map { String(cString: PQgetvalue(r, 0, $0)) }
            }
            PQclear(r)
        }
        guard let value else { throw failure("the query failed") }
        return value
    }

}

/// The versions of the database libraries linked in.
public func databaseLibraryVersions() -> [(String, String)] {
    let pq = Int(PQlibVersion())
    return [("sqlite", String(cString: sqlite3_libversion())), ("libpq", "\(pq / 10000).\(pq % 10000)")]
}
