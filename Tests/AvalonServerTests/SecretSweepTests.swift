import AvalonStore
import Foundation
import TestSupport
import XCTest

/// The secret sweep: a server with an admin secret, database credentials and a
/// Sentry key, driven through every path that handles them (each admin view
/// with each way of passing the secret, failed reloads, a stopped database,
/// bad configuration, scans); then every log, answer, metric, statsd packet,
/// Sentry event body, process command line and file the run wrote is searched
/// for each secret.
final class SecretSweepTests: XCTestCase {
    func testNoSecretLeavesAnywhere() throws {
        let admin = "sweep-admin-secret-7f3a9c"
        let dbPassword = "sweep-db-pass-4e1b"
        let sslPassword = "sweep-ssl-pass-88c2"
        let sentryKey = "sweep-sentry-key-5d0e"
        let misreadPassword = "sweep/misread@pass"
        let shortSecret = "Zq9w"
        // The Subsonic API's: a password (plain and enc: hex), a salt, the token made of both, an API key.
        let subsonicPassword = "sweep-subsonic-pw-3b7e", salt = "sweep-salt-9a1f", apiKey = "sweep-apikey-6c2d0e"
        let hexPassword = Array(subsonicPassword.utf8).map { String(format: "%02x", $0) }.joined()
        let token = md5Hex(subsonicPassword + salt)
        let secrets = [admin, dbPassword, sslPassword, sentryKey, shortSecret, misreadPassword, "misread@pass",
                       subsonicPassword, hexPassword, salt, token, apiKey]
        var found: [String] = []
        var searched = 0
        func sweep(_ what: String, _ text: String) {
            searched += 1
            for s in secrets where text.contains(s) { found.append("\(what) holds \(s)") }
        }

        let pg = try PostgresServer()
        defer { pg.stop() }
        let dir = makeTempDir("avalon-sweep")
        defer { removeTree(dir) }
        let url = "postgresql://postgres:\(dbPassword)@127.0.0.1:\(pg.port)/postgres?sslmode=disable&sslpassword=\(sslPassword)"

        // Scans: the URL on the command line, in the environment, and one libpq would misread.
        let music = dir + "/music"
        try FileManager.default.copyItem(atPath: packageRoot + "/deploy/demo-music", toPath: music)
        let scan = try runProgram([product("avalon-scan"), "-d", url, music])
        XCTAssertEqual(scan.status, 0, scan.stderr)
        XCTAssertTrue(scan.stderr.contains("was visible to every user"), "a password given as an argument is warned of: \(scan.stderr)")
        sweep("avalon-scan -d", scan.stdout + scan.stderr)
        let envScan = try runProgram([product("avalon-scan"), music], environment: ["DATABASE_URL": url, "PATH": "/usr/bin:/bin"])
        XCTAssertEqual(envScan.status, 0, envScan.stderr)
        XCTAssertFalse(envScan.stderr.contains("visible"), envScan.stderr)
        sweep("avalon-scan with DATABASE_URL", envScan.stdout + envScan.stderr)
        let misread = try runProgram([product("avalon-scan"), "-d", "postgresql://postgres:\(misreadPassword)@127.0.0.1:\(pg.port)/postgres", music])
        XCTAssertEqual(misread.status, 2, misread.stderr)
        sweep("avalon-scan with a misread URL", misread.stdout + misread.stderr)
        let watcher = try Background([product("avalon-scan"), "-d", url, "--watch", "--poll", "60", music],
                                     environment: ["PATH": "/usr/bin:/bin"], logPath: dir + "/watch.log")
        defer { watcher.stop() }

        // Bad configuration, with secrets beside the mistake.
        try "ADMIN_SECRET = \(admin)\n".write(toFile: dir + "/unquoted.toml", atomically: true, encoding: .utf8)
        try "ADMIN_SECRET = '\(shortSecret)'\nDATABASE_URL = '\(url)'\n".write(toFile: dir + "/short.toml", atomically: true, encoding: .utf8)
        for env in [["AVALON_CONFIG": dir + "/unquoted.toml"], ["AVALON_CONFIG": dir + "/short.toml"],
                    ["DATABASE_URL": "postgresql://postgres:\(misreadPassword)@h/d"], ["DATABASE_URL": url, "STATSD_PORT": "x"]] {
            let r = try runProgram([product("avalon-fcgi"), "--bind", "unix:" + dir + "/never.sock"], environment: env)
            XCTAssertNotEqual(r.status, 0, "\(env): \(r.stderr)")
            sweep("avalon-fcgi with bad configuration", r.stdout + r.stderr)
        }

        try SubsonicTests.secretFile(dir + "/subsonic-users", "sweeper:\(subsonicPassword)\n")
        try SubsonicTests.secretFile(dir + "/subsonic-keys", "\(apiKey):sweeper\n")

        let sentry = Listener1()
        defer { sentry.stop() }
        let statsd = UDPCollector()
        defer { statsd.close() }
        let statsdPort = statsd.port
        let st = try Stack(extraEnv: ["DATABASE_URL": url, "ADMIN_SECRET": admin, "LOG_LEVEL": "DEBUG", "RELOAD_INTERVAL": "0.3",
                                      "SENTRY_DSN": "http://sweeppublic0001:\(sentryKey)@127.0.0.1:\(sentry.port)/42",
                                      "STATSD_HOST": "127.0.0.1", "STATSD_PORT": "\(statsdPort)", "HEALTH_CHECK_TIMEOUT": "1",
                                      "SUBSONIC_USERS_FILE": dir + "/subsonic-users", "SUBSONIC_API_KEYS_FILE": dir + "/subsonic-keys"],
                           workers: 2, db: "unused")
        defer { st.stop() }

        // Every process's command line while all of them run.
        for pid in (try FileManager.default.contentsOfDirectory(atPath: "/proc")).filter({ Int($0) != nil }) {
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            sweep("/proc/\(pid)/cmdline", String(decoding: cmdline.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self))
        }

        var answers: [(String, HTTPReply)] = []
        func get(_ path: String, _ headers: [String: String] = [:]) throws {
            let r = try st.get(path, headers: headers)
            answers.append((path, r))
        }
        let views = ["metrics", "versions", "debug/workers", "admin/log-level?level=DEBUG", "debug/error?x=1", "health_check?max_level=2"]
        for view in views {
            let sep = view.contains("?") ? "&" : "?"
            try get("/avalon/\(view)\(sep)secret=\(admin)")
            try get("/avalon/\(view)", ["X-API-Key": admin])
            try get("/avalon/\(view)", ["Authorization": "Bearer \(admin)"])
            try get("/avalon/\(view)\(sep)secret=\(admin)x")
            try get("/avalon/\(view)\(sep)%73ecret=\(admin)")
            try get("/avalon/\(view)\(sep)secret=x&secret=\(admin)")
        }
        try get("/avalon/songs?secret=\(admin)&limit=x")
        try get("/avalon/songs?query=\(admin)")
        try get("/avalon/nope?secret=\(admin)")
        XCTAssertEqual(answers.filter { $0.1.status == 200 }.count, 3 * 5 + 1 + 0, answers.map { "\($0.0) \($0.1.status)" }.joined(separator: "\n"))
        // Subsonic sign-ins of every kind, right and wrong, and a method that fails after signing in.
        let subsonicAuth = ["u=sweeper&p=\(subsonicPassword)", "u=sweeper&p=enc:\(hexPassword)", "u=sweeper&t=\(token)&s=\(salt)",
                            "apiKey=\(apiKey)", "u=sweeper&p=\(subsonicPassword)x", "u=sweeper&t=\(token)x&s=\(salt)",
                            "apiKey=\(apiKey)x", "apiKey=\(apiKey)&u=sweeper&p=\(subsonicPassword)"]
        for auth in subsonicAuth {
            for method in ["ping.view", "getAlbum", "star", "getCoverArt", "stream", "download"] {
                let r = try st.get("/rest/\(method)?\(auth)&v=1.16.1&c=sweep&f=json")
                XCTAssertEqual(r.status, 200)
                answers.append((method, r))
            }
        }
        // The wrong ones above locked this address out: its refusal is swept too.
        let refused = try st.get("/rest/ping.view?u=sweeper&p=\(subsonicPassword)&v=1.16.1&c=sweep&f=json")
        XCTAssertTrue(refused.text.contains("Too many failed sign-ins"), refused.text)
        answers.append(("ping.view while locked out", refused))

        // A reload, a failed reload, then the database stops.
        XCTAssertEqual(try pg.psql("UPDATE tracks SET name = name || '!' WHERE track = 1"), "")
        st.server.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.contains("reloaded") }, st.log)
        _ = try pg.psql("ALTER TABLE tracks RENAME TO tracks_away; INSERT INTO avalon_generations SELECT generation + 1, written_at, songs, albums, artists, genres, scanner FROM avalon_generations ORDER BY generation DESC LIMIT 1")
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.contains("reload failed") }, st.log)
        _ = try pg.psql("ALTER TABLE tracks_away RENAME TO tracks")
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.components(separatedBy: "reloaded").count > 2 }, st.log)
        pg.stopServer()
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.contains("cannot look") }, st.log)
        usleep(1_100_000)
        try get("/avalon/health_check?max_level=2", ["X-API-Key": admin])
        XCTAssertEqual(answers.last?.1.status, 500)

        XCTAssertTrue(waitUntil(timeout: 10) { sentry.received.count >= 3 }, "\(sentry.received.count) events")
        for (path, r) in answers {
            sweep("answer to \(path)", r.text + r.headers.map { "\($0.key): \($0.value)" }.joined(separator: "\n"))
        }
        let packets = statsd.drain()
        XCTAssertFalse(packets.isEmpty)
        sweep("statsd", packets)
        for event in sentry.received {
            // The Sentry key travels in the auth header to Sentry itself, by design; never in the event.
            sweep("Sentry event", String(event[(event.range(of: "\r\n\r\n")?.upperBound ?? event.startIndex)...]))
        }
        watcher.stop()
        // Every file the run wrote: logs, sockets' directories, the database folder, nginx's files.
        let written = ["unquoted.toml", "short.toml", "subsonic-users", "subsonic-keys"]
        for root in [dir, st.dir, st.nginx.dir, pg.dir + "/log"] {
            var paths = [root]
            var rootIsDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root, isDirectory: &rootIsDir), rootIsDir.boolValue,
               let e = FileManager.default.enumerator(atPath: root) {
                paths = e.compactMap { root + "/" + ($0 as! String) }
            }
            for path in paths where !written.contains((path as NSString).lastPathComponent) && !path.hasPrefix(music + "/") {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                      let data = FileManager.default.contents(atPath: path) else { continue }
                sweep(path, String(decoding: data, as: UTF8.self))
            }
        }
        sweep("the server's log", st.log)
        sweep("the watcher's log", watcher.log)
        print("secret sweep: \(searched) texts searched, \(found.count) hits")
        XCTAssertEqual(found, [])
        XCTAssertGreaterThan(searched, 100)
    }
}
