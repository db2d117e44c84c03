import AvalonCore
import AvalonStore
import AvalonTagWriter
import Foundation
import TestSupport
import XCTest

/// getCoverArt through real nginx from a real scanned folder: the worker
/// answers X-Accel-Redirect into the shipped cover location, nginx sends the
/// picture. Two client libraries (Tests/subsonic/covers.py), and a sweep of
/// requests that must not reach a file outside the cover cache.
final class SubsonicCoverTests: XCTestCase {
    static let user = "carol", password = "cover-pass-42"
    static let marker = "AVALON-OUTSIDE-COVER-MARKER-5d1c"

    struct Bed {
        let dir: String, music: String, cache: String
        let stack: Stack
        let collection: MusicCollection
        let folderImage: [UInt8], embedded: [UInt8]
        var auth: String { "u=\(SubsonicCoverTests.user)&p=\(SubsonicCoverTests.password)&v=1.16.1&c=t" }
        func get(_ method: String, _ query: String = "") throws -> HTTPReply {
            try stack.get("/rest/\(method)?\(auth)\(query.isEmpty ? "" : "&" + query)")
        }
    }

    /// A location of a shipped site (`path`, e.g. "/avalon-internal-covers/"), its alias made `folder`.
    static func shippedLocation(_ path: String, alias: String, folder: String, site name: String = "avalon.conf") throws -> String {
        let site = try String(contentsOfFile: packageRoot + "/nginx/" + name)
        guard let start = site.range(of: "    location \(path) {"),
              let end = site.range(of: "\n    }\n", range: start.upperBound..<site.endIndex) else {
            throw SupportError("nginx/\(name) has no location \(path)")
        }
        let block = String(site[start.lowerBound..<end.upperBound])
        XCTAssertTrue(block.contains("alias \(alias);"))
        return block.replacingOccurrences(of: "alias \(alias);", with: "alias \"\(folder)/\";")
    }

    /// The shipped site's cover location, its alias made `cache`.
    static func shippedCoverLocation(cache: String, site: String = "avalon.conf") throws -> String {
        try shippedLocation("/avalon-internal-covers/", alias: "/var/lib/avalon/avalon.sqlite.covers/", folder: cache, site: site)
    }

    /// A folder image album, an embedded picture album and one with neither,
    /// scanned; then cover rows an attacker with the database would write: a
    /// name climbing out, and a link planted in the cache named like a picture.
    /// `site`: the shipped file whose internal locations nginx has.
    func makeBed(site: String = "avalon.conf") throws -> Bed {
        let dir = makeTempDir("avalon-covers")
        let music = dir + "/music", outside = dir + "/outside"
        let fixtures = packageRoot + "/Tests/AvalonScanTests/Fixtures"
        for sub in ["folder", "embedded", "plain"] { try FileManager.default.createDirectory(atPath: music + "/" + sub, withIntermediateDirectories: true) }
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        for (ext, path, album, artist) in [("mp3", "folder/a.mp3", "Folder", "FA"), ("ogg", "folder/b.ogg", "Folder", "FA"),
                                           ("flac", "embedded/s.flac", "Embedded", "EA"), ("mp3", "plain/p.mp3", "Plain", "PA")] {
            try FileManager.default.copyItem(atPath: "\(fixtures)/silence.\(ext)", toPath: music + "/" + path)
            XCTAssertTrue(writeTags(music + "/" + path, title: path, album: album, artist: artist, genre: "G", track: "1", date: "2020"))
        }
        let folderImage = CoverBytes.picture("jpg", seed: 7), embedded = CoverBytes.picture("png", seed: 8)
        try Data(folderImage).write(to: URL(fileURLWithPath: music + "/folder/cover.jpg"))
        XCTAssertTrue(writePicture(music + "/embedded/s.flac", embedded, mime: "image/png"))
        try Data(CoverBytes.picture("jpg", seed: 9) + Array(Self.marker.utf8)).write(to: URL(fileURLWithPath: outside + "/secret.jpg"))
        let db = dir + "/avalon.sqlite", cache = db + ".covers"
        let scan = try runProgram([product("avalon-scan"), "-d", "sqlite:///" + db, music])
        XCTAssertEqual(scan.status, 0, scan.stderr)
        // A link in the cache, named as the scanner names pictures, to a file outside.
        let planted = String(repeating: "ab", count: 32) + ".jpg"
        try FileManager.default.createSymbolicLink(atPath: cache + "/" + planted, withDestinationPath: outside + "/secret.jpg")
        let evil = """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            c.execute("INSERT INTO avalon_covers VALUES (?, ?)", (sys.argv[2], sys.argv[3]))
            c.execute("INSERT INTO avalon_covers VALUES (?, ?)", (sys.argv[4], sys.argv[5]))
            c.commit()
            """
        let written = try runProgram(["python3", "-c", evil, db, ItemID.album("Plain").hex32, "../../outside/secret.jpg",
                                      ItemID.artist("PA").hex32, planted])
        XCTAssertEqual(written.status, 0, written.stderr)
        let users = dir + "/users"
        try "\(Self.user):\(Self.password)\n".write(toFile: users, atomically: false, encoding: .utf8)
        chmod(users, 0o600)
        let stack = try Stack(extraEnv: ["SUBSONIC_USERS_FILE": users], workers: 2, db: db,
                              nginxExtra: try Self.shippedCoverLocation(cache: cache, site: site)
                                + Self.shippedLocation("/avalon-internal-music/", alias: "/srv/music/", folder: music, site: site))
        return Bed(dir: dir, music: music, cache: cache, stack: stack, collection: try SQLiteStore(path: db).load(),
                   folderImage: folderImage, embedded: embedded)
    }

