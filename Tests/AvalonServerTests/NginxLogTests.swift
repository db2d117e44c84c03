import AvalonStore
import Foundation
import TestSupport
import XCTest

/// Every shipped nginx configuration (the site, the upstream front, the one
/// avalon-express writes) keeps the admin secret and Subsonic's credentials out
/// of its access log, in every spelling of the query key and in the header forms.
final class NginxLogTests: XCTestCase {
    let secret = "REALadminSecret0123456789"
    var dir = ""
    var started: [(process: Background, stop: Int32)] = []

    override func setUpWithError() throws {
        dir = makeTempDir("avalon-nginxlog")
        try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
    }

    override func tearDown() {
        for b in started.reversed() { _ = b.process.stop(b.stop) }
        removeTree(dir)
    }

    /// avalon-fcgi on a unix socket in the test's folder.
    func backend() throws -> String {
        let fcgi = try shippedBackend(dir: dir, workers: 1, environment: ["ADMIN_SECRET": secret])
        started.append((fcgi.process, SIGTERM))
        return fcgi.socket
    }

    /// A shipped site file, its includes and paths made the test's own, under nginx in the foreground.
    func nginx(site: String, edits: [(String, String)]) throws -> Int {
        let nginx = try shippedNginx(site: site, dir: dir, edits: edits)
        started.append((nginx.process, SIGQUIT))
        return nginx.port
    }

    /// The spellings a client may send the secret (and Subsonic credentials) in;
    /// then the access log holds none of them, and does hold the harmless query.
    func assertNoSecretLogged(port: Int, accessLog: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let s = secret
        let queries = ["secret=\(s)&secret=x", "%73ecret=\(s)", "SECRET=\(s)", "query=a&%53eCrEt=\(s)", "x=1;secret=\(s)",
                       "u=me&p=\(s)", "u=me&t=\(s)&s=salt", "apiKey=\(s)", "password=\(s)", "token=\(s)", "%70=\(s)"]
        var sent = 0
        for path in ["/avalon/songs", "/avalon/metrics"] {
            for q in queries {
                _ = try httpRequest(port: port, path: path + "?" + q)
                sent += 1
            }
        }
        for h in [["X-API-Key": s], ["Authorization": "Bearer " + s]] {
            _ = try httpRequest(port: port, path: "/avalon/metrics", headers: h)
            _ = try httpRequest(port: port, path: "/avalon/songs?query=visible", headers: h)
            sent += 2
        }
        // nginx writes the line as the request ends: all of them, then the look.
        XCTAssertTrue(waitUntil(timeout: 5) {
            ((try? String(contentsOfFile: accessLog)) ?? "").split(separator: "\n").count >= sent
        }, "the access log has not every request", file: file, line: line)
        let log = try String(contentsOfFile: accessLog)
        let hits = log.split(separator: "\n").filter { $0.contains("REAL") }
        XCTAssertEqual(hits, [], "lines with the secret in \(accessLog)", file: file, line: line)
        XCTAssertTrue(log.contains("/avalon/songs?query=visible"), "an ordinary query is logged as is:\n\(log)", file: file, line: line)
        XCTAssertTrue(log.contains("?[redacted]"), log, file: file, line: line)
    }

    func testSiteLogsNoSecret() throws {
        let sock = try backend()
        let port = try nginx(site: "avalon.conf", edits: [
            ("listen 127.0.0.1:8080;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon.access.log", dir + "/access.log"),
            ("unix:/run/avalon/avalon.sock", "unix:" + sock),
        ])
        try assertNoSecretLogged(port: port, accessLog: dir + "/access.log")
    }

    func testUpstreamFrontLogsNoSecretAndGuardsAdminPaths() throws {
        let sock = try backend()
        // The three test-bed hosts become the test's one avalon-fcgi.
        let hosts = try String(contentsOfFile: packageRoot + "/nginx/avalon-upstream.conf").split(separator: "\n")
            .filter { $0.contains("server 127.0.0.") }.map(String.init)
        XCTAssertEqual(hosts.count, 3)
        let port = try nginx(site: "avalon-upstream.conf", edits: [
            ("listen 127.0.0.1:8088;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon-upstream.access.log", dir + "/access.log"),
            (hosts[0], "    server unix:\(sock);"), (hosts[1], ""), (hosts[2], ""),
        ])
        try assertNoSecretLogged(port: port, accessLog: dir + "/access.log")
        // The admin and metrics paths answer only the allowed networks (127.0.0.1 here).
        for path in ["/avalon/metrics", "/avalon/versions", "/avalon/admin/config", "/avalon/debug/x"] {
            XCTAssertEqual(try httpRequest(port: port, path: path, from: "127.0.0.5").status, 403, path)
        }
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon/songs", from: "127.0.0.5").status, 200)
    }

    func testExpressLogsNoSecret() throws {
        let root = dir + "/root", port = freePort()
        let express = try Background([product("avalon-express"), "start-server", packageRoot + "/deploy/demo-music", "--port", "\(port)",
                                      "--server-root", root],
                                     environment: ProcessInfo.processInfo.environment.filter { $0.key != "AVALON_CONFIG" },
                                     logPath: dir + "/express.log")
        defer { _ = express.stop(SIGINT, timeout: 20) }
        XCTAssertTrue(waitUntil(timeout: 60) { express.log.contains("Ctrl-C stops it") }, express.log)
        try assertNoSecretLogged(port: port, accessLog: root + "/logs/access.log")
    }
}
