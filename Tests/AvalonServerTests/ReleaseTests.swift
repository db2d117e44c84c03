import AvalonStore
import Foundation
import TestSupport
import XCTest

/// A "host" for deploy scripts: a deploy root (releases/, current, shared/),
/// avalon-fcgi started from ROOT/current, nginx in front, and a `remote`
/// wrapper that runs a command "on" it (what ssh does for a real host).
final class DeployHost {
    let root: String
    var nginx: Nginx?
    var server: Background?

    init(_ root: String, db: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root + "/shared", withIntermediateDirectories: true)
        self.db = db
    }
    let db: String

    var url: String { "http://127.0.0.1:\(nginx!.port)/avalon" }
    var pidFile: String { root + "/shared/avalon.pid" }
    var master: Int32? { (try? String(contentsOfFile: pidFile)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
    var current: String { (try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/current")) ?? "" }

    func start() throws {
        let sock = root + "/shared/avalon.sock"
        server = try Background([root + "/current/avalon-fcgi", "--bind", "unix:" + sock, "--workers", "2", "--socket-mode", "0666",
                                 "--pid-file", pidFile],
                                environment: ["DATABASE_URL": "sqlite:///" + db, "LOG_PATH": root + "/shared/avalon.log", "RELOAD_INTERVAL": "0"],
                                logPath: root + "/shared/stderr.log")
        guard waitUntil(timeout: 20, { FileManager.default.fileExists(atPath: sock) }) else { throw SupportError("no socket: \(server!.log)") }
        nginx = try Nginx(socket: sock)
        try """
            #!/bin/sh
            # What ssh does: the words joined by spaces, run by a shell, in the home directory.
            export AVALON_DEPLOY_ROOT='\(root)' AVALON_HEALTH_URL='\(url)' AVALON_DEPLOY_TIMEOUT=8
            cd '\(root)' || exit 1
            exec sh -c "$*"
            """.write(toFile: root + "/remote", atomically: true, encoding: .utf8)
        chmod(root + "/remote", 0o755)
    }

    func version() -> String? { try? httpRequest(port: nginx!.port, path: "/avalon/version").text }

    func stop() {
        nginx?.stop()
        if let pid = master { kill(pid, SIGTERM) }
        _ = server?.stop()
    }
}

final class ReleaseTests: XCTestCase {
    var dir = ""
    var builds: [String: String] = [:]

    override func setUpWithError() throws {
        dir = makeTempDir("avalon-release")
        try SQLiteStore(path: dir + "/avalon.sqlite").replace(with: Stack.rows())
        // Builds: this one (1.0.0), one that differs in its version (1.0.1, the
        // version string of a copy patched), one that exits at start and one
        // whose load fails (both answer -V, as a real broken build would).
        func build(_ name: String) throws -> String {
            let d = dir + "/builds/" + name
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            builds[name] = d
            return d
        }
        try FileManager.default.copyItem(atPath: product("avalon-fcgi"), toPath: try build("a") + "/avalon-fcgi")
        let binary = try Data(contentsOf: URL(fileURLWithPath: product("avalon-fcgi")))
        try binary.replacing(Data("1.0.0".utf8), with: Data("1.0.1".utf8)).write(to: URL(fileURLWithPath: try build("b") + "/avalon-fcgi"))
        chmod(builds["b"]! + "/avalon-fcgi", 0o755)
        try "#!/bin/sh\n[ \"$1\" = -V ] && { echo 1.0.2; exit 0; }\nexit 3\n".write(toFile: try build("exits") + "/avalon-fcgi", atomically: true, encoding: .utf8)
        try "#!/bin/sh\n[ \"$1\" = -V ] && { echo 1.0.3; exit 0; }\nDATABASE_URL=sqlite:////nonexistent/x.sqlite exec \(product("avalon-fcgi")) \"$@\"\n"
            .write(toFile: try build("noload") + "/avalon-fcgi", atomically: true, encoding: .utf8)
        for b in ["exits", "noload"] { chmod(builds[b]! + "/avalon-fcgi", 0o755) }
    }

    override func tearDown() { removeTree(dir) }

    /// A script run "on" the host: one command line for its shell, as ssh passes it.
    func deploy(_ script: String, _ args: [String], host: DeployHost) throws -> ProcessResult {
        let words = ["/bin/bash", packageRoot + "/deploy/" + script] + args
        return try runProgram([host.root + "/remote", words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")])
    }

    /// A host on build a, deployed with release.sh before its master starts.
    func host(_ name: String) throws -> DeployHost {
        let h = try DeployHost(dir + "/" + name, db: dir + "/avalon.sqlite")
        let r = try runProgram(["/bin/bash", packageRoot + "/deploy/release.sh", "--root", h.root, "--name", "1.0.0-a", builds["a"]!])
        XCTAssertEqual(r.status, 0, r.stderr)
        try h.start()
        XCTAssertEqual(h.version(), "1.0.0")
        return h
    }

    /// release.sh switches, upgrades in place and gates; rollback.sh goes
    /// back; no request fails; old releases are pruned, never the running one.
    func testReleaseRollbackAndPrune() throws {
        let h = try host("h1")
        defer { h.stop() }
        let stream = RequestStream(port: h.nginx!.port, path: "/avalon/songs", limit: 60)
        let up = try deploy("release.sh", ["--name", "1.0.1-b", builds["b"]!], host: h)
        XCTAssertEqual(up.status, 0, up.stdout + up.stderr)
        XCTAssertEqual(h.version(), "1.0.1")
        XCTAssertEqual(h.current, "releases/1.0.1-b")
        let back = try deploy("rollback.sh", [], host: h)
        XCTAssertEqual(back.status, 0, back.stdout + back.stderr)
        XCTAssertEqual(h.version(), "1.0.0")
        XCTAssertEqual(h.current, "releases/1.0.0-a")
        let (sent, failures) = stream.finish()
        XCTAssertEqual(failures, [], "after \(sent) requests")
        let log = try String(contentsOfFile: h.root + "/revisions.log")
        XCTAssertTrue(log.contains("1.0.1-b deploy (master") && log.contains("1.0.0-a rollback (from 1.0.1-b)"), log)
        // Pruned to one, but never the release the running master came from.
        for n in ["x1", "x2"] {
            let r = try deploy("release.sh", ["--keep", "1", "--name", "1.0.1-\(n)", builds["b"]!], host: h)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: h.root + "/releases").sorted()
        XCTAssertEqual(left, ["1.0.1-x2"], "kept only current, which the master runs")
        XCTAssertEqual(h.version(), "1.0.1")
    }

    /// A rollout meets a broken build at its first host: that host is rolled
    /// back and serves on, the others are not touched; a good build then
    /// reaches all three.
    func testRolloutStopsAtTheFirstBrokenHost() throws {
        let hosts = try ["h1", "h2", "h3"].map { try host($0) }
        defer { for h in hosts { h.stop() } }
        let stream = RequestStream(port: hosts[0].nginx!.port, path: "/avalon/songs", limit: 120)
        for broken in ["exits", "noload"] {
            let r = try runProgram(["/bin/bash", packageRoot + "/deploy/rollout.sh", "--hosts", "h1,h2,h3", "--via", dir + "/{host}/remote",
                                    builds[broken]!])
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            XCTAssertTrue(r.stderr.contains("rollout: h1 failed its health gate"), r.stderr)
            XCTAssertFalse(r.stdout.contains("rollout: h2"), r.stdout)
            XCTAssertEqual(hosts.map { $0.version() }, ["1.0.0", "1.0.0", "1.0.0"])
            XCTAssertEqual(hosts.map(\.current), ["releases/1.0.0-a", "releases/1.0.0-a", "releases/1.0.0-a"])
        }
        let good = try runProgram(["/bin/bash", packageRoot + "/deploy/rollout.sh", "--hosts", "h1,h2,h3", "--via", dir + "/{host}/remote",
                                   builds["b"]!, "--name", "1.0.1-b"])
        XCTAssertEqual(good.status, 0, good.stdout + good.stderr)
        XCTAssertEqual(hosts.map { $0.version() }, ["1.0.1", "1.0.1", "1.0.1"])
        let (sent, failures) = stream.finish()
        XCTAssertEqual(failures, [], "after \(sent) requests to h1")
    }

    /// ssh hands the remote shell one command line: an option holding shell
    /// syntax reaches release.sh as given (which refuses it as a name) and runs nothing.
    func testRolloutOptionsAreNotRunByTheRemoteShell() throws {
        let h = try host("h1")
        defer { h.stop() }
        for name in ["1.0.1;touch pwned", "1.0.1$(touch pwned)", "it's `touch pwned`"] {
            let r = try runProgram(["/bin/bash", packageRoot + "/deploy/rollout.sh", "--hosts", "h1", "--via", dir + "/{host}/remote",
                                    builds["b"]!, "--name", name])
            XCTAssertFalse(FileManager.default.fileExists(atPath: h.root + "/pwned"), "the remote shell ran part of --name \(name)")
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            XCTAssertTrue(r.stderr.contains("--name '\(name)': use letters"), r.stderr)
        }
        XCTAssertEqual(h.version(), "1.0.0")
    }

    /// The pid file sits where the service writes: a deploy signals only a
    /// live avalon-fcgi of the service's user, never -1, 0 or another process.
    func testDeploySignalsOnlyAnAvalonMaster() throws {
        let h = try host("h1")
        defer { h.stop() }
        let master = try XCTUnwrap(h.master)
        func check(_ content: String, user: String = "root") throws -> ProcessResult {
            try content.write(toFile: h.pidFile, atomically: true, encoding: .utf8)
            return try runProgram(["/bin/sh", "-c", ". \"$0\"; avalon_master_pid \"$1\" \"$2\"",
                                   packageRoot + "/deploy/avalon-pid.sh", h.pidFile, user])
        }
        let me = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        for bad in ["-1", "0", "", "12abc", " -9", "99999999999", "4194304"] {
            let r = try check(bad + "\n", user: me)
            XCTAssertEqual(r.status, 1, "'\(bad)': \(r.stdout)")
            XCTAssertEqual(r.stdout, "")
            XCTAssertTrue(r.stderr.contains("signalling nothing"), r.stderr)
        }
        let other = try check("\(master)\n", user: me == "nobody" ? "root" : "nobody")
        XCTAssertEqual(other.stdout, "", "a master of another user")
        XCTAssertTrue(other.stderr.contains("not of "), other.stderr)
        XCTAssertEqual(try check("\(master)\n", user: me).stdout, "\(master)\n")

        // Through release.sh: the file names a process of ours that is no avalon-fcgi.
        let victim = try Background(["/bin/sleep", "600"], environment: [:], logPath: dir + "/victim.log")
        defer { _ = victim.stop(SIGKILL) }
        try "\(victim.pid)\n".write(toFile: h.pidFile, atomically: true, encoding: .utf8)
        let r = try deploy("release.sh", ["--name", "1.0.1-b", builds["b"]!], host: h)
        usleep(200_000)
        XCTAssertTrue(victim.process.isRunning, "release.sh signalled the sleep the pid file named")
        XCTAssertTrue(r.stderr.contains("not avalon-fcgi: signalling nothing"), r.stderr)
        XCTAssertEqual(h.version(), "1.0.0", "the master was not upgraded either")
        try "\(master)\n".write(toFile: h.pidFile, atomically: true, encoding: .utf8)
    }
}
