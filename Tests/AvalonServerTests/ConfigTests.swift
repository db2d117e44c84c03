import AvalonCore
@testable import AvalonConfig
import AvalonScan
@testable import AvalonServer
import AvalonStore
import Foundation
import TestSupport
import XCTest

final class ConfigTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTempDir() }
    override func tearDown() { removeTree(dir) }

    func file(_ text: String) -> String {
        let path = dir + "/avalon.toml"
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testDefaults() throws {
        let c = try Config.load(environment: ["TMPDIR": "/var/tmp/"])
        XCTAssertEqual(c.databaseURL, .sqlite(path: "/var/tmp/avalon.sqlite"))
        XCTAssertEqual(c.requestPath, "/avalon")
        XCTAssertEqual(c.logLevel, .info)
        XCTAssertNil(c.logPath)
        XCTAssertEqual(c.logFormat, "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
        XCTAssertEqual(c.logDateFormat, "%Y-%m-%dT%H:%M:%S")
        XCTAssertEqual([c.statsdHost, String(c.statsdPort), c.statsdPrefix], ["localhost", "8125", "avalon"])
        XCTAssertNil(c.sentryDSN)
        XCTAssertNil(c.adminSecret)
        XCTAssertEqual(try Config.load(environment: [:]).databaseURL, .sqlite(path: "/tmp/avalon.sqlite"))
    }

    func testFileThenEnvironment() throws {
        let path = file("""
            # an old Python settings line works as it is
            DATABASE_URL = 'sqlite:////var/db/avalon.sqlite'
            REQUEST_PATH = "/music/api"   # trailing comment
            STATSD_PORT = 9_125
            LOG_LEVEL = 'debug'
            SOMETHING_ELSE = 'x'
            """)
        let c = try Config.load(environment: ["AVALON_CONFIG": path])
        XCTAssertEqual(c.databaseURL, .sqlite(path: "/var/db/avalon.sqlite"))
        XCTAssertEqual(c.requestPath, "/music/api")
        XCTAssertEqual(c.statsdPort, 9125)
        XCTAssertEqual(c.logLevel, .debug)
        XCTAssertEqual(c.warnings.count, 1)
        XCTAssertTrue(c.warnings[0].contains("SOMETHING_ELSE") && c.warnings[0].contains(":6"), c.warnings[0])
        let e = try Config.load(environment: ["AVALON_CONFIG": path, "REQUEST_PATH": "/", "DATABASE_URL": "postgresql://u@h/db"])
        XCTAssertEqual(e.requestPath, "/")
        XCTAssertEqual(e.databaseURL, .postgres(uri: "postgresql://u@h/db"))
        XCTAssertEqual(e.statsdPort, 9125, "settings the environment does not name still come from the file")
    }

    func assertInvalid(_ env: [String: String], _ parts: [String], file f: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Config.load(environment: env), file: f, line: line) { e in
            for p in parts { XCTAssertTrue("\(e)".contains(p), "\(e) lacks \(p)", file: f, line: line) }
        }
    }

    func testValidationErrorsNameFileLineSettingAndReason() {
        assertInvalid(["AVALON_CONFIG": dir + "/missing.toml"], ["missing.toml", "AVALON_CONFIG"])
        assertInvalid(["AVALON_CONFIG": file("LOG_LEVEL = 'INFO'\nREQUEST_PATH = 'avalon'\n")], ["avalon.toml:2", "REQUEST_PATH", "start with '/'"])
        assertInvalid(["AVALON_CONFIG": file("REQUEST_PATH = '/avalon/'")], ["avalon.toml:1", "must not end with '/'"])
        assertInvalid(["AVALON_CONFIG": file("\n\nLOG_LEVEL = 'LOUD'")], ["avalon.toml:3", "LOG_LEVEL", "LOUD"])
        assertInvalid(["AVALON_CONFIG": file("DATABASE_URL = sqlite")], ["avalon.toml:1", "DATABASE_URL"])
        assertInvalid(["AVALON_CONFIG": file("DATABASE_URL = 'oops")], ["avalon.toml:1", "unterminated"])
        assertInvalid(["AVALON_CONFIG": file("import os")], ["avalon.toml:1", "expected"])
        assertInvalid(["AVALON_CONFIG": file("STATSD_PORT = 'many'")], ["avalon.toml:1", "STATSD_PORT"])
        assertInvalid(["AVALON_CONFIG": file("LOG_PATH = 3")], ["avalon.toml:1", "LOG_PATH", "quoted string"])
        assertInvalid(["AVALON_CONFIG": file("LOG_LEVEL = 'INFO'\nLOG_LEVEL = 'DEBUG'")], ["avalon.toml:2", "twice"])
        assertInvalid(["DATABASE_URL": "mysql://x"], ["environment variable DATABASE_URL", "unsupported scheme"])
        assertInvalid(["LOG_LEVEL": "verbose"], ["environment variable LOG_LEVEL"])
        assertInvalid(["COVER_CACHE": "covers"], ["COVER_CACHE", "absolute path"])
        assertInvalid(["SUBSONIC_COVER_PATH": "/covers/"], ["SUBSONIC_COVER_PATH", "not end with '/'", "/avalon-internal-covers"])
        assertInvalid(["SUBSONIC_COVER_PATH": "/a/../b"], ["SUBSONIC_COVER_PATH", "'..'"])
        assertInvalid(["SUBSONIC_SIGNIN_FAILURES": "255"], ["SUBSONIC_SIGNIN_FAILURES", "0 (off) to 254", "the default is 10"])
        assertInvalid(["SUBSONIC_SIGNIN_FAILURES": "many"], ["SUBSONIC_SIGNIN_FAILURES", "'many'"])
        assertInvalid(["SUBSONIC_SIGNIN_WINDOW": "0.5"], ["SUBSONIC_SIGNIN_WINDOW", "whole seconds from 1 to 3600"])
        assertInvalid(["SUBSONIC_SIGNIN_WINDOW": "7200"], ["SUBSONIC_SIGNIN_WINDOW", "the default is 60"])
    }

    /// The sign-in lockout's settings: 10 failures a minute unless set; 0 turns it off.
    func testSignInLockoutSettings() throws {
        let d = try Config.load(environment: [:])
        XCTAssertEqual(d.subsonicSignInFailures, 10)
        XCTAssertEqual(d.subsonicSignInWindow, 60)
        let c = try Config.load(environment: ["SUBSONIC_SIGNIN_FAILURES": "0", "SUBSONIC_SIGNIN_WINDOW": "300"])
        XCTAssertEqual(c.subsonicSignInFailures, 0)
        XCTAssertEqual(c.subsonicSignInWindow, 300)
    }

    /// The cover settings: the cache beside a SQLite database unless COVER_CACHE, none for PostgreSQL without it.
    func testCoverSettings() throws {
        let c = try Config.load(environment: ["COVER_CACHE": "/srv/covers", "SUBSONIC_COVER_PATH": "/internal-covers"])
        XCTAssertEqual(c.coverCache, "/srv/covers")
        XCTAssertEqual(c.subsonicCoverPath, "/internal-covers")
        let d = try Config.load(environment: [:])
        XCTAssertNil(d.coverCache)
        XCTAssertEqual(d.subsonicCoverPath, "/avalon-internal-covers")
        XCTAssertEqual(coverCacheFolder(for: .sqlite(path: "/var/db/a.sqlite"), setting: nil), "/var/db/a.sqlite.covers")
        XCTAssertEqual(coverCacheFolder(for: .sqlite(path: "/var/db/a.sqlite"), setting: "/srv/covers"), "/srv/covers")
        XCTAssertNil(coverCacheFolder(for: .postgres(uri: "postgresql://h/db"), setting: nil))
        XCTAssertEqual(coverCacheFolder(for: .postgres(uri: "postgresql://h/db"), setting: "/srv/covers"), "/srv/covers")
    }

    func testEchoConfigOutputLoadsUnchanged() throws {
        let r = try runProgram([product("avalon-echo-config")], environment: ["TMPDIR": "/srv/tmp"])
        XCTAssertEqual(r.status, 0)
        for s in Config.settings { XCTAssertTrue(r.stdout.contains(s.name), s.name) }
        let path = file(r.stdout)
        let loaded = try Config.load(environment: ["AVALON_CONFIG": path, "TMPDIR": "/elsewhere"])
        let plain = try Config.load(environment: ["TMPDIR": "/srv/tmp"])
        XCTAssertEqual(loaded.databaseURL, plain.databaseURL)
        XCTAssertEqual(loaded.requestPath, plain.requestPath)
        XCTAssertEqual(loaded.logFormat, plain.logFormat)
        XCTAssertEqual(loaded.logDateFormat, plain.logDateFormat)
        XCTAssertEqual(loaded.statsdPort, plain.statsdPort)
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(try runProgram([product("avalon-echo-config"), "-V"]).stdout, "1.0.0\n")
    }

    func testLineFormat() {
        let f = LineFormat(format: "%(asctime)s|%(process)d|%(levelname)s|%(name)s|%(message)s|%%|%(other)s", dateFormat: "%Y/%m")
        var t = tm()
        var now = time(nil)
        localtime_r(&now, &t)
        let line = f.render(level: "WARNING", message: "hello", name: "avalon", time: now)
        XCTAssertEqual(line, String(format: "%04d/%02d", t.tm_year + 1900, t.tm_mon + 1) + "|\(getpid())|WARNING|avalon|hello|%|%(other)s")
    }
}

