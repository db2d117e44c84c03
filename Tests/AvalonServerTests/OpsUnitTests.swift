@testable import AvalonConfig
import AvalonCore
@testable import AvalonServer
import AvalonStore
import Foundation
import Logging
import TestSupport
import XCTest

final class OpsUnitTests: XCTestCase {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testConstantTimeEquals() {
        func eq(_ a: String, _ b: String) -> Bool {
            bytes(a).withUnsafeBufferPointer { x in bytes(b).withUnsafeBufferPointer { constantTimeEquals(x, $0) } }
        }
        XCTAssertTrue(eq("open sesame", "open sesame"))
        XCTAssertFalse(eq("open sesam", "open sesame"))
        XCTAssertFalse(eq("open sesamee", "open sesame"))
        XCTAssertFalse(eq("", "open sesame"))
        XCTAssertFalse(eq("x", ""))
        // A guess that repeats a prefix of the secret does not match.
        XCTAssertFalse(eq("ab", "abab"))
        XCTAssertFalse(eq("Open sesame", "open sesame"))
    }

    func testAdminSecretInEveryPlace() throws {
        var b = CollectionBuilder()
        b.addElement(.album, id: .album("A"), name: "A")
        let router = Router(collection: b.build(), requestPath: "/avalon", adminSecret: "k3y")
        let path = "/avalon/debug/error"
        XCTAssertThrowsError(try router.handle(Request(method: "GET", path: path, query: "secret=k3y")))
        XCTAssertThrowsError(try router.handle(Request(method: "GET", path: path, query: "secret=k%33y")))
        XCTAssertThrowsError(try router.handle(Request(method: "GET", path: path, query: "", apiKey: "k3y")))
        XCTAssertThrowsError(try router.handle(Request(method: "GET", path: path, query: "", authorization: "Bearer k3y")))
        XCTAssertThrowsError(try router.handle(Request(method: "GET", path: path, query: "", authorization: "bearer  k3y")))
        // The first literal `secret` counts; spellings nginx might not mask do not.
        XCTAssertThrowsError(try router.handle(Request(method: "GET", path: path, query: "a=1&secret=k3y&secret=x")))
        for bad in [Request(method: "GET", path: path, query: "%73ecret=k3y"), Request(method: "GET", path: path, query: "SECRET=k3y"),
                    Request(method: "GET", path: path, query: "secret=x&secret=k3y"), Request(method: "GET", path: path, query: "xsecret=k3y"),
                    Request(method: "GET", path: path, query: "secret=k3"), Request(method: "GET", path: path, query: "", apiKey: "k3yy"),
                    Request(method: "GET", path: path, query: "", authorization: "Basic k3y"),
                    Request(method: "GET", path: path, query: "", authorization: "Bearer "),
                    Request(method: "GET", path: path, query: "")] {
            XCTAssertEqual(try router.handle(bad).status, 404, "\(bad)")
        }
        // Without the operations views (no pool), their paths are 404 even with the secret.
        XCTAssertEqual(try router.handle(Request(method: "GET", path: "/avalon/metrics", query: "secret=k3y")).status, 404)
    }

    func testRedaction() {
        XCTAssertEqual(Redactor.query("a=1&secret=abc&b=2"), "a=1&secret=***&b=2")
        XCTAssertEqual(Redactor.query("SECRET=abc"), "SECRET=***")
        XCTAssertEqual(Redactor.query("s%65cret=abc&password=x&token"), "s%65cret=***&password=***&token")
        XCTAssertEqual(Redactor.query("query=secret"), "query=secret")
        let r = Redactor(secrets: ["hunter22", "xy"])
        XCTAssertEqual(r.text("pw hunter22, again hunter22; xy too"), "pw ***, again ***; *** too")
        XCTAssertEqual(r.url("h/avalon/debug/error", query: "secret=xy&q=hunter22"), "h/avalon/debug/error?secret=***&q=***")
    }

