import AvalonStore
import Foundation
import TestSupport
import XCTest

/// In-place upgrades (SIGUSR2) from a `current` symlink over release folders.
final class UpgradeTests: XCTestCase {
    var dir = ""
    var server: Background?
    var nginx: Nginx?

    override func setUpWithError() throws {
        dir = makeTempDir("avalon-upgrade")
        try SQLiteStore(path: dir + "/avalon.sqlite").replace(with: Stack.rows())
        try release("a", from: product("avalon-fcgi"))
        // A second build, different in its version only: a copy of this one
        // whose version string is patched (a real program that answers 1.0.1).
        let binary = try Data(contentsOf: URL(fileURLWithPath: product("avalon-fcgi")))
        let patched = binary.replacing(Data("1.0.0".utf8), with: Data("1.0.1".utf8))
        XCTAssertNotEqual(patched, binary)
        try FileManager.default.createDirectory(atPath: dir + "/releases/b", withIntermediateDirectories: true)
        try patched.write(to: URL(fileURLWithPath: dir + "/releases/b/avalon-fcgi"))
        chmod(dir + "/releases/b/avalon-fcgi", 0o755)
        try FileManager.default.createSymbolicLink(atPath: dir + "/current", withDestinationPath: "releases/a")
        server = try Background([dir + "/current/avalon-fcgi", "--bind", "unix:\(dir)/avalon.sock", "--workers", "2",
                                 "--socket-mode", "0666", "--pid-file", dir + "/avalon.pid"],
                                environment: ["DATABASE_URL": "sqlite:///\(dir)/avalon.sqlite", "LOG_PATH": dir + "/avalon.log",
                                              "RELOAD_INTERVAL": "0"],
                                logPath: dir + "/stderr.log")
        let sock = dir + "/avalon.sock"
        guard waitUntil(timeout: 20, { FileManager.default.fileExists(atPath: sock) }) else { throw SupportError("no socket: \(server!.log)") }
        nginx = try Nginx(socket: sock)
        XCTAssertEqual(try version(), "1.0.0")
    }

    override func tearDown() {
        nginx?.stop()
        // Whichever master serves now.
        if let pid = masterPid { kill(pid, SIGTERM) }
        _ = server?.stop()
        removeTree(dir)
    }

    func release(_ name: String, from binary: String) throws {
        try FileManager.default.createDirectory(atPath: dir + "/releases/" + name, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: binary, toPath: dir + "/releases/\(name)/avalon-fcgi")
    }

    func script(_ name: String, _ body: String) throws {
        try FileManager.default.createDirectory(atPath: dir + "/releases/" + name, withIntermediateDirectories: true)
        try ("#!/bin/sh\n" + body + "\n").write(toFile: dir + "/releases/\(name)/avalon-fcgi", atomically: true, encoding: .utf8)
        chmod(dir + "/releases/\(name)/avalon-fcgi", 0o755)
    }

    /// `ln -s` + `mv -T`: the switch is one rename.
    func switchCurrent(to name: String) throws {
        try? FileManager.default.removeItem(atPath: dir + "/current.new")
        try FileManager.default.createSymbolicLink(atPath: dir + "/current.new", withDestinationPath: "releases/" + name)
        XCTAssertEqual(rename(dir + "/current.new", dir + "/current"), 0)
    }

