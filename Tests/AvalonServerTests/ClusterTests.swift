import AvalonCore
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// deploy/cluster.sh's test bed, started once for the class: a PostgreSQL
/// primary and a streaming replica, three Avalon hosts on 127.0.0.2-4, and
/// the front nginx on 127.0.0.1, on ports free when the class starts.
final class ClusterTests: XCTestCase {
    static let dir = makeTempDir("avalon-cluster") + "/bed"
    /// Primary, replica, the hosts' port (on each host's address), the front.
    static let ports: [Int] = {
        var p: [Int] = []
        while p.count < 4 { let n = freePort(); if !p.contains(n) { p.append(n) } }
        return p
    }()
    static var pgPort: Int { ports[0] }
    static var frontPort: Int { ports[3] }
    static var started: Error?
    static var primaryURL: String { "postgresql://postgres@127.0.0.1:\(pgPort)/avalon" }
    static var replicaURL: String { "postgresql://postgres@127.0.0.1:\(ports[1])/avalon" }
    static var hosts: [String: String] { ["h1": "127.0.0.2:\(ports[2])", "h2": "127.0.0.3:\(ports[2])", "h3": "127.0.0.4:\(ports[2])"] }
    var frontPort: Int { Self.frontPort }

    @discardableResult
    static func cluster(_ args: String...) throws -> String {
        let r = try runProgram(["/bin/bash", packageRoot + "/deploy/cluster.sh"] + args, environment: [
            "AVALON_CLUSTER_DIR": dir, "AVALON_CLUSTER_PG_PORT": "\(pgPort)", "AVALON_CLUSTER_REPLICA_PORT": "\(ports[1])",
            "AVALON_CLUSTER_HOST_PORT": "\(ports[2])", "AVALON_CLUSTER_FRONT_PORT": "\(frontPort)", "AVALON_BIN": productsDirectory,
            "AVALON_CLUSTER_MUSIC": music,
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ])
        guard r.status == 0 else { throw SupportError("cluster.sh \(args.joined(separator: " ")): \(r.stderr)") }
        return r.stdout
    }

    /// A copy of the demo music the front's nginx workers can reach (the
    /// checkout may sit in a folder only its owner can enter).
    static let music = (dir as NSString).deletingLastPathComponent + "/music"

    override class func setUp() {
        // The test bed's PostgreSQL asks for the password cluster.sh made; libpq reads it here.
        setenv("PGPASSFILE", dir + "/pgpass", 1)
        do {
            try FileManager.default.copyItem(atPath: packageRoot + "/deploy/demo-music", toPath: music)
        } catch {
            started = error
            return
        }
        do { try cluster("up") } catch { started = error }
    }

    override class func tearDown() {
        _ = try? cluster("down")
        unsetenv("PGPASSFILE")
        removeTree((dir as NSString).deletingLastPathComponent)
    }

    override func setUpWithError() throws {
        if let e = Self.started { throw e }
    }

