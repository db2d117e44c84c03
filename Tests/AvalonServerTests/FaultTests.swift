import AvalonStore
import Foundation
import TestSupport
import XCTest

/// What an operator's machine or a client does wrong, and the pool keeps serving.
final class FaultTests: XCTestCase {
    /// A FastCGI request straight to the server (cgi-fcgi from libfcgi-bin).
    func fcgi(_ address: String, _ path: String) throws -> ProcessResult {
        try runProgram([try which("cgi-fcgi"), "-bind", "-connect", address], environment: [
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
        ])
    }

    /// As many connections as workers, each sending nothing: every worker
    /// holds one, and a real request must still be answered once they are
    /// dropped (3 s idle, then libfcgi's 2 s lingering close), not wait
    /// forever (it did: no answer after 20 s).
    func testIdleConnectionsDoNotFreezeThePool() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        try SQLiteStore(path: dir + "/c.sqlite").replace(with: Stack.rows())
        let port = freePort()
        let server = try Background([product("avalon-fcgi"), "--bind", "127.0.0.1:\(port)", "--workers", "3"],
                                    environment: ["DATABASE_URL": "sqlite:///\(dir)/c.sqlite"], logPath: dir + "/err.log")
        defer { server.stop() }
        XCTAssertTrue(waitUntil(timeout: 20) { (try? self.fcgi("127.0.0.1:\(port)", "/avalon/heartbeat").stdout.contains("Status: 200")) == true }, server.log)
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<3 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: in_port_t(UInt16(port).bigEndian),
                                   sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            XCTAssertEqual(rc, 0)
            idle.append(fd)
        }
        usleep(300_000)  // each worker has accepted one
        let start = Date()
        let r = try fcgi("127.0.0.1:\(port)", "/avalon/heartbeat")
        let took = Date().timeIntervalSince(start)
        print(String(format: "a request behind 3 idle connections on 3 workers answered in %.2f s", took))
        XCTAssertTrue(r.stdout.contains("Status: 200"), r.stdout + r.stderr)
        XCTAssertLessThan(took, 7)
        // The idle connections were closed by the server.
        for fd in idle {
            var byte: UInt8 = 0
            XCTAssertEqual(recv(fd, &byte, 1, Int32(MSG_DONTWAIT)), 0, "connection still open")
        }
    }

    /// After a reboot the pid in a pid file belongs to some other process:
    /// only a live avalon-fcgi of this user blocks start-up.
    func testStalePidFileNamingAnotherUsersProcess() throws {
        let st = try Stack(workers: 1)
        defer { st.stop() }
        let pidFile = st.dir + "/stale.pid"
        // Another user's process when root runs the tests (setpriv execs: same pid).
        let asNobody = geteuid() == 0 ? ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] : []
        let other = try Background(asNobody + ["/bin/sleep", "60"], environment: [:], logPath: st.dir + "/sleep.log")
        defer { other.stop(SIGKILL) }
        XCTAssertTrue(waitUntil(timeout: 5) { (try? String(contentsOfFile: "/proc/\(other.pid)/comm")) == "sleep\n" })
        try "\(other.pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let second = try Background([product("avalon-fcgi"), "--bind", "unix:\(st.dir)/second.sock", "--workers", "1", "--pid-file", pidFile],
                                    environment: ["DATABASE_URL": "sqlite:///\(st.dir)/avalon.sqlite"], logPath: st.dir + "/second.log")
        defer { second.stop() }
        XCTAssertTrue(waitUntil(timeout: 20) { (try? String(contentsOfFile: pidFile)) == "\(second.pid)\n" }, second.log)
        XCTAssertTrue(second.process.isRunning, second.log)
        let files = try FileManager.default.contentsOfDirectory(atPath: st.dir)
        XCTAssertFalse(files.contains { $0.hasSuffix(".tmp") }, "\(files)")
        // A live master of ours still blocks.
        let third = try runProgram([product("avalon-fcgi"), "--bind", "unix:\(st.dir)/third.sock", "--pid-file", pidFile],
                                   environment: ["DATABASE_URL": "sqlite:///\(st.dir)/avalon.sqlite"])
        XCTAssertNotEqual(third.status, 0)
        XCTAssertTrue(third.stderr.contains("names running avalon-fcgi \(second.pid)"), third.stderr)
    }
}