    func json(_ r: HTTPReply) throws -> [String: Any] {
        let body = try XCTUnwrap(try JSONSerialization.jsonObject(with: r.body) as? [String: Any])
        return try XCTUnwrap(body["subsonic-response"] as? [String: Any])
    }

    func testCoverArtThroughNginx() throws {
        let bed = try makeBed()
        defer { bed.stack.stop(); removeTree(bed.dir) }
        let album = try json(try bed.get("getAlbum", "f=json&id=\(ItemID.album("Folder").uuidString)"))["album"] as! [String: Any]
        let cover = try XCTUnwrap(album["coverArt"] as? String)
        XCTAssertEqual(cover, "ca-" + CoverBytes.sha256Hex(bed.folderImage).prefix(32))
        for song in album["song"] as! [[String: Any]] { XCTAssertEqual(song["coverArt"] as? String, cover, "\(song)") }
        for query in ["id=\(cover)", "id=\(cover)&size=300"] {
            let r = try bed.get("getCoverArt", query)
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(Array(r.body), bed.folderImage, query)
            XCTAssertEqual(r.headers["content-type"], "image/jpeg")
            XCTAssertEqual(r.headers["cache-control"], "private, max-age=31536000, immutable")
            XCTAssertEqual(r.headers["x-content-type-options"], "nosniff")
        }
        // By an album's, a song's or an artist's id: that item's cover now, cached briefly.
        let song = try XCTUnwrap(bed.collection.songs.first { $0.album == bed.collection.albums.index(of: .album("Folder")) }).id
        for (id, bytes, type) in [(ItemID.album("Folder"), bed.folderImage, "image/jpeg"), (song, bed.folderImage, "image/jpeg"),
                                  (ItemID.artist("EA"), bed.embedded, "image/png"), (ItemID.album("Embedded"), bed.embedded, "image/png")] {
            let r = try bed.get("getCoverArt.view", "id=\(id.uuidString)")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(Array(r.body), bytes, id.uuidString)
            XCTAssertEqual(r.headers["content-type"], type)
            XCTAssertEqual(r.headers["cache-control"], "private, max-age=300")
        }
        // No cover: the specification's error 70.
        for id in [ItemID.song(path: bed.music + "/plain/p.mp3").uuidString, "ca-" + String(repeating: "0", count: 32), ""] {
            let r = try bed.get("getCoverArt", "f=json&id=\(id)")
            let e = try json(r)["error"] as? [String: Any]
            XCTAssertEqual(e?["code"] as? Int, id.isEmpty ? 10 : 70, "\(id): \(r.text)")
        }
    }

    /// A picture removed from the cache (a rescan's cleanup while workers
    /// serve the old generation) and a song file removed since the scan
    /// answer 404 through the shipped locations, and nginx's error log holds
    /// no credential of those requests (its "open() failed" line carries the
    /// request line, query and all). The site's locations and the upstream front's.
    func testMissingFilesLogNoCredentials() throws {
        for site in ["avalon.conf", "avalon-upstream.conf"] { try assertMissingFilesLogNoCredentials(site: site) }
    }