    func testDatabasePasswords() throws {
        let user = try DatabaseURL(parsing: "postgresql://avalon:p%40ss@db1:5432,db2:5432/music?target_session_attrs=prefer-standby")
        XCTAssertEqual(user.password, "p@ss")
        XCTAssertEqual(user.description, "postgresql://avalon:***@db1:5432,db2:5432/music?target_session_attrs=prefer-standby")
        let param = try DatabaseURL(parsing: "postgresql://db/music?user=avalon&password=hunter2&sslmode=require")
        XCTAssertEqual(param.password, "hunter2")
        XCTAssertEqual(param.description, "postgresql://db/music?user=avalon&password=***&sslmode=require")
        XCTAssertNil(try DatabaseURL(parsing: "postgresql://avalon@db/music").password)
        XCTAssertNil(try DatabaseURL(parsing: "sqlite:////var/db/a.sqlite").password)
        var c = try Config.load(environment: ["DATABASE_URL": "postgresql://u:dbsecret1@h/d", "ADMIN_SECRET": "adminsecret-0123456",
                                              "SENTRY_DSN": "https://pubkey123:sentrysecret@sentry.example/7"])
        XCTAssertEqual(Set(Redactor(config: c).secrets), ["dbsecret1", "adminsecret-0123456", "pubkey123", "sentrysecret"])
        c.adminSecret = nil
        XCTAssertEqual(Set(Redactor(config: c).secrets), ["dbsecret1", "pubkey123", "sentrysecret"])
    }

    /// Every credential a PostgreSQL URL can hold is masked, whatever it holds;
    /// a URL libpq would misread is refused without being echoed.
    func testDatabaseCredentialsAreMaskedWhateverTheyHold() throws {
        let ssl = try DatabaseURL(parsing: "postgresql://u@h/d?sslpassword=keypass99&Pass%77ord=other77&sslmode=verify-full")
        XCTAssertEqual(ssl.description, "postgresql://u@h/d?sslpassword=***&Pass%77ord=***&sslmode=verify-full")
        XCTAssertEqual(Set(ssl.secrets), ["keypass99", "other77"])
        // Encoded reserved characters: libpq decodes them; both spellings are masked.
        let enc = try DatabaseURL(parsing: "postgresql://u:a%2Fb%3Fc%40d@h:5432/d")
        XCTAssertEqual(enc.description, "postgresql://u:***@h:5432/d")
        XCTAssertEqual(Set(enc.secrets), ["a%2Fb%3Fc%40d", "a/b?c@d"])
        // A password with a '?' libpq reads whole (it ends the user info only at '/' or '@').
        XCTAssertEqual(try DatabaseURL(parsing: "postgresql://u:pa?ss@h/d").description, "postgresql://u:***@h/d")
        for raw in ["postgresql://u:pa/ss@h/d", "postgresql://u:p@ss@h/d?x=1", "postgres://u:a/b/c@h:5/d"] {
            XCTAssertThrowsError(try DatabaseURL(parsing: raw), raw) { e in
                XCTAssertTrue("\(e)".contains("percent-encode"), "\(e)")
                for part in ["pa/ss", "ss@h", "a/b/c", "p@ss", "b/c"] { XCTAssertFalse("\(e)".contains(part), "\(e)") }
            }
            // Masked whole wherever such text is met (a log line quoting it).
            let shown = DatabaseURL.redact("loading from " + raw)
            for part in ["pa/ss", "p@ss", "a/b/c"] { XCTAssertFalse(shown.contains(part), shown) }
        }
        let c = try Config.load(environment: ["DATABASE_URL": "postgresql://u:pw@h/d?sslpassword=kp"])
        XCTAssertEqual(Redactor(config: c).text("pw and kp"), "*** and ***", "short credentials are masked too")
    }

