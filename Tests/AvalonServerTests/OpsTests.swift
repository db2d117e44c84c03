import AvalonCore
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// Prometheus text as `name{labels}` → value (comments left out).
func parseMetrics(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let sp = line.lastIndex(of: " ") else { continue }
        out[String(line[..<sp])] = Double(line[line.index(after: sp)...])
    }
    return out
}

extension Stack {
    static let secret = "correct-horse-battery"

    func metrics() throws -> [String: Double] {
        let r = try get("/avalon/metrics", headers: ["X-API-Key": Stack.secret])
        guard r.status == 200 else { throw SupportError("metrics: \(r.status) \(r.text)") }
        return parseMetrics(r.text)
    }

    func health(_ query: String) throws -> (status: Int, successes: [String: [String: Any]], failures: [String: [String: Any]]) {
        // Level 2 needs the admin secret; level 0 and 1 answer anyone the same.
        let r = try get("/avalon/health_check" + query, headers: ["X-API-Key": Stack.secret])
        return (r.status, r.json["successes"] as? [String: [String: Any]] ?? [:], r.json["failures"] as? [String: [String: Any]] ?? [:])
    }
}

/// How long a worker reuses a level-2 health result, and a margin.
enum HealthReuse { static let seconds = 1.1 }

/// Runs `count` requests from `threads` threads at once, so that they spread over the workers.
func spread(_ count: Int, threads: Int = 4, _ request: (Int) throws -> HTTPReply) -> [String] {
    let lock = NSLock()
    var failures: [String] = []
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        for i in stride(from: t, to: count, by: threads) {
            do {
                let r = try request(i)
                if r.status >= 500 { lock.lock(); failures.append("\(i): \(r.status)"); lock.unlock() }
            } catch {
                lock.lock(); failures.append("\(i): \(error)"); lock.unlock()
            }
        }
    }
    return failures
}

/// Health checks, metrics, request ids and admin views through nginx and a pool of three workers.
final class OpsTests: XCTestCase {
    static var stack: Stack?
    static var startError: Error?

    override class func setUp() {
        do { stack = try Stack(extraEnv: ["ADMIN_SECRET": Stack.secret, "STATSD_HOST": "nonexistent.invalid"]) } catch { startError = error }
    }

    override class func tearDown() { stack?.stop() }

    func s() throws -> Stack {
        if let e = Self.startError { throw e }
        return Self.stack!
    }

