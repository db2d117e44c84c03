import AvalonStore
import Foundation
import TestSupport
import XCTest

/// avalon-express keeps avalon-scan's loss guard: a shared database is not
/// emptied by an empty or unmounted music folder, at start or on a rescan.
final class ExpressGuardTests: XCTestCase {
    let demoMusic = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/deploy/demo-music"
    var dir = ""
    override func setUp() { dir = makeTempDir() }
    override func tearDown() { removeTree(dir) }

    func songs(_ db: String) throws -> Int { try openStore(try DatabaseURL(parsing: db)).load().songs.count }
    func generation(_ db: String) throws -> Int64 { try openStore(try DatabaseURL(parsing: db)).generation() }
    var environment: [String: String] { ProcessInfo.processInfo.environment.filter { $0.key != "AVALON_CONFIG" } }

    func testEmptyOrMostlyMissingFolderLosesNothing() throws {
        let music = dir + "/music"
        try FileManager.default.copyItem(atPath: demoMusic, toPath: music)
        let db = "sqlite:///\(dir)/shared.sqlite"
        XCTAssertEqual(try runProgram([product("avalon-scan"), "-q", "-d", db, music]).status, 0)
        XCTAssertEqual(try songs(db), 9)
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        // One artist of five left (Kino, 2 songs): 7 of 9 missing.
        for artist in try FileManager.default.contentsOfDirectory(atPath: music) where artist != "Kino" {
            try FileManager.default.moveItem(atPath: music + "/" + artist, toPath: dir + "/" + artist)
        }
        let cases = [("empty", "no audio files in \(dir)/empty (MP3, Ogg Vorbis, FLAC, Opus, M4A; 0 other files): pass a folder of music; nothing was written to \(db)"),
                     ("music", "refusing to replace the collection: 7 of its 9 songs (77.8%) are not in this scan, more than --max-loss 50%; nothing was changed; scan with avalon-scan --allow-loss if that is intended")]
        for (folder, error) in cases {
            // setup-server: the same checks and scan as start-server, then it exits (it does not serve what it wrote).
            let r = try runProgram([product("avalon-express"), "setup-server", dir + "/" + folder, "--database", db,
                                    "--port", "\(freePort())", "--server-root", dir + "/root-" + folder], environment: environment)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertEqual(r.stderr, "avalon-express: \(error)\n")
            XCTAssertEqual(try songs(db), 9, folder)
            XCTAssertEqual(try generation(db), 1, folder)
        }
    }

    /// `--reload-on-change` when the folder's contents vanish (a mount gone):
    /// the rescan is refused, logged, and the server keeps serving all songs.
    func testReloadOnChangeKeepsTheCollectionWhenTheFolderEmpties() throws {
        let music = dir + "/music"
        try FileManager.default.copyItem(atPath: demoMusic, toPath: music)
        let db = "sqlite:///\(dir)/shared.sqlite"
        let port = freePort()
        let server = try Background([product("avalon-express"), "start-server", music, "--database", db, "--reload-on-change",
                                     "--port", "\(port)", "--server-root", dir + "/root"], environment: environment, logPath: dir + "/express.log")
        defer { server.stop(SIGINT, timeout: 20) }
        XCTAssertTrue(waitUntil(timeout: 60) { server.log.contains("Ctrl-C stops it") }, server.log)
        XCTAssertEqual(try songs(db), 9)
        for artist in try FileManager.default.contentsOfDirectory(atPath: music) {
            try FileManager.default.moveItem(atPath: music + "/" + artist, toPath: dir + "/" + artist)
        }
        XCTAssertTrue(waitUntil(timeout: 30, interval: 0.2) { server.log.contains("refusing to replace 9 songs with none") }, server.log)
        XCTAssertTrue(server.log.contains("scan failed, the previous collection stays: refusing to replace 9 songs with none: the folder has no readable audio files (is it mounted?); nothing was changed; scan with avalon-scan --allow-loss to empty the collection"), server.log)
        XCTAssertEqual(try songs(db), 9)
        let reply = try httpRequest(port: port, path: "/avalon/songs")
        XCTAssertEqual((reply.json["success"] as? [Any])?.count, 9, reply.text)
        XCTAssertEqual(server.stop(SIGINT, timeout: 20), 0, server.log)
    }
}
