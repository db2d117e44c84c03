import AvalonCore
@testable import AvalonScan
import AvalonTagWriter
import AvalonStore
import Foundation
import TestSupport
import XCTest

final class RuleTests: XCTestCase {
    func testTrack() {
        XCTAssertEqual(TagRules.track("3"), .some(3))
        XCTAssertEqual(TagRules.track("03"), .some(3))
        XCTAssertEqual(TagRules.track("3/12"), .some(3))
        XCTAssertEqual(TagRules.track(nil), .some(0))
        XCTAssertEqual(TagRules.track(""), .some(0))
        XCTAssertEqual(TagRules.track("A1"), .none)
        XCTAssertEqual(TagRules.track("3 of 12"), .none)
    }

    func testYear() {
        for s in ["1999", "1999-06", "1999-06-12", "1999-06-12 10:11:12", "1999-06-12T10:11:12", "1999-06-12T10:11"] {
            XCTAssertEqual(TagRules.year(s), .some(1999), s)
        }
        XCTAssertEqual(TagRules.year(nil), .some(0))
        XCTAssertEqual(TagRules.year("  "), .some(0))
        for s in ["99/06/12", "June 1999", "1999-6-12", "1999-06-12 noon"] { XCTAssertEqual(TagRules.year(s), .none, s) }
    }

    func testNormalizePathLikePython() {
        let cases = ["/music/./a//b/../c.mp3": "/music/a/c.mp3", "music/": "music", "./a": "a", "../a/../../b": "../../b",
                     "/../a": "/a", "//srv/x": "//srv/x", "///srv/x": "/srv/x", "": ".", "a/..": "."]
        for (input, expected) in cases { XCTAssertEqual(normalizePath(input), expected, input) }
        XCTAssertEqual(joinPath("/music/", "a.mp3"), "/music/a.mp3")
        XCTAssertEqual(joinPath("/music", "a.mp3"), "/music/a.mp3")
    }
}

final class ScanTests: MusicTestCase {

    func copy(_ fixture: String, to rel: String) -> String {
        let path = dir + "/music/" + rel
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! FileManager.default.copyItem(atPath: fixtures + "/" + fixture, toPath: path)
        return path
    }

