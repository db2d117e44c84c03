import Foundation
import TestSupport
import XCTest

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let demoMusic = packageRoot + "/deploy/demo-music"

/// Processes whose command line mentions `text` (a server root is unique to a test).
func processes(mentioning text: String) -> [Int32] {
    let me = getpid()
    return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
        guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
    }
}

/// A copy of the programs, the shipped page and the demo music where `user`
/// can reach them (a mktemp folder, 0755): the checkout itself may sit in a
/// private folder (a 0700 home, `mktemp -d`) that another user cannot enter.
/// Returns the folder; the programs are in its bin/, the music in music/.
func reachableCopy(for user: String) throws -> String {
    let dir = makeTempDir("avalon-express-copy")
    let fm = FileManager.default
    for sub in ["/bin", "/share/avalon/web", "/share/avalon/nginx"] {
        try fm.createDirectory(atPath: dir + sub, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    }
    for name in ["avalon-express", "avalon-fcgi", "avalon-scan"] { try fm.copyItem(atPath: product(name), toPath: dir + "/bin/" + name) }
    for page in try fm.contentsOfDirectory(atPath: packageRoot + "/web") {
        try fm.copyItem(atPath: packageRoot + "/web/" + page, toPath: dir + "/share/avalon/web/" + page)
    }
    for snippet in ["avalon-fastcgi.conf", "avalon-log.conf", "avalon-cache.conf"] {
        try fm.copyItem(atPath: packageRoot + "/nginx/" + snippet, toPath: dir + "/share/avalon/nginx/" + snippet)
    }
    try fm.copyItem(atPath: demoMusic, toPath: dir + "/music")
    // Readable by all, whatever the checkout's umask made of the copies.
    let chmod = try runProgram(["/bin/chmod", "-R", "a+rX", dir])
    guard chmod.status == 0 else { throw SupportError("chmod: \(chmod.stderr)") }
    return dir
}

/// `avalon-express start-server` in the foreground, as `user` when the tests run as root.
final class ExpressServer {
    let root: String
    let port = freePort()
    let process: Background
    /// The avalon-express program this server runs.
    let program: String
    /// What to remove at the end: the root's parent, and a copy made for another user.
    var made: [String] = []
    /// avalon-express, and avalon-fcgi's and nginx's masters, read once it came up.
    var express: StartedProcess?
    var started: [StartedProcess] = []

    /// `root`: a server root path of the test's own (default: `root` in a new temp folder).
    init(user: String? = nil, music: String = demoMusic, extra: [String] = [], root given: String? = nil,
         environment: [String: String] = [:]) throws {
        let work = makeTempDir("avalon-express")
        made.append(work)
        root = given ?? work + "/root"
        var program = product("avalon-express")
        var music = music
        var prefix: [String] = []
        if let user, geteuid() == 0 {
            guard let pw = getpwnam(user) else { throw SupportError("no user \(user)") }
            let copy = try reachableCopy(for: user)
            made.append(copy)
            program = copy + "/bin/avalon-express"
            if music == demoMusic { music = copy + "/music" }
            // The server root's parent belongs to the user; the root itself is made by avalon-express.
            if given == nil { chown(work, pw.pointee.pw_uid, pw.pointee.pw_gid) }
            prefix = ["/usr/sbin/runuser", "-u", user, "--"]
        }
        self.program = program
        var env = ProcessInfo.processInfo.environment.filter { $0.key != "AVALON_CONFIG" && $0.key != "DATABASE_URL" }
        env.merge(environment) { $1 }
        process = try Background(prefix + [program, "start-server", music, "--port", "\(port)", "--server-root", root] + extra,
                                 environment: env, logPath: work + "/express.log")
        let port = self.port
        let process = self.process
        let up = waitUntil(timeout: 60, { process.log.contains("Ctrl-C stops it") })
        express = expressPid.flatMap { StartedProcess(pid: $0) }
        started = [root + "/avalon.pid", root + "/nginx.pid"].compactMap { StartedProcess(pidFile: $0) }
        guard up, (try? httpRequest(port: port, path: "/avalon/heartbeat", timeout: 5))?.status == 200 else {
            let log = process.log
            stop()
            throw SupportError("avalon-express did not come up: \(log)")
        }
    }

    /// The avalon-express process itself (under runuser, its child).
    var expressPid: Int32? {
        processes(mentioning: root).first { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline")) ?? "").hasPrefix(program)
        }
    }

    func get(_ path: String) throws -> HTTPReply { try httpRequest(port: port, path: path) }

    /// SIGINT, as Ctrl-C; then whatever it started and left is stopped by pid.
    func stop() {
        if let express, express.isRunning { kill(express.pid, SIGINT) }
        _ = process.stop(SIGINT, timeout: 20)
        for p in [express].compactMap({ $0 }) + started { p.stop() }
        for dir in made { removeTree(dir) }
    }
}

final class ExpressTests: XCTestCase {
    /// The acceptance path: an ordinary user, the demo collection, the API
    /// and the page through nginx; Ctrl-C (SIGINT) leaves nothing running
    /// and the port free.
    func testStartServerAsAnOrdinaryUser() throws {
        let s = try ExpressServer(user: "nobody")
        let owner = try XCTUnwrap(s.expressPid)
        XCTAssertEqual(try String(contentsOfFile: "/proc/\(owner)/status").contains("Uid:\t65534") || geteuid() != 0, true)
        let songs = try s.get("/avalon/songs?order=name")
        XCTAssertEqual(songs.status, 200)
        XCTAssertEqual((songs.json["success"] as? [[String: Any]])?.count, 9, songs.text)
        let page = try s.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.text.contains("<title>Avalon</title>"), page.text)
        // The page's own policy: nothing from elsewhere, no Referer with credentials in it.
        for p in ["/", "/app.js", "/player.js", "/style.css"] {
            let r = try s.get(p)
            XCTAssertEqual(r.headers["referrer-policy"], "no-referrer", p)
            XCTAssertEqual(r.headers["x-content-type-options"], "nosniff", p)
            XCTAssertTrue(r.headers["content-security-policy"]?.hasPrefix("default-src 'self';") == true, p)
        }
        XCTAssertNil(songs.headers["content-security-policy"], "API answers keep their own headers")
        XCTAssertEqual(try s.get("/app.js").status, 200)
        XCTAssertEqual(try s.get("/player.js").status, 200)
        // The server root's SNAPSHOT_PATH: written after the first load, the user's own.
        var st = stat()
        XCTAssertTrue(waitUntil(timeout: 20) { stat(s.root + "/collection.snapshot", &st) == 0 }, s.process.log)
        XCTAssertEqual([st.st_mode & 0o777, st.st_uid], [0o600, geteuid() == 0 ? 65534 : geteuid()])
        XCTAssertTrue(s.process.log.contains("Avalon serves http://127.0.0.1:\(s.port)/"), s.process.log)
        let running = processes(mentioning: s.root)
        XCTAssertGreaterThanOrEqual(running.count, 4, "express, avalon-fcgi (master + workers), nginx (master + worker)")

        kill(owner, SIGINT)
        XCTAssertEqual(s.process.stop(SIGINT, timeout: 20), 0, s.process.log)
        XCTAssertTrue(waitUntil(timeout: 5) { processes(mentioning: s.root).isEmpty }, "left running: \(processes(mentioning: s.root))")
        XCTAssertFalse(canConnect(port: s.port))
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.root + "/avalon.sock"))
        s.stop()
    }

    /// `--reload-on-change`: a file added to the folder reaches the API
    /// without a command, through a rescan and the server's own reload.
    /// Failed Subsonic sign-ins are rate-limited by the nginx avalon-express
    /// writes; right credentials are not (SubsonicSignInLimitTests: the shipped sites).
    func testFailedSignInsLimited() throws {
        let users = makeTempDir("avalon-express-users")
        defer { removeTree(users) }
        try "dora:Dora-Pass-5b7\n".write(toFile: users + "/users", atomically: false, encoding: .utf8)
        chmod(users + "/users", 0o600)
        let s = try ExpressServer(extra: ["--users", users + "/users"])
        defer { s.stop() }
        let logs = ["/logs/access.log", "/logs/nginx-error.log", "/logs/avalon.log"].map { s.root + $0 }
        let problems = try failedSignInProblems(port: s.port, user: "dora", password: "Dora-Pass-5b7", logs: logs)
        XCTAssertEqual(problems, [], problems.joined(separator: "\n"))
    }

    func testReloadOnChange() throws {
        let music = makeTempDir("avalon-music")
        defer { removeTree(music) }
        try FileManager.default.removeItem(atPath: music)
        try FileManager.default.copyItem(atPath: demoMusic, toPath: music)
        let s = try ExpressServer(music: music, extra: ["--reload-on-change"])
        defer { s.stop() }
        func count() -> Int { ((try? s.get("/avalon/songs"))?.json["success"] as? [Any])?.count ?? -1 }
        XCTAssertEqual(count(), 9)
        try FileManager.default.createDirectory(atPath: music + "/New", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: music + "/Kino/01-группа_крови.ogg", toPath: music + "/New/copy.ogg")
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.2) { count() == 10 }, s.process.log)
        XCTAssertTrue(s.process.log.contains("rescanned:"), s.process.log)
    }

    /// Each mistake a newcomer makes is one line that names the fix, and exit status 1.
    func testClearErrors() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        func express(_ args: [String], env: [String: String] = [:]) throws -> ProcessResult {
            var e = ProcessInfo.processInfo.environment
            e.merge(env) { $1 }
            return try runProgram([product("avalon-express"), "start-server"] + args, environment: e)
        }
        let taken = bindLoopback(SOCK_STREAM)
        listen(taken.fd, 1)
        defer { close(taken.fd) }
        let cases: [([String], [String: String], String)] = [
            ([demoMusic, "--port", "\(taken.port)", "--server-root", dir + "/a"], [:], "port \(taken.port) on 127.0.0.1 is taken"),
            ([demoMusic, "--server-root", dir + "/b"], ["AVALON_NGINX": "/nonexistent/nginx"], "nginx is not installed: install Debian's nginx package"),
            ([dir + "/nowhere", "--server-root", dir + "/c"], [:], "the music folder \(dir)/nowhere does not exist"),
            ([dir, "--port", "\(freePort())", "--server-root", dir + "/d"], [:], "no audio files in \(dir)"),
            ([demoMusic, "--port", "\(freePort())", "--server-root", "/proc/avalon"], [:], "cannot create /proc/avalon (No such file or directory): pass --server-root with a folder you can write"),
        ]
        for (args, env, expected) in cases {
            let r = try express(args, env: env)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("avalon-express: ") && r.stderr.contains(expected), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }

    /// `setup-server`: a configuration nginx accepts, and an avalonctl that
    /// starts, reloads and stops the pair.
    func testSetupServerAndAvalonctl() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let root = dir + "/srv"
        let port = freePort()
        let setup = try runProgram([product("avalon-express"), "setup-server", demoMusic, "--port", "\(port)", "--server-root", root])
        XCTAssertEqual(setup.status, 0, setup.stderr)
        for f in ["avalon.toml", "nginx.conf", "avalon-fastcgi.conf", "www/index.html", "avalonctl", "systemd/avalon-express.service"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/" + f), f)
        }
        let test = try runProgram([try which("nginx"), "-t", "-c", root + "/nginx.conf"])
        XCTAssertEqual(test.status, 0, test.stderr)
        let ctl = root + "/avalonctl"
        XCTAssertEqual(try runProgram([ctl, "configtest"]).status, 0)
        XCTAssertEqual(try runProgram([ctl, "status"]).status, 1)
        let start = try runProgram([ctl, "start"])
        // Stopped by the pids read now, should avalonctl stop fail.
        let started = [root + "/avalon.pid", root + "/nginx.pid"].compactMap { StartedProcess(pidFile: $0) }
        defer {
            _ = try? runProgram([ctl, "stop"])
            for p in started { p.stop() }
        }
        XCTAssertEqual(start.status, 0, start.stdout + start.stderr)
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon/heartbeat").status, 200)
        XCTAssertEqual(try httpRequest(port: port, path: "/").status, 200)
        let status = try runProgram([ctl, "status"])
        XCTAssertEqual(status.status, 0, status.stdout)
        XCTAssertTrue(status.stdout.contains("avalon up") && status.stdout.contains("nginx up"), status.stdout)
        let master = try String(contentsOfFile: root + "/avalon.pid").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try runProgram([ctl, "reload"]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 10) {
            ((try? String(contentsOfFile: root + "/logs/avalon.log")) ?? "").contains("reloaded generation 1")
        })
        XCTAssertEqual(try String(contentsOfFile: root + "/avalon.pid").trimmingCharacters(in: .whitespacesAndNewlines), master)
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon/heartbeat").status, 200)
        let stop = try runProgram([ctl, "stop"])
        XCTAssertEqual(stop.status, 0, stop.stderr)
        XCTAssertTrue(waitUntil(timeout: 5) { processes(mentioning: root).isEmpty }, "\(processes(mentioning: root))")
        XCTAssertFalse(canConnect(port: port))
        XCTAssertEqual(try runProgram([ctl, "status"]).status, 1)
    }
}
