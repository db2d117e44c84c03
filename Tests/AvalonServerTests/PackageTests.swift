import Foundation
import TestSupport
import XCTest

/// The Debian package, on this machine for real: lintian, apt-get install,
/// the server started as avalon.service starts it (without systemd), an
/// upgrade to a newer package under requests, and purge. Needs root (as the
/// tests run in CI), and a machine without Avalon: it installs into /usr/bin,
/// uses /run/avalon and ends with `apt-get purge avalon`, so anything of Avalon
/// it did not install makes it refuse (and say why) rather than destroy it.
final class PackageTests: XCTestCase {
    func run(_ args: [String], _ env: [String: String] = [:]) throws -> ProcessResult {
        var e = ProcessInfo.processInfo.environment
        e.merge(env) { $1 }
        return try runProgram(args, environment: e)
    }

    /// What of an Avalon installation is on this machine (the package, its
    /// files, its user, deploy/install-system.sh's service): empty when none.
    static func installedAvalon() -> [String] {
        var found: [String] = []
        if let r = try? runProgram(["/usr/bin/dpkg-query", "-W", "-f=${db:Status-Abbrev}", "avalon"]), r.status == 0,
           !r.stdout.hasPrefix("un") {
            found.append("the package avalon (dpkg status \(r.stdout.trimmingCharacters(in: .whitespaces)))")
        }
        for f in ["/etc/avalon", "/var/lib/avalon", "/var/log/avalon", "/run/avalon", "/usr/bin/avalon-fcgi", "/usr/local/bin/avalon-fcgi",
                  "/lib/systemd/system/avalon.service", "/etc/systemd/system/avalon.service", "/etc/nginx/snippets/avalon-fastcgi.conf",
                  "/etc/nginx/snippets/avalon-log.conf", "/etc/nginx/snippets/avalon-cache.conf", "/etc/nginx/conf.d/avalon.conf",
                  "/usr/share/avalon", "/var/cache/nginx-avalon", "/var/cache/avalon"]
            where FileManager.default.fileExists(atPath: f) {
            found.append(f)
        }
        if getpwnam("avalon") != nil { found.append("the user avalon") }
        return found
    }

