@testable import AvalonServer
import AvalonConfig
import AvalonCore
import AvalonStore
import Foundation
import FoundationXML
import TestSupport
import XCTest

/// The Subsonic API in the router: routes and their metric rows, formats,
/// sign-in and the answers' shapes, without processes (SubsonicTests has those).
final class SubsonicRouterTests: XCTestCase {
    static let collection: MusicCollection = {
        var b = CollectionBuilder()
        let rows = SubsonicTests.rows()
        for e in rows.albums { b.addElement(.album, id: e.id, name: e.name) }
        for e in rows.artists { b.addElement(.artist, id: e.id, name: e.name) }
        for e in rows.genres { b.addElement(.genre, id: e.id, name: e.name) }
        for t in rows.tracks {
            b.addSong(id: t.id, name: t.name, length: t.length, track: t.track, year: t.year, album: t.album, artist: t.artist, genre: t.genre)
        }
        return b.build()
    }()

    static let api = SubsonicAPI(path: "/rest", accounts: SubsonicAccounts(users: [("alice", "pw"), ("bob", "x")], keys: [("k3y", "bob")]),
                                 loadedAtMilliseconds: 1_700_000_000_123)
    let router = Router(collection: SubsonicRouterTests.collection, requestPath: "/avalon", adminSecret: nil, subsonic: SubsonicRouterTests.api)

    func get(_ method: String, _ query: String, auth: String = "u=alice&p=pw") throws -> HTTPResponse {
        try router.handle(Request(method: "GET", path: "/rest/" + method, query: auth + "&v=1.16.1&c=t&" + query))
    }

