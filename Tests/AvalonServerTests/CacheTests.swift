import AvalonCore
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// The nginx micro-cache of every shipped configuration (the site, the upstream
/// front, the nginx.conf avalon-express writes): a repeated collection list is
/// answered by nginx, a new generation shows through within nginx's bound, and
/// nothing else (health, metrics, admin views, callers with credentials) is cached.
final class CacheTests: XCTestCase {
    let secret = "cacheTestAdminSecret42"
    var dir = ""
    var started: [(process: Background, stop: Int32)] = []

    override func setUpWithError() throws {
        dir = makeTempDir("avalon-cache")
    }

    override func tearDown() {
        for b in started.reversed() { _ = b.process.stop(b.stop, timeout: 20) }
        removeTree(dir)
    }

    /// Avalon's X-Accel-Expires keeps an entry to the end of the second it was
    /// stored in, so at most 1 s after a new generation is served (nginx's own
    /// `1s` alone: up to 2 s); the rest is polling and one revalidation.
    let staleBound = 1.0 + 0.2

    /// avalon-fcgi (2 workers) on a unix socket over `db`.
    func backend(db: String, rows: CollectionRows = Stack.rows()) throws -> (process: Background, socket: String) {
        let sock = dir + "/avalon.sock"
        try SQLiteStore(path: db).replace(with: rows)
        let fcgi = try Background([product("avalon-fcgi"), "--bind", "unix:" + sock, "--workers", "2", "--socket-mode", "0666"],
                                  environment: ["DATABASE_URL": "sqlite:///" + db, "LOG_PATH": dir + "/avalon.log",
                                                "ADMIN_SECRET": secret, "RELOAD_INTERVAL": "0"],
                                  logPath: dir + "/fcgi.log")
        started.append((fcgi, SIGTERM))
        XCTAssertTrue(waitUntil(timeout: 20) { FileManager.default.fileExists(atPath: sock) }, fcgi.log)
        return (fcgi, sock)
    }

    func site(socket: String) throws -> Int {
        let nginx = try shippedNginx(site: "avalon.conf", dir: dir + "/nginx", edits: [
            ("listen 127.0.0.1:8080;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon.access.log", dir + "/access.log"),
            ("unix:/run/avalon/avalon.sock", "unix:" + socket),
        ])
        started.append((nginx.process, SIGQUIT))
        return nginx.port
    }

    /// A collection with one album more than Stack.rows(): the next generation.
    static func rowsWithNewAlbum(_ name: String) -> CollectionRows {
        var rows = Stack.rows()
        rows.albums.append(.init(id: .album(name), name: name))
        rows.tracks.append(.init(id: .song(path: "/music/new.mp3"), name: "New Song", length: 200, track: 1, year: 2001,
                                 album: .album(name), artist: .artist("Кино"), genre: .genre("Rock")))
        return rows
    }

    /// A list is answered twice, the second time by nginx alone; HEAD apart
    /// from GET; once expired, revalidated (a worker's 304) and kept again.
    func assertCaches(port: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = "/avalon/albums?order=name&limit=10"
        let first = try httpRequest(port: port, path: path)
        XCTAssertEqual(first.status, 200, first.text, file: file, line: line)
        XCTAssertEqual(first.headers["x-cache-status"], "MISS", file: file, line: line)
        let second = try httpRequest(port: port, path: path, headers: ["X-Request-ID": "second-one"])
        XCTAssertEqual(second.headers["x-cache-status"], "HIT", file: file, line: line)
        XCTAssertEqual(second.body, first.body, file: file, line: line)
        XCTAssertEqual(second.headers["etag"], first.headers["etag"], file: file, line: line)
        // Each answer its own request id, not the one of the request that filled the entry.
        XCTAssertEqual(second.headers["x-request-id"], "second-one", file: file, line: line)
        // A HEAD is stored apart and never answers a GET with its empty body.
        let head = try httpRequest(port: port, path: path.replacingOccurrences(of: "limit=10", with: "limit=11"), method: "HEAD")
        XCTAssertEqual(head.status, 200, file: file, line: line)
        let afterHead = try httpRequest(port: port, path: path.replacingOccurrences(of: "limit=10", with: "limit=11"))
        XCTAssertNotEqual(afterHead.headers["x-cache-status"], "HIT", "a GET after a HEAD of the same URL", file: file, line: line)
        XCTAssertFalse(afterHead.body.isEmpty, file: file, line: line)
        // The client's own If-None-Match: nginx answers 304 from the entry.
        let conditional = try httpRequest(port: port, path: path, headers: ["If-None-Match": first.headers["etag"] ?? ""])
        XCTAssertEqual(conditional.status, 304, file: file, line: line)
        // Past its second the entry is revalidated: a 304 from a worker (its
        // counter says so: no answer rendered), and kept again.
        let notModified = try requests(port: port, endpoint: "albums", code: "304")
        var statuses: [String] = []
        XCTAssertTrue(waitUntil(timeout: 5, interval: 0.1) {
            let s = (try? httpRequest(port: port, path: path))?.headers["x-cache-status"] ?? "none"
            statuses.append(s)
            return s == "REVALIDATED"
        }, "statuses seen: \(statuses)", file: file, line: line)
        XCTAssertEqual(try httpRequest(port: port, path: path).headers["x-cache-status"], "HIT", file: file, line: line)
        XCTAssertEqual(try requests(port: port, endpoint: "albums", code: "304"), notModified + 1, file: file, line: line)
    }