    /// A process this test started, if it still is that process (not a reused pid).
    func isAvalonMaster(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 && ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "").contains("avalon-fcgi")
    }

    func testPackageInstallsServesUpgradesAndPurges() throws {
        guard geteuid() == 0 else {
            print("PackageTests: SKIPPED: installs a Debian package, which needs root")
            throw XCTSkip("installs a Debian package: needs root")
        }
        let present = Self.installedAvalon()
        guard present.isEmpty else {
            let why = "PackageTests: SKIPPED, nothing touched: this machine has Avalon the test did not install (\(present.joined(separator: ", "))); "
                + "the test installs, upgrades and purges the package avalon, which would destroy it. Run the suite on a machine (or container) without Avalon."
            print(why)
            throw XCTSkip(why)
        }
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
        // Every process the test starts, stopped by the pid it had when it started.
        var masters: [Int32] = []
        defer {
            for pid in masters where isAvalonMaster(pid) { kill(pid, SIGTERM) }
            _ = waitUntil(timeout: 10) { !masters.contains { self.isAvalonMaster($0) } }
            _ = try? run(apt + ["purge", "avalon"], noninteractive)
        }
        let install = try run(apt + ["install", debs[0]], noninteractive)
        XCTAssertEqual(install.status, 0, install.stdout + install.stderr)
        for f in ["/usr/bin/avalon-fcgi", "/usr/bin/avalon-scan", "/usr/bin/avalon-express", "/etc/avalon/avalon.toml",
                  "/lib/systemd/system/avalon.service", "/lib/systemd/system/avalon.socket", "/etc/nginx/snippets/avalon-fastcgi.conf",
                  "/etc/nginx/snippets/avalon-log.conf", "/etc/nginx/snippets/avalon-cache.conf", "/usr/share/avalon/nginx/avalon-cache.conf",
                  "/usr/share/avalon/web/index.html", "/usr/share/avalon/web/player.js"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: f), f)
        }
        let avalon = try XCTUnwrap(getpwnam("avalon"), "postinst made the system user").pointee
        // The configuration holds secrets: root:avalon 0640.
        var st = stat()
        XCTAssertEqual(stat("/etc/avalon/avalon.toml", &st), 0)
        XCTAssertEqual([st.st_mode & 0o7777, st.st_uid, st.st_gid], [0o640, 0, avalon.pw_gid], "owner and mode of avalon.toml")
        // No Swift runtime outside Debian's libraries.
        let ldd = try run(["/usr/bin/ldd", "/usr/bin/avalon-fcgi"])
        XCTAssertFalse(ldd.stdout.contains("swift") || ldd.stdout.contains("not found"), ldd.stdout)

        let config = ["AVALON_CONFIG": "/etc/avalon/avalon.toml"]
        let scan = try run(["/usr/sbin/runuser", "-u", "avalon", "--", "/usr/bin/avalon-scan", "/usr/share/avalon/demo-music"], config)
        XCTAssertEqual(scan.status, 0, scan.stderr)
        // The cover cache (COVER_CACHE in the packaged configuration): the scanner's, readable by nginx.
        XCTAssertEqual(stat("/var/cache/avalon/covers", &st), 0)
        XCTAssertEqual([st.st_mode & 0o7777, st.st_uid], [0o755, avalon.pw_uid], "owner and mode of the cover cache")

        // The server as avalon.service + avalon.socket start it (systemd is not
        // PID 1 here): the unit's ExecStart, User and Environment as installed,
        // the socket passed as systemd does (LISTEN_FDS), SocketMode 0660 for
        // nginx; like systemd, systemd-socket-activate starts it at the first connection.
        let unit = try String(contentsOfFile: "/lib/systemd/system/avalon.service").split(separator: "\n")
        func setting(_ key: String) -> String? {
            unit.last { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        let execStart = try XCTUnwrap(setting("ExecStart")).split(separator: " ").map(String.init)
        XCTAssertEqual(setting("User"), "avalon")
        XCTAssertEqual(setting("Environment"), "AVALON_CONFIG=/etc/avalon/avalon.toml")
        let sock = "/run/avalon/avalon.sock"
        let server = try Background([try which("systemd-socket-activate"), "-l", sock, "-E", try XCTUnwrap(setting("Environment")),
                                     "/usr/bin/setpriv", "--reuid=avalon", "--regid=avalon", "--init-groups", "--"] + execStart,
                                    environment: ["PATH": "/usr/bin:/bin"], logPath: out + "/server.log")
        masters.append(server.pid)
        XCTAssertTrue(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: sock) }, server.log)
        XCTAssertEqual(chown(sock, avalon.pw_uid, getgrnam("www-data")!.pointee.gr_gid), 0)
        XCTAssertEqual(chmod(sock, 0o660), 0)

        let site = try String(contentsOfFile: "/usr/share/avalon/nginx/avalon.conf")
        let port = freePort()
        let conf = site.replacingOccurrences(of: "listen 127.0.0.1:8080;", with: "listen 127.0.0.1:\(port);")
            .replacingOccurrences(of: "include fastcgi_params;", with: "include /etc/nginx/fastcgi_params;")
            .replacingOccurrences(of: "include snippets/", with: "include /etc/nginx/snippets/")
            .replacingOccurrences(of: "/var/log/nginx/avalon.access.log", with: out + "/access.log")
            .replacingOccurrences(of: "/var/cache/nginx-avalon ", with: out + "/cache ")
        XCTAssertTrue(conf.contains(out + "/cache "), "the site's cache path moved: \(site)")
        try FileManager.default.createDirectory(atPath: out + "/tmp", withIntermediateDirectories: true)
        try """
            daemon off; user www-data; worker_processes 1; pid \(out)/nginx.pid; error_log \(out)/error.log;
            events { worker_connections 64; }
            http { include /etc/nginx/mime.types; client_body_temp_path \(out)/tmp; fastcgi_temp_path \(out)/tmp;
                   proxy_temp_path \(out)/tmp; uwsgi_temp_path \(out)/tmp; scgi_temp_path \(out)/tmp;
                   \(conf) }
            """.write(toFile: out + "/nginx.conf", atomically: true, encoding: .utf8)
        // In the foreground, stopped by its pid: purge removes the snippets its
        // configuration includes, and `nginx -s stop` would no longer parse it.
        let nginx = try Background([try which("nginx"), "-c", out + "/nginx.conf"], environment: [:], logPath: out + "/nginx.log")
        defer { _ = nginx.stop(SIGQUIT) }
        XCTAssertTrue(waitUntil(timeout: 30) { (try? httpRequest(port: port, path: "/avalon/heartbeat"))?.status == 200 },
                      nginx.log + server.log)
        XCTAssertTrue(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: "/run/avalon/avalon.pid") },
                      "the unit's ExecStart writes no pid file: \(server.log)")
        let songs = try httpRequest(port: port, path: "/avalon/songs")
        XCTAssertEqual((songs.json["success"] as? [Any])?.count, 9, songs.text)
        // The installed cache snippet is in effect: the second look is nginx's own.
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon/songs").headers["x-cache-status"], "HIT")
        XCTAssertTrue(try httpRequest(port: port, path: "/").text.contains("<title>Avalon</title>"))
        // The packaged SNAPSHOT_PATH: written by the server after its first load, its own and private.
        let snapshot = "/var/lib/avalon/collection.snapshot"
        XCTAssertTrue(waitUntil(timeout: 30) { stat(snapshot, &st) == 0 }, server.log)
        XCTAssertEqual([st.st_mode & 0o7777, st.st_uid], [0o600, avalon.pw_uid], "owner and mode of the snapshot")

        // A mode the admin set is kept across the upgrade, as a conffile's content is.
        chmod("/etc/avalon/avalon.toml", 0o440)
        // An upgrade to the newer package: postinst moves the server in place.
        let old = try XCTUnwrap(Int32(try String(contentsOfFile: "/run/avalon/avalon.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(old, server.pid, "the unit's ExecStart writes the pid file of the master it starts")
        // With a credential, every request passes nginx's cache and reaches a server.
        let stream = RequestStream(port: port, path: "/avalon/songs", headers: ["Authorization": "Bearer package-test"], limit: 60)
        usleep(300_000)
        let upgrade = try run(apt + ["install", debs[1]], noninteractive)
        XCTAssertEqual(upgrade.status, 0, upgrade.stdout + upgrade.stderr)
        XCTAssertTrue(upgrade.stdout.contains("running server \(old) upgrades in place"), upgrade.stdout)
        var new: Int32 = 0
        XCTAssertTrue(waitUntil(timeout: 20) {
            let now = (try? String(contentsOfFile: "/run/avalon/avalon.pid")).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if let now, now != old, self.isAvalonMaster(now) { new = now }
            return new != 0 && kill(old, 0) != 0
        })
        guard new > 0 else { return XCTFail("no new master took over: \(server.log)") }
        masters.append(new)
        usleep(300_000)
        let (sent, failures) = stream.finish()
        print("package upgrade under \(sent) requests: \(failures.count) failed")
        XCTAssertEqual(failures, [])
        XCTAssertEqual(try run(["/usr/bin/dpkg-query", "-W", "-f=${Version}", "avalon"]).stdout, "1.0.1")
        XCTAssertEqual(try String(contentsOfFile: "/proc/\(new)/cmdline").split(separator: "\0").first, "/usr/bin/avalon-fcgi")
        XCTAssertEqual(stat("/etc/avalon/avalon.toml", &st), 0)
        XCTAssertEqual([st.st_mode & 0o7777, st.st_uid, st.st_gid], [0o440, 0, avalon.pw_gid], "the admin's mode after the upgrade")

        // prerm signals only an avalon-fcgi of avalon: the pid file may hold anything.
        XCTAssertEqual(kill(new, SIGTERM), 0)
        XCTAssertTrue(waitUntil(timeout: 10) { !self.isAvalonMaster(new) })
        let victim = try Background(["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/bin/sleep", "600"],
                                    environment: [:], logPath: out + "/victim.log")
        defer { _ = victim.stop(SIGKILL) }
        try "\(victim.pid)\n".write(toFile: "/run/avalon/avalon.pid", atomically: true, encoding: .utf8)

        // Purge: everything of the package goes.
        let purge = try run(apt + ["purge", "avalon"], noninteractive)
        XCTAssertEqual(purge.status, 0, purge.stdout + purge.stderr)
        XCTAssertTrue(victim.process.isRunning, "prerm signalled the process its pid file named")
        XCTAssertTrue((purge.stdout + purge.stderr).contains("not avalon-fcgi: signalling nothing"), purge.stdout + purge.stderr)
        for f in ["/usr/bin/avalon-fcgi", "/etc/avalon", "/var/lib/avalon", "/var/log/avalon", "/usr/share/avalon", "/run/avalon", "/var/cache/avalon",
                  "/etc/nginx/snippets/avalon-fastcgi.conf", "/etc/nginx/snippets/avalon-log.conf", "/etc/nginx/snippets/avalon-cache.conf"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: f), "left after purge: \(f)")
        }
        XCTAssertNil(getpwnam("avalon"), "the system user is gone")
        XCTAssertNotEqual(try run([try which("dpkg-statoverride"), "--list", "/etc/avalon/avalon.toml"]).status, 0, "statoverride left")
        XCTAssertNotEqual(try run(["/usr/bin/dpkg", "-s", "avalon"]).status, 0)
        XCTAssertEqual(Self.installedAvalon(), [], "nothing of Avalon left")
    }
}
