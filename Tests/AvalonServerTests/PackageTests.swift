import Foundation
import TestSupport
import XCTest

/// The Debian package, on this machine for real: lintian, apt-get install,
/// the README's steps without systemd, an upgrade to a newer package under
/// requests, and purge. Needs root (as the tests run in CI).
final class PackageTests: XCTestCase {
    func run(_ args: [String], _ env: [String: String] = [:]) throws -> ProcessResult {
        var e = ProcessInfo.processInfo.environment
        e.merge(env) { $1 }
        return try runProgram(args, environment: e)
    }

    func testPackageInstallsServesUpgradesAndPurges() throws {
        guard geteuid() == 0 else { throw XCTSkip("installs a Debian package: needs root") }
        let out = makeTempDir("avalon-deb")
        defer { removeTree(out) }
        var debs: [String] = []
        for version in ["1.0.0", "1.0.1"] {
            let r = try run(["/bin/bash", packageRoot + "/deploy/package.sh", out, version])
            XCTAssertEqual(r.status, 0, r.stderr)
            debs.append(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        XCTAssertTrue(debs[0].hasSuffix("avalon_1.0.0_\(try run(["/usr/bin/dpkg", "--print-architecture"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)).deb"))
        let lint = try run([try which("lintian"), "--fail-on", "error", "--tag-display-limit", "0", debs[0]])
        print("lintian: \(lint.stdout.split(separator: "\n").count) tags below error level\n\(lint.stdout)")
        XCTAssertEqual(lint.status, 0, lint.stdout + lint.stderr)
        XCTAssertFalse(lint.stdout.contains("E: "), lint.stdout)

        let apt = ["/usr/bin/apt-get", "-y", "-q"]
        let noninteractive = ["DEBIAN_FRONTEND": "noninteractive"]
        defer { _ = try? run(apt + ["purge", "avalon"], noninteractive) }
        let install = try run(apt + ["install", debs[0]], noninteractive)
        XCTAssertEqual(install.status, 0, install.stdout + install.stderr)
        for f in ["/usr/bin/avalon-fcgi", "/usr/bin/avalon-scan", "/usr/bin/avalon-express", "/etc/avalon/avalon.toml",
                  "/lib/systemd/system/avalon.service", "/lib/systemd/system/avalon.socket", "/etc/nginx/snippets/avalon-fastcgi.conf",
                  "/usr/share/avalon/web/index.html"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: f), f)
        }
        XCTAssertNotNil(getpwnam("avalon"), "postinst made the system user")
        // No Swift runtime outside Debian's libraries.
        let ldd = try run(["/usr/bin/ldd", "/usr/bin/avalon-fcgi"])
        XCTAssertFalse(ldd.stdout.contains("swift") || ldd.stdout.contains("not found"), ldd.stdout)

        // The README's steps without systemd: scan the demo collection, start the server as avalon.
        let config = ["AVALON_CONFIG": "/etc/avalon/avalon.toml"]
        let scan = try run(["/usr/sbin/runuser", "-u", "avalon", "--", "/usr/bin/avalon-scan", "/usr/share/avalon/demo-music"], config)
        XCTAssertEqual(scan.status, 0, scan.stderr)
        let server = try Background(["/usr/sbin/runuser", "-u", "avalon", "--", "/usr/bin/avalon-fcgi", "--bind", "unix:/run/avalon/avalon.sock",
                                     "--socket-mode", "0666", "--workers", "2", "--pid-file", "/run/avalon/avalon.pid"],
                                    environment: ProcessInfo.processInfo.environment.merging(config) { $1 }, logPath: out + "/server.log")
        defer { _ = server.stop() }
        XCTAssertTrue(waitUntil(timeout: 20) { FileManager.default.fileExists(atPath: "/run/avalon/avalon.pid") }, server.log)
        let site = try String(contentsOfFile: "/usr/share/avalon/nginx/avalon.conf")
        let port = freePort()
        let conf = site.replacingOccurrences(of: "listen 127.0.0.1:8080;", with: "listen 127.0.0.1:\(port);")
            .replacingOccurrences(of: "include fastcgi_params;", with: "include /etc/nginx/fastcgi_params;")
            .replacingOccurrences(of: "include snippets/avalon-fastcgi.conf;", with: "include /etc/nginx/snippets/avalon-fastcgi.conf;")
            .replacingOccurrences(of: "/var/log/nginx/avalon.access.log", with: out + "/access.log")
        try FileManager.default.createDirectory(atPath: out + "/tmp", withIntermediateDirectories: true)
        try """
            user www-data; worker_processes 1; pid \(out)/nginx.pid; error_log \(out)/error.log;
            events { worker_connections 64; }
            http { include /etc/nginx/mime.types; client_body_temp_path \(out)/tmp; fastcgi_temp_path \(out)/tmp;
                   proxy_temp_path \(out)/tmp; uwsgi_temp_path \(out)/tmp; scgi_temp_path \(out)/tmp;
                   \(conf) }
            """.write(toFile: out + "/nginx.conf", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run([try which("nginx"), "-c", out + "/nginx.conf"]).status, 0)
        defer { _ = try? run([try which("nginx"), "-c", out + "/nginx.conf", "-s", "stop"]) }
        XCTAssertTrue(waitUntil(timeout: 10) { (try? httpRequest(port: port, path: "/avalon/heartbeat"))?.status == 200 })
        let songs = try httpRequest(port: port, path: "/avalon/songs")
        XCTAssertEqual((songs.json["success"] as? [Any])?.count, 9, songs.text)
        XCTAssertTrue(try httpRequest(port: port, path: "/").text.contains("<title>Avalon</title>"))

        // An upgrade to the newer package: postinst moves the running server in place.
        let old = try XCTUnwrap(Int32(try String(contentsOfFile: "/run/avalon/avalon.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        let stream = RequestStream(port: port, path: "/avalon/songs", limit: 60)
        usleep(300_000)
        let upgrade = try run(apt + ["install", debs[1]], noninteractive)
        XCTAssertEqual(upgrade.status, 0, upgrade.stdout + upgrade.stderr)
        XCTAssertTrue(upgrade.stdout.contains("upgrades in place"), upgrade.stdout)
        XCTAssertTrue(waitUntil(timeout: 20) {
            let now = (try? String(contentsOfFile: "/run/avalon/avalon.pid")).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return now != nil && now != old && kill(old, 0) != 0
        })
        usleep(300_000)
        let (sent, failures) = stream.finish()
        print("package upgrade under \(sent) requests: \(failures.count) failed")
        XCTAssertEqual(failures, [])
        XCTAssertEqual(try run(["/usr/bin/dpkg-query", "-W", "-f=${Version}", "avalon"]).stdout, "1.0.1")

        // Purge: the server stops, everything of the package goes.
        let purge = try run(apt + ["purge", "avalon"], noninteractive)
        XCTAssertEqual(purge.status, 0, purge.stdout + purge.stderr)
        for f in ["/usr/bin/avalon-fcgi", "/etc/avalon", "/var/lib/avalon", "/var/log/avalon", "/usr/share/avalon",
                  "/etc/nginx/snippets/avalon-fastcgi.conf"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: f), "left after purge: \(f)")
        }
        XCTAssertNil(getpwnam("avalon"), "the system user is gone")
        XCTAssertNotEqual(try run(["/usr/bin/dpkg", "-s", "avalon"]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 10) { (try? httpRequest(port: port, path: "/avalon/heartbeat"))?.status != 200 })
    }
}
