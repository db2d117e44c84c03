import AvalonCore
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// stream and download through real nginx from a real scanned folder: the
/// worker answers X-Accel-Redirect, nginx sends the bytes. Two client
/// libraries (Tests/subsonic/streams.py), and a sweep of requests that must
/// not reach a file outside the music folder.
final class SubsonicStreamTests: XCTestCase {
    static let user = "alice", password = "stream-pass-42"
    static let marker = "AVALON-OUTSIDE-MARKER-7f3a"

    struct Bed {
        let dir: String, music: String, db: String
        let stack: Stack
        let collection: MusicCollection
        var auth: String { "u=\(SubsonicStreamTests.user)&p=\(SubsonicStreamTests.password)&v=1.16.1&c=t" }
        /// The relative path of each song the test names, by that path.
        func song(_ relative: String) -> ItemID? {
            let f = collection.files
            return collection.songs.indices.first { f.has($0) && String(decoding: f.path($0), as: UTF8.self) == relative }
                .map { collection.songs[$0].id }
        }
    }

    /// A folder of real audio files (names that need encoding among them), a
    /// symlink in it to an audio file outside, scanned; then rows written
    /// directly with SQL whose paths climb out of the folder.
    func makeBed() throws -> Bed {
        let dir = makeTempDir("avalon-streams")
        let music = dir + "/music", outside = dir + "/outside"
        let fixtures = packageRoot + "/Tests/AvalonScanTests/Fixtures"
        for sub in ["Ärzte & Co", "plain", "gone", "link"] {
            try FileManager.default.createDirectory(atPath: music + "/" + sub, withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        for (from, to) in [("mp3", "Ärzte & Co/01 Über? #1 100%.mp3"), ("ogg", "plain/song.ogg"), ("flac", "plain/x.flac"),
                           ("mp3", "gone/removed.mp3")] {
            try FileManager.default.copyItem(atPath: "\(fixtures)/silence.\(from)", toPath: music + "/" + to)
        }
        // Outside the folder: audio (so the scanner takes the link to it) with a marker no answer may carry.
        var secret = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/silence.mp3"))
        secret.append(Data(Self.marker.utf8))
        try secret.write(to: URL(fileURLWithPath: outside + "/secret.mp3"))
        try FileManager.default.createSymbolicLink(atPath: music + "/link/secret.mp3", withDestinationPath: outside + "/secret.mp3")
        let db = dir + "/avalon.sqlite"
        let scan = try runProgram([product("avalon-scan"), "-d", "sqlite:///" + db, music])
        XCTAssertEqual(scan.status, 0, scan.stderr)
        // Rows a scanner never writes, as an attacker with the database would.
        let evil = """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            for n, path in enumerate(sys.argv[2:]):
                song = '%032x' % (0xe0 + n)
                c.execute("INSERT INTO tracks SELECT ?, 'Evil', length, track, year, album_id, artist_id, genre_id FROM tracks LIMIT 1", (song,))
                c.execute('''INSERT INTO avalon_files (path, size, mtime_ns, ctime_ns, racy, readable, title, album, artist, genre,
                    track, year, length, reason, song, bitrate, disc, created) VALUES (?, 1, 0, 0, 0, 1, 'Evil', '', '', '', 0, 0, 0, '', ?, 0, 0, 1)''',
                    (path, song))
            c.commit()
            """
        let written = try runProgram(["python3", "-c", evil, db, music + "/../outside/secret.mp3", music + "//etc/passwd",
                                      music + "/plain/./song.ogg", music + "/plain/a\u{1}b.mp3", music + "/link/../../outside/secret.mp3"])
        XCTAssertEqual(written.status, 0, written.stderr)
        let users = dir + "/users"
        try "\(Self.user):\(Self.password)\n".write(toFile: users, atomically: false, encoding: .utf8)
        chmod(users, 0o600)
        let stack = try Stack(extraEnv: ["SUBSONIC_USERS_FILE": users], workers: 2, db: db, nginxExtra: """
            location /avalon-internal-music/ {
                internal;
                alias \(music)/;
                disable_symlinks on from=$document_root;
                sendfile on;
            }
            location /plain-static/ {
                alias \(music)/;
                sendfile on;
            }
            """)
        return Bed(dir: dir, music: music, db: db, stack: stack, collection: try SQLiteStore(path: db).load())
    }

    func testClientStreams() throws {
        guard let (python, spec) = SubsonicTests.clientTools() else { return }
        let bed = try makeBed()
        defer { bed.stack.stop(); removeTree(bed.dir) }
        var songs: [[String: String]] = []
        for (path, type) in [("Ärzte & Co/01 Über? #1 100%.mp3", "audio/mpeg"), ("plain/song.ogg", "audio/ogg"), ("plain/x.flac", "audio/flac")] {
            let id = try XCTUnwrap(bed.song(path), path)
            songs.append(["id": id.uuidString, "file": bed.music + "/" + path, "path": path, "contentType": type])
        }
        try SubsonicTests.runClientScript("streams.py", python: python, spec: spec, port: bed.stack.port, user: Self.user, password: Self.password,
                                          data: songs)
    }

    /// HEAD and conditional requests are nginx's; a file removed since the
    /// scan is 404 and nothing else.
    func testHeadConditionalAndRemoved() throws {
        let bed = try makeBed()
        defer { bed.stack.stop(); removeTree(bed.dir) }
        let id = try XCTUnwrap(bed.song("plain/song.ogg"))
        let size = try Data(contentsOf: URL(fileURLWithPath: bed.music + "/plain/song.ogg")).count
        let head = try bed.stack.get("/rest/stream?id=\(id.uuidString)&\(bed.auth)", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-length"], "\(size)")
        XCTAssertEqual(head.headers["content-type"], "audio/ogg")
        XCTAssertTrue(head.body.isEmpty)
        let modified = try XCTUnwrap(head.headers["last-modified"])
        let again = try bed.stack.get("/rest/stream?id=\(id.uuidString)&\(bed.auth)", headers: ["If-Modified-Since": modified])
        XCTAssertEqual(again.status, 304)
        XCTAssertTrue(again.body.isEmpty)
        // Gone since the scan: nginx's 404, no audio.
        let gone = try XCTUnwrap(bed.song("gone/removed.mp3"))
        try FileManager.default.removeItem(atPath: bed.music + "/gone/removed.mp3")
        let r = try bed.stack.get("/rest/stream?id=\(gone.uuidString)&\(bed.auth)")
        XCTAssertEqual(r.status, 404)
        XCTAssertFalse(r.headers["content-type"]?.hasPrefix("audio/") ?? false)
        // Without a user: the spec's error, no file.
        let anonymous = try bed.stack.get("/rest/stream?id=\(id.uuidString)&u=alice&p=wrong&v=1.16.1&c=t")
        XCTAssertEqual(anonymous.status, 200)
        XCTAssertTrue(anonymous.text.contains("code=\"40\""), anonymous.text)
    }

    /// No request reaches a file outside the music folder, nor the internal
    /// location directly.
    func testPathTraversalSweep() throws {
        let bed = try makeBed()
        defer { bed.stack.stop(); removeTree(bed.dir) }
        let c = bed.collection
        var requests: [String] = []
        // Ids of other kinds, made-up ids, malformed ids, and every song (the symlinked and the SQL-written among them).
        var ids = [c.albums.items[0].id.uuidString, c.artists.items[0].id.uuidString, c.genres.items[0].id.uuidString,
                   ItemID.song(path: "/etc/passwd").uuidString, "../../etc/passwd", "%2e%2e%2fetc%2fpasswd", ""]
        ids += c.songs.map(\.id.uuidString)
        for id in ids {
            for method in ["stream", "download", "stream.view"] { requests.append("/rest/\(method)?id=\(id)&\(bed.auth)") }
        }
        // The internal location from outside, plainly and encoded every way.
        for p in ["plain/song.ogg", "../outside/secret.mp3", "%2e%2e/outside/secret.mp3", "..%2foutside%2fsecret.mp3",
                  "link/secret.mp3", "%2E%2E/%2E%2E/etc/passwd", "..%252f..%252fetc/passwd", "/../../etc/passwd"] {
            requests.append("/avalon-internal-music/" + p)
        }
        var served: [String] = []
        for path in requests {
            let r = try bed.stack.get(path)
            let body = r.text
            if body.contains(Self.marker) || body.contains("root:x:0:0") { served.append("\(path): \(r.status)") }
            // nginx: 404 for its internal location, 400 for a path climbing above the root.
            if path.hasPrefix("/avalon-internal-music/") { XCTAssertTrue([400, 404].contains(r.status), "\(path): \(r.status)") }
        }
        XCTAssertEqual(served, [], "a file outside the music folder was served")
        // The symlinked song: refused by nginx (disable_symlinks), no bytes.
        let link = try XCTUnwrap(bed.song("link/secret.mp3"))
        let r = try bed.stack.get("/rest/stream?id=\(link.uuidString)&\(bed.auth)")
        XCTAssertTrue([403, 404].contains(r.status), "\(r.status)")
        // The SQL-written rows: each refused by the worker (error 70) before nginx sees them.
        for n in 0..<5 {
            let id = ItemID(hex32: String(repeating: "0", count: 30) + String(0xe0 + n, radix: 16))!
            let e = try bed.stack.get("/rest/stream?id=\(id.uuidString)&\(bed.auth)")
            XCTAssertEqual(e.status, 200)
            XCTAssertTrue(e.text.contains("code=\"70\""), "row \(n): \(e.text)")
        }
    }
}