    func json(_ method: String, _ query: String = "", auth: String = "u=alice&p=pw") throws -> [String: Any] {
        let r = try get(method, "f=json&" + query, auth: auth)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.contentType, AnswerHead.jsonType)
        let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        return o?["subsonic-response"] as? [String: Any] ?? [:]
    }

    func errorCode(_ r: [String: Any]) -> Int? { (r["error"] as? [String: Any])?["code"] as? Int }

    func testRoutesHaveTheirOwnMetricRows() {
        func route(_ p: String) -> MetricEndpoint {
            var p = p
            return p.withUTF8 { router.route($0) }
        }
        XCTAssertEqual(route("/rest/ping"), route("/rest/ping.view"))
        XCTAssertEqual(route("/rest/ping").label, "subsonic_ping")
        XCTAssertEqual(route("/rest/search3.view").label, "subsonic_search3")
        XCTAssertEqual(route("/rest/setRating.view").label, "subsonic_star")
        XCTAssertEqual(route("/rest/nothing").label, "subsonic_other")
        XCTAssertEqual(route("/avalon/songs").label, "songs")
        XCTAssertEqual(route("/avalon/ping"), .other)
        XCTAssertEqual(route("/rest/"), .other)
        let off = Router(collection: Self.collection, requestPath: "/avalon", adminSecret: nil)
        var p = "/rest/ping.view"
        XCTAssertEqual(p.withUTF8 { off.route($0) }, .other)
        let labels = MetricEndpoint.allCases.map(\.label)
        XCTAssertEqual(Set(labels).count, labels.count, "one row per route")
        XCTAssertEqual(MetricEndpoint.count, Route.table.count + Route.subsonicTable.count + 1)
        // Under REQUEST_PATH "/", Avalon's routes come first and the Subsonic API still answers.
        let root = Router(collection: Self.collection, requestPath: "/", adminSecret: nil, subsonic: Self.api)
        var q = "/rest/getArtists.view", s = "/songs"
        XCTAssertEqual(q.withUTF8 { root.route($0) }.label, "subsonic_getArtists")
        XCTAssertEqual(s.withUTF8 { root.route($0) }.label, "songs")
    }

    func testSignIn() throws {
        XCTAssertEqual(try json("ping")["status"] as? String, "ok")
        XCTAssertEqual(try json("ping", auth: "u=alice&p=enc:7077")["status"] as? String, "ok")
        // md5("pw" + "salt")
        XCTAssertEqual(try json("ping", auth: "u=alice&t=\(md5Hex("pwsalt"))&s=salt")["status"] as? String, "ok")
        XCTAssertEqual(try json("ping", auth: "u=alice&t=\(md5Hex("pwsalt").uppercased())&s=salt")["status"] as? String, "ok")
        XCTAssertEqual(try json("getUser", "username=bob", auth: "apiKey=k3y")["status"] as? String, "ok")
        XCTAssertEqual(errorCode(try json("ping", auth: "u=alice&p=pW")), 40)
        XCTAssertEqual(errorCode(try json("ping", auth: "u=alice&p=enc:zz")), 40)
        XCTAssertEqual(errorCode(try json("ping", auth: "u=carol&p=pw")), 40)
        XCTAssertEqual(errorCode(try json("ping", auth: "u=alice&t=\(md5Hex("pwsalt"))&s=other")), 40)
        XCTAssertEqual(errorCode(try json("ping", auth: "u=alice&t=abc")), 10)
        XCTAssertEqual(errorCode(try json("ping", auth: "u=alice&p=pw&t=x&s=y")), 43)
        XCTAssertEqual(errorCode(try json("ping", auth: "apiKey=k3y&u=bob")), 43)
        XCTAssertEqual(errorCode(try json("ping", auth: "apiKey=k3")), 44)
        XCTAssertEqual(errorCode(try json("ping", auth: "")), 10)
        XCTAssertEqual(errorCode(try json("getUser", "username=alice", auth: "apiKey=k3y")), 50)
        let r = try router.handle(Request(method: "GET", path: "/rest/ping", query: "u=alice&p=pw&v=2.0.0&c=t&f=json"))
        XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("\"code\": 30"))
        XCTAssertEqual(try router.handle(Request(method: "DELETE", path: "/rest/ping", query: "u=alice&p=pw&v=1.16.1&c=t")).status, 200)
    }

    /// The protocol version and client name: the bytes' fast path ("1",
    /// "1.x") and the general one give the codes the specification names.
    func testVersions() throws {
        func code(_ rest: String) throws -> Int? {
            let r = try router.handle(Request(method: "GET", path: "/rest/ping", query: "u=alice&p=pw&f=json&" + rest))
            let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
            let answer = o?["subsonic-response"] as? [String: Any] ?? [:]
            return answer["status"] as? String == "ok" ? nil : errorCode(answer)
        }
        for ok in ["v=1&c=t", "v=1.16.1&c=t", "v=1.&c=t", "v=01.2&c=t", "v=%2B1.0&c=t", "c=t&v=1.1&v=9"] {
            XCTAssertNil(try code(ok), ok)
        }
        let refused: [(String, Int)] = [("v=10.0&c=t", 30), ("v=2&c=t", 30), ("v=0.9&c=t", 20), ("v=-1&c=t", 20), ("v=1&c=", 10),
                                        ("v=1", 10), ("c=t", 10), ("v=&c=t", 10), ("v=1a&c=t", 0), ("v=.1&c=t", 0), ("v=x&c=t", 0), ("v=+1.0&c=t", 0)]
        for (query, expected) in refused { XCTAssertEqual(try code(query), expected, query) }
    }

    func testFormats() throws {
        let xml = try get("getGenres", "")
        XCTAssertEqual(xml.contentType, Router.xmlType)
        let text = String(decoding: xml.body, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?><subsonic-response xmlns=\"http://subsonic.org/restapi\" status=\"ok\" version=\"1.16.1\" type=\"avalon\""), text)
        XCTAssertTrue(text.contains("<genre songCount=\"3\" albumCount=\"3\">Punk</genre>"), text)
        XCTAssertTrue(XMLParser(data: Data(xml.body)).parse())
        // Names that need escaping, in both formats.
        let artists = String(decoding: try get("getArtists", "").body, as: UTF8.self)
        XCTAssertTrue(artists.contains("name=\"Sly &amp; &lt;The&gt; &quot;Family&quot;\""), artists)
        XCTAssertTrue(XMLParser(data: Data(artists.utf8)).parse())
        // Specials after a clean first word (the eight-byte path), and control characters.
        let song = String(decoding: try get("search3", "query=everyday").body, as: UTF8.self)
        XCTAssertTrue(song.contains("title=\"Everyday &lt;People&gt;\""), song)
        XCTAssertTrue(song.contains("album=\"Stand! &amp; &apos;Sit&apos;\""), song)
        var c = ResponseBuffer()
        var w = NodeWriter(c, format: .xml)
        w.open("x"); w.attr("a", "abcdefgh\u{01}ijklmnop\"qrstuvwx>yz"); w.close()
        XCTAssertEqual(String(decoding: c.array, as: UTF8.self), "<x a=\"abcdefgh ijklmnop&quot;qrstuvwx&gt;yz\"/>")
        c = ResponseBuffer()
        let index = try json("getArtists")["artists"] as! [String: Any]
        let letters = (index["index"] as! [[String: Any]]).map { $0["name"] as! String }
        XCTAssertEqual(letters, ["C", "J", "S", "V", "К"], "The Clash under C, articles ignored")
        let p = try get("ping", "f=jsonp&callback=my.cb$1")
        XCTAssertEqual(p.contentType, Router.javascriptType)
        XCTAssertTrue(String(decoding: p.body, as: UTF8.self).hasPrefix("my.cb$1({\"subsonic-response\": {\"status\": \"ok\""))
        let bad = try get("ping", "f=jsonp&callback=x;alert(1)")
        XCTAssertEqual(bad.contentType, AnswerHead.jsonType)
        XCTAssertTrue(String(decoding: bad.body, as: UTF8.self).hasPrefix("{\"subsonic-response\": {\"status\": \"failed\""))
        let ext = try json("getOpenSubsonicExtensions")["openSubsonicExtensions"] as! [[String: Any]]
        XCTAssertEqual(ext.map { $0["name"] as! String }, ["formPost", "apiKeyAuthentication"])
        XCTAssertEqual(ext[0]["versions"] as! [Int], [1])
    }

    func testFormBody() throws {
        var (method, path, query, body) = ("POST", "/rest/getAlbumList2.view", "f=json", "u=alice&p=pw&v=1.16.1&c=t&type=alphabeticalByName&size=2")
        let out = ResponseBuffer()
        try method.withUTF8 { m in
            try path.withUTF8 { p in
                try query.withUTF8 { q in
                    try body.withUTF8 { b in
                        var h = RequestBytes()
                        (h.method, h.query, h.body) = (m, q, b)
                        _ = try router.answer(h, path: p, into: out)
                    }
                }
            }
        }
        let r = try JSONSerialization.jsonObject(with: Data(out.array)) as! [String: Any]
        let list = ((r["subsonic-response"] as! [String: Any])["albumList2"] as! [String: Any])["album"] as! [[String: Any]]
        XCTAssertEqual(list.map { $0["name"] as! String }, ["Dear You", "London Calling"])
    }

    func testSearchAndLists() throws {
        let all = try json("search3", "query=&songCount=500")["searchResult3"] as! [String: Any]
        XCTAssertEqual((all["song"] as! [Any]).count, Self.collection.songs.count)
        let page = try json("search3", "query=%22%22&songCount=2&songOffset=5&artistCount=1&albumCount=1")["searchResult3"] as! [String: Any]
        XCTAssertEqual((page["song"] as! [[String: Any]]).map { $0["id"] as! String },
                       Self.collection.songs[5...6].map(\.id.uuidString))
        XCTAssertEqual((page["artist"] as! [Any]).count, 1)
        let found = try json("search3", "query=train")["searchResult3"] as! [String: Any]
        XCTAssertEqual((found["song"] as! [[String: Any]]).map { $0["title"] as! String }, ["Train in Vain"])
        XCTAssertEqual((try json("search3", "query=zzzz")["searchResult3"] as! [String: [Any]]).mapValues(\.count), ["artist": 0, "album": 0, "song": 0])
        let years = try json("getAlbumList2", "type=byYear&fromYear=1980&toYear=1960")["albumList2"] as! [String: Any]
        XCTAssertEqual((years["album"] as! [[String: Any]]).map { $0["year"] as! Int }, [1979, 1968], "descending when fromYear > toYear")
        XCTAssertEqual(errorCode(try json("getAlbumList2", "type=bogus")), 0)
        XCTAssertEqual(errorCode(try json("getAlbum", "id=not-a-uuid")), 70)
        XCTAssertEqual(errorCode(try json("getSongsByGenre")), 10)
        XCTAssertEqual((try json("getSongsByGenre", "genre=rock&count=1&offset=1")["songsByGenre"] as! [String: [Any]])["song"]?.count, 1)
        let user = try json("getUser", "username=alice")["user"] as! [String: Any]
        XCTAssertEqual(user["streamRole"] as? Bool, true)
        XCTAssertEqual(user["adminRole"] as? Bool, false)
        XCTAssertEqual((try json("getScanStatus")["scanStatus"] as! [String: Any])["count"] as? Int, Self.collection.songs.count)
        let album = try json("getAlbumList2", "type=newest&size=1")["albumList2"] as! [String: Any]
        XCTAssertEqual((album["album"] as! [[String: Any]])[0]["created"] as? String, "2023-11-14T22:13:20.123Z")
    }

    /// An album's songs by track, ties in collection order: tracks that fit
    /// 32 bits take the packed sort, a negative or huge one the general one.
    func testAlbumSongsInTrackOrder() throws {
        var b = CollectionBuilder()
        let (ar, ge) = (ItemID.artist("R"), ItemID.genre("G"))
        b.addElement(.artist, id: ar, name: "R")
        b.addElement(.genre, id: ge, name: "G")
        let albums: [(String, [Int64])] = [("fits", [3, 1, 0, 2, 1, 3, 4_294_967_295, 7]),
                                           ("negative", [2, -1, 1, 2, -5]),
                                           ("huge", [4_294_967_296, 1, 3, 1])]
        for (name, tracks) in albums {
            b.addElement(.album, id: .album(name), name: name)
            for (i, t) in tracks.enumerated() {
                b.addSong(id: .song(path: "/\(name)/\(i)"), name: "\(name) \(i)", length: 1, track: t, year: 1,
                          album: .album(name), artist: ar, genre: ge)
            }
        }
        let c = b.build()
        let r = Router(collection: c, requestPath: "/avalon", adminSecret: nil, subsonic: Self.api)
        for (name, _) in albums {
            let answer = try r.handle(Request(method: "GET", path: "/rest/getAlbum",
                                              query: "u=alice&p=pw&v=1.16.1&c=t&f=json&id=\(ItemID.album(name).uuidString)"))
            let o = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
            let songs = try XCTUnwrap(((o?["subsonic-response"] as? [String: Any])?["album"] as? [String: Any])?["song"] as? [[String: Any]])
            // The model: (track, place in the collection), compared as a pair.
            let expected = c.songs.indices.filter { c.text(c.albums.items[Int(c.songs[$0].album)].name) == name }
                .sorted { (c.songs[$0].track, $0) < (c.songs[$1].track, $1) }.map { c.text(c.songs[$0].name) }
            XCTAssertEqual(songs.map { $0["title"] as? String }, expected, name)
            XCTAssertEqual(expected.count, albums.first { $0.0 == name }!.1.count)
        }
    }

    /// With the scanner's file facts: songs carry them, albums' `created` is
    /// their earliest song's, `newest` orders by it, and stream answers
    /// X-Accel-Redirect with no body (a refused path: error 70).
    func testFileFacts() throws {
        var b = CollectionBuilder()
        let rows = SubsonicTests.rows()
        for e in rows.albums { b.addElement(.album, id: e.id, name: e.name) }
        for e in rows.artists { b.addElement(.artist, id: e.id, name: e.name) }
        for e in rows.genres { b.addElement(.genre, id: e.id, name: e.name) }
        b.musicFolder = "/music"
        for (i, t) in rows.tracks.enumerated() {
            b.addSong(id: t.id, name: t.name, length: t.length, track: t.track, year: t.year, album: t.album, artist: t.artist, genre: t.genre)
            // The first song's path climbs out: never named to nginx.
            var path = Array((i == 0 ? "../outside.mp3" : "d\(i)/s \(i).mp3").utf8)
            path.withUnsafeBufferPointer {
                b.addFile(song: t.id, relativePath: $0, size: 1000 + Int64(i), bitRate: 128, disc: Int64(i % 2), created: 1_600_000_000 + Int64(i) * 86400)
            }
        }
        let c = b.build()
        let router = Router(collection: c, requestPath: "/avalon", adminSecret: nil, subsonic: Self.api)
        func json(_ method: String, _ query: String) throws -> [String: Any] {
            let r = try router.handle(Request(method: "GET", path: "/rest/" + method, query: "u=alice&p=pw&v=1.16.1&c=t&f=json&" + query))
            return (try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["subsonic-response"] as? [String: Any] ?? [:]
        }
        let last = rows.tracks.count - 1, t = rows.tracks[last]
        let song = try XCTUnwrap(json("getSong", "id=\(t.id.uuidString)")["song"] as? [String: Any])
        XCTAssertEqual(song["path"] as? String, "d\(last)/s \(last).mp3")
        XCTAssertEqual(song["size"] as? Int, 1000 + last)
        XCTAssertEqual(song["suffix"] as? String, "mp3")
        XCTAssertEqual(song["contentType"] as? String, "audio/mpeg")
        XCTAssertEqual(song["bitRate"] as? Int, 128)
        XCTAssertEqual(song["created"] as? String, isoTime(seconds: 1_600_000_000 + Int64(last) * 86400))
        // Albums: the newest is the last song's, and its created is its earliest song's.
        let newest = try XCTUnwrap((json("getAlbumList2", "type=newest&size=500")["albumList2"] as? [String: Any])?["album"] as? [[String: Any]])
        XCTAssertEqual(newest.first?["id"] as? String, t.album.uuidString)
        let created = newest.compactMap { $0["created"] as? String }
        XCTAssertEqual(created, created.sorted(by: >))
        let first = rows.tracks.firstIndex { $0.album == t.album }!
        XCTAssertEqual(newest.first?["created"] as? String, isoTime(seconds: 1_600_000_000 + Int64(first) * 86400))
        // stream: a redirect to nginx and no body; the climbing path is error 70.
        let r = try router.handle(Request(method: "GET", path: "/rest/stream", query: "u=alice&p=pw&v=1.16.1&c=t&id=\(t.id.uuidString)"))
        XCTAssertEqual(r.contentType, "audio/mpeg")
        XCTAssertTrue(r.body.isEmpty)
        let refused = try json("stream", "id=\(rows.tracks[0].id.uuidString)")
        XCTAssertEqual(errorCode(refused), 70)
    }

    /// ISO 8601 in UTC, as the API writes times.
    func isoTime(seconds: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    func testSettings() throws {
        let d = try Config.load(environment: [:])
        XCTAssertEqual(d.subsonicPath, "/rest")
        XCTAssertNil(d.subsonicUsersFile)
        let c = try Config.load(environment: ["SUBSONIC_PATH": "/music/rest", "SUBSONIC_USERS_FILE": "/etc/avalon/users",
                                              "SUBSONIC_API_KEYS_FILE": "/etc/avalon/keys"])
        XCTAssertEqual([c.subsonicPath, c.subsonicUsersFile, c.subsonicAPIKeysFile], ["/music/rest", "/etc/avalon/users", "/etc/avalon/keys"])
        for bad in ["rest", "/rest/", "/"] {
            XCTAssertThrowsError(try Config.load(environment: ["SUBSONIC_PATH": bad])) { e in
                XCTAssertTrue("\(e)".contains("SUBSONIC_PATH"), "\(e)")
            }
        }
        XCTAssertThrowsError(try Config.load(environment: ["SUBSONIC_PATH": "/avalon"]))
        XCTAssertTrue(Config.defaultFile().contains("SUBSONIC_USERS_FILE"))
        // No users file: the API is off.
        XCTAssertNil(try SubsonicAPI.load(d))
    }

    func testKeyFile() throws {
        let dir = makeTempDir("avalon-subsonic-keys")
        defer { removeTree(dir) }
        try SubsonicTests.secretFile(dir + "/users", "alice:pw\n")
        let env = ["SUBSONIC_USERS_FILE": dir + "/users", "SUBSONIC_API_KEYS_FILE": dir + "/keys"]
        let nobody = try runProgram([product("avalon-subsonic-key"), "new", "carol"], environment: env)
        XCTAssertEqual(nobody.status, 1)
        XCTAssertTrue(nobody.stderr.contains("no user 'carol'"), nobody.stderr)
        let made = try runProgram([product("avalon-subsonic-key"), "new", "alice"], environment: env)
        XCTAssertEqual(made.status, 0, made.stderr)
        let key = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var st = stat()
        XCTAssertEqual(stat(dir + "/keys", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let api = try XCTUnwrap(try SubsonicAPI.load(try Config.load(environment: env)))
        XCTAssertEqual(api.accounts.user(apiKey: key), 0)
        let list = try runProgram([product("avalon-subsonic-key"), "list"], environment: env)
        XCTAssertFalse(list.stdout.contains(key), "list shows no whole key")
        XCTAssertEqual(try runProgram([product("avalon-subsonic-key"), "revoke", key], environment: env).status, 0)
        XCTAssertNil(try XCTUnwrap(try SubsonicAPI.load(try Config.load(environment: env))).accounts.user(apiKey: key))
        XCTAssertEqual(try runProgram([product("avalon-subsonic-key"), "revoke", key], environment: env).status, 1)
    }
}