    func testEveryFormatAndRule() throws {
        XCTAssertTrue(writeMP3Tags(copy("silence.mp3", to: "id3v24.mp3"), kind: 24, title: "Straight Edge", album: "Complete Discography",
                                   artist: "Minor Threat", genre: "Hardcore", track: "2/26", date: "1981-06-12"))
        XCTAssertTrue(writeMP3Tags(copy("silence.mp3", to: "id3v23.mp3"), kind: 23, title: "Twenty Three", album: "complete discography",
                                   artist: "MINOR THREAT", genre: "(17)", track: "03", date: "1999-06-12T10:11:12"))
        XCTAssertTrue(writeMP3Tags(copy("silence.mp3", to: "id3v1.mp3"), kind: 1, title: "Version One", album: "V1",
                                   artist: "Old", genre: "Jazz", track: "7", date: "1984"))
        XCTAssertTrue(writeTags(copy("silence.ogg", to: "Ünïcödé dir/ßong 東京.ogg"), title: "Adicción 🎸", album: "¡Firme!",
                                artist: "Voodoo Glow Skulls", genre: "Punk Ska", track: "x", date: "sometime"))
        XCTAssertTrue(writeTags(copy("silence.flac", to: ".hidden/h.flac"), title: "Hidden", album: "Complete Discography",
                                artist: "Minor Threat", genre: "hardcore", track: "1", date: "1999-06-12 10:11:12"))
        _ = copy("silence.flac", to: "untagged.flac")
        // Junk: text, empty, truncated audio, a directory loop through a symlink.
        try "not audio".write(toFile: dir + "/music/readme.mp3", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: dir + "/music/empty.ogg", contents: Data())
        let mp3 = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/silence.ogg"))
        try mp3.prefix(60).write(to: URL(fileURLWithPath: dir + "/music/truncated.ogg"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/music/loop", withDestinationPath: dir + "/music")

        var logged: [String] = []
        // The root as typed, with a trailing slash and a "." component.
        let root = dir + "/./music/"
        let (rows, stats) = try scanCollection(root: root, log: { logged.append($0) })
        XCTAssertEqual(stats.files, 9)
        XCTAssertEqual(stats.songs, 6)
        XCTAssertEqual(stats.skipped, 3)
        for junk in ["readme.mp3", "empty.ogg", "truncated.ogg"] {
            XCTAssertEqual(logged.filter { $0.hasPrefix("skipped") && $0.contains(junk) }.count, 1, "\(junk): \(logged)")
        }
        XCTAssertEqual(logged.filter { $0.contains("cannot parse") }.count, 2, "\(logged)")

        func track(_ rel: String) -> CollectionRows.Track {
            let id = ItemID.song(path: dir + "/music/" + rel)
            return rows.tracks.first { $0.id == id }!
        }
        let v24 = track("id3v24.mp3")
        XCTAssertEqual([v24.track, v24.year, v24.length], [2, 1981, 2])
        XCTAssertEqual(v24.name, "Straight Edge")
        let v23 = track("id3v23.mp3")
        XCTAssertEqual([v23.track, v23.year], [3, 1999])
        XCTAssertEqual(rows.genres.first { $0.id == v23.genre }?.name, "Rock")
        let v1 = track("id3v1.mp3")
        XCTAssertEqual([v1.track, v1.year], [7, 1984])
        XCTAssertEqual(v1.name, "Version One")
        let ogg = track("Ünïcödé dir/ßong 東京.ogg")
        XCTAssertEqual(ogg.name, "Adicción 🎸")
        XCTAssertEqual([ogg.track, ogg.year], [0, 0])
        let untagged = track("untagged.flac")
        XCTAssertEqual(untagged.name, "")
        XCTAssertEqual(untagged.album, ItemID.album(""))
        // Case variants share one id; the first file in path order names it.
        XCTAssertEqual(v23.album, v24.album)
        XCTAssertEqual(track(".hidden/h.flac").genre, v24.genre)
        XCTAssertEqual(rows.albums.first { $0.id == v24.album }?.name, "Complete Discography")
        XCTAssertEqual(rows.artists.first { $0.id == v24.artist }?.name, "Minor Threat")
        XCTAssertEqual(rows.genres.first { $0.id == v24.genre }?.name, "hardcore")
        XCTAssertEqual(Set(rows.albums.map(\.id)).count, rows.albums.count)
    }

    func testCommandLine() throws {
        XCTAssertTrue(writeTags(copy("silence.ogg", to: "a/one.ogg"), title: "One", album: "Al", artist: "Ar", genre: "G", track: "1", date: "2000"))
        FileManager.default.createFile(atPath: dir + "/music/broken.flac", contents: Data("fLaC".utf8))
        let db = "sqlite:///" + dir + "/scan.sqlite"
        let r = try runProgram([product("avalon-scan"), "-d", db, dir + "/music"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("skipped") && r.stderr.contains("broken.flac"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1 songs"), r.stderr)
        let c = try openStore(try DatabaseURL(parsing: db)).load()
        XCTAssertEqual(c.songs.count, 1)

        let quiet = try runProgram([product("avalon-scan"), "-q", "-d", db, dir + "/music"])
        XCTAssertEqual(quiet.status, 0)
        XCTAssertFalse(quiet.stderr.contains("songs,"), quiet.stderr)

        let missing = try runProgram([product("avalon-scan"), "-d", db, dir + "/nowhere"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("nowhere"), missing.stderr)

        let badDB = try runProgram([product("avalon-scan"), "-d", "sqlite:///" + dir + "/no/dir/x.sqlite", dir + "/music"])
        XCTAssertNotEqual(badDB.status, 0)
        XCTAssertTrue(badDB.stderr.contains("cannot open SQLite database"), badDB.stderr)
        // The failed runs left the collection alone.
        XCTAssertEqual(try openStore(try DatabaseURL(parsing: db)).load().songs.count, 1)

        let fromConfig = try runProgram([product("avalon-scan"), "-q", dir + "/music"],
                                 environment: ["DATABASE_URL": "sqlite:///" + dir + "/env.sqlite", "PATH": "/usr/bin:/bin"])
        XCTAssertEqual(fromConfig.status, 0, fromConfig.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/env.sqlite"))
        XCTAssertEqual(try runProgram([product("avalon-scan"), "-V"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1.0.0")
    }

    /// An empty or mostly missing folder (an unmounted NAS) does not wipe the
    /// collection unless asked; the refusal is one line and changes nothing.
    func testScanRefusesToLoseTheCollection() throws {
        for i in 0..<4 {
            XCTAssertTrue(writeTags(copy("silence.ogg", to: "d\(i)/s.ogg"), title: "S\(i)", album: "A", artist: "R", genre: "G"))
        }
        let db = "sqlite:///" + dir + "/guard.sqlite"
        XCTAssertEqual(try runProgram([product("avalon-scan"), "-q", "-d", db, dir + "/music"]).status, 0)
        func songs() throws -> Int { try openStore(try DatabaseURL(parsing: db)).load().songs.count }
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/guard.sqlite"))

        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        let empty = try runProgram([product("avalon-scan"), "-q", "-d", db, dir + "/empty"])
        XCTAssertEqual(empty.status, 1)
        XCTAssertEqual(empty.stderr.split(separator: "\n").count, 1, empty.stderr)
        XCTAssertTrue(empty.stderr.contains("refusing to replace 4 songs with none"), empty.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/guard.sqlite")), before, "the refused scan changed the file")

        // Three of four gone: 75% lost, past the default 50%.
        for i in 1..<4 { try FileManager.default.removeItem(atPath: dir + "/music/d\(i)") }
        let most = try runProgram([product("avalon-scan"), "-q", "-d", db, dir + "/music"])
        XCTAssertEqual(most.status, 1)
        XCTAssertTrue(most.stderr.contains("3 of its 4 songs (75.0%)") && most.stderr.contains("--max-loss 50%"), most.stderr)
        XCTAssertEqual(try songs(), 4)
        XCTAssertEqual(try runProgram([product("avalon-scan"), "-q", "--max-loss", "80", "-d", db, dir + "/music"]).status, 0)
        XCTAssertEqual(try songs(), 1)
        XCTAssertEqual(try runProgram([product("avalon-scan"), "-q", "--max-loss", "101", "-d", db, dir + "/music"]).status != 0, true)

        let allowed = try runProgram([product("avalon-scan"), "-q", "--allow-loss", "-d", db, dir + "/empty"])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertEqual(try songs(), 0)
        // An empty collection may be filled and emptied again freely.
        XCTAssertEqual(try runProgram([product("avalon-scan"), "-q", "-d", db, dir + "/empty"]).status, 0)
    }

    func testLossGuardInsidePostgreSQLTransaction() throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        let store = try PostgresStore(uri: pg.url)
        var rows = CollectionRows()
        rows.albums = [.init(id: .album("A"), name: "A")]
        rows.artists = [.init(id: .artist("R"), name: "R")]
        rows.genres = [.init(id: .genre("G"), name: "G")]
        rows.tracks = (0..<10).map { .init(id: .song(path: "/m/\($0)"), name: "S\($0)", length: 1, track: 1, year: 1,
                                           album: .album("A"), artist: .artist("R"), genre: .genre("G")) }
        try store.replace(with: rows) { try LossGuard().check(current: $0, replacement: rows) }
        var half = rows
        half.tracks.removeLast(6)
        XCTAssertThrowsError(try store.replace(with: half) { try LossGuard().check(current: $0, replacement: half) }) {
            XCTAssertTrue("\($0)".contains("6 of its 10 songs"), "\($0)")
        }
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM tracks"), "10")
        try store.replace(with: half) { try LossGuard(maxLossPercent: 60).check(current: $0, replacement: half) }
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM tracks"), "4")
    }

    /// A file named with bytes that are not UTF-8 (Latin-1 "café") is scanned,
    /// with an id from its raw path bytes, the same on every scan, and counted.
    func testNamesThatAreNotUTF8() throws {
        let good = copy("silence.ogg", to: "tmp.ogg")
        XCTAssertTrue(writeTags(good, title: "Caf\u{e9} Song", album: "Latin", artist: "One", genre: "G"))
        let rawPath: [UInt8] = Array((dir + "/music/caf").utf8) + [0xE9] + Array(".ogg".utf8)
        XCTAssertEqual((rawPath + [0]).withUnsafeBufferPointer { rename(good, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }, 0)
        XCTAssertTrue(writeTags(copy("silence.ogg", to: "plain.ogg"), title: "Plain", album: "Latin", artist: "One", genre: "G"))
        var logged: [String] = []
        let (rows, stats) = try scanCollection(root: dir + "/music") { logged.append($0) }
        XCTAssertEqual(stats.undecodableNames, 1)
        XCTAssertEqual(rows.tracks.count, 2, "\(logged)")
        let id = ItemID.song(pathBytes: rawPath)
        XCTAssertEqual(rows.tracks.first { $0.id == id }?.name, "Caf\u{e9} Song")
        let (again, _) = try scanCollection(root: dir + "/music") { _ in }
        XCTAssertEqual(again.tracks.map(\.id), rows.tracks.map(\.id))
        XCTAssertNotEqual(id, ItemID.song(path: dir + "/music/caf\u{FFFD}.ogg"), "the id must come from the bytes, not a repaired name")
        // The command line reports it; a skipped file of such a name is logged readably.
        let db = "sqlite:///" + dir + "/utf.sqlite"
        let r = try runProgram([product("avalon-scan"), "-d", db, dir + "/music"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("1 names not UTF-8"), r.stderr)
        XCTAssertEqual(try openStore(try DatabaseURL(parsing: db)).load().songs.count, 2)
        let broken: [UInt8] = Array((dir + "/music/bad").utf8) + [0xFF] + Array(".flac".utf8) + [0]
        let fd = broken.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
        let skipped = try runProgram([product("avalon-scan"), "-d", db, dir + "/music"])
        XCTAssertTrue(skipped.stderr.contains("bad\u{FFFD}.flac"), skipped.stderr)
        XCTAssertTrue(skipped.stderr.contains("2 names not UTF-8"), skipped.stderr)
    }
}