final class RouterTests: XCTestCase {
    func collection() -> MusicCollection {
        var b = CollectionBuilder()
        b.addElement(.album, id: .album("A"), name: "A")
        b.addElement(.artist, id: .artist("R"), name: "R")
        b.addElement(.genre, id: .genre("G"), name: "G")
        b.addSong(id: .song(path: "/x"), name: "Song", length: 1, track: 1, year: 1, album: .album("A"), artist: .artist("R"), genre: .genre("G"))
        return b.build()
    }

    func testPrefixes() throws {
        let root = Router(collection: collection(), requestPath: "/", adminSecret: nil)
        XCTAssertEqual(try root.handle(Request(method: "GET", path: "/heartbeat", query: "")).body, Array("OKOKOK".utf8))
        XCTAssertEqual(try root.handle(Request(method: "GET", path: "/songs", query: "")).status, 200)
        let api = Router(collection: collection(), requestPath: "/music/api", adminSecret: nil)
        XCTAssertEqual(try api.handle(Request(method: "GET", path: "/music/api/albums", query: "")).status, 200)
        XCTAssertEqual(try api.handle(Request(method: "GET", path: "/music/api", query: "")).status, 404)
        XCTAssertEqual(try api.handle(Request(method: "GET", path: "/music/apialbums", query: "")).status, 404)
        XCTAssertEqual(try api.handle(Request(method: "GET", path: "/albums", query: "")).status, 404)
        XCTAssertEqual(try api.handle(Request(method: "GET", path: "/music/api/albums/", query: "")).status, 404)
        XCTAssertEqual(try api.handle(Request(method: "DELETE", path: "/music/api/albums", query: "")).status, 405)
        XCTAssertEqual(try api.handle(Request(method: "POST", path: "/music/api/nothing", query: "")).status, 404)
        XCTAssertEqual(try api.handle(Request(method: "HEAD", path: "/music/api/version", query: "")).body, Array(avalonVersion.utf8))
    }

    func testAdminPath() {
        let closed = Router(collection: collection(), requestPath: "/avalon", adminSecret: nil)
        XCTAssertEqual(try closed.handle(Request(method: "GET", path: "/avalon/debug/error", query: "secret=")).status, 404)
        let open = Router(collection: collection(), requestPath: "/avalon", adminSecret: "s3cret")
        XCTAssertEqual(try open.handle(Request(method: "GET", path: "/avalon/debug/error", query: "secret=wrong")).status, 404)
        XCTAssertThrowsError(try open.handle(Request(method: "GET", path: "/avalon/debug/error", query: "secret=s3cret")))
        XCTAssertThrowsError(try open.handle(Request(method: "GET", path: "/avalon/debug/error", query: "", apiKey: "s3cret")))
    }
}