    /// After `bump` makes a new generation (one more album): the workers serve
    /// it (seen by a request that bypasses the cache), then nginx's answer
    /// shows it within `staleBound`.
    func assertNewGenerationShows(port: Int, timeout: Double = 30, bump: () throws -> Void,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let path = "/avalon/albums?order=name"
        // Warm: the entry that will go stale.
        _ = try httpRequest(port: port, path: path)
        XCTAssertEqual(try httpRequest(port: port, path: path).headers["x-cache-status"], "HIT", file: file, line: line)
        try bump()
        let bumped = Date()
        let workersServe = waitUntil(timeout: timeout, interval: 0.02) {
            // The query stays hot meanwhile: its entry is refreshed up to the switch.
            _ = try? httpRequest(port: port, path: path)
            let direct = try? httpRequest(port: port, path: path, headers: ["Authorization": "Bearer not-the-secret"])
            return direct?.text.contains("Zeitgeist") ?? false
        }
        XCTAssertTrue(workersServe, "the workers never served the new generation", file: file, line: line)
        let served = Date()
        print("CacheTests: the workers serve the new generation \(String(format: "%.3f", served.timeIntervalSince(bumped))) s after it was written")
        var seen = false
        while !seen && Date().timeIntervalSince(served) < 5 {
            seen = (try? httpRequest(port: port, path: path))?.text.contains("Zeitgeist") ?? false
            if !seen { usleep(20_000) }
        }
        let took = Date().timeIntervalSince(served)
        print("CacheTests: new generation through nginx \(String(format: "%.3f", took)) s after the workers served it")
        XCTAssertTrue(seen, "nginx still answers the old generation 5 s later", file: file, line: line)
        XCTAssertLessThanOrEqual(took, staleBound, file: file, line: line)
    }

    /// The sum of avalon_requests_total for an endpoint (and status), as the workers count.
    func requests(port: Int, endpoint: String, code: String? = nil) throws -> Int {
        let metrics = try httpRequest(port: port, path: "/avalon/metrics?secret=" + secret)
        XCTAssertEqual(metrics.status, 200, metrics.text)
        let prefix = "avalon_requests_total{endpoint=\"\(endpoint)\"" + (code.map { ",code=\"\($0)\"" } ?? "")
        return metrics.text.split(separator: "\n").filter { $0.hasPrefix(prefix) }
            .compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }

