import AvalonCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for tests that run real programs: temp dirs, processes, ports,
/// PostgreSQL and nginx started on loopback and stopped afterwards.

public func makeTempDir(_ prefix: String = "avalon-test") -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!
    // nginx workers (nobody) must reach sockets inside.
    chmod(p, 0o755)
    return String(cString: p)
}

public func removeTree(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// Where `swift build` put the package's executables.
public var productsDirectory: String {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return (bundle.bundlePath as NSString).deletingLastPathComponent
    }
    return (Bundle.main.bundlePath as NSString).standardizingPath
}

public func product(_ name: String) -> String { productsDirectory + "/" + name }

public struct ProcessResult {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs a program to completion (posix_spawn and waitpid: Foundation's
/// Process sometimes misses the exit of programs such as runuser).
@discardableResult
/// With `timeout`, a program still running then gets SIGINT (SIGKILL 10 s
/// later) and the result says so: a server that should have refused to start
/// fails its test instead of hanging it.
public func runProgram(_ args: [String], environment: [String: String]? = nil, input: String? = nil,
                       timeout: Double? = nil) throws -> ProcessResult {
    let tmp = makeTempDir("avalon-run")
    defer { removeTree(tmp) }
    let inPath = tmp + "/in", outPath = tmp + "/out", errPath = tmp + "/err"
    FileManager.default.createFile(atPath: inPath, contents: Data((input ?? "").utf8))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let exe = args[0].hasPrefix("/") ? args[0] : try which(args[0])
    let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    let cArgs = ([exe] + args.dropFirst()).map { strdup($0) } + [nil]
    let cEnv = env.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, exe, &actions, nil, cArgs, cEnv)
    guard rc == 0 else { throw SupportError("cannot run \(exe): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    var timedOut = false
    if let timeout {
        let end = Date().addingTimeInterval(timeout)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > end && !timedOut {
                timedOut = true
                kill(pid, SIGINT)
                if !waitUntil(timeout: 10, { waitpid(pid, &status, WNOHANG) == pid }) { kill(pid, SIGKILL) } else { break }
            }
            usleep(50_000)
        }
    } else {
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ProcessResult(status: code, stdout: (try? String(contentsOfFile: outPath)) ?? "",
                         stderr: ((try? String(contentsOfFile: errPath)) ?? "") + (timedOut ? "(still running after \(timeout ?? 0) s: stopped)\n" : ""))
}

public struct SupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public func which(_ name: String) throws -> String {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw SupportError("\(name) is not installed (deploy/test.sh installs it)")
}

/// A socket bound to a free loopback port (TCP or UDP), and that port.
public func bindLoopback(_ type: __socket_type) -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A TCP port nothing listens on right now.
public func freePort() -> Int {
    let (fd, port) = bindLoopback(SOCK_STREAM)
    close(fd)
    return port
}

public func waitUntil(timeout: Double, interval: Double = 0.05, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(UInt32(interval * 1e6))
    }
    return condition()
}

/// A PostgreSQL server of its own, on loopback, in a temp dir.
public final class PostgresServer {
    public let dir: String
    public let port: Int
    let bin: String
    let asUser: [String]

    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    public init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let v = versions.sorted().last, FileManager.default.fileExists(atPath: "/usr/lib/postgresql/\(v)/bin/initdb") else {
            throw SupportError("PostgreSQL server binaries are not installed (deploy/test.sh installs them)")
        }
        bin = "/usr/lib/postgresql/\(v)/bin"
        dir = makeTempDir("avalon-pg")
        port = freePort()
        // PostgreSQL refuses to run as root.
        if geteuid() == 0 {
            guard let pw = getpwnam("postgres") else { throw SupportError("no postgres user") }
            chown(dir, pw.pointee.pw_uid, pw.pointee.pw_gid)
            asUser = ["/usr/sbin/runuser", "-u", "postgres", "--"]
        } else {
            asUser = []
        }
        let initdb = try runProgram(asUser + ["\(bin)/initdb", "-D", "\(dir)/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        guard initdb.status == 0 else { throw SupportError("initdb failed: \(initdb.stderr)") }
        // The server inherits pg_ctl's stdout: a pipe there would never close.
        let start = try runProgram(asUser + ["\(bin)/pg_ctl", "-D", "\(dir)/data", "-l", "\(dir)/log", "-w", "-o",
                                      "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        guard start.status == 0 else { throw SupportError("pg_ctl start failed: \((try? String(contentsOfFile: "\(dir)/log")) ?? "")") }
        postmaster = StartedProcess(pidFile: "\(dir)/data/postmaster.pid")
    }

    /// The server's pid, read when it started: stopped by it should pg_ctl fail.
    var postmaster: StartedProcess?

    /// Stops the server and removes its files.
    public func stop() {
        stopServer()
        removeTree(dir)
    }

    /// Stops the server, keeping its files (for tests of a database that went away).
    public func stopServer() {
        _ = try? runProgram(asUser + ["\(bin)/pg_ctl", "-D", "\(dir)/data", "-m", "fast", "-w", "stop"])
        postmaster?.stop()
    }

    public func psql(_ sql: String) throws -> String {
        let r = try runProgram(["/usr/bin/psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        guard r.status == 0 else { throw SupportError("psql: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A started program, killed when stopped.
public final class Background {
    public let process = Process()
    public let logPath: String

    public init(_ args: [String], environment: [String: String], logPath: String) throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.executableURL = URL(fileURLWithPath: args[0])
        process.arguments = Array(args.dropFirst())
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var log: String { (try? String(contentsOfFile: logPath)) ?? "" }

    public func signal(_ s: Int32) { kill(pid, s) }

    @discardableResult
    public func stop(_ s: Int32 = SIGTERM, timeout: Double = 10) -> Int32 {
        if process.isRunning {
            kill(pid, s)
            if !waitUntil(timeout: timeout, { !process.isRunning }) { kill(pid, SIGKILL) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// nginx in front of a FastCGI unix socket, on a loopback port.
public final class Nginx {
    public let dir: String
    public let port: Int
    let server: Background

    /// `extra`: more of the server block (locations of the test's own).
    public init(socket: String, location: String = "/", extra: String = "") throws {
        dir = makeTempDir("avalon-nginx")
        port = freePort()
        let conf = """
            daemon off;
            worker_processes 1;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log;
            events { worker_connections 512; }
            http {
                access_log off;
                client_body_temp_path \(dir)/tmp; fastcgi_temp_path \(dir)/tmp; proxy_temp_path \(dir)/tmp;
                uwsgi_temp_path \(dir)/tmp; scgi_temp_path \(dir)/tmp;
                large_client_header_buffers 4 128k;
                server {
                    listen 127.0.0.1:\(port);
                    location \(location) {
                        include /etc/nginx/fastcgi_params;
                        fastcgi_pass unix:\(socket);
                        fastcgi_read_timeout 60s;
                    }
                    \(extra)
                }
            }
            """
        try FileManager.default.createDirectory(atPath: "\(dir)/tmp", withIntermediateDirectories: true)
        try conf.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
        server = try Background([try which("nginx"), "-c", "\(dir)/nginx.conf"], environment: [:], logPath: "\(dir)/out.log")
        let port = self.port
        // Only connect: a request would wait for a backend that may still be loading.
        guard waitUntil(timeout: 10, { canConnect(port: port) }) else {
            throw SupportError("nginx did not start: \((try? String(contentsOfFile: "\(dir)/error.log")) ?? "")")
        }
    }

    public func stop() {
        server.stop(SIGQUIT)
        removeTree(dir)
    }
}

public struct HTTPReply {
    public let status: Int
    public let headers: [String: String]
    public let body: Data
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
}

/// A plain HTTP/1.0 request over loopback (no client library in the way).
public func httpRequest(port: Int, path: String, method: String = "GET", headers: [String: String] = [:], timeout: Int = 30,
                        from source: String? = nil, body: String? = nil, http11: Bool = false) throws -> HTTPReply {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    if let source {
        // Another loopback address, as a client from elsewhere would look to nginx.
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let rc = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw SupportError("bind \(source): \(String(cString: strerror(errno)))") }
    }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { throw SupportError("connect: \(String(cString: strerror(errno)))") }
    // HTTP/1.1 (one request, then close) for servers that take nothing older, such as chromedriver.
    var req = http11 ? "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        : "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n"
    for (k, v) in headers { req += "\(k): \(v)\r\n" }
    if let body { req += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body } else { req += "\r\n" }
    let bytes = Array(req.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { throw SupportError("write failed") }
        off += n
    }
    var data = Data()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 && errno == EINTR { continue }  // a signal for the test process (a child exiting), not an answer
        if n < 0 { throw SupportError("read: \(String(cString: strerror(errno)))") }
        if n == 0 { break }
        data.append(contentsOf: buf[0..<n])
        // An HTTP/1.1 server may keep the connection open: a known length ends the answer.
        if http11, let sep = data.range(of: Data("\r\n\r\n".utf8)) {
            let head = String(decoding: data[..<sep.lowerBound], as: UTF8.self).lowercased()
            if let line = head.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
               let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
               data.count - sep.upperBound >= length { break }
        }
    }
    guard let sep = data.range(of: Data("\r\n\r\n".utf8)) else { throw SupportError("no HTTP header in reply") }
    let head = String(decoding: data[..<sep.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let status = Int(head[0].split(separator: " ")[1]) ?? 0
    var hs: [String: String] = [:]
    for line in head.dropFirst() {
        if let c = line.firstIndex(of: ":") {
            hs[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
    }
    return HTTPReply(status: status, headers: hs, body: data[sep.upperBound...])
}

public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

/// A process a test started, named by its pid and its start time (read when
/// it started), so that stopping it later cannot reach another process that
/// reused the number, whatever became of the pid file it came from.
public struct StartedProcess: CustomStringConvertible {
    public let pid: Int32
    let startTime: String

    public init?(pid: Int32) {
        guard pid > 0, let time = StartedProcess.startTime(pid) else { return nil }
        self.pid = pid
        startTime = time
    }

    /// The process a pid file names, if it runs.
    public init?(pidFile: String) {
        // The pid is the first line (PostgreSQL's postmaster.pid has more).
        guard let text = try? String(contentsOfFile: pidFile),
              let pid = Int32(text.split(separator: "\n").first?.trimmingCharacters(in: .whitespaces) ?? "") else { return nil }
        self.init(pid: pid)
    }

    /// Field 22 of /proc/PID/stat, after the command name (which may hold spaces).
    static func startTime(_ pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }

    public var isRunning: Bool {
        guard StartedProcess.startTime(pid) == startTime,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status") else { return false }
        return !status.contains("State:\tZ")
    }

    /// SIGTERM, then SIGKILL after `timeout` seconds; nothing when it is gone already.
    public func stop(timeout: Double = 10) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        if !waitUntil(timeout: timeout, { !isRunning }), isRunning { kill(pid, SIGKILL) }
    }

    public var description: String { "pid \(pid)" }
}

/// A statsd server's stand-in: a UDP socket on loopback whose packets a test reads.
public final class UDPCollector {
    public let fd: Int32
    public let port: Int

    public init(wait seconds: Double = 0.3) {
        (fd, port) = bindLoopback(SOCK_DGRAM)
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Every packet received until none comes for the wait, a line each.
    public func drain() -> String {
        var packets = ""
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            packets += String(decoding: buf[0..<n], as: UTF8.self) + "\n"
        }
        return packets
    }

    public func close() { Glibc.close(fd) }
}

/// A repeatable random source for tests: seeded from AVALON_TEST_SEED when
/// set, else from the clock, and the seed printed, so that a failure can be
/// replayed with `AVALON_TEST_SEED=N swift test --filter …`.
public struct SeededGenerator: RandomNumberGenerator {
    private var random: SplitMix64
    public let seed: UInt64

    public init(test: String) {
        let given = ProcessInfo.processInfo.environment["AVALON_TEST_SEED"].flatMap { UInt64($0) }
        seed = given ?? UInt64(Date().timeIntervalSince1970 * 1e6)
        random = SplitMix64(seed: seed)
        print("\(test): random seed \(seed) (AVALON_TEST_SEED=\(seed) repeats it)")
    }

    public mutating func next() -> UInt64 { random.next() }
}
