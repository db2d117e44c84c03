import AvalonCore
import AvalonScan
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// avalon-fcgi behind a real nginx on loopback, with a real SQLite file.
final class Stack {
    let dir = makeTempDir("avalon-http")
    let socket: String
    let server: Background
    let nginx: Nginx
    var port: Int { nginx.port }

    init(extraEnv: [String: String] = [:], requestPath: String = "/avalon", workers: Int = 3, db: String? = nil,
         waitForHeartbeat: Bool = true, nginxExtra: String = "") throws {
        socket = dir + "/avalon.sock"
        let dbPath = db ?? (dir + "/avalon.sqlite")
        if db == nil { try SQLiteStore(path: dbPath).replace(with: Stack.rows()) }
        var env = ["DATABASE_URL": "sqlite:///" + dbPath, "REQUEST_PATH": requestPath, "LOG_PATH": dir + "/avalon.log"]
        env.merge(extraEnv) { $1 }
        server = try Background([product("avalon-fcgi"), "--bind", "unix:" + socket, "--workers", "\(workers)",
                                 "--socket-mode", "0666", "--pid-file", dir + "/avalon.pid"],
                                environment: env, logPath: dir + "/stderr.log")
        let sock = socket
        guard waitUntil(timeout: 20, { FileManager.default.fileExists(atPath: sock) }) else {
            throw SupportError("avalon-fcgi made no socket: \(server.log)")
        }
        nginx = try Nginx(socket: socket, extra: nginxExtra)
        if waitForHeartbeat {
            let p = requestPath == "/" ? "" : requestPath
            _ = try httpRequest(port: nginx.port, path: p + "/heartbeat", timeout: 60)
        }
    }

    static func rows() -> CollectionRows {
        var rows = CollectionRows()
        let albums = ["Dear You", "¡Firme!", "Группа крови"], artists = ["Jawbreaker", "Voodoo Glow Skulls", "Кино"]
        rows.albums = albums.map { .init(id: .album($0), name: $0) }
        rows.artists = artists.map { .init(id: .artist($0), name: $0) }
        rows.genres = [.init(id: .genre("Punk"), name: "Punk"), .init(id: .genre("Rock"), name: "Rock")]
        let titles = ["This Is Giving Up", "Accident Prone", "Adicción, Tradición, Revolución", "Группа крови", "Love Song"]
        for (i, t) in titles.enumerated() {
            rows.tracks.append(.init(id: .song(path: "/music/\(i).mp3"), name: t, length: Int64(100 + i), track: Int64(i + 1),
                                     year: 1990 + Int64(i), album: .album(albums[i % 3]), artist: .artist(artists[i % 3]),
                                     genre: .genre(i < 3 ? "Punk" : "Rock")))
        }
        return rows
    }

    var log: String { (try? String(contentsOfFile: dir + "/avalon.log")) ?? "" }

    func get(_ path: String, method: String = "GET", headers: [String: String] = [:]) throws -> HTTPReply {
        try httpRequest(port: port, path: path, method: method, headers: headers)
    }

    /// Worker pids of the master.
    var workers: [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(server.pid)/task/\(server.pid)/children")) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    func stop() {
        nginx.stop()
        server.stop()
        removeTree(dir)
    }
}

final class HTTPTests: XCTestCase {
    static var stack: Stack?
    static var statsd: Int32 = -1
    static var statsdPort = 0
    static var startError: Error?

