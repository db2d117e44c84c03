import Glibc

/// The FastCGI listening socket: opened from `--bind`, or inherited.
public struct Listener {
    public let fd: Int32
    /// A unix socket path this process created, removed at shutdown.
    public let ownedPath: String?
    public let description: String

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `unix:PATH` (mode 0660 unless given) or `HOST:PORT`.
    public static func bind(_ spec: String, mode: mode_t = 0o660, backlog: Int32 = 1024) throws -> Listener {
        if spec.hasPrefix("unix:") {
            return try bindUnix(String(spec.dropFirst(5)), mode: mode, backlog: backlog)
        }
        guard let colon = spec.lastIndex(of: ":"), let port = Int(spec[spec.index(after: colon)...]), (0...65535).contains(port) else {
            throw Failure(description: "--bind \(spec): expected unix:PATH or HOST:PORT")
        }
        var host = String(spec[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &res)
        guard rc == 0, let ai = res else {
            throw Failure(description: "--bind \(spec): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot listen on \(spec): \(e)")
        }
        guard listen(fd, backlog) == 0 else {
            close(fd)
            throw Failure(description: "listen \(spec): \(String(cString: strerror(errno)))")
        }
        return Listener(fd: fd, ownedPath: nil, description: spec)
    }

    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw Failure(description: "unix socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        return addr
    }

    static func bindUnix(_ path: String, mode: mode_t, backlog: Int32) throws -> Listener {
        var addr = try unixAddress(path)
        let len = socklen_t(MemoryLayout<sockaddr_un>.size)
        // A socket file that still answers belongs to a running server: refuse.
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw Failure(description: "cannot listen on unix:\(path): a file that is not a socket is in the way")
            }
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            let alive = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, len) } } == 0
            close(probe)
            if alive { throw Failure(description: "another server is already listening on unix:\(path)") }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, len) } }
        guard rc == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot listen on unix:\(path): \(e)")
        }
        chmod(path, mode)
        guard listen(fd, backlog) == 0 else {
            close(fd)
            throw Failure(description: "listen unix:\(path): \(String(cString: strerror(errno)))")
        }
        return Listener(fd: fd, ownedPath: path, description: "unix:\(path)")
    }

    /// The socket systemd passed (LISTEN_FDS) or spawn-fcgi left on fd 0.
    public static func inherited(environment env: [String: String]) throws -> Listener {
        if let n = env["LISTEN_FDS"].flatMap(Int.init), n >= 1,
           env["LISTEN_PID"].flatMap(Int32.init) == getpid() {
            return Listener(fd: 3, ownedPath: nil, description: "systemd socket (fd 3)")
        }
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0, type == Int32(SOCK_STREAM.rawValue) else {
            throw Failure(description: "no --bind given and standard input is not a listening socket (start under spawn-fcgi or systemd, or pass --bind unix:PATH or HOST:PORT)")
        }
        return Listener(fd: 0, ownedPath: nil, description: "inherited socket (fd 0)")
    }
}
