import AvalonCore
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// The Subsonic API through real nginx and avalon-fcgi, driven by two
/// client libraries from PyPI (Tests/subsonic/clients.py), and the rules
/// around its users file.
final class SubsonicTests: XCTestCase {
    static let user = "alice", password = "s3cret-pass&word"

    /// The HTTP stack's collection, plus names that need escaping and an article.
    static func rows() -> CollectionRows {
        var rows = Stack.rows()
        for (artist, album, title, year) in [("The Clash", "London Calling", "Train in Vain", 1979),
                                              ("Sly & <The> \"Family\"", "Stand! & 'Sit'", "Everyday <People>", 1968)] {
            rows.artists.append(.init(id: .artist(artist), name: artist))
            rows.albums.append(.init(id: .album(album), name: album))
            rows.tracks.append(.init(id: .song(path: "/music/\(title).mp3"), name: title, length: 190, track: 1, year: Int64(year),
                                     album: .album(album), artist: .artist(artist), genre: .genre("Rock")))
        }
        return rows
    }

    /// A file only its owner may read.
    static func secretFile(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
    }

    /// The venv with the client libraries and the specification, or a failure saying how to get them.
    static func clientTools() -> (python: String, spec: String)? {
        let python = packageRoot + "/.build/venv-subsonic/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            XCTFail("no venv at \(python): deploy/test.sh makes it (python3 -m venv .build/venv-subsonic && .build/venv-subsonic/bin/pip install py-sonic py-opensonic jsonschema)")
            return nil
        }
        // OPENSUBSONIC_SPEC: for a checkout that has no ../shared beside it.
        let spec = ProcessInfo.processInfo.environment["OPENSUBSONIC_SPEC"] ?? packageRoot + "/../shared/opensubsonic"
        guard FileManager.default.fileExists(atPath: spec + "/openapi/openapi.json") else {
            XCTFail("the OpenSubsonic specification is not at \(spec) (the suite runs with ../shared beside the checkout)")
            return nil
        }
        return (python, spec)
    }

    /// Runs a client script of Tests/subsonic (arguments: port, spec, user,
    /// password, `data` as JSON) and fails the test with its output if it fails.
    static func runClientScript(_ script: String, python: String, spec: String, port: Int, user: String, password: String, data: Any,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: data), as: UTF8.self)
        let r = try runProgram([python, packageRoot + "/Tests/subsonic/" + script, "\(port)", spec, user, password, json])
        print(r.stdout)
        XCTAssertEqual(r.status, 0, "\(script) failed:\n\(r.stderr)\n\(r.stdout)", file: file, line: line)
    }

    func testClientSessions() throws {
        guard let (python, spec) = Self.clientTools() else { return }
        let dir = makeTempDir("avalon-subsonic")
        defer { removeTree(dir) }
        let users = dir + "/users", keys = dir + "/keys", db = dir + "/avalon.sqlite"
        try Self.secretFile(users, "# Subsonic users\n\(Self.user):\(Self.password)\nbob:other\n")
        let rows = Self.rows()
        try SQLiteStore(path: db).replace(with: rows)
        let env = ["SUBSONIC_USERS_FILE": users, "SUBSONIC_API_KEYS_FILE": keys]
        let made = try runProgram([product("avalon-subsonic-key"), "new", Self.user], environment: env)
        XCTAssertEqual(made.status, 0, made.stderr)
        let key = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(key.count, 64)

        let admin = "subsonic-admin-secret-0123"
        // The sessions' error checks fail sign-ins more often than the lockout
        // allows (SubsonicSignInLimitTests tests it): a limit they stay under.
        let stack = try Stack(extraEnv: env.merging(["LOG_LEVEL": "DEBUG", "ADMIN_SECRET": admin, "SUBSONIC_SIGNIN_FAILURES": "254"]) { $1 },
                              workers: 2, db: db)
        defer { stack.stop() }
        let collection = try SQLiteStore(path: db).load()
        var genres: [String: Int] = [:]
        for t in rows.tracks { genres[rows.genres.first { $0.id == t.genre }!.name, default: 0] += 1 }
        let expected: [String: Any] = [
            "artists": rows.artists.map(\.name), "albums": collection.albums.items.map(\.id.uuidString),
            "songs": collection.songs.map(\.id.uuidString), "genres": genres.map { [$0.key, $0.value] },
            "search": "giving", "searchTitle": "This Is Giving Up",
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: expected), as: UTF8.self)
        let r = try runProgram([python, packageRoot + "/Tests/subsonic/clients.py", "\(stack.port)", spec, Self.user, Self.password, key, json])
        print(r.stdout)
        XCTAssertEqual(r.status, 0, "clients.py failed:\n\(r.stderr)\n\(r.stdout)")

        // No credential reached the log, though every request was logged (DEBUG).
        let log = stack.log
        XCTAssertTrue(log.contains("/rest/"), "requests are logged")
        let token = md5Hex(Self.password + "c0ffee42")
        for secret in [Self.password, key, token, "c0ffee42", Array(Self.password.utf8).map { String(format: "%02x", $0) }.joined()] {
            XCTAssertFalse(log.contains(secret), "a credential in the log")
        }

        // Each method counted in its own metrics row; writes in one.
        let metrics = try stack.get("/avalon/metrics", headers: ["X-API-Key": admin]).text
        for label in ["subsonic_ping", "subsonic_getAlbum", "subsonic_search3", "subsonic_star", "subsonic_other"] {
            XCTAssertTrue(metrics.contains("avalon_requests_total{endpoint=\"\(label)\",code=\"200\"}"), label)
        }

        // A key revoked and a reload: refused.
        let revoked = try runProgram([product("avalon-subsonic-key"), "revoke", key], environment: env)
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        stack.server.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 20) {
            (try? stack.get("/rest/ping?f=json&v=1.16.1&c=t&apiKey=\(key)").text)?.contains("\"code\": 44") == true
        }, "a revoked key is refused after a reload")
    }

    func testUsersFileMustBeOwnerOnly() throws {
        let dir = makeTempDir("avalon-subsonic")
        defer { removeTree(dir) }
        let users = dir + "/users"
        try Self.secretFile(users, "alice:pw\n")
        chmod(users, 0o640)
        let r = try runProgram([product("avalon-fcgi"), "--bind", "unix:" + dir + "/s.sock", "--workers", "1"],
                               environment: ["DATABASE_URL": "sqlite:///" + dir + "/db.sqlite", "SUBSONIC_USERS_FILE": users])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("chmod 600"), r.stderr)
        XCTAssertFalse(r.stderr.contains("alice:pw"))
        // A malformed line is named by number, never shown.
        try Self.secretFile(users, "alice-without-password\n")
        let m = try runProgram([product("avalon-fcgi"), "--bind", "unix:" + dir + "/s.sock", "--workers", "1"],
                               environment: ["DATABASE_URL": "sqlite:///" + dir + "/db.sqlite", "SUBSONIC_USERS_FILE": users])
        XCTAssertNotEqual(m.status, 0)
        XCTAssertTrue(m.stderr.contains(":1: expected name:password"), m.stderr)
        XCTAssertFalse(m.stderr.contains("alice-without-password"))
    }

    func testOffWithoutUsers() throws {
        let stack = try Stack(workers: 1)
        defer { stack.stop() }
        XCTAssertEqual(try stack.get("/rest/ping.view?u=a&p=b&v=1.16.1&c=t").status, 404)
        XCTAssertEqual(try stack.get("/avalon/heartbeat").status, 200)
    }
}

func md5Hex(_ s: String) -> String {
    let r = try? runProgram(["/usr/bin/env", "python3", "-c", "import hashlib,sys;print(hashlib.md5(sys.stdin.read().encode()).hexdigest())"], input: s)
    return r?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
}
