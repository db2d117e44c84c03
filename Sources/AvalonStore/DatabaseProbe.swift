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
        let deadline = monotonicSeconds() + max(0.001, timeout)
        switch url {
        case .sqlite(let path): try pingSQLite(path, timeout: timeout)
        case .postgres(let uri): try pingPostgres(uri, deadline: deadline, timeout: timeout)
        }
    }

    static func pingSQLite(_ path: String, timeout: Double) throws {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            throw StoreError("cannot open SQLite database \(path): \(db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory")")
        }
        sqlite3_busy_timeout(db, Int32(min(timeout * 1000, 1e9)))
        guard sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nil, nil, nil) == SQLITE_OK else {
            throw StoreError("SQLite database \(path) does not answer: \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    /// libpq's non-blocking calls, each wait bounded by the deadline.
    static func pingPostgres(_ uri: String, deadline: Double, timeout: Double) throws {
        let shown = DatabaseURL.redact(uri)
        guard let conn = PQconnectStart(uri) else { throw StoreError("cannot connect to PostgreSQL \(shown): out of memory") }
        defer { PQfinish(conn) }
        func failure(_ what: String) -> StoreError {
            let msg = String(cString: PQerrorMessage(conn)).split(separator: "\n").joined(separator: " ")
            return StoreError("PostgreSQL \(shown): \(what)\(msg.isEmpty ? "" : ": " + DatabaseURL.redact(msg))")
        }
        func wait(_ events: Int32, _ what: String) throws {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { throw StoreError("PostgreSQL \(shown): no answer within \(timeout) s (\(what))") }
            var p = pollfd(fd: PQsocket(conn), events: Int16(events), revents: 0)
            let rc = poll(&p, 1, Int32(max(1, left * 1000)))
            if rc == 0 { throw StoreError("PostgreSQL \(shown): no answer within \(timeout) s (\(what))") }
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
        guard PQsetnonblocking(conn, 1) == 0, PQsendQuery(conn, "SELECT 1") == 1 else { throw failure("cannot send a query") }
        while true {
            let f = PQflush(conn)
            if f == 0 { break }
            if f < 0 { throw failure("cannot send a query") }
            try wait(Int32(POLLOUT), "sending")
        }
        var ok = false
        while true {
            while PQisBusy(conn) == 1 {
                try wait(Int32(POLLIN), "waiting for the answer")
                guard PQconsumeInput(conn) == 1 else { throw failure("lost the connection") }
            }
            guard let r = PQgetResult(conn) else { break }
            ok = ok || PQresultStatus(r) == PGRES_TUPLES_OK
            PQclear(r)
        }
        guard ok else { throw failure("SELECT 1 failed") }
    }

}

/// The versions of the database libraries linked in.
public func databaseLibraryVersions() -> [(String, String)] {
    let pq = Int(PQlibVersion())
    return [("sqlite", String(cString: sqlite3_libversion())), ("libpq", "\(pq / 10000).\(pq % 10000)")]
}