    /// Every request counts once, whichever worker answered it; scrapes count under their own endpoint.
    func testRequestsAreCountedAcrossThePool() throws {
        let st = try s()
        let before = try st.metrics()
        let paths = ["/avalon/songs?limit=2", "/avalon/albums", "/avalon/heartbeat", "/avalon/songs?order=nope", "/avalon/nothing"]
        let n = 240
        XCTAssertEqual(spread(n) { try st.get(paths[$0 % paths.count]) }, [])
        let after = try st.metrics()
        func requests(_ m: [String: Double], metrics: Bool) -> Double {
            m.filter { $0.key.hasPrefix("avalon_requests_total{") && $0.key.contains("endpoint=\"metrics\"") == metrics }.values.reduce(0, +)
        }
        XCTAssertEqual(requests(after, metrics: false) - requests(before, metrics: false), Double(n))
        XCTAssertEqual(requests(after, metrics: true) - requests(before, metrics: true), 1, "the first scrape counts once")
        XCTAssertEqual((after["avalon_requests_total{endpoint=\"songs\",code=\"400\"}"] ?? 0)
                       - (before["avalon_requests_total{endpoint=\"songs\",code=\"400\"}"] ?? 0), Double(n / paths.count))
        XCTAssertEqual((after["avalon_requests_total{endpoint=\"other\",code=\"404\"}"] ?? 0)
                       - (before["avalon_requests_total{endpoint=\"other\",code=\"404\"}"] ?? 0), Double(n / paths.count))
        // The histogram counts what the counters count.
        // (Every code: other tests of this stack send songs requests answered 405.)
        let songs = after.filter { $0.key.hasPrefix("avalon_requests_total{endpoint=\"songs\",") }.values.reduce(0, +)
        XCTAssertEqual(after["avalon_request_duration_seconds_count{endpoint=\"songs\"}"], songs)
        XCTAssertEqual(after["avalon_request_duration_seconds_bucket{endpoint=\"songs\",le=\"+Inf\"}"], songs)
        XCTAssertGreaterThan(after["avalon_response_bytes_total{endpoint=\"albums\"}"] ?? 0, 0)
        // The requests really were spread: more than one worker served some.
        let workers = try st.get("/avalon/debug/workers", headers: ["X-API-Key": Stack.secret]).json["workers"] as? [[String: Any]] ?? []
        XCTAssertEqual(workers.count, 3)
        XCTAssertGreaterThan(workers.filter { ($0["requests"] as? Int ?? 0) > 0 }.count, 1, "\(workers)")
        XCTAssertEqual(after["avalon_workers{state=\"idle\"}"].map { $0 + (after["avalon_workers{state=\"busy\"}"] ?? 0) }, 3)
        XCTAssertEqual(after["avalon_workers_configured"], 3)
        XCTAssertEqual(after["avalon_collection_items{kind=\"songs\"}"], 5)
        XCTAssertEqual(after["avalon_build_info{version=\"1.0.0\",commit=\"unknown\"}"], 1)
        XCTAssertGreaterThan(after["avalon_pool_resident_memory_bytes"] ?? 0, 1_000_000)
        XCTAssertGreaterThan(after["avalon_collection_loaded_timestamp_seconds"] ?? 0, Date().timeIntervalSince1970 - 3600)
    }

