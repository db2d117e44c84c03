import AvalonCore
import AvalonScan
import AvalonStore
import AvalonTagWriter
import Foundation
import TestSupport
import XCTest

/// A music folder, tagged copies of the scanner tests' fixtures.
final class MusicFolder {
    let root: String
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("AvalonScanTests/Fixtures").path

    init(_ root: String) { self.root = root }

    @discardableResult
    func add(_ rel: String, title: String, album: String = "Album", artist: String = "Artist") -> String {
        let path = root + "/" + rel
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! FileManager.default.copyItem(atPath: Self.fixtures + "/silence." + (rel as NSString).pathExtension, toPath: path)
        precondition(writeTags(path, title: title, album: album, artist: artist, genre: "Genre", track: "1", date: "2001"))
        return path
    }

    func scan(_ db: String) throws -> String {
        let r = try runProgram([product("avalon-scan"), "-d", "sqlite:///" + db, root])
        guard r.status == 0 else { throw SupportError("avalon-scan: \(r.stderr)") }
        return r.stderr
    }
}

/// Requests from a thread of their own until stopped (or `limit` seconds):
/// every answer that is not a 200 is a failure.
final class RequestStream {
    private let lock = NSLock()
    private var failures: [String] = []
    private var count = 0
    private var stop = false
    private let done = DispatchSemaphore(value: 0)

    init(port: Int, path: String, headers: [String: String] = [:], limit: Double = 60) {
        Thread.detachNewThread { [self] in
            let end = Date().addingTimeInterval(limit)
            while Date() < end && !lock.withLock({ stop }) {
                let outcome: String?
                do {
                    let r = try httpRequest(port: port, path: path, headers: headers)
                    outcome = r.status == 200 ? nil : "status \(r.status): \(r.text.prefix(300))"
                } catch { outcome = "\(error)" }
                lock.withLock {
                    count += 1
                    if let outcome { failures.append(outcome) }
                }
            }
            done.signal()
        }
    }

    func finish() -> (requests: Int, failures: [String]) {
        lock.withLock { stop = true }
        done.wait()
        return lock.withLock { (count, failures) }
    }
}

final class RefreshTests: XCTestCase {
    /// The generation a server answers with, from a collection answer's ETag.
    func servedGeneration(_ port: Int) -> Int? {
        guard let r = try? httpRequest(port: port, path: "/avalon/albums?limit=1"), r.status == 200,
              let tag = r.headers["etag"] else { return nil }
        return Int(tag.drop { $0 == "W" || $0 == "/" || $0 == "\"" }.prefix { $0 != "-" })
    }

    /// A rescan reaches a server with RELOAD_INTERVAL=1 within a couple of
    /// seconds, under a steady stream of requests none of which fails; ETags
    /// revalidate to 304 through nginx, and to 200 with the new body after.
    func testRescanReachesTheServerUnderLoad() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let music = MusicFolder(dir + "/music")
        for i in 0..<5 { music.add("a/s\(i).ogg", title: "Song \(i)") }
        let db = dir + "/c.sqlite"
        _ = try music.scan(db)
        let st = try Stack(extraEnv: ["RELOAD_INTERVAL": "1", "ADMIN_SECRET": Stack.secret], workers: 2, db: db)
        defer { st.stop() }
        XCTAssertEqual(servedGeneration(st.port), 1)
        XCTAssertEqual(try st.metrics()["avalon_collection_generation"], 1)
        let first = try st.get("/avalon/songs?order=name")
        let tag = try XCTUnwrap(first.headers["etag"])
        XCTAssertEqual(first.headers["cache-control"], "no-cache")
        let same = try st.get("/avalon/songs?order=name", headers: ["If-None-Match": tag])
        XCTAssertEqual(same.status, 304)
        XCTAssertEqual(same.body.count, 0)
        XCTAssertNil(try st.get("/avalon/heartbeat").headers["etag"])
        XCTAssertNil(try st.get("/avalon/songs?order=nope").headers["etag"])

        let stream = RequestStream(port: st.port, path: "/avalon/songs")
        usleep(300_000)
        music.add("b/new.flac", title: "Brand New")
        let report = try music.scan(db)
        XCTAssertTrue(report.contains("generation 2 written"), report)
        let written = Date()
        XCTAssertTrue(waitUntil(timeout: 5, interval: 0.01) { self.servedGeneration(st.port) == 2 }, st.log)
        let delay = Date().timeIntervalSince(written)
        usleep(300_000)
        let (requests, failures) = stream.finish()
        print("rescan served after \(String(format: "%.2f", delay)) s; \(requests) requests, \(failures.count) failed")
        XCTAssertLessThan(delay, 2.5)
        XCTAssertEqual(failures, [], "after \(requests) requests")
        XCTAssertGreaterThan(requests, 20)
        XCTAssertTrue(st.log.contains("reloading the collection (generation 2 in the database, 1 served)"), st.log)