    var masterPid: Int32? { (try? String(contentsOfFile: dir + "/avalon.pid")).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
    var log: String { (try? String(contentsOfFile: dir + "/avalon.log")) ?? "" }
    func version() throws -> String { try httpRequest(port: nginx!.port, path: "/avalon/version").text }

    /// Under a steady stream, an upgrade to another build fails no request,
    /// and /version switches; the pid file follows the new master.
    func testUpgradeUnderLoadFailsNoRequest() throws {
        let old = try XCTUnwrap(masterPid)
        let stream = RequestStream(port: nginx!.port, path: "/avalon/songs", limit: 30)
        usleep(300_000)
        try switchCurrent(to: "b")
        kill(old, SIGUSR2)
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.02) { (try? self.version()) == "1.0.1" }, log)
        XCTAssertTrue(waitUntil(timeout: 10) { kill(old, 0) != 0 || self.log.contains("[\(old)] [INFO] stopped; the new master serves") }, log)
        usleep(300_000)
        let (sent, failures) = stream.finish()
        print("upgrade under \(sent) requests: \(failures.count) failed")
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(sent, 50)
        let new = try XCTUnwrap(masterPid)
        XCTAssertNotEqual(new, old)
        XCTAssertTrue(log.contains("upgrade: took over from master \(old)"), log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/avalon.sock"), "the socket file stays with the new master")
        // The new master upgrades again (back to a).
        try switchCurrent(to: "a")
        kill(new, SIGUSR2)
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.05) { (try? self.version()) == "1.0.0" }, log)
    }

    /// A release that exits at start, and one whose load fails: the old
    /// master keeps serving, logs why, and no request fails.
    func testBrokenReleasesLeaveTheOldMasterServing() throws {
        let old = try XCTUnwrap(masterPid)
        let stream = RequestStream(port: nginx!.port, path: "/avalon/songs", limit: 30)
        try script("exits", "exit 3")
        try switchCurrent(to: "exits")
        kill(old, SIGUSR2)
        XCTAssertTrue(waitUntil(timeout: 10) { self.log.contains("upgrade failed: the new master") && self.log.contains("exit status 3") }, log)
        try script("noload", "DATABASE_URL=sqlite:////nonexistent/avalon.sqlite exec \(dir)/releases/a/avalon-fcgi \"$@\"")
        try switchCurrent(to: "noload")
        kill(old, SIGUSR2)
        XCTAssertTrue(waitUntil(timeout: 10) { self.log.contains("cannot load the collection") && self.log.components(separatedBy: "upgrade failed").count == 3 }, log)
        let (sent, failures) = stream.finish()
        XCTAssertEqual(failures, [], "after \(sent) requests")
        XCTAssertEqual(masterPid, old)
        XCTAssertEqual(try version(), "1.0.0")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/avalon.sock"))
        // And a good release still goes in after the failures.
        try switchCurrent(to: "b")
        kill(old, SIGUSR2)
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.05) { (try? self.version()) == "1.0.1" }, log)
    }

    /// Under spawn-fcgi the socket is fd 0 and the master's parent is gone:
    /// the new master inherits fd 0 the same way.
    func testUpgradeUnderSpawnFCGI() throws {
        let sock = dir + "/spawned.sock"
        let r = try runProgram([try which("spawn-fcgi"), "-s", sock, "-M", "0666", "-P", dir + "/spawned.pid", "--",
                                dir + "/current/avalon-fcgi", "--workers", "1"],
                               environment: ["DATABASE_URL": "sqlite:///\(dir)/avalon.sqlite", "LOG_PATH": dir + "/spawned.log", "RELOAD_INTERVAL": "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let old = try XCTUnwrap(Int32(try String(contentsOfFile: dir + "/spawned.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(old, SIGTERM) }
        let front = try Nginx(socket: sock)
        defer { front.stop() }
        func spawnedLog() -> String { (try? String(contentsOfFile: dir + "/spawned.log")) ?? "" }
        XCTAssertTrue(waitUntil(timeout: 20) { (try? httpRequest(port: front.port, path: "/avalon/version"))?.text == "1.0.0" }, spawnedLog())
        let stream = RequestStream(port: front.port, path: "/avalon/songs", limit: 30)
        try switchCurrent(to: "b")
        kill(old, SIGUSR2)
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.02) { (try? httpRequest(port: front.port, path: "/avalon/version"))?.text == "1.0.1" },
                      spawnedLog())
        XCTAssertTrue(spawnedLog().contains("inherited socket (fd 0)"), spawnedLog())
        let (sent, failures) = stream.finish()
        XCTAssertEqual(failures, [], "after \(sent) requests")
        // The new master, from its own log line: "[time] [pid] [INFO] upgrade: took over …".
        let line = spawnedLog().split(separator: "\n").first { $0.contains("upgrade: took over") }
        let pid = line.flatMap { Int32($0.split(separator: "[")[1].prefix { $0 != "]" }) }
        XCTAssertNotNil(pid, spawnedLog())
        if let pid { kill(pid, SIGTERM) }
    }

    /// systemd's readiness datagram (Type=notify) names the new master.
    func testSystemdHearsTheNewMaster() throws {
        // Covered end to end by the upgrade tests; here the datagram itself.
        let path = dir + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in Array(path.utf8).enumerated() { p[i] = b } }
        XCTAssertEqual(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }, 0)
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let s = try Background([product("avalon-fcgi"), "--bind", "unix:\(dir)/n.sock", "--workers", "1"],
                               environment: ["DATABASE_URL": "sqlite:///\(dir)/avalon.sqlite", "NOTIFY_SOCKET": path, "RELOAD_INTERVAL": "0"],
                               logPath: dir + "/n.log")
        defer { _ = s.stop() }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buf, buf.count, 0)
        XCTAssertEqual(n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "", "READY=1")
        kill(s.pid, SIGUSR2)
        let m = recv(fd, &buf, buf.count, 0)
        let message = m > 0 ? String(decoding: buf[0..<m], as: UTF8.self) : ""
        XCTAssertTrue(message.hasPrefix("MAINPID=") && message.hasSuffix("\nREADY=1"), message)
        let newPid = Int32(message.dropFirst("MAINPID=".count).prefix { $0 != "\n" }) ?? 0
        XCTAssertNotEqual(newPid, s.pid)
        XCTAssertTrue(waitUntil(timeout: 10) { kill(s.pid, 0) != 0 || (try? String(contentsOfFile: "/proc/\(s.pid)/stat"))?.contains(") Z") == true })
        kill(newPid, SIGTERM)
    }
}

extension Data {
    func replacing(_ a: Data, with b: Data) -> Data {
        var out = Data()
        var i = startIndex
        while let r = self[i...].range(of: a) {
            out.append(self[i..<r.lowerBound])
            out.append(b)
            i = r.upperBound
        }
        out.append(self[i...])
        return out
    }
}