    /// promtool, Prometheus' own checker, accepts the exposition.
    func testPromtoolAcceptsTheMetrics() throws {
        let st = try s()
        _ = try st.get("/avalon/songs")
        _ = try st.get("/avalon/health_check?max_level=2", headers: ["X-API-Key": Stack.secret])
        let text = try st.get("/avalon/metrics?secret=\(Stack.secret)").text
        let r = try runProgram([try which("promtool"), "check", "metrics"], input: text)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr + "\n" + text)
        XCTAssertTrue(text.contains("avalon_health_check_failures{name=\"database\"} 0"), text)
    }

    /// A worker killed with -9 is replaced in its slot: no counter goes down.
    func testCountersSurviveAKilledWorker() throws {
        let st = try s()
        XCTAssertEqual(spread(60) { _ in try st.get("/avalon/genres") }, [])
        let before = try st.metrics()
        let victims = st.workers
        kill(victims[0], SIGKILL)
        XCTAssertTrue(waitUntil(timeout: 10) { st.workers.count == 3 && !st.workers.contains(victims[0]) }, "\(st.workers)")
        XCTAssertEqual(spread(30) { _ in try st.get("/avalon/genres") }, [])
        let after = try st.metrics()
        for (k, v) in before where k.hasPrefix("avalon_requests_total") || k.hasPrefix("avalon_response_bytes_total")
            || k.hasPrefix("avalon_request_duration_seconds") {
            XCTAssertGreaterThanOrEqual(after[k] ?? -1, v, k)
        }
        XCTAssertEqual((after["avalon_worker_restarts_total"] ?? 0) - (before["avalon_worker_restarts_total"] ?? 0), 1)
        XCTAssertGreaterThanOrEqual((after["avalon_requests_total{endpoint=\"genres\",code=\"200\"}"] ?? 0)
                                    - (before["avalon_requests_total{endpoint=\"genres\",code=\"200\"}"] ?? 0), 30)
    }

    func testHealthCheckLevelsAndFilter() throws {
        let st = try s()
        let zero = try st.health("?max_level=0")
        XCTAssertEqual(zero.status, 200)
        XCTAssertEqual(Set(zero.successes.keys), ["ping"])
        let one = try st.health("")
        XCTAssertEqual(one.status, 200)
        XCTAssertEqual(Set(one.successes.keys), ["ping", "collection", "workers"])
        let collection = one.successes["collection"]?["result"] as? [String: Any] ?? [:]
        XCTAssertEqual(collection["songs"] as? Int, 5)
        XCTAssertEqual(collection["genres"] as? Int, 2)
        XCTAssertNotNil(collection["loaded_at"] as? String)
        XCTAssertNotNil(collection["load_seconds"] as? Double ?? (collection["load_seconds"] as? Int).map(Double.init))
        XCTAssertEqual(one.successes["workers"]?["result"] as? [String: Int], ["live": 3, "configured": 3])
        XCTAssertEqual(one.successes["workers"]?["level"] as? Int, 1)
        XCTAssertNotNil(one.successes["workers"]?["timing"] as? Double ?? (one.successes["workers"]?["timing"] as? Int).map(Double.init))
        let two = try st.health("?max_level=2")
        XCTAssertEqual(Set(two.successes.keys), ["ping", "collection", "workers", "database", "freshness", "replica"])
        let only = try st.health("?checks=database,ping")
        XCTAssertEqual(Set(only.successes.keys), ["database", "ping"])
        let r = try st.get("/avalon/health_check")
        XCTAssertEqual(r.headers["cache-control"], "no-store")
        let bad = try st.get("/avalon/health_check?max_level=high")
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(((bad.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 101)
        let unknown = try st.get("/avalon/health_check?checks=ping,nope")
        XCTAssertEqual(unknown.status, 400)
        XCTAssertEqual(((unknown.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 100)
        XCTAssertTrue(unknown.text.contains("nope"), unknown.text)
        XCTAssertEqual(try st.get("/avalon/health_check", method: "HEAD").status, 200)
    }

    func testRequestIDs() throws {
        let st = try s()
        let given = try st.get("/avalon/albums", headers: ["X-Request-ID": "client-id-42"])
        XCTAssertEqual(given.headers["x-request-id"], "client-id-42")
        let a = try st.get("/avalon/albums").headers["x-request-id"] ?? ""
        let b = try st.get("/avalon/albums").headers["x-request-id"] ?? ""
        XCTAssertNotNil(a.range(of: "^[0-9a-f]{32}$", options: .regularExpression), a)
        XCTAssertNotEqual(a, b)
        let long = try st.get("/avalon/heartbeat", headers: ["X-Request-ID": String(repeating: "z", count: 200)])
        XCTAssertNotNil((long.headers["x-request-id"] ?? "").range(of: "^[0-9a-f]{32}$", options: .regularExpression))
        // Errors carry their id into the log.
        let e = try st.get("/avalon/debug/error", headers: ["X-API-Key": Stack.secret, "X-Request-ID": "trace-me-7"])
        XCTAssertEqual(e.status, 500)
        XCTAssertEqual(e.headers["x-request-id"], "trace-me-7")
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("Unhandled error processing GET") && st.log.contains("request_id=trace-me-7") }, st.log)
    }

    /// Answers count under their route, also when the handler threw.
    func testErrorsCountUnderTheirRoute() throws {
        let st = try s()
        let before = try st.metrics()
        XCTAssertEqual(try st.get("/avalon/debug/error", headers: ["X-API-Key": Stack.secret]).status, 500)
        XCTAssertEqual(try st.get("/avalon/versions").status, 404)
        XCTAssertEqual(try st.get("/avalon/songs", method: "POST", headers: ["Content-Length": "0"]).status, 405)
        let after = try st.metrics()
        for key in ["avalon_requests_total{endpoint=\"debug_error\",code=\"500\"}", "avalon_requests_total{endpoint=\"versions\",code=\"404\"}",
                    "avalon_requests_total{endpoint=\"songs\",code=\"405\"}"] {
            XCTAssertEqual((after[key] ?? 0) - (before[key] ?? 0), 1, key)
        }
    }

    func testAdminViewsNeedTheSecret() throws {
        let st = try s()
        for path in ["metrics", "versions", "debug/workers", "admin/log-level", "debug/error"] {
            XCTAssertEqual(try st.get("/avalon/\(path)").status, 404, path)
            XCTAssertEqual(try st.get("/avalon/\(path)?secret=wrong").status, 404, path)
            XCTAssertEqual(try st.get("/avalon/\(path)", headers: ["Authorization": "Bearer wrong"]).status, 404, path)
        }
        let v = try st.get("/avalon/versions", headers: ["Authorization": "Bearer \(Stack.secret)"])
        XCTAssertEqual(v.status, 200)
        XCTAssertEqual(v.json["version"] as? String, "1.0.0")
        XCTAssertNotNil(v.json["commit"] as? String)
        XCTAssertNotNil(v.json["build_date"] as? String)
        XCTAssertTrue((v.json["swift"] as? String ?? "").hasPrefix("6."), v.text)
        let libs = v.json["libraries"] as? [String: Any] ?? [:]
        XCTAssertTrue((libs["sqlite"] as? String ?? "").hasPrefix("3."), v.text)
        XCTAssertNotNil(libs["libpq"] as? String)
        XCTAssertNotNil(libs["libcurl"] as? String)
        let w = try st.get("/avalon/debug/workers?secret=\(Stack.secret)")
        XCTAssertEqual(w.status, 200)
        let rows = w.json["workers"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(rows.compactMap { $0["pid"] as? Int }), Set(st.workers.map(Int.init)))
        XCTAssertEqual(w.json["master_pid"] as? Int, Int(st.server.pid))
        for row in rows {
            XCTAssertEqual(row["generation"] as? Int, 1, "\(row)")
            XCTAssertGreaterThan(row["resident_bytes"] as? Int ?? 0, 0, "\(row)")
            XCTAssertNotNil(row["started_at"] as? String)
        }
        // The worker answering sees itself busy with this very request.
        let busy = rows.filter { $0["state"] as? String == "busy" }
        XCTAssertEqual(busy.count, 1, "\(rows)")
        XCTAssertEqual((busy.first?["request"] as? [String: Any])?["path"] as? String, "/avalon/debug/workers")
    }
}

/// Tests that change the pool (log level, reloads, stopped workers) get a stack of their own.
final class OpsLifecycleTests: XCTestCase {
    func testLogLevelChangesEveryWorkerNowAndLater() throws {
        let st = try Stack(extraEnv: ["ADMIN_SECRET": Stack.secret], workers: 2)
        defer { st.stop() }
        XCTAssertEqual(spread(20) { _ in try st.get("/avalon/genres") }, [])
        XCTAssertFalse(st.log.contains("[DEBUG]"), "DEBUG lines before the level changed")
        let bad = try st.get("/avalon/admin/log-level?level=LOUD&secret=\(Stack.secret)")
        XCTAssertEqual(bad.status, 400)
        let set = try st.get("/avalon/admin/log-level?level=debug&secret=\(Stack.secret)")
        XCTAssertEqual(set.json["level"] as? String, "DEBUG")
        XCTAssertEqual(try st.get("/avalon/admin/log-level?secret=\(Stack.secret)").json["level"] as? String, "DEBUG")
        XCTAssertEqual(spread(40) { _ in try st.get("/avalon/genres?x=1") }, [])
        func debugPids() -> Set<String> {
            Set(st.log.split(separator: "\n").filter { $0.contains("[DEBUG] GET") }.compactMap { line in
                // "[time] [pid] [DEBUG] GET …"
                line.split(separator: "[").dropFirst().first.map { String($0.prefix { $0 != "]" }) }
            })
        }
        XCTAssertTrue(waitUntil(timeout: 5) { debugPids().count == 2 }, "every worker logs at DEBUG: \(debugPids())")
        // A worker forked after the change starts at the new level.
        let old = st.workers
        kill(old[0], SIGKILL)
        var fresh: Int32 = 0
        XCTAssertTrue(waitUntil(timeout: 10) {
            let now = st.workers
            fresh = now.first { !old.contains($0) } ?? 0
            return now.count == 2 && fresh != 0
        }, "no replacement for \(old[0]): \(st.workers)")
        XCTAssertTrue(waitUntil(timeout: 10) {
            _ = spread(8) { _ in try st.get("/avalon/genres") }
            return debugPids().contains(String(fresh))
        }, "the replacement worker \(fresh) logs at DEBUG: \(debugPids())")
        // The master follows too: it logged the replacement's start at DEBUG.
        XCTAssertTrue(st.log.contains("] [\(st.server.pid)] [DEBUG] started worker \(fresh)"), "the master did not log at DEBUG")
        _ = try st.get("/avalon/admin/log-level?level=ERROR&secret=\(Stack.secret)")
        let lines = st.log.split(separator: "\n").count
        XCTAssertEqual(spread(10) { _ in try st.get("/avalon/genres") }, [])
        usleep(200_000)
        XCTAssertEqual(st.log.split(separator: "\n").count, lines, "ERROR level still logs requests")
    }

    func testReloadShowsInTheMetrics() throws {
        let st = try Stack(extraEnv: ["ADMIN_SECRET": Stack.secret], workers: 2)
        defer { st.stop() }
        let before = try st.metrics()
        XCTAssertEqual(before["avalon_collection_items{kind=\"songs\"}"], 5)
        var rows = Stack.rows()
        rows.tracks.append(.init(id: .song(path: "/music/new.mp3"), name: "New", length: 1, track: 1, year: 2020,
                                 album: rows.albums[0].id, artist: rows.artists[0].id, genre: rows.genres[0].id))
        try SQLiteStore(path: st.dir + "/avalon.sqlite").replace(with: rows)
        st.server.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.contains("reloaded generation 2: 6 songs") }, st.log)
        XCTAssertTrue(waitUntil(timeout: 10) { ((try? st.metrics()) ?? [:])["avalon_workers{state=\"retiring\"}"] == 0 })
        let after = try st.metrics()
        XCTAssertEqual(after["avalon_collection_items{kind=\"songs\"}"], 6)
        XCTAssertEqual(after["avalon_reloads_total{result=\"success\"}"], 1)
        XCTAssertGreaterThan(after["avalon_collection_loaded_timestamp_seconds"] ?? 0, before["avalon_collection_loaded_timestamp_seconds"] ?? 0)
        XCTAssertEqual(after["avalon_worker_restarts_total"], 0, "retired workers are not restarts")
        XCTAssertGreaterThanOrEqual(after["avalon_requests_total{endpoint=\"metrics\",code=\"200\"}"] ?? 0,
                                    before["avalon_requests_total{endpoint=\"metrics\",code=\"200\"}"] ?? 0)
        XCTAssertEqual((try st.health("")).successes["collection"].flatMap { ($0["result"] as? [String: Any])?["songs"] as? Int }, 6)
        try "not a database".write(toFile: st.dir + "/avalon.sqlite", atomically: false, encoding: .utf8)
        st.server.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 10) { ((try? st.metrics()) ?? [:])["avalon_reloads_total{result=\"failure\"}"] == 1 })
    }

    /// METRICS_PUBLIC opens /metrics (for a scrape location nginx restricts),
    /// and nothing else; the shipped scrape configuration passes promtool.
    func testPublicMetricsAndScrapeConfig() throws {
        let st = try Stack(extraEnv: ["METRICS_PUBLIC": "true"], workers: 1)
        defer { st.stop() }
        let m = try st.get("/avalon/metrics")
        XCTAssertEqual(m.status, 200)
        XCTAssertEqual(m.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(m.headers["cache-control"], "no-store")
        XCTAssertEqual(parseMetrics(m.text)["avalon_workers_configured"], 1)
        for path in ["versions", "debug/workers", "admin/log-level", "debug/error"] {
            XCTAssertEqual(try st.get("/avalon/\(path)").status, 404, path)
        }
        let secretFile = st.dir + "/secret"
        try "s3cret\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let config = try String(contentsOfFile: packageRoot + "/deploy/prometheus/avalon.yml")
            .replacingOccurrences(of: "/etc/prometheus/avalon-admin-secret", with: secretFile)
        try config.write(toFile: st.dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let check = try runProgram([try which("promtool"), "check", "config", st.dir + "/prometheus.yml"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
    }

    /// A master that cannot replace a dead worker (stopped here) shows it in the workers check.
    func testMissingWorkerFailsTheWorkersCheck() throws {
        let st = try Stack(workers: 3)
        defer { kill(st.server.pid, SIGCONT); st.stop() }
        let victim = st.workers[0]
        kill(st.server.pid, SIGSTOP)
        kill(victim, SIGKILL)
        var h = try st.health("")
        XCTAssertTrue(waitUntil(timeout: 5) { h = (try? st.health("")) ?? h; return h.status == 500 })
        XCTAssertEqual(h.status, 500)
        XCTAssertEqual(h.failures["workers"]?["message"] as? String, "2 of 3 workers are live")
        XCTAssertEqual(h.failures["workers"]?["level"] as? Int, 1)
        XCTAssertEqual(Set(h.successes.keys), ["ping", "collection"])
        XCTAssertEqual(try st.health("?max_level=0").status, 200, "the load balancer's ping still passes")
        kill(st.server.pid, SIGCONT)
        XCTAssertTrue(waitUntil(timeout: 10) { (try? st.health(""))?.status == 200 }, st.log)
    }

    /// Level 2 reaches PostgreSQL: a hung server fails the check within the
    /// timeout, a stopped one at once; level 1 keeps passing.
    func testDatabaseCheckAgainstPostgreSQL() throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        try PostgresStore(uri: pg.url).replace(with: Stack.rows())
        let st = try Stack(extraEnv: ["DATABASE_URL": pg.url, "HEALTH_CHECK_TIMEOUT": "1", "ADMIN_SECRET": Stack.secret],
                           workers: 2, db: "unused")
        defer { st.stop() }
        XCTAssertEqual(try st.health("?max_level=2").status, 200)
        let postmaster = Int32((try String(contentsOfFile: pg.dir + "/data/postmaster.pid")).split(separator: "\n")[0])!
        kill(postmaster, SIGSTOP)
        // A worker reuses its level-2 results for a second.
        usleep(UInt32(HealthReuse.seconds * 1_000_000))
        let started = Date()
        let hung = try st.health("?max_level=2")
        let took = Date().timeIntervalSince(started)
        kill(postmaster, SIGCONT)
        XCTAssertEqual(hung.status, 500)
        XCTAssertTrue((hung.failures["database"]?["message"] as? String ?? "").contains("no answer within 1"), "\(hung.failures)")
        XCTAssertGreaterThan(took, 0.9)
        XCTAssertLessThan(took, 2.5, "the checks waited past their shared timeout")
        // The checks after the one that waited get nothing of the spent timeout.
        XCTAssertTrue((hung.failures["freshness"]?["message"] as? String ?? "").contains("spent HEALTH_CHECK_TIMEOUT"), "\(hung.failures)")
        usleep(UInt32(HealthReuse.seconds * 1_000_000))
        XCTAssertEqual(try st.health("?max_level=2").status, 200)
        pg.stopServer()
        usleep(UInt32(HealthReuse.seconds * 1_000_000))
        let down = try st.health("?max_level=2")
        XCTAssertEqual(down.status, 500)
        XCTAssertNotNil(down.failures["database"])
        XCTAssertEqual(try st.health("?max_level=1").status, 200)
        XCTAssertEqual(try st.health("?checks=collection,workers").status, 200)
    }
}