    func assertMissingFilesLogNoCredentials(site: String) throws {
        let bed = try makeBed(site: site)
        defer { bed.stack.stop(); removeTree(bed.dir) }
        let name = CoverBytes.sha256Hex(bed.folderImage) + ".jpg"
        try FileManager.default.removeItem(atPath: bed.cache + "/" + name)
        let cover = try bed.get("getCoverArt", "id=ca-\(name.prefix(32))")
        XCTAssertEqual(cover.status, 404, site)
        let song = try XCTUnwrap(bed.collection.songs.first { $0.album == bed.collection.albums.index(of: .album("Plain")) }).id
        let before = try bed.get("stream", "id=\(song.uuidString)")
        XCTAssertEqual(before.status, 200, "\(site)'s music location serves the song")
        try FileManager.default.removeItem(atPath: bed.music + "/plain/p.mp3")
        let gone = try bed.get("stream", "id=\(song.uuidString)")
        XCTAssertEqual(gone.status, 404, site)
        let log = (try? String(contentsOfFile: bed.stack.nginx.dir + "/error.log")) ?? ""
        XCTAssertFalse(log.contains(Self.password), "\(site): nginx's error log holds the password:\n\(log)")
    }

    func testClientCovers() throws {
        guard let (python, spec) = SubsonicTests.clientTools() else { return }
        let bed = try makeBed()
        defer { bed.stack.stop(); removeTree(bed.dir) }
        let pictures = [
            ["album": ItemID.album("Folder").uuidString, "artist": ItemID.artist("FA").uuidString, "file": bed.music + "/folder/cover.jpg"],
            ["album": ItemID.album("Embedded").uuidString, "artist": ItemID.artist("EA").uuidString, "file": bed.dir + "/embedded.png"],
        ]
        try Data(bed.embedded).write(to: URL(fileURLWithPath: bed.dir + "/embedded.png"))
        try SubsonicTests.runClientScript("covers.py", python: python, spec: spec, port: bed.stack.port, user: Self.user, password: Self.password,
                                          data: pictures)
    }

    /// Only pictures of the cache are ever served: not a name climbing out,
    /// not a link planted in the cache, not the internal location from outside.
    func testCoverTraversalSweep() throws {
        let bed = try makeBed()
        defer { bed.stack.stop(); removeTree(bed.dir) }
        var requests: [String] = []
        let c = bed.collection
        var ids = ["ca-../../outside/secret.jpg", "ca-%2e%2e%2f%2e%2e%2foutside%2fsecret.jpg", "ca-" + String(repeating: "ab", count: 16),
                   "../../outside/secret.jpg", "%2e%2e%2fetc%2fpasswd", ItemID.song(path: "/etc/passwd").uuidString]
        ids += c.albums.items.map(\.id.uuidString) + c.artists.items.map(\.id.uuidString) + c.songs.map(\.id.uuidString)
        for id in ids { requests.append("/rest/getCoverArt?id=\(id)&\(bed.auth)") }
        let names = try FileManager.default.contentsOfDirectory(atPath: bed.cache)
        for p in names + ["../outside/secret.jpg", "%2e%2e/outside/secret.jpg", "..%2foutside%2fsecret.jpg", "/../../etc/passwd"] {
            requests.append("/avalon-internal-covers/" + p)
        }
        var served: [String] = []
        for path in requests {
            let r = try bed.stack.get(path)
            if r.text.contains(Self.marker) || r.text.contains("root:x:0:0") { served.append("\(path): \(r.status)") }
            if path.hasPrefix("/avalon-internal-covers/") { XCTAssertTrue([400, 404].contains(r.status), "\(path): \(r.status)") }
        }
        XCTAssertEqual(served, [], "a file outside the cover cache was served")
        // The row naming a path out: not loaded, so the album has no cover (70).
        let out = try bed.get("getCoverArt", "id=\(ItemID.album("Plain").uuidString)")
        XCTAssertTrue(out.text.contains("code=\"70\""), out.text)
        // The planted link: the worker redirects (the name has the cache's form), nginx refuses the link.
        let link = try bed.get("getCoverArt", "id=\(ItemID.artist("PA").uuidString)")
        XCTAssertTrue([403, 404].contains(link.status), "\(link.status)")
    }
}