    override class func setUp() {
        (statsd, statsdPort) = bindLoopback(SOCK_DGRAM)
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(statsd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        do {
            stack = try Stack(extraEnv: ["STATSD_HOST": "127.0.0.1", "STATSD_PORT": "\(statsdPort)", "STATSD_PREFIX": "avtest",
                                         "ADMIN_SECRET": "open-sesame-0123456"])
        } catch { startError = error }
    }

    override class func tearDown() {
        stack?.stop()
        close(statsd)
    }

    func s() throws -> Stack {
        if let e = Self.startError { throw e }
        return Self.stack!
    }

    func testEndpoints() throws {
        let st = try s()
        let hb = try st.get("/avalon/heartbeat")
        XCTAssertEqual(hb.status, 200)
        XCTAssertEqual(hb.text, "OKOKOK")
        XCTAssertTrue(hb.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        XCTAssertEqual(try st.get("/avalon/version").text, "1.0.0")
        let songs = try st.get("/avalon/songs")
        XCTAssertEqual(songs.status, 200)
        XCTAssertEqual(songs.headers["content-type"], "application/json; charset=utf-8")
        XCTAssertEqual(songs.headers["content-length"], "\(songs.body.count)")
        XCTAssertEqual((songs.json["success"] as? [Any])?.count, 5)
        for e in ["albums", "artists", "genres"] {
            let r = try st.get("/avalon/\(e)?order=name&direction=desc")
            XCTAssertEqual(r.status, 200, e)
            let names = ((r.json["success"] as? [[String: Any]]) ?? []).map { $0["name"] as! String }
            XCTAssertEqual(names, names.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }.reversed(), e)
        }
        let filtered = try st.get("/avalon/songs?artist_id=\(ItemID.artist("Jawbreaker").uuidString)&order=track")
        XCTAssertEqual(((filtered.json["success"] as? [[String: Any]]) ?? []).map { $0["name"] as! String }, ["This Is Giving Up", "Группа крови"])
    }

    func testUnicodeQueries() throws {
        let st = try s()
        let r = try st.get("/avalon/songs?query=%D0%B3%D1%80%D1%83%D0%BF%D0%BF%D0%B0")
        // The song of that name, and the other song on the album of that name.
        XCTAssertEqual(Set(((r.json["success"] as? [[String: Any]]) ?? []).map { $0["name"] as! String }), ["Группа крови", "Adicción, Tradición, Revolución"])
        let accent = try st.get("/avalon/songs?query=REVOLUCION")
        XCTAssertEqual(((accent.json["success"] as? [[String: Any]]) ?? []).count, 1)
        XCTAssertTrue(accent.text.contains("Adicción, Tradición, Revolución"), accent.text)
        let invalid = try st.get("/avalon/albums?query=%FF%FE")
        XCTAssertEqual(invalid.status, 200)
    }

    func testErrorsAsJSON() throws {
        let st = try s()
        let bad = try st.get("/avalon/songs?order=count")
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(((bad.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 100)
        let uuid = try st.get("/avalon/songs?genre_id=zzz")
        XCTAssertEqual(((uuid.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 101)
        let missing = try st.get("/avalon/nothing/here")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(((missing.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 4)
        XCTAssertEqual(((missing.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["payload"] as? [String: String], ["path": "/avalon/nothing/here"])
        let post = try st.get("/avalon/songs", method: "POST", headers: ["Content-Length": "0"])
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(((post.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 5)
        XCTAssertEqual(try st.get("/elsewhere").status, 404)
    }

    func testHead() throws {
        let st = try s()
        let get = try st.get("/avalon/albums")
        let head = try st.get("/avalon/albums", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body.count, 0)
        XCTAssertEqual(head.headers["content-length"], "\(get.body.count)")
    }

    /// nginx puts the query string in two FastCGI parameters and refuses
    /// records over 64 KiB, so through nginx a query string tops out near
    /// 32 KiB; straight over FastCGI (cgi-fcgi) a 64 KiB one works.
    func testLongQueryString() throws {
        let st = try s()
        let long = String(repeating: "x", count: 30 * 1024)
        let r = try st.get("/avalon/songs?junk=\(long)&query=love&limit=1")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual((r.json["success"] as? [[String: Any]])?.map { $0["name"] as! String }, ["Love Song"])
        let huge = String(repeating: "y", count: 64 * 1024)
        let direct = try runProgram([try which("cgi-fcgi"), "-bind", "-connect", st.socket],
                                    environment: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/avalon/songs",
                                                  "QUERY_STRING": "limit=1&query=\(huge)"])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        XCTAssertTrue(direct.stdout.hasPrefix("Status: 200 OK\r\n"), String(direct.stdout.prefix(200)))
        XCTAssertTrue(direct.stdout.hasSuffix("{\"errors\": [], \"success\": [], \"warnings\": []}"), String(direct.stdout.suffix(200)))
    }

    func testStatsdTimerPerEndpoint() throws {
        let st = try s()
        // A datagram holds as many timer lines as fit a packet: read it whole.
        var buf = [UInt8](repeating: 0, count: 65536)
        while recv(Self.statsd, &buf, buf.count, 0) > 0 {}  // drain
        _ = try st.get("/avalon/genres")
        var packets: [String] = []
        while true {
            let n = recv(Self.statsd, &buf, buf.count, 0)
            if n <= 0 { break }
            packets.append(String(decoding: buf[0..<n], as: UTF8.self))
        }
        XCTAssertEqual(packets.count, 1, "\(packets)")
        XCTAssertNotNil(packets.first?.range(of: "^avtest\\.request\\.genres:[0-9.]+\\|ms$", options: .regularExpression), "\(packets)")
        // Timers of requests close together share packets, a line each.
        for _ in 0..<20 { _ = try st.get("/avalon/albums?limit=1") }
        packets = []
        while true {
            let n = recv(Self.statsd, &buf, buf.count, 0)
            if n <= 0 { break }
            packets.append(String(decoding: buf[0..<n], as: UTF8.self))
        }
        let lines = packets.flatMap { $0.split(separator: "\n") }
        XCTAssertEqual(lines.count, 20, "\(packets)")
        XCTAssertLessThan(packets.count, 20, "\(packets)")
        for l in lines { XCTAssertNotNil(l.range(of: "^avtest\\.request\\.albums:[0-9.]+\\|ms$", options: .regularExpression), "\(l)") }
    }

    /// `/years`, added as one route entry and one handler: through nginx it
    /// answers, carries an ETag that revalidates to 304, is counted in the
    /// metrics under its label and timed for statsd like the other lists.
    func testYearsThroughTheWholeStack() throws {
        let st = try s()
        var buf = [UInt8](repeating: 0, count: 65536)
        while recv(Self.statsd, &buf, buf.count, 0) > 0 {}  // drain
        let r = try st.get("/avalon/years?order=songs&direction=desc")
        XCTAssertEqual(r.status, 200, r.text)
        let items = r.json["success"] as? [[String: Int]] ?? []
        // Stack.rows(): five songs, years 1990 to 1994.
        XCTAssertEqual(items.count, 5, r.text)
        XCTAssertEqual(Set(items.map { $0["year"]! }), Set(1990...1994))
        XCTAssertEqual(items.map { $0["songs"]! }, [1, 1, 1, 1, 1])
        let tag = try XCTUnwrap(r.headers["etag"])
        XCTAssertEqual(r.headers["cache-control"], "no-cache")
        XCTAssertEqual(try st.get("/avalon/years?order=songs&direction=desc", headers: ["If-None-Match": tag]).status, 304)
        XCTAssertNotEqual(try st.get("/avalon/years").headers["etag"], tag)
        XCTAssertEqual(try st.get("/avalon/years?limit=x").status, 400)
        var packets = ""
        while true {
            let n = recv(Self.statsd, &buf, buf.count, 0)
            if n <= 0 { break }
            packets += String(decoding: buf[0..<n], as: UTF8.self) + "\n"
        }
        // The 304 made nothing and sends no timer; the 200s and the 400 do.
        XCTAssertEqual(packets.split(separator: "\n").filter { $0.hasPrefix("avtest.request.years:") }.count, 3, packets)
        let metrics = try st.get("/avalon/metrics", headers: ["X-API-Key": "open-sesame-0123456"]).text
        XCTAssertTrue(metrics.contains("avalon_requests_total{endpoint=\"years\",code=\"304\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("avalon_requests_total{endpoint=\"years\",code=\"400\"} 1"), metrics)
    }

    func testUnhandledErrorIs500AndLogged() throws {
        let st = try s()
        XCTAssertEqual(try st.get("/avalon/debug/error?secret=nope").status, 404)
        let r = try st.get("/avalon/debug/error", headers: ["X-API-Key": "open-sesame-0123456"])
        XCTAssertEqual(r.status, 500)
        XCTAssertEqual(((r.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 1)
        XCTAssertEqual(((r.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["message_key"] as? String, "avalon.service.error.unknown")
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("[ERROR] Unhandled error processing GET") }, st.log)
        // The worker keeps serving.
        XCTAssertEqual(try st.get("/avalon/debug/error?secret=open-sesame-0123456").status, 500)
        XCTAssertEqual(try st.get("/avalon/heartbeat").status, 200)
        // Log lines follow the default format.
        let first = st.log.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertNotNil(first.range(of: "^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\] \\[\\d+\\] \\[INFO\\] loaded 5 songs", options: .regularExpression), first)
        XCTAssertTrue(st.log.contains("request path /avalon"), st.log)
    }

    func testKilledWorkerIsReplaced() throws {
        let st = try s()
        let before = st.workers
        XCTAssertEqual(before.count, 3)
        kill(before[0], SIGKILL)
        XCTAssertTrue(waitUntil(timeout: 10) { st.workers.count == 3 && !st.workers.contains(before[0]) }, "\(st.workers)")
        for _ in 0..<20 { XCTAssertEqual(try st.get("/avalon/heartbeat").status, 200) }
        XCTAssertTrue(st.log.contains("worker \(before[0]) died (signal 9)"), st.log)
    }

    func testSecondServerOnTheSameSocketIsRefused() throws {
        let st = try s()
        let r = try runProgram([product("avalon-fcgi"), "--bind", "unix:" + st.socket, "--workers", "1"],
                               environment: ["DATABASE_URL": "sqlite:///" + st.dir + "/avalon.sqlite"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("already listening"), r.stderr)
        let pid = try runProgram([product("avalon-fcgi"), "--bind", "unix:" + st.dir + "/other.sock", "--pid-file", st.dir + "/avalon.pid"],
                                 environment: ["DATABASE_URL": "sqlite:///" + st.dir + "/avalon.sqlite"])
        XCTAssertNotEqual(pid.status, 0)
        XCTAssertTrue(pid.stderr.contains("pid file"), pid.stderr)
        XCTAssertEqual(try st.get("/avalon/heartbeat").status, 200)
    }
}

final class LifecycleTests: XCTestCase {
    /// Signals that only ask something of a worker (here SIGUSR1, reopen the
    /// log) must not break the request it is in. A handler interrupts the poll
    /// libfcgi makes right after accept, and that connection was dropped.
    func testSignalsDuringRequestsLoseNone() throws {
        let st = try Stack(workers: 2)
        defer { st.stop() }
        var failures: [String] = []
        var sent = 0
        let end = Date().addingTimeInterval(3)
        // Signals arrive all the time, from another thread, so that some land
        // while a worker is between accept and reading the request.
        let workers = st.workers
        let signaller = Thread {
            while Date() < end {
                for pid in workers { kill(pid, SIGUSR1) }
                usleep(50)
            }
        }
        signaller.start()
        while Date() < end {
            do {
                let r = try st.get("/avalon/songs?limit=2")
                if r.status != 200 { failures.append("status \(r.status)") }
            } catch { failures.append("\(error)") }
            sent += 1
        }
        XCTAssertEqual(failures, [], "after \(sent) requests")
        XCTAssertGreaterThan(sent, 100)
        XCTAssertEqual(st.workers.count, 2)
    }

    /// SIGHUP swaps in a new collection while requests keep flowing: none fails.
    func testReloadUnderLoadLosesNoRequest() throws {
        let st = try Stack(workers: 2)
        defer { st.stop() }
        var rows = Stack.rows()
        rows.tracks.append(.init(id: .song(path: "/music/new.mp3"), name: "Brand New", length: 1, track: 1, year: 2020,
                                 album: rows.albums[0].id, artist: rows.artists[0].id, genre: rows.genres[0].id))
        try SQLiteStore(path: st.dir + "/avalon.sqlite").replace(with: rows)
        var failures: [String] = []
        var counts: [Int: Int] = [:]
        var sent = 0
        let end = Date().addingTimeInterval(6)
        var hupped = false
        while Date() < end {
            if !hupped && sent > 50 { st.server.signal(SIGHUP); hupped = true }
            do {
                let r = try st.get("/avalon/songs")
                if r.status != 200 { failures.append("status \(r.status)") } else { counts[(r.json["success"] as? [Any])?.count ?? -1, default: 0] += 1 }
            } catch { failures.append("\(error)") }
            sent += 1
        }
        XCTAssertEqual(failures, [], "after \(sent) requests")
        XCTAssertGreaterThan(counts[6] ?? 0, 0, "the new collection was never served: \(counts), \(st.log)")
        XCTAssertEqual(Set(counts.keys), [5, 6])
        XCTAssertTrue(st.log.contains("reloaded generation 2: 6 songs"), st.log)
        XCTAssertEqual(st.workers.count, 2)
    }

    func testFailedReloadKeepsServing() throws {
        let st = try Stack(workers: 1)
        defer { st.stop() }
        try "not a database".write(toFile: st.dir + "/avalon.sqlite", atomically: false, encoding: .utf8)
        st.server.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.contains("reload failed, old workers keep serving") }, st.log)
        XCTAssertEqual((try st.get("/avalon/songs").json["success"] as? [Any])?.count, 5)
    }

    func testSigtermStopsCleanly() throws {
        let st = try Stack(workers: 2)
        defer { st.stop() }
        let workers = st.workers
        XCTAssertEqual(st.server.stop(SIGTERM), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: st.socket))
        XCTAssertFalse(FileManager.default.fileExists(atPath: st.dir + "/avalon.pid"))
        for w in workers { XCTAssertNotEqual(kill(w, 0), 0, "worker \(w) outlived its master") }
        XCTAssertTrue(st.log.contains("stopped"), st.log)
    }

    func testOtherRequestPaths() throws {
        for path in ["/", "/music/api"] {
            let st = try Stack(requestPath: path, workers: 1)
            defer { st.stop() }
            let p = path == "/" ? "" : path
            XCTAssertEqual(try st.get(p + "/heartbeat").text, "OKOKOK", path)
            XCTAssertEqual((try st.get(p + "/songs").json["success"] as? [Any])?.count, 5, path)
            XCTAssertEqual(try st.get("/avalon/songs").status, 404, path)
        }
    }

    /// A request sent while the collection loads waits and is answered.
    func testHeartbeatWaitsForStartup() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let gen = try runProgram([product("avalon-bench"), "generate", "150000", "sqlite:///" + dir + "/big.sqlite"])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let st = try Stack(workers: 1, db: dir + "/big.sqlite", waitForHeartbeat: false)
        defer { st.stop() }
        XCTAssertFalse(st.log.contains("loaded"), "loaded before the first request; the test proves nothing")
        let r = try st.get("/avalon/heartbeat")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "OKOKOK")
        XCTAssertTrue(st.log.contains("loaded 150000 songs"), st.log)
    }

    /// The whole song list of a large collection streams out as it is
    /// rendered: the bytes are those of the answer held whole, and the worker's
    /// peak resident memory hardly moves (held whole it would grow by the
    /// answer's size, here about 40 MB).
    func testHugeAnswerStreamsInBoundedMemory() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let gen = try runProgram([product("avalon-bench"), "generate", "100000", "sqlite:///" + dir + "/big.sqlite"])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let st = try Stack(workers: 1, db: dir + "/big.sqlite")
        defer { st.stop() }
        let worker = st.workers[0]
        func peakKB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(worker)/status")) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        _ = try st.get("/avalon/songs?limit=10")
        let before = peakKB()
        let r = try st.get("/avalon/songs")
        let grew = peakKB() - before
        XCTAssertEqual(r.status, 200)
        XCTAssertNil(r.headers["content-length"], "a streamed answer cannot know its length up front")
        let expected = try SQLiteStore(path: dir + "/big.sqlite").load().respond(.songs, QueryParameters(queryString: "")).body
        XCTAssertGreaterThan(expected.count, 35_000_000)
        XCTAssertTrue(r.body.elementsEqual(expected), "streamed \(r.body.count) bytes, expected \(expected.count)")
        XCTAssertLessThan(grew, 16 * 1024, "the worker's peak grew by \(grew) kB while sending \(r.body.count) bytes")
        // HEAD renders but sends no body; the next small answer has its length again.
        let head = try st.get("/avalon/songs", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body.count, 0)
        XCTAssertEqual(try st.get("/avalon/songs?limit=1").headers["content-length"].map { Int($0) ?? 0 } ?? 0 > 0, true)
    }

    /// spawn-fcgi hands the socket over on fd 0.
    func testUnderSpawnFCGI() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        try SQLiteStore(path: dir + "/a.sqlite").replace(with: Stack.rows())
        let sock = dir + "/s.sock"
        let r = try runProgram([try which("spawn-fcgi"), "-s", sock, "-M", "0666", "-P", dir + "/pid", "--",
                                product("avalon-fcgi"), "--workers", "2"],
                               environment: ["DATABASE_URL": "sqlite:///" + dir + "/a.sqlite", "LOG_PATH": dir + "/log"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let pid = Int32((try String(contentsOfFile: dir + "/pid")).trimmingCharacters(in: .whitespacesAndNewlines))!
        defer { kill(pid, SIGTERM) }
        let nginx = try Nginx(socket: sock)
        defer { nginx.stop() }
        XCTAssertEqual(try httpRequest(port: nginx.port, path: "/avalon/heartbeat").text, "OKOKOK")
        XCTAssertEqual((try httpRequest(port: nginx.port, path: "/avalon/artists").json["success"] as? [Any])?.count, 3)
    }

    func testLogFileReopensOnSIGUSR1() throws {
        let st = try Stack(extraEnv: ["ADMIN_SECRET": "test-admin-secret-0001"], workers: 2)
        defer { st.stop() }
        let log = st.dir + "/avalon.log"
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        st.server.signal(SIGUSR1)
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("log file reopened") }, "no new log file")
        usleep(200_000)
        for _ in 0..<4 { XCTAssertEqual(try st.get("/avalon/debug/error?secret=test-admin-secret-0001").status, 500) }
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.components(separatedBy: "Unhandled error").count == 5 }, st.log)
        let old = try String(contentsOfFile: log + ".1")
        XCTAssertTrue(old.contains("loaded 5 songs") && !old.contains("Unhandled error"), old)
    }

    func testStartupErrorsAreClearAndKeepSecrets() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let badLog = try runProgram([product("avalon-fcgi"), "--bind", "unix:\(dir)/a.sock"],
                                    environment: ["LOG_PATH": dir + "/no/such/dir/avalon.log", "DATABASE_URL": "sqlite:///\(dir)/a.sqlite"])
        XCTAssertNotEqual(badLog.status, 0)
        XCTAssertTrue(badLog.stderr.contains("cannot open LOG_PATH"), badLog.stderr)
        let badDB = try runProgram([product("avalon-fcgi"), "--bind", "unix:\(dir)/b.sock"],
                                   environment: ["DATABASE_URL": "postgresql://avalon:hunter2@127.0.0.1:\(freePort())/music?connect_timeout=2"])
        XCTAssertNotEqual(badDB.status, 0)
        XCTAssertTrue(badDB.stderr.contains("cannot load the collection") && badDB.stderr.contains("avalon:***@"), badDB.stderr)
        XCTAssertFalse(badDB.stderr.contains("hunter2"), badDB.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/b.sock"), "a failed start left its socket behind")
        let badConfig = try runProgram([product("avalon-fcgi")], environment: ["REQUEST_PATH": "api"])
        XCTAssertEqual(badConfig.status, 2)
        XCTAssertTrue(badConfig.stderr.contains("REQUEST_PATH"), badConfig.stderr)
    }

    func testNginxConfigIsValid() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let conf = try String(contentsOfFile: packageRoot + "/nginx/avalon.conf")
            .replacingOccurrences(of: "include fastcgi_params;", with: "include /etc/nginx/fastcgi_params;")
            .replacingOccurrences(of: "include snippets/avalon-fastcgi.conf;", with: "include \(packageRoot)/nginx/avalon-fastcgi.conf;")
            .replacingOccurrences(of: "include snippets/avalon-log.conf;", with: "include \(packageRoot)/nginx/avalon-log.conf;")
            .replacingOccurrences(of: "include snippets/avalon-cache.conf;", with: "include \(packageRoot)/nginx/avalon-cache.conf;")
            // nginx -t makes the cache folder: the test's own, not the machine's.
            .replacingOccurrences(of: "/var/cache/nginx-avalon ", with: dir + "/cache ")
        XCTAssertFalse(conf.contains("include snippets/"), "every snippet the site includes is the checkout's here")
        try """
            pid \(dir)/nginx.pid; error_log \(dir)/error.log;
            events {}
            http { include /etc/nginx/mime.types; \(conf) }
            """.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
        let r = try runProgram([try which("nginx"), "-t", "-c", dir + "/nginx.conf"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("syntax is ok"), r.stderr)
    }
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
