import AvalonStore
import Foundation
import TestSupport
import XCTest

/// What leaves the process: log lines, Sentry events, statsd packets, answers,
/// and nginx's access log with the shipped configuration.
final class SecretsTests: XCTestCase {
    /// The admin secret, given in each of its three places (and once in a
    /// stray parameter), and the Sentry key's secret never show up outside.
    func testSecretsNeverLeaveTheProcess() throws {
        let secret = "Sup3r-Secret-Admin-Key"
        let sentrySecret = "sentry-private-key-99"
        let sentry = Listener1()
        defer { sentry.stop() }
        let statsd = UDPCollector()
        defer { statsd.close() }
        let statsdPort = statsd.port
        let st = try Stack(extraEnv: ["ADMIN_SECRET": secret, "SENTRY_DSN": "http://pubkey42:\(sentrySecret)@127.0.0.1:\(sentry.port)/42",
                                      "STATSD_HOST": "127.0.0.1", "STATSD_PORT": "\(statsdPort)", "LOG_LEVEL": "DEBUG",
                                      "LOG_FORMAT": "[%(levelname)s] [%(request_id)s] %(message)s"], workers: 2)
        defer { st.stop() }
        var answers: [HTTPReply] = []
        answers.append(try st.get("/avalon/debug/error?secret=\(secret)&x=1"))
        answers.append(try st.get("/avalon/debug/error?x=2", headers: ["X-API-Key": secret]))
        answers.append(try st.get("/avalon/debug/error?x=3", headers: ["Authorization": "Bearer \(secret)"]))
        answers.append(try st.get("/avalon/debug/error?secret=\(secret)&echo=\(secret)"))
        XCTAssertEqual(answers.map(\.status), [500, 500, 500, 500])
        answers.append(try st.get("/avalon/debug/error?secret=\(secret)-wrong"))
        answers.append(try st.get("/avalon/metrics?secret=\(secret)"))
        answers.append(try st.get("/avalon/debug/workers", headers: ["X-API-Key": secret]))
        answers.append(try st.get("/avalon/versions", headers: ["Authorization": "Bearer \(secret)"]))
        answers.append(try st.get("/avalon/admin/log-level?level=DEBUG&secret=\(secret)"))
        answers.append(try st.get("/avalon/songs?secret=\(secret)&limit=x"))
        answers.append(try st.get("/avalon/health_check?max_level=2&secret=\(secret)"))
        XCTAssertEqual(answers.map(\.status), [500, 500, 500, 500, 404, 200, 200, 200, 200, 400, 200])
        for a in answers { XCTAssertFalse(a.text.contains(secret), a.text) }

        XCTAssertTrue(waitUntil(timeout: 10) { sentry.received.count == 4 }, "\(sentry.received.count) events; \(st.log)")
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.components(separatedBy: "Unhandled error processing").count == 5 }, st.log)
        let packets = statsd.drain()
        let log = st.log + ((try? String(contentsOfFile: st.dir + "/stderr.log")) ?? "")
        XCTAssertTrue(log.contains("[DEBUG] ["), "the DEBUG request lines, which record URLs, were written: \(log)")
        XCTAssertTrue(log.contains("secret=***"), log)
        for (what, text) in [("log", log), ("statsd", packets)] + sentry.received.map({ ("sentry", $0) }) {
            XCTAssertFalse(text.contains(secret), "the admin secret reached the \(what): \(text)")
        }
        XCTAssertTrue(packets.contains("request.songs"), packets)
        XCTAssertFalse(log.contains(sentrySecret), log)
        let bodies = sentry.received.map { String($0[$0.range(of: "\r\n\r\n")!.upperBound...]) }
        for body in bodies { XCTAssertFalse(body.contains(sentrySecret), body) }
        // The two given in the query keep the parameter, masked (the stray copy too).
        XCTAssertEqual(bodies.filter { $0.contains("?secret=***&") }.count, 2, "\(bodies)")
        XCTAssertEqual(bodies.filter { $0.contains("&echo=***") }.count, 1, "\(bodies)")
    }

    /// The public health check tells nothing of the database; level 2 needs
    /// the admin secret, and a flood of level-2 calls opens few connections.
    func testHealthCheckLevelTwoNeedsTheSecretAndCannotBeFlooded() throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        try PostgresStore(uri: pg.url).replace(with: Stack.rows())
        let st = try Stack(extraEnv: ["DATABASE_URL": pg.url + "?application_name=avalon-health-test", "ADMIN_SECRET": Stack.secret],
                           workers: 2, db: "unused")
        defer { st.stop() }
        for q in ["", "?max_level=0", "?max_level=1", "?checks=collection,workers"] {
            let r = try st.get("/avalon/health_check" + q)
            XCTAssertEqual(r.status, 200, r.text)
            for told in ["127.0.0.1", "\(pg.port)", "postgres", "avalon-health-test"] { XCTAssertFalse(r.text.contains(told), r.text) }
        }
        func sessions() throws -> Int {
            // pg_stat_database counts a session when it ends; give the last ones a moment.
            usleep(300_000)
            return Int(try pg.psql("SELECT sum(sessions) FROM pg_stat_database")) ?? -1
        }
        var before = try sessions()
        for q in ["?max_level=2", "?max_level=9", "?checks=database", "?checks=ping,freshness", "?checks=replica"] {
            let r = try st.get("/avalon/health_check" + q)
            XCTAssertEqual(r.status, 403, r.text)
            XCTAssertEqual(((r.json["errors"] as? [[String: Any]]) ?? [[:]])[0]["code"] as? Int, 6, r.text)
            XCTAssertEqual(try st.get("/avalon/health_check" + q + "&secret=" + Stack.secret + "x").status, 403)
        }
        let denied = NSLock()
        var forbidden = 0
        XCTAssertEqual(spread(100) { _ in
            let r = try st.get("/avalon/health_check?max_level=2")
            denied.lock(); forbidden += r.status == 403 ? 1 : 0; denied.unlock()
            return r
        }, [])
        XCTAssertEqual(forbidden, 100)
        XCTAssertEqual(try sessions() - before, 1, "only the count's own psql session: no call without the secret reached the database")

        before = try sessions()
        let started = Date()
        let lock = NSLock()
        var statuses: [Int: Int] = [:]
        let failures = spread(100) { _ in
            let r = try st.get("/avalon/health_check?max_level=2", headers: ["X-API-Key": Stack.secret])
            lock.lock(); statuses[r.status, default: 0] += 1; lock.unlock()
            return r
        }
        let took = Date().timeIntervalSince(started)
        XCTAssertEqual(failures, [])
        XCTAssertEqual(statuses, [200: 100])
        let opened = try sessions() - before - 1
        // Each worker runs the three database checks at most once a second.
        let bound = 2 * 3 * (Int(took) + 2)
        print("100 level-2 calls in \(took) s opened \(opened) connections (bound \(bound))")
        XCTAssertLessThanOrEqual(opened, bound)
        XCTAssertGreaterThan(opened, 0)
    }

    func testJSONLogLines() throws {
        let st = try Stack(extraEnv: ["LOG_FORMAT": "json", "ADMIN_SECRET": "json-secret-0123456"], workers: 1)
        defer { st.stop() }
        XCTAssertEqual(try st.get("/avalon/debug/error?secret=json-secret-0123456", headers: ["X-Request-ID": "json-req"]).status, 500)
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("Unhandled error") })
        var objects: [[String: Any]] = []
        for line in st.log.split(separator: "\n") {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(o, "not a JSON object: \(line)")
            objects.append(o ?? [:])
        }
        for o in objects {
            for key in ["time", "level", "pid", "logger", "message"] { XCTAssertNotNil(o[key], "\(key) missing in \(o)") }
        }
        XCTAssertTrue(objects.contains { ($0["message"] as? String ?? "").hasPrefix("loaded 5 songs") && $0["level"] as? String == "INFO" })
        let error = objects.first { ($0["message"] as? String ?? "").hasPrefix("Unhandled error") } ?? [:]
        XCTAssertEqual(error["level"] as? String, "ERROR")
        XCTAssertEqual(error["request_id"] as? String, "json-req")
        XCTAssertTrue((error["error"] as? String ?? "").contains("deliberate error"), "\(error)")
        XCTAssertNotEqual(error["pid"] as? Int, Int(st.server.pid), "a worker logged it")
        XCTAssertFalse(st.log.contains("json-secret-0123456"))
    }

    /// nginx with the shipped configuration: it sets a request id when the
    /// client has none, logs it with the upstream time, masks the secret in
    /// its access log, and keeps the admin paths to the allowed network.
    func testShippedNginxConfiguration() throws {
        let secret = "nginx-admin-secret"
        let st = try Stack(extraEnv: ["ADMIN_SECRET": secret], workers: 2)
        defer { st.stop() }
        let dir = makeTempDir("avalon-nginx-shipped")
        defer { removeTree(dir) }
        let nginx = try shippedNginx(site: "avalon.conf", dir: dir, edits: [
            ("unix:/run/avalon/avalon.sock", "unix:" + st.socket),
            ("listen 127.0.0.1:8080;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon.access.log", dir + "/access.log"),
        ])
        defer { _ = nginx.process.stop(SIGQUIT) }
        let port = nginx.port
        func get(_ path: String, headers: [String: String] = [:], from: String? = nil) throws -> HTTPReply {
            try httpRequest(port: port, path: path, headers: headers, from: from)
        }
        let plain = try get("/avalon/albums")
        XCTAssertEqual(plain.status, 200)
        let id = plain.headers["x-request-id"] ?? ""
        XCTAssertNotNil(id.range(of: "^[0-9a-f]{32}$", options: .regularExpression), "nginx's $request_id: \(id)")
        XCTAssertEqual(try get("/avalon/albums", headers: ["X-Request-ID": "mine-1"]).headers["x-request-id"], "mine-1")
        XCTAssertEqual(try get("/avalon/debug/error?secret=\(secret)&a=b", headers: ["X-Request-ID": "err-2"]).status, 500)
        XCTAssertEqual(try get("/avalon/metrics?secret=\(secret)").status, 200)
        XCTAssertEqual(try get("/avalon/metrics?secret=\(secret)", from: "127.0.0.2").status, 403)
        XCTAssertEqual(try get("/avalon/debug/workers?secret=\(secret)", from: "127.0.0.2").status, 403)
        XCTAssertEqual(try get("/avalon/health_check?max_level=0", from: "127.0.0.2").status, 200)
        XCTAssertTrue(waitUntil(timeout: 5) { ((try? String(contentsOfFile: dir + "/access.log")) ?? "").contains("err-2") })
        let access = try String(contentsOfFile: dir + "/access.log")
        XCTAssertTrue(access.contains("\"GET /avalon/albums HTTP/1.0\" 200"), access)
        XCTAssertTrue(access.contains("request_id=\(id)"), access)
        XCTAssertTrue(access.contains("/avalon/debug/error?[redacted]"), access)
        XCTAssertFalse(access.contains(secret), access)
        // The upstream time is logged after the request time.
        XCTAssertNotNil(access.range(of: "\" 200 [0-9]+ [0-9.]+ [0-9.]+ request_id=", options: .regularExpression), access)
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("request_id=err-2") }, st.log)
    }
}