    /// `status` lines: name → (address, pid, up).
    func status() throws -> [String: (address: String, pid: Int32?, up: Bool)] {
        var out: [String: (String, Int32?, Bool)] = [:]
        for line in try Self.cluster("status").split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 4 else { continue }
            out[f[0]] = (f[1], Int32(f[2]), f[3] == "up")
        }
        return out
    }

    /// A FastCGI request straight to one host (cgi-fcgi from libfcgi-bin): status and body.
    func fcgi(_ address: String, _ path: String, _ query: String = "") throws -> (status: Int, body: String) {
        // The admin secret the test bed made: level-2 health checks need it.
        let secret = (try? String(contentsOfFile: Self.dir + "/admin-secret"))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let r = try runProgram([try which("cgi-fcgi"), "-bind", "-connect", address], environment: [
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_X_API_KEY": secret,
        ])
        guard let sep = r.stdout.range(of: "\r\n\r\n") else { throw SupportError("no answer from \(address): \(r.stderr)") }
        let head = r.stdout[..<sep.lowerBound]
        let status = head.split(separator: "\r\n").first { $0.hasPrefix("Status:") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 200
        return (status, String(r.stdout[sep.upperBound...]))
    }

    func generation(of host: String) -> Int64? {
        guard let r = try? fcgi(Self.hosts[host]!, "/avalon/health_check", "checks=collection"),
              let json = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
              let result = ((json["successes"] as? [String: Any])?["collection"] as? [String: Any])?["result"] as? [String: Any] else { return nil }
        return (result["generation"] as? NSNumber)?.int64Value
    }

    /// Requests for /albums a host has answered (the test's own looks are other endpoints).
    /// The front answers a repeated list from its cache: a request with a
    /// credential (any) always goes to a host, as these tests need.
    static let pastCache = ["Authorization": "Bearer cluster-test"]

    func albumRequests(of host: String) -> Double? {
        guard let r = try? fcgi(Self.hosts[host]!, "/avalon/metrics"), r.status == 200 else { return nil }
        return r.body.split(separator: "\n").filter { $0.hasPrefix("avalon_requests_total{endpoint=\"albums\"") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }

    /// A new generation on the primary: one song more or less than now.
    func writeGeneration() throws -> Int64 {
        let store = try PostgresStore(uri: Self.primaryURL)
        var rows = try store.rows()
        if rows.tracks.count > 9 {
            rows.tracks.removeLast()
        } else {
            let t = rows.tracks[0]
            rows.tracks.append(.init(id: .song(path: "/cluster/\(rows.tracks.count).mp3"), name: "Cluster Song", length: 1, track: 1,
                                     year: 2026, album: t.album, artist: t.artist, genre: t.genre))
        }
        return try store.write(ScanWrite(rows: rows, files: nil, scanner: "cluster test"), check: { _ in }).generation
    }

    /// kill -9 of one host, master and workers, under a steady stream through
    /// the front: at most the requests it had in flight fail; started again,
    /// it is back in rotation.
    func testKilledHostCostsAtMostItsRequestsInFlight() throws {
        let stream = RequestStream(port: frontPort, path: "/avalon/songs", headers: Self.pastCache, limit: 30)
        usleep(500_000)
        let h1 = try XCTUnwrap(try status()["h1"]?.pid)
        let workers = ((try? String(contentsOfFile: "/proc/\(h1)/task/\(h1)/children")) ?? "").split(separator: " ").compactMap { Int32($0) }
        XCTAssertEqual(workers.count, 2)
        kill(h1, SIGKILL)
        for w in workers { kill(w, SIGKILL) }
        usleep(1_500_000)
        let (sent, failures) = stream.finish()
        print("killed h1 under \(sent) requests through the front: \(failures.count) failed")
        XCTAssertLessThanOrEqual(failures.count, 1, "\(failures)")
        XCTAssertGreaterThan(sent, 50)
        XCTAssertEqual(try status()["h1"]?.up, false)

        try Self.cluster("start", "h1")
        XCTAssertEqual(try status()["h1"]?.up, true)
        let before = try XCTUnwrap(albumRequests(of: "h1"))
        let back = Date()
        // nginx tries it again after fail_timeout (5 s).
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.05) {
            _ = try? httpRequest(port: self.frontPort, path: "/avalon/albums", headers: Self.pastCache)
            return (self.albumRequests(of: "h1") ?? 0) >= before + 3
        }, "h1 is not back in rotation")
        print("h1 back in rotation \(String(format: "%.1f", Date().timeIntervalSince(back))) s after it started")
    }

    /// A scan written to the primary reaches all three hosts (automatic
    /// reload; two of them through the replica) with no failed request.
    func testScanReachesEveryHost() throws {
        let stream = RequestStream(port: frontPort, path: "/avalon/songs", headers: Self.pastCache, limit: 30)
        usleep(300_000)
        let written = Date()
        let g = try writeGeneration()
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { ["h1", "h2", "h3"].allSatisfy { self.generation(of: $0) == g } },
                      "\(["h1", "h2", "h3"].map { self.generation(of: $0) }) want \(g)")
        let took = Date().timeIntervalSince(written)
        usleep(300_000)
        let (requests, failures) = stream.finish()
        print("generation \(g) on all three hosts after \(String(format: "%.2f", took)) s; \(requests) requests, \(failures.count) failed")
        XCTAssertEqual(failures, [])
        XCTAssertLessThan(took, 1.25 * 1 + 2, "RELOAD_INTERVAL 1 (spread ±25%) plus the replica's lag")
        let replica = try fcgi(Self.hosts["h1"]!, "/avalon/health_check", "checks=replica")
        XCTAssertEqual(replica.status, 200, replica.body)
        XCTAssertTrue(replica.body.contains("\"standby\": true") && replica.body.contains("\"lag_seconds\""), replica.body)
    }

    /// The replica stops: its hosts load from the primary at their next
    /// reload, their `replica` check fails, no request fails; back again, it passes.
    func testReplicaDownHostsFallBackToThePrimary() throws {
        let stream = RequestStream(port: frontPort, path: "/avalon/songs", headers: Self.pastCache, limit: 40)
        try Self.cluster("stop", "replica")
        XCTAssertEqual(try status()["replica"]?.up, false)
        let g = try writeGeneration()
        XCTAssertTrue(waitUntil(timeout: 15, interval: 0.05) { ["h1", "h2", "h3"].allSatisfy { self.generation(of: $0) == g } },
                      "\(["h1", "h2", "h3"].map { self.generation(of: $0) }) want \(g)")
        let check = try fcgi(Self.hosts["h2"]!, "/avalon/health_check", "checks=replica")
        XCTAssertEqual(check.status, 500, check.body)
        XCTAssertTrue(check.body.contains("no standby answers"), check.body)
        XCTAssertEqual(try fcgi(Self.hosts["h3"]!, "/avalon/health_check", "checks=replica").status, 200, "h3 asks for no standby")
        try Self.cluster("start", "replica")
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.2) { (try? self.fcgi(Self.hosts["h2"]!, "/avalon/health_check", "checks=replica"))?.status == 200 })
        let (requests, failures) = stream.finish()
        print("replica stopped and started under \(requests) requests: \(failures.count) failed")
        XCTAssertEqual(failures, [])
    }

    /// Loads from the replica and the primary racing scans on the primary:
    /// every load is one whole collection, the old or the new, never a mix.
    func testLoadRacingScansSeesWholeCollections() throws {
        let store = try PostgresStore(uri: Self.primaryURL)
        let base = try store.rows()
        var other = base
        for i in 0..<500 {
            let t = base.tracks[i % base.tracks.count]
            other.tracks.append(.init(id: .song(path: "/race/\(i).mp3"), name: "Race \(i)", length: 1, track: 1, year: 2000,
                                      album: t.album, artist: t.artist, genre: t.genre))
        }
        func fingerprint(_ ids: [ItemID]) -> String { "\(ids.count):\(ids.map(\.uuidString).sorted().joined().hashValue)" }
        let known = [fingerprint(base.tracks.map(\.id)), fingerprint(other.tracks.map(\.id))]
        let done = DispatchSemaphore(value: 0)
        let variants = [other, base]
        Thread.detachNewThread {
            let writer = try! PostgresStore(uri: Self.primaryURL)
            for i in 0..<40 { try! writer.replace(with: variants[i % 2]) }
            done.signal()
        }
        var loads = 0, seen = Set<String>()
        let readers = try [PostgresStore(uri: Self.replicaURL), PostgresStore(uri: Self.primaryURL)]
        while done.wait(timeout: .now()) == .timedOut {
            for r in readers {
                let c = try r.load()
                let f = fingerprint(c.songs.map(\.id))
                XCTAssertTrue(known.contains(f), "load \(loads) saw a mixed collection: \(c.songs.count) songs")
                seen.insert(f)
                loads += 1
            }
        }
        print("\(loads) loads raced 40 scans; saw \(seen.count) distinct collections")
        XCTAssertGreaterThan(loads, 10)
        try store.replace(with: base)
    }

    /// No trust on loopback: without the password cluster.sh made (0600, in
    /// the test bed's folder), PostgreSQL refuses, over TCP and the unix socket.
    func testDatabaseRefusesAConnectionWithoutThePassword() throws {
        let mode = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: Self.dir + "/pgpass")[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o600)
        let psql = "/usr/lib/postgresql/" + (try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql").sorted().last!) + "/bin/psql"
        let env = ["PATH": "/usr/bin:/bin", "PGPASSFILE": "/dev/null", "PGCONNECT_TIMEOUT": "5"]
        for host in ["127.0.0.1", Self.dir + "/pg"] {
            for port in [Self.pgPort, Self.ports[1]] {
                let r = try runProgram([psql, "-X", "-w", "-h", host, "-p", "\(port)", "-U", "postgres", "-d", "avalon", "-c", "SELECT 1"], environment: env)
                XCTAssertNotEqual(r.status, 0, "\(host):\(port) let a client in without the password")
                XCTAssertTrue(r.stderr.contains("password"), r.stderr)
            }
        }
        var withPassword = env
        withPassword["PGPASSFILE"] = Self.dir + "/pgpass"
        let ok = try runProgram([psql, "-X", "-w", "-h", "127.0.0.1", "-p", "\(Self.pgPort)", "-U", "postgres", "-d", "avalon", "-tAc", "SELECT 1"],
                                environment: withPassword)
        XCTAssertEqual(ok.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1", ok.stderr)
    }

    /// A host stopped dead (SIGSTOP: its backlog still accepts) under steady
    /// requests through the front: no request waits more than 5 s, none fails.
    func testHungHostCostsAClientAtMostAFewSeconds() throws {
        let h2 = try XCTUnwrap(try status()["h2"]?.pid)
        let workers = ((try? String(contentsOfFile: "/proc/\(h2)/task/\(h2)/children")) ?? "").split(separator: " ").compactMap { Int32($0) }
        XCTAssertEqual(workers.count, 2)
        final class Tally { var slowest = 0.0, sent = 0, failed: [String] = [] }
        let lock = NSLock(), tally = Tally()
        let until = Date().addingTimeInterval(9)
        let group = DispatchGroup()
        for _ in 0..<3 {
            group.enter()
            Thread.detachNewThread {
                while Date() < until {
                    let start = Date()
                    let r = try? httpRequest(port: self.frontPort, path: "/avalon/songs", headers: Self.pastCache, timeout: 15)
                    let took = Date().timeIntervalSince(start)
                    lock.lock()
                    tally.sent += 1
                    tally.slowest = max(tally.slowest, took)
                    if r?.status != 200 { tally.failed.append("\(r?.status ?? 0) after \(String(format: "%.1f", took)) s") }
                    lock.unlock()
                }
                group.leave()
            }
        }
        usleep(500_000)
        for p in [h2] + workers { kill(p, SIGSTOP) }
        defer { for p in [h2] + workers { kill(p, SIGCONT) } }
        group.wait()
        let (slowest, sent, failed) = (tally.slowest, tally.sent, tally.failed)
        print("h2 stopped under \(sent) requests through the front: slowest \(String(format: "%.2f", slowest)) s, \(failed.count) failed")
        XCTAssertLessThanOrEqual(slowest, 5)
        XCTAssertEqual(failed, [])
        XCTAssertGreaterThan(sent, 30)
    }

    /// `stop` signals only the avalon-fcgi its pid file names: a file that
    /// names another process gets nothing signalled. (-1 and 0 are tested on
    /// the check itself, in ReleaseTests: through a script that regressed,
    /// root would signal every process on the machine.)
    func testStopSignalsOnlyAnAvalonMaster() throws {
        let pidFile = Self.dir + "/h3/avalon.pid"
        let real = try String(contentsOfFile: pidFile)
        defer { try? real.write(toFile: pidFile, atomically: true, encoding: .utf8) }
        let victim = try Background(["/bin/sleep", "600"], environment: [:], logPath: Self.dir + "/victim.log")
        defer { _ = victim.stop(SIGKILL) }
        for content in ["\(victim.pid)\n"] {
            try content.write(toFile: pidFile, atomically: true, encoding: .utf8)
            let r = try runProgram(["/bin/bash", packageRoot + "/deploy/cluster.sh", "stop", "h3"], environment: [
                "AVALON_CLUSTER_DIR": Self.dir, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
            XCTAssertTrue(r.stderr.contains("signalling nothing"), r.stderr)
            XCTAssertTrue(victim.process.isRunning, "cluster.sh stop signalled what \(content) names")
        }
        XCTAssertEqual(try fcgi(Self.hosts["h3"]!, "/avalon/heartbeat").status, 200, "h3 serves on")
        // The front's pid file naming another process: `stop front` signals nothing either.
        let frontPid = Self.dir + "/front/nginx.pid"
        let frontReal = try String(contentsOfFile: frontPid)
        defer { try? frontReal.write(toFile: frontPid, atomically: true, encoding: .utf8) }
        try "\(victim.pid)\n".write(toFile: frontPid, atomically: true, encoding: .utf8)
        let r = try runProgram(["/bin/bash", packageRoot + "/deploy/cluster.sh", "stop", "front"], environment: [
            "AVALON_CLUSTER_DIR": Self.dir, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        XCTAssertTrue(r.stderr.contains("not nginx: signalling nothing"), r.stderr)
        XCTAssertTrue(victim.process.isRunning, "cluster.sh stop front signalled another process")
    }

    /// A folder another user made where the test bed goes is not used: `up`
    /// refuses it, and `down` acts on nothing it holds.
    func testRefusesAFolderItDidNotMake() throws {
        let other = makeTempDir("avalon-cluster-other") + "/bed"
        defer { removeTree((other as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(atPath: other + "/front", withIntermediateDirectories: true)
        try "1\n".write(toFile: other + "/front/nginx.pid", atomically: true, encoding: .utf8)
        chmod(other, 0o777)
        let env = ["AVALON_CLUSTER_DIR": other, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        let up = try runProgram(["/bin/bash", packageRoot + "/deploy/cluster.sh", "up"], environment: env)
        XCTAssertNotEqual(up.status, 0)
        XCTAssertTrue(up.stderr.contains("exists"), up.stderr)
        let down = try runProgram(["/bin/bash", packageRoot + "/deploy/cluster.sh", "down"], environment: env)
        XCTAssertNotEqual(down.status, 0)
        XCTAssertTrue(down.stderr.contains("not a folder of yours that only you can write"), down.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: other + "/front/nginx.pid"), "down removed nothing")
    }

    /// Subsonic streams through the front from every host: a host answers
    /// X-Accel-Redirect, the front sends the file from the music folder; the
    /// bytes are the file's, whichever host answered.
    func testStreamsThroughTheFrontFromEachHost() throws {
        let line = try String(contentsOfFile: Self.dir + "/subsonic-users").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(line.hasPrefix("cluster:"))
        let mode = try FileManager.default.attributesOfItem(atPath: Self.dir + "/subsonic-users")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600, "the users file is its owner's only")
        let auth = "u=cluster&p=\(line.dropFirst("cluster:".count))&v=1.16.1&c=cluster-test"
        let found = try httpRequest(port: frontPort, path: "/rest/search3?query=&songCount=3&f=json&" + auth).json
        let songs = try XCTUnwrap((((found["subsonic-response"] as? [String: Any])?["searchResult3"] as? [String: Any])?["song"] as? [[String: Any]]),
                                  "\(found)")
        XCTAssertEqual(songs.count, 3)
        func streams(_ host: String) -> Double {
            guard let r = try? fcgi(Self.hosts[host]!, "/avalon/metrics"), r.status == 200 else { return 0 }
            return r.body.split(separator: "\n").filter { $0.hasPrefix("avalon_requests_total{endpoint=\"subsonic_stream\"") }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        let before = Dictionary(uniqueKeysWithValues: Self.hosts.keys.map { ($0, streams($0)) })
        var served: Set<String> = []
        var n = 0
        // Round robin per front worker: a few rounds reach every host.
        while served.count < 3 && n < 60 {
            let song = songs[n % songs.count]
            let file = try Data(contentsOf: URL(fileURLWithPath: Self.music + "/" + (song["path"] as! String)))
            let r = try httpRequest(port: frontPort, path: "/rest/stream?id=\(song["id"] as! String)&" + auth)
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(r.body, file, "stream \(n) of \(song["path"] as! String)")
            n += 1
            if n % 3 == 0 { served = Set(Self.hosts.keys.filter { streams($0) > before[$0]! }) }
        }
        XCTAssertEqual(served, Set(Self.hosts.keys), "hosts that answered a stream after \(n) requests")
        // The internal location is not the front's to give out directly.
        let path = (songs[0]["path"] as! String).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!
        XCTAssertEqual(try httpRequest(port: frontPort, path: "/avalon-internal-music/" + path).status, 404)
    }

    /// FastCGI over TCP answers only the front's address: a peer that reaches
    /// a host's port directly (past nginx's allow/deny) is hung up on before
    /// it can ask for anything.
    func testHostsAnswerOnlyTheFront() throws {
        func connect(from source: String) throws -> Int {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var local = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr(source)), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
            XCTAssertEqual(withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }, 0)
            let parts = Self.hosts["h1"]!.split(separator: ":")
            var remote = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: in_port_t(UInt16(parts[1])!).bigEndian,
                                     sin_addr: in_addr(s_addr: inet_addr(String(parts[0]))), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
            guard withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
                throw SupportError("connect: \(String(cString: strerror(errno)))")
            }
            var tv = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var byte: UInt8 = 0
            // 0: hung up on; -1 (EAGAIN): still open, waiting for a request.
            return recv(fd, &byte, 1, 0)
        }
        XCTAssertEqual(try connect(from: "127.0.0.9"), 0, "a peer other than the front is hung up on")
        XCTAssertEqual(try connect(from: "127.0.0.1"), -1, "the front's address is served")
        XCTAssertEqual(try fcgi(Self.hosts["h1"]!, "/avalon/heartbeat").status, 200)
    }
}