    /// A guessable admin secret is refused, and no setting that may hold a
    /// secret is echoed in an error.
    func testWeakSecretsAreRefusedAndNeverEchoed() throws {
        for weak in ["x", " ", "short-secret-15"] {
            XCTAssertThrowsError(try Config.load(environment: ["ADMIN_SECRET": weak])) { e in
                XCTAssertTrue("\(e)".contains("ADMIN_SECRET is shorter than 16 characters"), "\(e)")
                if weak.count > 1 { XCTAssertFalse("\(e)".contains(weak), "\(e)") }
            }
        }
        XCTAssertEqual(try Config.load(environment: ["ADMIN_SECRET": "sixteen-chars-ok"]).adminSecret, "sixteen-chars-ok")
        let dir = makeTempDir()
        defer { removeTree(dir) }
        for line in ["ADMIN_SECRET = hunter2-secret-value", "DATABASE_URL = postgresql://u:hunter2-secret-value@h/d",
                     "SENTRY_DSN = https://k:hunter2-secret-value@s/1"] {
            try line.write(toFile: dir + "/a.toml", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Config.load(environment: ["AVALON_CONFIG": dir + "/a.toml"])) { e in
                XCTAssertTrue("\(e)".contains("not shown"), "\(e)")
                XCTAssertFalse("\(e)".contains("hunter2"), "\(e)")
            }
        }
        try "LOG_LEVEL = loud".write(toFile: dir + "/a.toml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Config.load(environment: ["AVALON_CONFIG": dir + "/a.toml"])) { e in
            XCTAssertTrue("\(e)".contains("got loud"), "other values are still shown: \(e)")
        }
    }

