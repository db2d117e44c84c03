import AvalonCore
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// SNAPSHOT_PATH through the real server: the first start writes the
/// snapshot, the next reads it and answers byte for byte the same; a new
/// generation, a damaged file or a reload never serve a stale one.
final class SnapshotServerTests: XCTestCase {
    static let paths = ["/avalon/songs?order=name", "/avalon/songs?query=love", "/avalon/albums?order=name", "/avalon/artists?order=id",
                        "/avalon/genres", "/avalon/songs?order=year&direction=desc&limit=3"]

    func answers(_ st: Stack) throws -> [String] {
        try Self.paths.map { p in
            let r = try st.get(p)
            XCTAssertEqual(r.status, 200, p)
            return r.text
        }
    }

    func count(_ log: String, _ s: String) -> Int { log.components(separatedBy: s).count - 1 }

    func testRestartsReadTheSnapshotAndNeverAStaleOne() throws {
        let dir = makeTempDir("avalon-snapshot-server")
        defer { removeTree(dir) }
        XCTAssertEqual(mkdir(dir + "/snap", 0o700), 0)
        let db = dir + "/c.sqlite", snapshot = dir + "/snap/collection"
        try SQLiteStore(path: db).replace(with: Stack.rows())
        let env = ["SNAPSHOT_PATH": snapshot, "RELOAD_INTERVAL": "0"]

        // No snapshot yet: loaded from the database, then written by a child.
        var st = try Stack(extraEnv: env, workers: 2, db: db)
        XCTAssertTrue(waitUntil(timeout: 20) { st.log.contains("snapshot written to \(snapshot)") }, st.log)
        XCTAssertTrue(st.log.contains("no snapshot at \(snapshot) yet"), st.log)
        let fromDatabase = try answers(st)
        st.stop()

        // Read back: the same bytes in every answer.
        st = try Stack(extraEnv: env, workers: 2, db: db)
        XCTAssertTrue(st.log.contains("read the collection's indexes from the snapshot \(snapshot)"), st.log)
        XCTAssertEqual(try answers(st), fromDatabase)
        XCTAssertFalse(st.log.contains("snapshot written"), "an unchanged snapshot is not written again")
        st.stop()

        // A scan since (a new generation): the snapshot is stale, not served.
        var rows = Stack.rows()
        rows.tracks.append(.init(id: .song(path: "/music/new.mp3"), name: "Brand New Love", length: 1, track: 1, year: 2020,
                                 album: rows.tracks[0].album, artist: rows.tracks[0].artist, genre: rows.tracks[0].genre))
        try SQLiteStore(path: db).replace(with: rows)
        st = try Stack(extraEnv: env, workers: 2, db: db)
        XCTAssertTrue(st.log.contains("is not used (it was written for another generation or build"), st.log)
        XCTAssertTrue(try st.get("/avalon/songs?query=brand").text.contains("Brand New Love"))
        XCTAssertTrue(waitUntil(timeout: 20) { st.log.contains("snapshot written to") }, st.log)
        let generation2 = try answers(st)
        XCTAssertNotEqual(generation2, fromDatabase)
        st.stop()

        // Damaged: refused, loaded from the database, written again.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: snapshot))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: snapshot))
        chmod(snapshot, 0o600)
        st = try Stack(extraEnv: env, workers: 2, db: db)
        XCTAssertTrue(st.log.contains("is damaged"), st.log)
        XCTAssertEqual(try answers(st), generation2)
        XCTAssertTrue(waitUntil(timeout: 20) { st.log.contains("snapshot written to") }, st.log)

        // A reload of a new generation: the trial load writes the snapshot and
        // the master reads it, instead of building the collection twice.
        rows.tracks.append(.init(id: .song(path: "/music/newer.mp3"), name: "Newer Still", length: 1, track: 2, year: 2021,
                                 album: rows.tracks[0].album, artist: rows.tracks[0].artist, genre: rows.tracks[0].genre))
        try SQLiteStore(path: db).replace(with: rows)
        let reads = count(st.log, "read the collection's indexes from the snapshot")
        st.server.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 20) { st.log.contains("reloaded generation 3") }, st.log)
        XCTAssertEqual(count(st.log, "read the collection's indexes from the snapshot"), reads + 1, st.log)
        XCTAssertTrue(try st.get("/avalon/songs?query=newer").text.contains("Newer Still"))
        let generation3 = try answers(st)
        st.stop()
        st = try Stack(extraEnv: env, workers: 1, db: db)
        XCTAssertTrue(st.log.contains("read the collection's indexes from the snapshot"), st.log)
        XCTAssertEqual(try answers(st), generation3)
        st.stop()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/snap"), ["collection"], "no temporary file left")
    }

    /// A folder anyone may write is refused: the server serves from the
    /// database and writes nothing there.
    func testUnsafeFolderIsNotUsed() throws {
        let dir = makeTempDir("avalon-snapshot-server")
        defer { removeTree(dir) }
        XCTAssertEqual(mkdir(dir + "/open", 0o777), 0)
        chmod(dir + "/open", 0o777)
        let db = dir + "/c.sqlite"
        try SQLiteStore(path: db).replace(with: Stack.rows())
        let st = try Stack(extraEnv: ["SNAPSHOT_PATH": dir + "/open/collection"], workers: 1, db: db)
        defer { st.stop() }
        XCTAssertTrue(waitUntil(timeout: 20) { st.log.contains("the snapshot is not written") }, st.log)
        XCTAssertTrue(st.log.contains("nobody else may write"), st.log)
        XCTAssertEqual(try st.get("/avalon/songs").status, 200)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/open"), [])
    }
}