    /// Only the public lists are cached: every other path, and every caller with
    /// a credential, reaches a worker each time (its counter says so).
    func assertNeverCachedBeyondLists(port: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let s = secret
        for path in ["/avalon/heartbeat", "/avalon/version", "/avalon/health_check?max_level=0", "/avalon/metrics?secret=\(s)",
                     "/avalon/versions?secret=\(s)", "/avalon/debug/workers?secret=\(s)", "/avalon/admin/log-level?secret=\(s)",
                     "/avalon/songs/", "/avalon/rest/ping.view?u=a&p=b"] {
            for _ in 0..<2 {
                let r = try httpRequest(port: port, path: path)
                XCTAssertNil(r.headers["x-cache-status"], "\(path) went through the cache", file: file, line: line)
            }
        }
        // Counted by the workers: a heartbeat each time.
        let beats = try requests(port: port, endpoint: "heartbeat")
        for _ in 0..<3 { _ = try httpRequest(port: port, path: "/avalon/heartbeat") }
        XCTAssertEqual(try requests(port: port, endpoint: "heartbeat"), beats + 3, file: file, line: line)
        // The metrics themselves: two looks, two answers made.
        let m1 = try requests(port: port, endpoint: "metrics")
        XCTAssertEqual(try requests(port: port, endpoint: "metrics"), m1 + 1, file: file, line: line)
        // A public list: once by a worker, then by nginx.
        let path = "/avalon/songs?order=name&limit=3"
        let songs = try requests(port: port, endpoint: "songs")
        _ = try httpRequest(port: port, path: path)
        XCTAssertEqual(try httpRequest(port: port, path: path).headers["x-cache-status"], "HIT", file: file, line: line)
        XCTAssertEqual(try requests(port: port, endpoint: "songs"), songs + 1, file: file, line: line)
        // With a credential, whatever it is: a worker answers each, nothing is stored.
        let credentials: [(headers: [String: String], query: String)] = [
            (["Authorization": "Bearer \(s)"], ""), (["Authorization": "Bearer other"], ""),
            (["X-API-Key": s], ""), (["X-API-Key": "other"], ""), (["Cookie": "session=1"], ""),
            ([:], "&secret=\(s)"), ([:], "&secret=other"), ([:], "&SECRET=\(s)"),
        ]
        for c in credentials {
            let before = try requests(port: port, endpoint: "songs")
            for _ in 0..<2 {
                let r = try httpRequest(port: port, path: path + c.query, headers: c.headers)
                XCTAssertEqual(r.status, 200, file: file, line: line)
                XCTAssertEqual(r.headers["x-cache-status"], "BYPASS", "\(c.headers.keys.sorted()) \(c.query.prefix(4))", file: file, line: line)
            }
            XCTAssertEqual(try requests(port: port, endpoint: "songs"), before + 2, "\(c.headers.keys.sorted()) \(c.query.prefix(4))",
                           file: file, line: line)
        }
        // Nor did a credential's answer fill the entry for the next caller without one.
        let fresh = "/avalon/songs?order=name&limit=4&secret=\(s)"
        _ = try httpRequest(port: port, path: fresh)
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon/songs?order=name&limit=4").headers["x-cache-status"], "MISS",
                       file: file, line: line)
    }

    /// The page from the shipped site carries its own policy: it loads nothing
    /// from elsewhere, sends no Referer (the player's URLs carry credentials),
    /// and its files are not sniffed; API answers keep their own headers.
    func testSitePageHeaders() throws {
        let web = dir + "/web"
        try FileManager.default.copyItem(atPath: packageRoot + "/web", toPath: web)
        let fcgi = try backend(db: dir + "/avalon.sqlite")
        let nginx = try shippedNginx(site: "avalon.conf", dir: dir + "/nginx", edits: [
            ("listen 127.0.0.1:8080;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon.access.log", dir + "/access.log"),
            ("unix:/run/avalon/avalon.sock", "unix:" + fcgi.socket),
            ("root /usr/local/share/avalon/web;", "root \(web);"),
        ])
        started.append((nginx.process, SIGQUIT))
        for p in ["/", "/app.js", "/player.js", "/style.css"] {
            let r = try httpRequest(port: nginx.port, path: p)
            XCTAssertEqual(r.status, 200, p)
            XCTAssertEqual(r.headers["referrer-policy"], "no-referrer", p)
            XCTAssertEqual(r.headers["x-content-type-options"], "nosniff", p)
            XCTAssertTrue(r.headers["content-security-policy"]?.contains("default-src 'self'") == true, p)
        }
        let songs = try httpRequest(port: nginx.port, path: "/avalon/songs")
        XCTAssertEqual(songs.status, 200)
        XCTAssertNil(songs.headers["content-security-policy"])
    }

    func testSiteCachesListsOnly() throws {
        let fcgi = try backend(db: dir + "/avalon.sqlite")
        let port = try site(socket: fcgi.socket)
        try assertCaches(port: port)
        try assertNeverCachedBeyondLists(port: port)
    }

    /// An answer too large to be held whole streams without a Content-Length:
    /// nginx passes it on and stores nothing (one request must not fill the disk).
    func testSiteStoresNoStreamedAnswer() throws {
        var rows = Stack.rows()
        for i in 0..<30000 {
            rows.tracks.append(.init(id: .song(path: "/music/many/\(i).mp3"), name: "Song number \(i) of many", length: 180, track: 1,
                                     year: 2000, album: .album("Dear You"), artist: .artist("Jawbreaker"), genre: .genre("Punk")))
        }
        let fcgi = try backend(db: dir + "/avalon.sqlite", rows: rows)
        let port = try site(socket: fcgi.socket)
        let path = "/avalon/songs?order=name"
        let first = try httpRequest(port: port, path: path, timeout: 60)
        XCTAssertEqual(first.status, 200)
        XCTAssertGreaterThan(first.body.count, 3 << 20, "the answer must be large enough to stream")
        XCTAssertNil(first.headers["content-length"], "a streamed answer has no length")
        let second = try httpRequest(port: port, path: path, timeout: 60)
        XCTAssertEqual(second.body, first.body)
        XCTAssertNotEqual(second.headers["x-cache-status"], "HIT")
        let stored = try runProgram(["/usr/bin/du", "-sk", dir + "/nginx/cache"])
        let kb = Int(stored.stdout.split(separator: "\t").first ?? "") ?? -1
        XCTAssertTrue((0..<1024).contains(kb), "the cache holds \(kb) kB: \(stored.stdout)\(stored.stderr)")
        // A page of the same list is held whole, and stored.
        _ = try httpRequest(port: port, path: path + "&limit=50")
        XCTAssertEqual(try httpRequest(port: port, path: path + "&limit=50").headers["x-cache-status"], "HIT")
    }

    func testSiteShowsANewGenerationWithinTheBound() throws {
        let db = dir + "/avalon.sqlite"
        let fcgi = try backend(db: db)
        let port = try site(socket: fcgi.socket)
        try assertNewGenerationShows(port: port) {
            try SQLiteStore(path: db).replace(with: CacheTests.rowsWithNewAlbum("Zeitgeist"))
            fcgi.process.signal(SIGHUP)
        }
    }

    func testUpstreamFrontCaches() throws {
        let db = dir + "/avalon.sqlite"
        let fcgi = try backend(db: db)
        // The three test-bed hosts become the test's one avalon-fcgi.
        let hosts = try String(contentsOfFile: packageRoot + "/nginx/avalon-upstream.conf").split(separator: "\n")
            .filter { $0.contains("server 127.0.0.") }.map(String.init)
        XCTAssertEqual(hosts.count, 3)
        let nginx = try shippedNginx(site: "avalon-upstream.conf", dir: dir + "/nginx", edits: [
            ("listen 127.0.0.1:8088;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon-upstream.access.log", dir + "/access.log"),
            (hosts[0], "    server unix:\(fcgi.socket);"), (hosts[1], ""), (hosts[2], ""),
        ])
        started.append((nginx.process, SIGQUIT))
        try assertCaches(port: nginx.port)
        try assertNeverCachedBeyondLists(port: nginx.port)
        try assertNewGenerationShows(port: nginx.port) {
            try SQLiteStore(path: db).replace(with: CacheTests.rowsWithNewAlbum("Zeitgeist"))
            fcgi.process.signal(SIGHUP)
        }
    }

    /// avalon-express's nginx.conf (paths quoted, in a server root whose name
    /// needs the quotes).
    func testExpressCaches() throws {
        let root = dir + "/server root; x", port = freePort()
        var env = ProcessInfo.processInfo.environment.filter { $0.key != "AVALON_CONFIG" }
        env["ADMIN_SECRET"] = secret
        let express = try Background([product("avalon-express"), "start-server", packageRoot + "/deploy/demo-music", "--port", "\(port)",
                                      "--server-root", root],
                                     environment: env, logPath: dir + "/express.log")
        started.append((express, SIGINT))
        XCTAssertTrue(waitUntil(timeout: 60) { express.log.contains("Ctrl-C stops it") }, express.log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/avalon-cache.conf"))
        try assertCaches(port: port)
        try assertNeverCachedBeyondLists(port: port)
        try assertNewGenerationShows(port: port) {
            try SQLiteStore(path: root + "/avalon.sqlite").replace(with: CacheTests.rowsWithNewAlbum("Zeitgeist"))
            // start-server looks every 30 s: the reload now, as `avalonctl reload` does,
            // to the avalon-fcgi this express started (its child), nothing else.
            let text = try String(contentsOfFile: root + "/avalon.pid").trimmingCharacters(in: .whitespacesAndNewlines)
            guard let pid = Int32(text), pid > 0,
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat"),
                  let ppid = stat.split(separator: ")").last?.split(separator: " ").dropFirst().first,
                  Int32(ppid) == express.pid else { throw SupportError("avalon.pid names no avalon-fcgi of this express: \(text)") }
            kill(pid, SIGHUP)
        }
    }
}