    /// JSON log lines are masked before escaping: a secret holding a quote or
    /// a backslash is found.
    func testJSONLinesMaskSecretsThatNeedEscaping() {
        let secret = #"quote"and\back-slash"#
        let r = Redactor(secrets: [secret])
        let line = JSONLogLine.render(level: "INFO", message: "given " + secret, logger: "t", requestID: nil, fields: ["x": "\(secret)!"])
        XCTAssertTrue(line.contains(#"quote\"and"#), "the unmasked render escapes it: \(line)")
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let sink = LogSink()
        XCTAssertNoThrow(try sink.open(path: dir + "/log"))
        let handler = AvalonLogHandler(label: "t", format: LineFormat(format: "json", dateFormat: ""), json: true, redactor: r, sink: sink)
        handler.log(level: .info, message: "given \(secret)", metadata: ["x": "\(secret)!"], source: "", file: "", function: "", line: 0)
        let written = (try? String(contentsOfFile: dir + "/log")) ?? ""
        XCTAssertTrue(written.contains("given ***"), written)
        XCTAssertFalse(written.contains("and"), written)
    }

    /// A log file is not opened through a link another user could plant.
    func testLogPathIsNotFollowedThroughALink() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        FileManager.default.createFile(atPath: dir + "/victim", contents: Data("keep\n".utf8))
        XCTAssertEqual(symlink(dir + "/victim", dir + "/avalon.log"), 0)
        XCTAssertThrowsError(try LogSink().open(path: dir + "/avalon.log")) { e in
            XCTAssertTrue("\(e)".contains("symbolic link"), "\(e)")
        }
        XCTAssertEqual(try String(contentsOfFile: dir + "/victim"), "keep\n")
        XCTAssertNoThrow(try LogSink().open(path: dir + "/real.log"))
        var st = stat()
        XCTAssertEqual(stat(dir + "/real.log", &st), 0)
        XCTAssertEqual(st.st_mode & 0o007, 0, "not readable by every user")
    }

    func testRequestIDs() {
        let id = RequestID()
        bytes("abc-123_X").withUnsafeBufferPointer { id.set(from: $0) }
        XCTAssertEqual(id.string, "abc-123_X")
        var seen = Set<String>()
        for bad in ["", String(repeating: "a", count: 65), "has space", "tab\there", "caf\u{e9}", "nul\u{0}"] {
            bytes(bad).withUnsafeBufferPointer { id.set(from: $0) }
            XCTAssertNotNil(id.string.range(of: "^[0-9a-f]{32}$", options: .regularExpression), "\(bad) → \(id.string)")
            seen.insert(id.string)
        }
        XCTAssertEqual(seen.count, 6, "generated ids repeat")
        bytes(String(repeating: "b", count: 64)).withUnsafeBufferPointer { id.set(from: $0) }
        XCTAssertEqual(id.string.count, 64)
    }

    func testBucketsAndStatusClasses() {
        XCTAssertEqual(DurationBuckets.index(0), 0)
        XCTAssertEqual(DurationBuckets.index(25_000), 0)
        XCTAssertEqual(DurationBuckets.index(25_001), 1)
        XCTAssertEqual(DurationBuckets.index(1_000_000_000), 14)
        XCTAssertEqual(DurationBuckets.index(1_000_000_001), 15)
        XCTAssertEqual(DurationBuckets.labels.count, DurationBuckets.count)
        for (i, b) in DurationBuckets.bounds.enumerated() {
            XCTAssertEqual(Double(DurationBuckets.labels[i])! * 1e9, Double(b), accuracy: 0.5)
        }
        XCTAssertEqual(StatusClass.codes.map(StatusClass.index), Array(0..<StatusClass.codes.count))
        XCTAssertEqual(StatusClass.index(418), StatusClass.count - 1)
        XCTAssertEqual(PrometheusText.seconds(1_500_000_000), "1.5")
        XCTAssertEqual(PrometheusText.seconds(25_000), "0.000025")
        XCTAssertEqual(PrometheusText.seconds(3_000_000_000), "3")
        XCTAssertEqual(PrometheusText.escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd")
    }

    /// Slots are separate: one worker's counts never land in another's, and a scrape adds them up.
    func testSharedTableSlots() {
        let t = SharedTable(slots: 3)
        let songs = MetricEndpoint(rawValue: Route.table.firstIndex { $0.label == "songs" }!)
        XCTAssertEqual(WorkerSlot.words % 8, 0, "slots must be whole cache lines")
        t.slot(0).record(songs, status: 200, nanoseconds: 30_000, bytes: 100)
        t.slot(2).record(songs, status: 200, nanoseconds: 2_000_000_000, bytes: 50)
        t.slot(2).record(.other, status: 404, nanoseconds: 10, bytes: 7)
        XCTAssertEqual(t.slot(1).load(WorkerSlot.requestsAt), 0)
        let text = PrometheusText.render(t)
        XCTAssertTrue(text.contains("avalon_requests_total{endpoint=\"songs\",code=\"200\"} 2\n"), text)
        XCTAssertTrue(text.contains("avalon_requests_total{endpoint=\"other\",code=\"404\"} 1\n"), text)
        XCTAssertTrue(text.contains("avalon_request_duration_seconds_bucket{endpoint=\"songs\",le=\"0.000025\"} 0\n"), text)
        XCTAssertTrue(text.contains("avalon_request_duration_seconds_bucket{endpoint=\"songs\",le=\"0.00005\"} 1\n"), text)
        XCTAssertTrue(text.contains("avalon_request_duration_seconds_bucket{endpoint=\"songs\",le=\"1\"} 1\n"), text)
        XCTAssertTrue(text.contains("avalon_request_duration_seconds_bucket{endpoint=\"songs\",le=\"+Inf\"} 2\n"), text)
        XCTAssertTrue(text.contains("avalon_request_duration_seconds_sum{endpoint=\"songs\"} 2.00003\n"), text)
        XCTAssertTrue(text.contains("avalon_response_bytes_total{endpoint=\"songs\"} 150\n"), text)
        XCTAssertFalse(text.contains("endpoint=\"albums\""), "endpoints never requested are left out")
        // A request in hand is visible until it is recorded.
        let path = Array("/avalon/songs?x".utf8)
        path.withUnsafeBufferPointer { t.slot(1).begin(at: 42, path: $0) }
        XCTAssertEqual(t.slot(1).requestInHand()?.path, "/avalon/songs?x")
        t.slot(1).record(songs, status: 200, nanoseconds: 1, bytes: 1)
        XCTAssertNil(t.slot(1).requestInHand())
    }

    func testJSONLogLine() throws {
        let line = JSONLogLine.render(level: "ERROR", message: "boom \"quoted\"", logger: "avalon", requestID: "r1",
                                      fields: ["error": "bad thing", "level": "ignored"], time: 1_700_000_000_123_000_000)
        let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        XCTAssertEqual(o["time"] as? String, "2023-11-14T22:13:20.123Z")
        XCTAssertEqual(o["level"] as? String, "ERROR")
        XCTAssertEqual(o["message"] as? String, "boom \"quoted\"")
        XCTAssertEqual(o["request_id"] as? String, "r1")
        XCTAssertEqual(o["error"] as? String, "bad thing")
        XCTAssertEqual(o["pid"] as? Int, Int(getpid()))
        XCTAssertFalse(line.contains("\n"))
        let none = try JSONSerialization.jsonObject(with: Data(JSONLogLine.render(level: "INFO", message: "m", logger: "a",
                                                                                  requestID: nil, fields: [:]).utf8)) as! [String: Any]
        XCTAssertTrue(none["request_id"] is NSNull)
    }

    func testNewSettings() throws {
        let d = try Config.load(environment: [:])
        XCTAssertEqual(d.healthCheckTimeout, 2)
        XCTAssertFalse(d.metricsPublic)
        let dir = NSTemporaryDirectory() + "avalon-settings-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "HEALTH_CHECK_TIMEOUT = 0.5\nMETRICS_PUBLIC = true\n".write(toFile: dir + "/a.toml", atomically: true, encoding: .utf8)
        let f = try Config.load(environment: ["AVALON_CONFIG": dir + "/a.toml"])
        XCTAssertEqual(f.healthCheckTimeout, 0.5)
        XCTAssertTrue(f.metricsPublic)
        XCTAssertFalse(try Config.load(environment: ["AVALON_CONFIG": dir + "/a.toml", "METRICS_PUBLIC": "False"]).metricsPublic)
        for (env, part) in [(["METRICS_PUBLIC": "yes"], "METRICS_PUBLIC must be true or false"),
                            (["HEALTH_CHECK_TIMEOUT": "0"], "HEALTH_CHECK_TIMEOUT must be a number"),
                            (["HEALTH_CHECK_TIMEOUT": "soon"], "HEALTH_CHECK_TIMEOUT must be a number")] {
            XCTAssertThrowsError(try Config.load(environment: env)) { XCTAssertTrue("\($0)".contains(part), "\($0)") }
        }
        try "METRICS_PUBLIC = 'maybe'\n".write(toFile: dir + "/b.toml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Config.load(environment: ["AVALON_CONFIG": dir + "/b.toml"])) {
            XCTAssertTrue("\($0)".contains("b.toml:1: METRICS_PUBLIC must be true or false"), "\($0)")
        }
        XCTAssertEqual(Config.LogLevel(name: "warning"), .warn)
        XCTAssertNil(Config.LogLevel(name: "LOUD"))
    }

    /// Only an address's own characters make a lockout key: a NUL would end
    /// inet_pton's parse and carry what follows into the lockout's log line.
    func testSignInKeysTakeAddressesOnly() {
        let t = SharedTable(slots: 2)
        let f = SignInFailures(table: t, slot: 0, limit: 3, windowSeconds: 60)
        func key(_ s: [UInt8]) -> UInt64? { s.withUnsafeBufferPointer { f.key($0) } }
        XCTAssertNotNil(key(Array("10.1.2.3".utf8)))
        XCTAssertEqual(key(Array("::ffff:10.1.2.3".utf8)), key(Array("10.1.2.3".utf8)), "IPv4-mapped counts as IPv4")
        XCTAssertEqual(key(Array("2001:db8:1:2::9".utf8)), key(Array("2001:DB8:1:2:ffff::1".utf8)), "one /64")
        XCTAssertNotEqual(key(Array("2001:db8:1:3::9".utf8)), key(Array("2001:db8:1:2::9".utf8)))
        for bad in [Array("10.1.2.3".utf8) + [0] + Array("\nforged line".utf8), Array("unix:".utf8), [], Array("10.1.2.3 ".utf8),
                    Array("fe80::1%eth0".utf8)] {
            XCTAssertNil(key(bad), String(decoding: bad, as: UTF8.self))
        }
    }
}
