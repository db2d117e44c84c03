import Foundation
import TestSupport
import XCTest

/// The server root against other users, odd folder names, nginx workers that
/// cannot reach it, and pid files that name something else.
final class ServerRootTests: XCTestCase {
    func express(_ args: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment.filter { $0.key != "AVALON_CONFIG" && $0.key != "DATABASE_URL" }
        env.merge(environment) { $1 }
        // A start-server that does not refuse would run on: stopped after 30 s.
        return try runProgram([product("avalon-express")] + args, environment: env, timeout: 30)
    }

    func assertOneLineError(_ r: ProcessResult, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("avalon-express: ") && r.stderr.contains(expected), r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr, file: file, line: line)
    }

    /// Another user makes the default server root first (without
    /// XDG_RUNTIME_DIR it is TMPDIR/avalon-express-UID), open to all, with
    /// links at the names avalon-express writes: refused, nothing written
    /// through a link, nothing started. A folder of one's own open to all is
    /// refused too.
    func testRefusesAServerRootAnotherUserMade() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root, to act as a second user (nobody)")
        let shared = makeTempDir("avalon-shared")  // stands for /tmp
        defer { removeTree(shared) }
        chmod(shared, 0o1777)
        let target = shared + "/victim"
        try "untouched\n".write(toFile: target, atomically: false, encoding: .utf8)
        let root = shared + "/avalon-express-0"
        let links = ["nginx.conf.tmp", "nginx.conf", "avalon.toml.tmp", "avalon.toml"]
        let plant = try runProgram(["/usr/sbin/runuser", "-u", "nobody", "--", "/bin/sh", "-c",
                                    "mkdir -m 0777 \"$1\" && for f in \(links.joined(separator: " ")); do ln -s \"$2\" \"$1/$f\"; done",
                                    "sh", root, target])
        XCTAssertEqual(plant.status, 0, plant.stderr)
        let env = ["TMPDIR": shared, "XDG_RUNTIME_DIR": ""]
        for command in ["setup-server", "start-server"] {
            let r = try express([command, demoMusic, "--port", "\(freePort())"], environment: env)
            assertOneLineError(r, "\(root) belongs to nobody, not to you (root), so its owner could read or swap its files: remove it, or pass --server-root with a folder of your own")
        }
        XCTAssertEqual(try String(contentsOfFile: target), "untouched\n")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: root)), Set(links))
        XCTAssertEqual(processes(mentioning: root), [])

        // A folder of another user's above the server root: they could rename it away and put theirs.
        let theirs = try runProgram(["/usr/sbin/runuser", "-u", "nobody", "--", "/bin/mkdir", "-m", "0755", shared + "/theirs"])
        XCTAssertEqual(theirs.status, 0, theirs.stderr)
        assertOneLineError(try express(["setup-server", demoMusic, "--server-root", shared + "/theirs/root"]),
                           "\(shared)/theirs belongs to nobody, who could replace the server root \(shared)/theirs/root inside it")
        XCTAssertFalse(FileManager.default.fileExists(atPath: shared + "/theirs/root"))

        // A link of another user's on the way, pointing at a folder of the caller's: they could repoint it later.
        let mine = shared + "/mine"
        mkdir(mine, 0o755)
        let link = try runProgram(["/usr/sbin/runuser", "-u", "nobody", "--", "/bin/ln", "-s", mine, shared + "/link"])
        XCTAssertEqual(link.status, 0, link.stderr)
        assertOneLineError(try express(["setup-server", demoMusic, "--server-root", shared + "/link/root"]),
                           "\(shared)/link is a link of nobody, who could point the server root \(shared)/link/root elsewhere")
        XCTAssertFalse(FileManager.default.fileExists(atPath: mine + "/root"))

        let open = shared + "/open"
        mkdir(open, 0o700)
        chmod(open, 0o777)
        assertOneLineError(try express(["setup-server", demoMusic, "--server-root", open]),
                           "\(open) is writable by other users (mode 0777), who could swap its files: chmod go-w '\(open)'")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: open), [])
    }

    /// Links in one's own server root (left by anything) are replaced, never
    /// written through, and no temporary file is left behind.
    func testWritesNoFileThroughALink() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let root = dir + "/root"
        mkdir(root, 0o700)
        let target = dir + "/target"
        try "untouched\n".write(toFile: target, atomically: false, encoding: .utf8)
        for name in ["nginx.conf.tmp", "nginx.conf", "avalon.toml.tmp", "avalon.toml", "avalonctl.tmp"] {
            XCTAssertEqual(symlink(target, root + "/" + name), 0)
        }
        let r = try express(["setup-server", demoMusic, "--port", "\(freePort())", "--server-root", root])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try String(contentsOfFile: target), "untouched\n")
        for name in ["nginx.conf", "avalon.toml", "avalonctl"] {
            let kind = try FileManager.default.attributesOfItem(atPath: root + "/" + name)[.type] as? FileAttributeType
            XCTAssertEqual(kind, .typeRegular, name)
        }
        XCTAssertTrue(try String(contentsOfFile: root + "/avalon.toml").contains("DATABASE_URL"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains(".tmp-") }, [])
    }

    /// A server root named `my server's "root"` and music in a folder with a
    /// space: start-server serves the page and the API; setup-server's files
    /// pass nginx -t, avalonctl configtest and systemd-analyze verify, and
    /// avalonctl starts, serves and stops.
    func testQuotedPathsServe() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let music = dir + "/my music"
        try FileManager.default.copyItem(atPath: demoMusic, toPath: music)
        // Covers: a folder image in each album's folder, served from the quoted root's cover cache.
        for (k, album) in try FileManager.default.contentsOfDirectory(atPath: music).enumerated() {
            try Data(CoverBytes.picture("jpg", seed: UInt64(k))).write(to: URL(fileURLWithPath: music + "/" + album + "/cover.jpg"))
        }
        let root = dir + "/my server's \"root\""
        let s = try ExpressServer(music: music, root: root)
        let songs = try s.get("/avalon/songs")
        XCTAssertEqual((songs.json["success"] as? [Any])?.count, 9, songs.text)
        let page = try s.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.text.contains("<title>Avalon</title>"))
        s.stop()
        XCTAssertTrue(waitUntil(timeout: 5) { processes(mentioning: root).isEmpty })

        let port = freePort()
        let users = dir + "/subsonic users"
        try "ann:pass-word-1\n".write(toFile: users, atomically: false, encoding: .utf8)
        chmod(users, 0o600)
        let setup = try express(["setup-server", music, "--port", "\(port)", "--server-root", root, "--users", users])
        XCTAssertEqual(setup.status, 0, setup.stderr)
        XCTAssertTrue(try String(contentsOfFile: root + "/avalon.toml").contains("SUBSONIC_USERS_FILE = '\(users)'"))
        let ctl = root + "/avalonctl"
        let configtest = try runProgram([ctl, "configtest"])
        XCTAssertEqual(configtest.status, 0, configtest.stderr)
        if let analyze = try? which("systemd-analyze") {
            for unit in ["avalon-express.service", "avalon-express-scan.service"] {
                let verify = try runProgram([analyze, "verify", root + "/systemd/" + unit])
                XCTAssertEqual(verify.status, 0, unit + ": " + verify.stderr)
                XCTAssertEqual(verify.stderr, "", unit)
            }
        }
        let start = try runProgram([ctl, "start"])
        let started = [root + "/avalon.pid", root + "/nginx.pid"].compactMap { StartedProcess(pidFile: $0) }
        defer { for p in started { p.stop() } }
        XCTAssertEqual(start.status, 0, start.stdout + start.stderr)
        XCTAssertTrue(start.stdout.contains("Avalon serves http://127.0.0.1:\(port)/"), start.stdout)
        XCTAssertEqual(try httpRequest(port: port, path: "/").status, 200)
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon/heartbeat").status, 200)
        // The Subsonic API on (--users), and a song streamed by nginx from the quoted music folder.
        let auth = "u=ann&p=pass-word-1&v=1.16.1&c=t"
        let found = try httpRequest(port: port, path: "/rest/search3?query=&songCount=1&f=json&" + auth).json
        let song = try XCTUnwrap((((found["subsonic-response"] as? [String: Any])?["searchResult3"] as? [String: Any])?["song"] as? [[String: Any]])?.first,
                                 "\(found)")
        let stream = try httpRequest(port: port, path: "/rest/stream?id=\(song["id"] as! String)&" + auth)
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.body, try Data(contentsOf: URL(fileURLWithPath: music + "/" + (song["path"] as! String))))
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon-internal-music/" + (song["path"] as! String).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!).status, 404)
        // Its cover, by its coverArt id, from the cover cache beside the quoted root's database.
        let folderImage = try Data(contentsOf: URL(fileURLWithPath: music + "/" + ((song["path"] as! String) as NSString).deletingLastPathComponent + "/cover.jpg"))
        let coverArt = try XCTUnwrap(song["coverArt"] as? String, "\(song)")
        let cover = try httpRequest(port: port, path: "/rest/getCoverArt?id=\(coverArt)&" + auth)
        XCTAssertEqual(cover.status, 200)
        XCTAssertEqual(cover.body, folderImage)
        XCTAssertEqual(cover.headers["content-type"], "image/jpeg")
        let cached = try FileManager.default.contentsOfDirectory(atPath: root + "/avalon.sqlite.covers")
        XCTAssertEqual(cached.count, 5, "\(cached)")
        XCTAssertEqual(try httpRequest(port: port, path: "/avalon-internal-covers/" + cached[0]).status, 404)
        // The picture and the song gone since the scan: 404, and nginx's error log holds no password of those requests.
        let picture = try XCTUnwrap(cached.first { $0.hasPrefix(coverArt.dropFirst(3)) }, "\(cached)")
        try FileManager.default.removeItem(atPath: root + "/avalon.sqlite.covers/" + picture)
        XCTAssertEqual(try httpRequest(port: port, path: "/rest/getCoverArt?id=\(coverArt)&" + auth).status, 404)
        try FileManager.default.removeItem(atPath: music + "/" + (song["path"] as! String))
        XCTAssertEqual(try httpRequest(port: port, path: "/rest/stream?id=\(song["id"] as! String)&" + auth).status, 404)
        let errors = (try? String(contentsOfFile: root + "/logs/nginx-error.log")) ?? ""
        XCTAssertFalse(errors.contains("pass-word-1"), "nginx's error log holds the password:\n\(errors)")
        XCTAssertEqual(try runProgram([ctl, "stop"]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 5) { processes(mentioning: root).isEmpty }, "\(processes(mentioning: root))")

        // What no syntax here can hold is refused, in one line, before anything is written.
        assertOneLineError(try express(["setup-server", music, "--server-root", dir + "/a$b"]), "has a $, which nginx reads as a variable")
        assertOneLineError(try express(["setup-server", music, "--server-root", dir + "/a\nb"]), "has a control character")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/a$b"))
    }

    /// As root, nginx's workers run as nobody: a server root under a 0700
    /// folder is refused before the scan, in one line naming that folder, and
    /// nothing runs; under a 0755 folder the same command serves.
    func testServerRootTheWorkersCannotReach() throws {
        try XCTSkipUnless(geteuid() == 0, "nginx runs its workers as another user only when root starts it")
        let parent = makeTempDir("avalon-private")
        defer { removeTree(parent) }
        chmod(parent, 0o700)
        let root = parent + "/root"
        let r = try express(["start-server", demoMusic, "--port", "\(freePort())", "--server-root", root])
        assertOneLineError(r, "nginx's workers run as nobody when root starts nginx, and nobody cannot enter \(parent) (mode 0700, owner root): pass --server-root with a folder they can reach")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root), "refused before anything was written or scanned")
        XCTAssertEqual(processes(mentioning: root), [])

        chmod(parent, 0o755)
        let s = try ExpressServer(root: root)
        defer { s.stop() }
        XCTAssertEqual(try s.get("/").status, 200)
        XCTAssertEqual(try s.get("/avalon/songs").status, 200)
        // Started by root, avalon-fcgi runs as root: its socket is nginx's workers' alone, not every user's.
        var st = stat()
        XCTAssertEqual(stat(root + "/avalon.sock", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(st.st_uid, getpwnam("nobody").pointee.pw_uid)
    }

    /// What cannot be known up front (an ACL keeps nobody out while the mode
    /// bits let all in) is found by asking nginx: start-server prints no
    /// address, says what failed, exits 1 and leaves nothing running.
    func testStartServerAsksNginxBeforeSayingItServes() throws {
        try XCTSkipUnless(geteuid() == 0, "nginx runs its workers as another user only when root starts it")
        let parent = makeTempDir("avalon-acl")
        defer { removeTree(parent) }
        try denyByACL(parent, user: 65534)
        let root = parent + "/root"
        let port = freePort()
        let r = try express(["start-server", demoMusic, "--port", "\(port)", "--server-root", root])
        assertOneLineError(r, "nginx's workers (nobody) are refused \(root)/avalon.sock (Permission denied) though the folders' modes let them in (an ACL or a security module?), so the page (/) answered 403 and the API (/avalon/heartbeat) answered 502: pass --server-root with a folder they can reach, or run avalon-express as an ordinary user")
        XCTAssertFalse(r.stdout.contains("Avalon serves"), r.stdout)
        XCTAssertEqual(processes(mentioning: root), [])
        XCTAssertFalse(canConnect(port: port))
    }

    /// avalonctl start asks nginx too: a folder closed after setup-server is
    /// named, exit 1, nothing left running.
    func testAvalonctlStartAsksNginx() throws {
        try XCTSkipUnless(geteuid() == 0, "nginx runs its workers as another user only when root starts it")
        let parent = makeTempDir("avalon-private")
        defer { removeTree(parent) }
        let root = parent + "/root"
        let port = freePort()
        let setup = try express(["setup-server", demoMusic, "--port", "\(port)", "--server-root", root])
        XCTAssertEqual(setup.status, 0, setup.stderr)
        chmod(parent, 0o700)
        let start = try runProgram([root + "/avalonctl", "start"])
        let started = [root + "/avalon.pid", root + "/nginx.pid"].compactMap { StartedProcess(pidFile: $0) }
        defer { for p in started { p.stop() } }
        XCTAssertEqual(start.status, 1, start.stdout + start.stderr)
        XCTAssertTrue(start.stderr.contains("nobody cannot enter \(parent) (mode 0700, owner root)"), start.stderr)
        XCTAssertFalse(start.stdout.contains("Avalon serves"), start.stdout)
        XCTAssertTrue(waitUntil(timeout: 5) { processes(mentioning: root).isEmpty }, "\(processes(mentioning: root))")
        XCTAssertFalse(canConnect(port: port))
    }

    /// Pid files that name something else (another process of the same user,
    /// or -1, which kill reads as every process) are reported and nothing is
    /// signalled, by stop, reload or status.
    func testAvalonctlSignalsOnlyItsOwnProcesses() throws {
        // A kill -TERM -1 that got through would end this test run (as root, every process):
        // -1 is tried only once another pid was left alone.
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let root = dir + "/root"
        let setup = try express(["setup-server", demoMusic, "--port", "\(freePort())", "--server-root", root])
        XCTAssertEqual(setup.status, 0, setup.stderr)
        let sleeper = try Background(["/bin/sleep", "300"], environment: [:], logPath: dir + "/sleep.log")
        defer { sleeper.stop(SIGKILL) }
        let ctl = root + "/avalonctl"
        for (held, said) in [("\(sleeper.pid)", "names pid \(sleeper.pid), which is not"), ("-1", "holds '-1', not a pid: signalling nothing")] {
            for name in ["avalon.pid", "nginx.pid"] { try (held + "\n").write(toFile: root + "/" + name, atomically: true, encoding: .utf8) }
            for verb in ["stop", "reload", "status"] {
                let r = try runProgram([ctl, verb])
                XCTAssertTrue(r.stderr.contains(root + "/avalon.pid " + said) && r.stderr.contains(root + "/nginx.pid " + said),
                              "\(verb) with \(held): \(r.stderr)")
                usleep(200_000)
                guard sleeper.process.isRunning else { return XCTFail("avalonctl \(verb) signalled pid \(held)") }
                if verb == "status" {
                    XCTAssertEqual(r.status, 1)
                    XCTAssertTrue(r.stdout.contains("avalon down") && r.stdout.contains("nginx down"), r.stdout)
                }
            }
        }
    }

    /// A database password given with --database is warned about and hidden
    /// from avalon-express's /proc/PID/cmdline, and no child gets it on its
    /// command line; DATABASE_URL is the quiet way, and stays out of the
    /// children's environment.
    func testDatabasePasswordOffCommandLines() throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        let secret = "NotForPs-7b1e0c"
        let url = "postgresql://postgres:\(secret)@127.0.0.1:\(pg.port)/postgres"

        let s = try ExpressServer(extra: ["--database", url])
        XCTAssertEqual((try s.get("/avalon/songs").json["success"] as? [Any])?.count, 9)
        XCTAssertTrue(s.process.log.contains("avalon-express: warning: --database carries a password"), s.process.log)
        let express = try XCTUnwrap(s.express)
        let cmdline = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: "/proc/\(express.pid)/cmdline")), as: UTF8.self)
        XCTAssertNotNil(cmdline.range(of: "postgresql://postgres:\\*+@127\\.0\\.0\\.1:\(pg.port)/postgres", options: .regularExpression), cmdline)
        XCTAssertEqual(processes(mentioning: secret), [], "command lines holding the password")
        XCTAssertFalse(s.process.log.contains(secret), s.process.log)
        s.stop()

        let e = try ExpressServer(environment: ["DATABASE_URL": url])
        defer { e.stop() }
        XCTAssertEqual((try e.get("/avalon/songs").json["success"] as? [Any])?.count, 9)
        XCTAssertFalse(e.process.log.contains("warning"), e.process.log)
        XCTAssertEqual(processes(mentioning: secret), [])
        let fcgi = try XCTUnwrap(StartedProcess(pidFile: e.root + "/avalon.pid"))
        let environ = try XCTUnwrap(FileManager.default.contents(atPath: "/proc/\(fcgi.pid)/environ"))
        XCTAssertFalse(String(decoding: environ, as: UTF8.self).contains(secret))
    }
}

/// An access ACL on `dir` that shuts out one user while its mode bits
/// (0755) let everyone in: the case a look at the mode cannot foresee.
func denyByACL(_ dir: String, user uid: UInt32) throws {
    // The kernel's POSIX ACL xattr: version 2, then (tag, permissions, id) entries.
    var bytes: [UInt8] = []
    func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    func put16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    put32(2)
    for (tag, perm, id) in [(UInt16(0x01), UInt16(7), UInt32.max), (0x02, 0, uid), (0x04, 5, .max), (0x10, 5, .max), (0x20, 5, .max)] {
        put16(tag); put16(perm); put32(id)
    }
    chmod(dir, 0o755)
    // setxattr(2) is not in Swift's Glibc module: looked up in libc.
    typealias SetXattr = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer, Int, Int32) -> Int32
    guard let symbol = dlsym(nil, "setxattr") else { throw SupportError("no setxattr in libc") }
    let setxattr = unsafeBitCast(symbol, to: SetXattr.self)
    guard setxattr(dir, "system.posix_acl_access", bytes, bytes.count, 0) == 0 else {
        throw SupportError("cannot set an ACL on \(dir): \(String(cString: strerror(errno)))")
    }
}
