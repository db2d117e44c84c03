import AvalonConfig
import AvalonCore
import Glibc

/// In-place binary upgrade, nginx's way: SIGUSR2 makes the master start the
/// program found at the path it was started from (resolved again, so a
/// switched `current` symlink names the new release) as a new master that
/// inherits the listening socket. The new master loads the collection,
/// starts its workers and only then tells the old one (SIGWINCH), which
/// retires its workers and exits. If the new one dies first, the old one
/// keeps serving. No connection is refused meanwhile: the socket never closes.
enum Upgrade {
    static let fdVariable = "AVALON_UPGRADE_FD"
    static let parentVariable = "AVALON_UPGRADE_PARENT"
    static let ownedPathVariable = "AVALON_UPGRADE_SOCKET_PATH"
    static let descriptionVariable = "AVALON_UPGRADE_LISTENER"

    /// The program and its arguments as this master was started: argv[0]
    /// made absolute against the directory it started in, symlinks kept.
    nonisolated(unsafe) static var command: [String] = []

    static func capture() {
        var args = CommandLine.arguments
        guard var program = args.first else { return }
        if !program.contains("/") {
            let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
            program = path.split(separator: ":").map { "\($0)/\(program)" }.first { access($0, X_OK) == 0 } ?? program
        } else if !program.hasPrefix("/") {
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
            if let cwd = getcwd(&buf, buf.count) { program = String(cString: cwd) + "/" + program }
        }
        args[0] = program
        command = args
    }

    /// Forks and execs the new master with the listener; its pid.
    static func start(listener: Listener) throws -> pid_t {
        guard let program = command.first, access(program, X_OK) == 0 else {
            throw Listener.Failure(description: "cannot start \(command.first ?? "the program"): not an executable file")
        }
        // The socket must survive exec in the new master (and only there: it is set back after).
        _ = fcntl(listener.fd, F_SETFD, 0)
        defer { _ = fcntl(listener.fd, F_SETFD, FD_CLOEXEC) }
        var env = currentEnvironment().map { ($0.key, $0.value) }.filter {
            ![fdVariable, parentVariable, ownedPathVariable, descriptionVariable, "LISTEN_FDS", "LISTEN_PID"].contains($0.0)
        }
        env.append((fdVariable, "\(listener.fd)"))
        env.append((parentVariable, "\(getpid())"))
        env.append((descriptionVariable, listener.description))
        if let p = listener.ownedPath { env.append((ownedPathVariable, p)) }
        // Everything the child needs, built before fork: after it, only exec.
        let argv = command.map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.0)=\($0.1)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        let pid = fork()
        if pid == 0 {
            var none = sigset_t()
            sigemptyset(&none)
            sigprocmask(SIG_SETMASK, &none, nil)
            execve(argv[0]!, argv, envp)
            _exit(127)
        }
        guard pid > 0 else { throw Listener.Failure(description: "fork: \(String(cString: strerror(errno)))") }
        return pid
    }

    /// In a new master: the socket the old one passed, if this is an upgrade.
    static func inheritedListener(_ env: [String: String]) -> Listener? {
        guard let fd = env[fdVariable].flatMap(Int32.init), env[parentVariable].flatMap(Int32.init) == getppid() else { return nil }
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return Listener(fd: fd, ownedPath: env[ownedPathVariable], description: env[descriptionVariable] ?? "inherited socket (fd \(fd))")
    }

    /// The old master, when this one is its upgrade.
    static func parent(_ env: [String: String]) -> pid_t? {
        guard let p = env[parentVariable].flatMap(Int32.init), p == getppid() else { return nil }
        return p
    }
}

/// systemd's readiness protocol (Type=notify): a datagram to NOTIFY_SOCKET.
/// A new master from an upgrade also names itself the main process.
func notifySystemd(_ message: String) {
    guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // an abstract socket
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
    withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
    let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    let msg = Array(message.utf8)
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, msg, msg.count, 0, $0, len) }
    }
}
