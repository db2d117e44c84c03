import AvalonConfig
import AvalonCore
import Glibc

// Started by root, nginx runs its workers as `nobody` (its built-in default:
// the nginx.conf written here sets no `user`). They must pass every folder
// above the server root to serve www/ and reach the socket; a private parent
// (mktemp -d, a 0700 home) gives 403 for the page and 502 for the API while
// the master starts fine. Checked before the scan, and asked of nginx itself
// before the addresses are printed.

struct WorkerUser {
    let name: String
    let uid: uid_t
    let groups: [gid_t]

    /// Who nginx's workers run as when this process starts nginx.
    static var current: WorkerUser {
        if geteuid() != 0 { return WorkerUser(name: userName(geteuid()), uid: geteuid(), groups: []) }
        guard let pw = getpwnam("nobody") else { return WorkerUser(name: "nobody", uid: 65534, groups: [65534]) }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist("nobody", pw.pointee.pw_gid, &groups, &count) < 0 { count = 0 }
        return WorkerUser(name: "nobody", uid: pw.pointee.pw_uid, groups: Array(groups.prefix(Int(count))) + [pw.pointee.pw_gid])
    }

    /// Whether this user may pass through (search) the folder `st` describes.
    func canSearch(_ st: stat) -> Bool {
        if uid == 0 || uid == geteuid() { return true }
        if st.st_uid == uid { return st.st_mode & S_IXUSR != 0 }
        if groups.contains(st.st_gid) { return st.st_mode & S_IXGRP != 0 }
        return st.st_mode & S_IXOTH != 0
    }

    /// The first folder on the way to `path` (itself included) this user cannot pass.
    func firstBlocked(on path: String) -> (path: String, mode: mode_t, owner: uid_t)? {
        var prefix = ""
        for part in [""] + path.split(separator: "/").map(String.init) {
            prefix = part.isEmpty ? "/" : (prefix == "/" ? "" : prefix) + "/" + part
            var st = stat()
            guard stat(prefix, &st) == 0 else { return nil }
            if !canSearch(st) { return (prefix, st.st_mode & 0o7777, st.st_uid) }
        }
        return nil
    }

    /// One line: which folder the workers cannot enter, and the choices.
    func blockedError(_ b: (path: String, mode: mode_t, owner: uid_t)) -> ExpressError {
        ExpressError("nginx's workers run as \(name) when root starts nginx, and \(name) cannot enter \(b.path) (mode \(octal(b.mode)), owner \(userName(b.owner))): pass --server-root with a folder they can reach (every folder above it open to others, e.g. under /srv), let them in (chmod o+x \(shellQuote(b.path))), or run avalon-express as an ordinary user")
    }
}

/// Up front: the workers can reach the server root (only root's nginx runs them as another user).
func checkWorkersReach(_ dir: String) throws {
    guard geteuid() == 0 else { return }
    let workers = WorkerUser.current
    if let blocked = workers.firstBlocked(on: dirname(dir)) { throw workers.blockedError(blocked) }
}

func dirname(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

extension ServerRoot {
    public func checkServing() throws { try ServerRoot.checkServing(dir: dir, host: host, port: port) }

    /// Asks a root's nginx for the page and the heartbeat; throws one line
    /// saying what failed, and why when that can be found, unless both answer 200.
    public static func checkServing(dir: String, host: String, port: Int) throws {
        let target = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host
        var failures: [String] = []
        for (what, path) in [("the page", "/"), ("the API", "/avalon/heartbeat")] {
            let status = httpStatus(host: target, port: port, path: path)
            if status != 200 { failures.append("\(what) (\(path)) answered \(status.map { "\($0)" } ?? "nothing")") }
        }
        guard !failures.isEmpty else { return }
        let workers = WorkerUser.current
        if let blocked = workers.firstBlocked(on: dir + "/www") { throw workers.blockedError(blocked) }
        if let refused = lastRefusal(inLog: dir + "/logs/nginx-error.log") {
            throw ExpressError("nginx's workers (\(workers.name)) are refused \(refused) (Permission denied) though the folders' modes let them in (an ACL or a security module?), so \(failures.joined(separator: " and ")): pass --server-root with a folder they can reach\(geteuid() == 0 ? ", or run avalon-express as an ordinary user" : "")")
        }
        throw ExpressError("nginx runs, but \(failures.joined(separator: " and ")): see \(dir)/logs/nginx-error.log and \(dir)/logs/avalon.log")
    }
}

/// The path in nginx's last "Permission denied" line: `"PATH" is forbidden
/// (13: …)` for a file, `connect() to unix:PATH failed (13: …)` for the socket.
func lastRefusal(inLog path: String) -> String? {
    guard let text = try? readFile(path),
          let line = text.split(separator: "\n").last(where: { $0.contains("(13: Permission denied)") }) else { return nil }
    if let r = line.firstRange(of: "connect() to unix:"), let end = line[r.upperBound...].firstRange(of: " failed (13:") {
        return String(line[r.upperBound..<end.lowerBound])
    }
    let quoted = line.split(separator: "\"", omittingEmptySubsequences: false)
    return quoted.count > 2 && line.contains("\" is forbidden") ? String(quoted[1]) : nil
}

/// The status of a plain GET, or nil when nothing answers (connections are
/// tried for a few seconds: nginx may still be opening its port).
func httpStatus(host: String, port: Int, path: String) -> Int? {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
    var res: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { return nil }
    defer { freeaddrinfo(res) }
    let deadline = monotonicSeconds() + 5
    while true {
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 {
            if monotonicSeconds() > deadline { return nil }
            usleep(100_000)
            continue
        }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else { return nil }
        var head: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 512)
        while head.count < 64 && !head.contains(10) {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            head += buf[0..<n]
        }
        // "HTTP/1.1 200 OK"
        let words = String(decoding: head, as: UTF8.self).split(separator: " ")
        return words.count > 1 ? Int(words[1]) : nil
    }
}
