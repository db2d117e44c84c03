import AvalonStore
import Foundation
import TestSupport
import XCTest

/// What an operator's machine or a client does wrong, and the pool keeps serving.
final class FaultTests: XCTestCase {
    /// A FastCGI request straight to the server (cgi-fcgi from libfcgi-bin).
    func fcgi(_ address: String, _ path: String) throws -> ProcessResult {
        try runProgram([try which("cgi-fcgi"), "-bind", "-connect", address], environment: [
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
        ])
    }

    /// As many connections as workers, each sending nothing: every worker
    /// holds one, and a real request must still be answered once they are
    /// dropped (3 s idle, then libfcgi's 2 s lingering close), not wait
    /// forever (it did: no answer after 20 s).
    func testIdleConnectionsDoNotFreezeThePool() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        try SQLiteStore(path: dir + "/c.sqlite").replace(with: Stack.rows())
        let port = freePort()
        let server = try Background([product("avalon-fcgi"), "--bind", "127.0.0.1:\(port)", "--workers", "3"],
                                    environment: ["DATABASE_URL": "sqlite:///\(dir)/c.sqlite"], logPath: dir + "/err.log")
        defer { server.stop() }
        XCTAssertTrue(waitUntil(timeout: 20) { (try? self.fcgi("127.0.0.1:\(port)", "/avalon/heartbeat").stdout.contains("Status: 200")) == true }, server.log)
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<3 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: in_port_t(UInt16(port).bigEndian),
                                   sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            XCTAssertEqual(rc, 0)
            idle.append(fd)
        }
        usleep(300_000)  // each worker has accepted one
        let start = Date()
        let r = try fcgi("127.0.0.1:\(port)", "/avalon/heartbeat")
        let took = Date().timeIntervalSince(start)
        print(String(format: "a request behind 3 idle connections on 3 workers answered in %.2f s", took))
        XCTAssertTrue(r.stdout.contains("Status: 200"), r.stdout + r.stderr)
        XCTAssertLessThan(took, 7)
        // The idle connections were closed by the server.
        for fd in idle {
            var byte: UInt8 = 0
            XCTAssertEqual(recv(fd, &byte, 1, Int32(MSG_DONTWAIT)), 0, "connection still open")
        }
    }

    /// After a reboot the pid in a pid file belongs to some other process:
    /// only a live avalon-fcgi of this user blocks start-up.
    func testStalePidFileNamingAnotherUsersProcess() throws {
        let st = try Stack(workers: 1)
        defer { st.stop() }
        let pidFile = st.dir + "/stale.pid"
        // Another user's process when root runs the tests (setpriv execs: same pid).
        let asNobody = geteuid() == 0 ? ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] : []
        let other = try Background(asNobody + ["/bin/sleep", "60"], environment: [:], logPath: st.dir + "/sleep.log")
        defer { other.stop(SIGKILL) }
        XCTAssertTrue(waitUntil(timeout: 5) { (try? String(contentsOfFile: "/proc/\(other.pid)/comm")) == "sleep\n" })
        try "\(other.pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let second = try Background([product("avalon-fcgi"), "--bind", "unix:\(st.dir)/second.sock", "--workers", "1", "--pid-file", pidFile],
                                    environment: ["DATABASE_URL": "sqlite:///\(st.dir)/avalon.sqlite"], logPath: st.dir + "/second.log")
        defer { second.stop() }
        XCTAssertTrue(waitUntil(timeout: 20) { (try? String(contentsOfFile: pidFile)) == "\(second.pid)\n" }, second.log)
        XCTAssertTrue(second.process.isRunning, second.log)
        let files = try FileManager.default.contentsOfDirectory(atPath: st.dir)
        XCTAssertFalse(files.contains { $0.hasSuffix(".tmp") }, "\(files)")
        // A live master of ours still blocks.
        let third = try runProgram([product("avalon-fcgi"), "--bind", "unix:\(st.dir)/third.sock", "--pid-file", pidFile],
                                   environment: ["DATABASE_URL": "sqlite:///\(st.dir)/avalon.sqlite"])
        XCTAssertNotEqual(third.status, 0)
        XCTAssertTrue(third.stderr.contains("names running avalon-fcgi \(second.pid)"), third.stderr)
    }

    /// The master's workers: its children with a second thread (a worker's
    /// signal thread; the master's helper children have one).
    func workers(of master: Int32) -> Set<Int32> {
        let text = (try? String(contentsOfFile: "/proc/\(master)/task/\(master)/children")) ?? ""
        return Set(text.split(separator: " ").compactMap { Int32($0) }.filter {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\($0)/task"))?.count ?? 0) > 1
        })
    }

    /// A worker waiting in its own poll (two descriptors: the socket and its
    /// wake pipe), with no connection in hand: a kill loses no request.
    func isIdle(_ pid: Int32) -> Bool {
        let f = ((try? String(contentsOfFile: "/proc/\(pid)/syscall")) ?? "").split(separator: " ")
        return f.count > 2 && f[0] == "7" && f[2] == "0x2"
    }

    /// PostgreSQL hangs (SIGSTOP) while the master looks at its generation
    /// every 0.3 s with a 5 s timeout: workers killed meanwhile are restarted
    /// at once, not after the look gives up.
    func testHungPostgreSQLDoesNotDelayRestarts() throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        try PostgresStore(uri: pg.url).replace(with: Stack.rows())
        let st = try Stack(extraEnv: ["DATABASE_URL": pg.url, "HEALTH_CHECK_TIMEOUT": "5", "RELOAD_INTERVAL": "0.3"], workers: 3, db: "unused")
        defer { st.stop() }
        // Workers that die within 5 s of their start are restarted after a
        // back-off: the ones killed here are older.
        XCTAssertTrue(waitUntil(timeout: 5) { self.workers(of: st.server.pid).count == 3 }, st.log)
        let originals = workers(of: st.server.pid)
        usleep(4_500_000)
        let postmaster = Int32((try String(contentsOfFile: pg.dir + "/data/postmaster.pid")).split(separator: "\n")[0])!
        kill(postmaster, SIGSTOP)
        defer { kill(postmaster, SIGCONT) }
        usleep(700_000)  // a look is under way and hangs
        var delays: [Double] = []
        for victim in originals {
            kill(victim, SIGKILL)
            let killed = Date()
            let replaced = waitUntil(timeout: 8, interval: 0.01) {
                let now = self.workers(of: st.server.pid)
                return now.count == 3 && !now.contains(victim)
            }
            delays.append(Date().timeIntervalSince(killed))
            XCTAssertTrue(replaced, st.log)
        }
        print("worker restarts while PostgreSQL hangs: \(delays.map { String(format: "%.2f s", $0) })")
        XCTAssertLessThan(delays.max() ?? 99, 0.5, "restarts waited for the database")
        XCTAssertEqual(try st.get("/avalon/songs").status, 200)
        // The look was hung all along: it gives up at its timeout.
        XCTAssertFalse(st.log.contains("cannot look at the collection's generation"), st.log)
        XCTAssertTrue(waitUntil(timeout: 8) { st.log.contains("cannot look at the collection's generation") }, st.log)
    }

    /// A reload whose collection cannot be loaded (here its names pass the
    /// offsets' limit, lowered by a test hook: the same trap as at 4 GiB)
    /// fails cleanly: the old generation keeps answering every request, and
    /// the failure is logged and counted.
    func testReloadThatCannotLoadKeepsThePool() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let db = dir + "/c.sqlite"
        var rows = Stack.rows()
        try SQLiteStore(path: db).replace(with: rows)
        let st = try Stack(extraEnv: ["AVALON_TEST_OFFSET_LIMIT": "2000", "ADMIN_SECRET": Stack.secret], workers: 3, db: db)
        defer { st.stop() }
        let pool = workers(of: st.server.pid)
        for i in 0..<20 {
            rows.tracks.append(.init(id: .song(path: "/music/long\(i).mp3"), name: String(repeating: "Long title \(i) ", count: 10),
                                     length: 1, track: 1, year: 2000, album: rows.albums[0].id, artist: rows.artists[0].id, genre: rows.genres[0].id))
        }
        try SQLiteStore(path: db).replace(with: rows)
        let stream = RequestStream(port: st.port, path: "/avalon/songs")
        usleep(200_000)
        st.server.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 20) { st.log.contains("reload failed, old workers keep serving generation 1") }, st.log)
        usleep(300_000)
        let (requests, failures) = stream.finish()
        print("a reload that cannot load: \(requests) requests, \(failures.count) failed")
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(requests, 10)
        XCTAssertTrue(st.server.process.isRunning)
        XCTAssertEqual(workers(of: st.server.pid), pool, "the old workers serve on")
        XCTAssertEqual((try st.get("/avalon/songs")).json["success"].map { ($0 as? [Any])?.count }, 5)
        XCTAssertEqual(try st.metrics()["avalon_reloads_total{result=\"failure\"}"], 1)
        let stale = try st.get("/avalon/health_check?checks=freshness", headers: ["X-API-Key": Stack.secret])
        XCTAssertEqual(stale.status, 500, stale.text)
        XCTAssertTrue(stale.text.contains("the latest reload failed"), stale.text)
        XCTAssertTrue(st.log.contains("the load failed: it stopped by signal"), st.log)
    }

    /// SIGHUP every 0.3 s under a steady stream of requests, with idle workers
    /// killed alongside: no request fails (bench/reload.sh is the long run).
    func testReloadsAndWorkerDeathsLoseNoRequest() throws {
        let st = try Stack(workers: 3)
        defer { st.stop() }
        var seed = UInt64(Date().timeIntervalSince1970 * 1000)
        print("seed \(seed)")
        let streams = (0..<3).map { _ in RequestStream(port: st.port, path: "/avalon/albums?limit=2") }
        var reloads = 0, kills = 0
        let end = Date().addingTimeInterval(6)
        while Date() < end {
            usleep(300_000)
            st.server.signal(SIGHUP)
            reloads += 1
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            // A random worker, when it waits idle (one in a request would lose it).
            for _ in 0..<50 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                let pool = workers(of: st.server.pid).sorted()
                guard !pool.isEmpty else { break }
                let victim = pool[Int(seed >> 33) % pool.count]
                // Stopped first, so that it cannot take a connection between the look and the kill.
                kill(victim, SIGSTOP)
                usleep(2_000)
                if isIdle(victim) { kill(victim, SIGKILL); kills += 1; break }
                kill(victim, SIGCONT)
            }
        }
        usleep(500_000)
        let results = streams.map { $0.finish() }
        let requests = results.map(\.requests).reduce(0, +), failures = results.flatMap(\.failures)
        print("requests \(requests) failed \(failures.count) reloads \(reloads) kills \(kills)")
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(requests, 100)
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.components(separatedBy: "reloaded generation").count > reloads / 2 }, st.log)
    }

    /// Reloads back to back under a stream of workers health checks (what a
    /// load balancer polls): the check never sees fewer active workers than
    /// configured, so it never fails for a reload.
    func testReloadsKeepTheWorkersCheckPassing() throws {
        let st = try Stack(workers: 3)
        defer { st.stop() }
        let streams = (0..<2).map { _ in RequestStream(port: st.port, path: "/avalon/health_check?checks=workers") }
        var reloads = 0
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            usleep(100_000)
            st.server.signal(SIGHUP)
            reloads += 1
        }
        usleep(300_000)
        let results = streams.map { $0.finish() }
        let requests = results.map(\.requests).reduce(0, +), failures = results.flatMap(\.failures)
        print("workers checks during \(reloads) reloads: \(requests) requests, \(failures.count) failed")
        XCTAssertEqual(failures, [], st.log.split(separator: "\n").filter { !$0.contains("[INFO]") }.joined(separator: "\n"))
        XCTAssertGreaterThan(requests, 50)
    }
}