        let after = try st.get("/avalon/songs?order=name", headers: ["If-None-Match": tag])
        XCTAssertEqual(after.status, 200)
        XCTAssertNotEqual(after.headers["etag"], tag)
        XCTAssertTrue(after.text.contains("Brand New"), after.text)
        XCTAssertEqual(try st.metrics()["avalon_collection_generation"], 2)
        let health = try st.get("/avalon/health_check?max_level=2", headers: ["X-API-Key": Stack.secret])
        XCTAssertEqual(health.status, 200, health.text)
        XCTAssertTrue(health.text.contains("\"freshness\": {\"level\": 2"), health.text)
    }

    /// Two servers started together on one database, reloading through three
    /// new generations: their reloads are spread, not in lockstep (which
    /// without jitter would put them within a few milliseconds every time).
    func testTwoServersDoNotReloadTogether() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let db = dir + "/c.sqlite"
        let store = try SQLiteStore(path: db)
        var rows = Stack.rows()
        try store.replace(with: rows)
        var servers: [Background] = []
        for i in 0..<2 {
            servers.append(try Background([product("avalon-fcgi"), "--bind", "unix:\(dir)/s\(i).sock", "--workers", "1", "--socket-mode", "0666"],
                                          environment: ["DATABASE_URL": "sqlite:///" + db, "RELOAD_INTERVAL": "1", "LOG_PATH": "\(dir)/s\(i).log"],
                                          logPath: "\(dir)/s\(i).err"))
        }
        defer { for s in servers { _ = s.stop() } }
        XCTAssertTrue(waitUntil(timeout: 20) { (0..<2).allSatisfy { FileManager.default.fileExists(atPath: "\(dir)/s\($0).sock") } })
        let fronts = try (0..<2).map { try Nginx(socket: "\(dir)/s\($0).sock") }
        defer { for n in fronts { n.stop() } }
        var gaps: [Double] = []
        for round in 0..<3 {
            rows.tracks.removeLast()
            try store.replace(with: rows)
            let target = round + 2
            var seen: [Double?] = [nil, nil]
            let start = Date()
            while seen.contains(where: { $0 == nil }) && Date().timeIntervalSince(start) < 5 {
                for i in 0..<2 where seen[i] == nil && servedGeneration(fronts[i].port) == target {
                    seen[i] = Date().timeIntervalSince(start)
                }
                usleep(2000)
            }
            guard let a = seen[0], let b = seen[1] else { return XCTFail("round \(round): not both reloaded: \(seen)") }
            gaps.append(abs(a - b))
        }
        print("reload gaps between two servers: \(gaps.map { String(format: "%.3f s", $0) })")
        XCTAssertGreaterThan(gaps.max()!, 0.05, "the servers reloaded in lockstep: \(gaps)")
    }

    /// A reload that fails keeps the old collection, fails the freshness
    /// check, and is tried again at each look until it works. A database
    /// that cannot be reached is logged once per outage.
    func testFailedReloadAndOutage() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let db = dir + "/c.sqlite"
        try SQLiteStore(path: db).replace(with: Stack.rows())
        let st = try Stack(extraEnv: ["RELOAD_INTERVAL": "0.3", "ADMIN_SECRET": Stack.secret], workers: 1, db: db)
        defer { st.stop() }
        // A new generation whose tracks cannot be read.
        XCTAssertEqual(try runProgram(["/usr/bin/sqlite3", db, """
            ALTER TABLE tracks RENAME TO tracks_away;
            INSERT INTO avalon_generations VALUES (2, 'now', 0, 0, 0, 0, 'test');
            """]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("reload failed, old workers keep serving generation 1") }, st.log)
        let stale = try st.get("/avalon/health_check?checks=freshness", headers: ["X-API-Key": Stack.secret])
        XCTAssertEqual(stale.status, 500, stale.text)
        XCTAssertTrue(stale.text.contains("the latest reload failed"), stale.text)
        XCTAssertEqual((try st.get("/avalon/songs")).json["success"].map { ($0 as? [Any])?.count }, 5)
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.components(separatedBy: "reload failed").count > 2 }, "tried again")
        XCTAssertEqual(try runProgram(["/usr/bin/sqlite3", db, "ALTER TABLE tracks_away RENAME TO tracks"]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("reloaded generation 2") }, st.log)
        // The worker reuses its level-2 result for a second.
        XCTAssertTrue(waitUntil(timeout: 3) {
            (try? st.get("/avalon/health_check?checks=freshness", headers: ["X-API-Key": Stack.secret]))?.status == 200
        })

        // The database goes away for several looks, then comes back.
        try FileManager.default.moveItem(atPath: db, toPath: db + ".away")
        usleep(1_500_000)
        try FileManager.default.moveItem(atPath: db + ".away", toPath: db)
        XCTAssertTrue(waitUntil(timeout: 5) { st.log.contains("the database answers again") }, st.log)
        XCTAssertEqual(st.log.components(separatedBy: "cannot look at the collection's generation").count, 2, st.log)
    }

    /// `avalon-scan --watch`: files added, retagged and removed, and a new
    /// subdirectory with files, reach the server with nobody running a command.
    func testWatcherKeepsTheServerCurrent() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let music = MusicFolder(dir + "/music")
        music.add("a/one.ogg", title: "One")
        let retagged = music.add("a/two.mp3", title: "Two")
        let removed = music.add("a/three.flac", title: "Three")
        let db = dir + "/c.sqlite"
        let watcher = try Background([product("avalon-scan"), "--watch", "--settle", "0.3", "-d", "sqlite:///" + db, music.root],
                                     environment: [:], logPath: dir + "/watch.log")
        defer { _ = watcher.stop(SIGINT) }
        XCTAssertTrue(waitUntil(timeout: 10) { watcher.log.contains("generation 1 written") }, watcher.log)
        let st = try Stack(extraEnv: ["RELOAD_INTERVAL": "0.5"], workers: 1, db: db)
        defer { st.stop() }
        func titles() -> Set<String> {
            let list = (try? st.get("/avalon/songs"))?.json["success"] as? [[String: Any]] ?? []
            return Set(list.compactMap { $0["name"] as? String })
        }
        XCTAssertEqual(titles(), ["One", "Two", "Three"])
        music.add("a/four.ogg", title: "Four")
        XCTAssertTrue(writeTags(retagged, title: "Two, retagged"))
        try FileManager.default.removeItem(atPath: removed)
        music.add("new/deeper/five.flac", title: "Five")
        music.add("new/six.mp3", title: "Six")
        let expected: Set<String> = ["One", "Two, retagged", "Four", "Five", "Six"]
        XCTAssertTrue(waitUntil(timeout: 15, interval: 0.1) { titles() == expected }, "\(titles()); \(watcher.log)")
        // A file added inside the directory made while watching is seen too.
        music.add("new/deeper/seven.ogg", title: "Seven")
        XCTAssertTrue(waitUntil(timeout: 15, interval: 0.1) { titles().contains("Seven") }, "\(titles()); \(watcher.log)")
        XCTAssertEqual(watcher.stop(SIGINT), 0, watcher.log)
    }

    /// `--watch --poll`: for filesystems where inotify sees nothing, a rescan
    /// on a timer; SIGTERM ends it between scans.
    func testWatcherPolls() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let music = MusicFolder(dir + "/music")
        music.add("a/one.ogg", title: "One")
        let db = dir + "/c.sqlite"
        let url = try DatabaseURL(parsing: "sqlite:///" + db)
        let watcher = try Background([product("avalon-scan"), "--watch", "--poll", "0.5", "-d", "sqlite:///" + db, music.root],
                                     environment: [:], logPath: dir + "/watch.log")
        XCTAssertTrue(waitUntil(timeout: 10) { (try? DatabaseProbe.generation(url, timeout: 1)) == 1 }, watcher.log)
        music.add("b/two.mp3", title: "Two")
        XCTAssertTrue(waitUntil(timeout: 10) { (try? DatabaseProbe.generation(url, timeout: 1)) == 2 }, watcher.log)
        XCTAssertEqual(try SQLiteStore(path: db).rows().tracks.map(\.name).sorted(), ["One", "Two"])
        XCTAssertTrue(watcher.log.contains("polling every 0.5 s"), watcher.log)
        XCTAssertEqual(watcher.stop(SIGTERM), 0, watcher.log)
    }
}
