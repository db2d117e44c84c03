@testable import AvalonServer
import Foundation
import TestSupport
import XCTest

/// A one-shot HTTP listener: records what arrives, answers 200.
final class Listener1 {
    let fd: Int32
    let port: Int
    private(set) var requests: [String] = []
    private let lock = NSLock()

    init() {
        (fd, port) = bindLoopback(SOCK_STREAM)
        listen(fd, 8)
        let t = Thread { [self] in self.serve() }
        t.start()
    }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            var data = Data()
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(c, &buf, buf.count)
                if n <= 0 { break }
                data.append(contentsOf: buf[0..<n])
                let text = String(decoding: data, as: UTF8.self)
                if let sep = text.range(of: "\r\n\r\n"),
                   let cl = text[..<sep.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
                   let length = Int(cl.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
                   text.utf8.count - text[..<sep.upperBound].utf8.count >= length {
                    break
                }
            }
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".utf8)
            _ = write(c, reply, reply.count)
            close(c)
            lock.lock()
            requests.append(String(decoding: data, as: UTF8.self))
            lock.unlock()
        }
    }

    var received: [String] { lock.lock(); defer { lock.unlock() }; return requests }
    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

final class SentryTests: XCTestCase {
    func testDSNParsing() {
        XCTAssertEqual(ErrorReporter.parse("https://abc@o1.ingest.sentry.io/42"),
                       .init(storeURL: "https://o1.ingest.sentry.io/api/42/store/", publicKey: "abc", secretKey: nil))
        XCTAssertEqual(ErrorReporter.parse("http://k:s@host:9000/prefix/7"),
                       .init(storeURL: "http://host:9000/prefix/api/7/store/", publicKey: "k", secretKey: "s"))
        for bad in ["", "abc", "ftp://k@h/1", "https://h/1", "https://k@h/", "https://k@h/x"] { XCTAssertNil(ErrorReporter.parse(bad), bad) }
    }

    func testUnhandledErrorReachesSentry() throws {
        let sentry = Listener1()
        defer { sentry.stop() }
        let st = try Stack(extraEnv: ["SENTRY_DSN": "http://publickey@127.0.0.1:\(sentry.port)/42", "ADMIN_SECRET": "test-admin-secret-0001"], workers: 1)
        defer { st.stop() }
        XCTAssertEqual(try st.get("/avalon/songs").status, 200)
        XCTAssertEqual(sentry.received.count, 0, "only unhandled errors are reported")
        let r = try st.get("/avalon/debug/error?secret=test-admin-secret-0001&x=1", headers: ["X-Request-ID": "req-sentry-1"])
        XCTAssertEqual(r.status, 500)
        XCTAssertTrue(waitUntil(timeout: 10) { sentry.received.count == 1 }, "\(sentry.received) \(st.log)")
        let req = sentry.received[0]
        XCTAssertTrue(req.hasPrefix("POST /api/42/store/ HTTP/1.1\r\n"), req)
        XCTAssertTrue(req.contains("X-Sentry-Auth: Sentry sentry_version=7, sentry_client=avalon/1.0.0, sentry_key=publickey"), req)
        let body = String(req[req.range(of: "\r\n\r\n")!.upperBound...])
        let event = try JSONSerialization.jsonObject(with: Data(body.utf8)) as! [String: Any]
        XCTAssertEqual(event["level"] as? String, "error")
        XCTAssertEqual(event["release"] as? String, "avalon@1.0.0")
        XCTAssertTrue((event["message"] as? String ?? "").contains("deliberate error"), body)
        XCTAssertFalse((event["server_name"] as? String ?? "").isEmpty)
        XCTAssertEqual((event["event_id"] as? String)?.count, 32)
        let request = event["request"] as? [String: Any] ?? [:]
        XCTAssertEqual(request["method"] as? String, "GET")
        // The secret never reaches Sentry: the URL keeps the parameter, masked.
        XCTAssertTrue((request["url"] as? String ?? "").hasSuffix("/avalon/debug/error?secret=***&x=1"), "\(request)")
        XCTAssertFalse(body.contains("secret=s"), body)
        XCTAssertEqual((request["headers"] as? [String: String])?["X-Request-ID"], "req-sentry-1")
        XCTAssertEqual((event["tags"] as? [String: String])?["request_id"], "req-sentry-1")
    }

    func testUnreachableSentryIsLoggedNotRaised() throws {
        let st = try Stack(extraEnv: ["SENTRY_DSN": "http://k@127.0.0.1:\(freePort())/1", "ADMIN_SECRET": "test-admin-secret-0001"], workers: 1)
        defer { st.stop() }
        XCTAssertEqual(try st.get("/avalon/debug/error?secret=test-admin-secret-0001").status, 500)
        XCTAssertTrue(waitUntil(timeout: 10) { st.log.contains("sending an event to Sentry failed") }, st.log)
        XCTAssertEqual(try st.get("/avalon/heartbeat").status, 200)
    }
}
