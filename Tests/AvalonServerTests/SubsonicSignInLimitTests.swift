import Foundation
import TestSupport
import XCTest

/// Failed Subsonic sign-ins are rate-limited by nginx (the worker sends each
/// to @avalon_signin_failed with X-Accel-Redirect) in the shipped site and the
/// upstream front; right credentials never are. avalon-express's own
/// configuration: ExpressTests.
final class SubsonicSignInLimitTests: XCTestCase {
    static let user = "carol", password = "Right-Pass-93e1"
    var dir = ""
    var started: [(process: Background, stop: Int32)] = []

    override func setUpWithError() throws { dir = makeTempDir("avalon-signin") }

    override func tearDown() {
        for b in started.reversed() { _ = b.process.stop(b.stop) }
        removeTree(dir)
    }

    /// avalon-fcgi with one Subsonic user, on a unix socket in the test's folder.
    func backend() throws -> String {
        let users = dir + "/users"
        try "\(Self.user):\(Self.password)\n".write(toFile: users, atomically: false, encoding: .utf8)
        chmod(users, 0o600)
        let fcgi = try shippedBackend(dir: dir, workers: 2, environment: ["SUBSONIC_USERS_FILE": users])
        started.append((fcgi.process, SIGTERM))
        return fcgi.socket
    }

    func check(site: String, edits: [(String, String)]) throws {
        let nginx = try shippedNginx(site: site, dir: dir, edits: edits)
        started.append((nginx.process, SIGQUIT))
        let problems = try failedSignInProblems(port: nginx.port, user: Self.user, password: Self.password,
                                                logs: [dir + "/access.log", dir + "/error.log", dir + "/avalon.log"])
        XCTAssertEqual(problems, [], "\(site)\n" + problems.joined(separator: "\n"))
    }

    /// Straight over FastCGI: the worker redirects a failed sign-in only where
    /// nginx's own parameter says so, never for a client's header of that name,
    /// nor to a value that is no location; a right sign-in is never redirected.
    func testWorkerRedirectsOnlyWhereNginxSays() throws {
        let sock = try backend()
        func ask(_ password: String, _ env: [String: String]) throws -> String {
            let r = try runProgram([try which("cgi-fcgi"), "-bind", "-connect", sock], environment: [
                "REQUEST_METHOD": "GET", "DOCUMENT_URI": "/rest/ping.view", "SERVER_PROTOCOL": "HTTP/1.1",
                "QUERY_STRING": "u=\(Self.user)&p=\(password)&v=1.16.1&c=t&f=json",
            ].merging(env) { $1 })
            return r.stdout
        }
        let redirected = try ask("wrong", ["AVALON_FAILED_SIGNIN": "@avalon_signin_failed"])
        XCTAssertTrue(redirected.contains("X-Accel-Redirect: @avalon_signin_failed\r\n"), redirected)
        XCTAssertFalse(redirected.contains("subsonic-response"), "a redirect has no body: \(redirected)")
        for env in [[:], ["HTTP_AVALON_FAILED_SIGNIN": "/avalon-internal-music/x"], ["AVALON_FAILED_SIGNIN": "x"],
                    ["AVALON_FAILED_SIGNIN": "@a b"]] {
            let answer = try ask("wrong", env)
            XCTAssertFalse(answer.contains("X-Accel-Redirect"), "\(env): \(answer)")
            XCTAssertTrue(answer.contains("\"code\": 40"), "\(env): \(answer)")
        }
        let right = try ask(Self.password, ["AVALON_FAILED_SIGNIN": "@avalon_signin_failed"])
        XCTAssertFalse(right.contains("X-Accel-Redirect"), right)
        XCTAssertTrue(right.contains("\"status\": \"ok\""), right)
    }

    func testSiteLimitsFailedSignIns() throws {
        let sock = try backend()
        try check(site: "avalon.conf", edits: [
            ("listen 127.0.0.1:8080;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon.access.log", dir + "/access.log"),
            ("unix:/run/avalon/avalon.sock", "unix:" + sock),
        ])
    }

    func testUpstreamFrontLimitsFailedSignIns() throws {
        let sock = try backend()
        let hosts = try String(contentsOfFile: packageRoot + "/nginx/avalon-upstream.conf").split(separator: "\n")
            .filter { $0.contains("server 127.0.0.") }.map(String.init)
        XCTAssertEqual(hosts.count, 3)
        try check(site: "avalon-upstream.conf", edits: [
            ("listen 127.0.0.1:8088;", "listen 127.0.0.1:PORT;"),
            ("/var/log/nginx/avalon-upstream.access.log", dir + "/access.log"),
            (hosts[0], "    server unix:\(sock);"), (hosts[1], ""), (hosts[2], ""),
        ])
    }
}
