import ArgumentParser
import AvalonConfig
import AvalonCore
import AvalonScan
import AvalonStore
import Dispatch
import Glibc
import Synchronization

/// What `avalon-express start-server` and `setup-server` were asked for.
/// The options both subcommands take, parsed once into what `prepare` reads.
public struct ExpressOptions: ParsableArguments {
    @Argument(help: "The music folder.")
    public var music: String
    @Option(help: "Port nginx listens on.")
    public var port = 8080
    @Option(help: "Address nginx listens on.")
    public var host = "127.0.0.1"
    @Option(help: "avalon-fcgi worker processes.")
    public var workers = 2
    @Option(help: ArgumentHelp("Where the configuration, socket, logs and page go (default: a folder of yours under $XDG_RUNTIME_DIR or the temp dir).", valueName: "DIR"))
    public var serverRoot: String?
    @Option(help: ArgumentHelp("Database URL (default: $DATABASE_URL, else a SQLite file in the server root). A password belongs in DATABASE_URL: other users can read command lines.", valueName: "URL"))
    public var database: String?
    @Option(help: ArgumentHelp("Turns the Subsonic API on (under /rest): a file of name:password lines, readable by its owner only (chmod 600).", valueName: "FILE"))
    public var users: String?

    public init() {}

    public func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    }
}

public enum Express {
    /// Everything checked and written before a server starts; each problem a
    /// newcomer meets is one line with its fix.
    public static func prepare(_ o: ExpressOptions, production: Bool, reloadOnChange: Bool = false,
                               say: (String) -> Void) throws -> ServerRoot {
        let nginx = try findNginx()
        let music = absolutePath(o.music)
        var st = stat()
        guard stat(music, &st) == 0 else { throw ExpressError("the music folder \(music) does not exist: pass a folder of audio files") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ExpressError("\(music) is not a folder: pass a folder of audio files") }
        if !production { try checkPortFree(o.host, o.port) }
        let dir = absolutePath(o.serverRoot ?? defaultServerRoot())
        try checkPathCharacters(dir, what: "the server root", inNginx: true)
        try checkPathCharacters(music, what: "the music folder", inNginx: false)
        try checkWorkersReach(dir)
        try checkParents(dir)
        try makeDirectory(dir)
        let db = try o.database.map { try DatabaseURL(parsing: $0) }
        let here = executableDirectory()
        var root = ServerRoot(dir: dir, host: o.host, port: o.port, workers: max(1, o.workers), database: db, music: music,
                              fcgi: try findProgram("avalon-fcgi", near: here), scan: try findProgram("avalon-scan", near: here),
                              nginx: nginx, share: try findShare(near: here))
        root.reloadInterval = reloadOnChange || production ? 2 : 30
        root.usersFile = o.users.map(absolutePath)
        try root.write(production: production)
        // The collection: incremental, so a second start reads only what changed.
        // The loss guard as avalon-scan keeps it: a shared database is not emptied by an empty or unmounted folder.
        var job = ScanJob(root: music, url: root.database, scanner: "avalon-express \(avalonVersion)",
                              coverCacheSetting: root.coverCache)
        job.lossGuard = expressLossGuard
        job.beforeWrite = { rows, stats in
            guard !rows.tracks.isEmpty else {
                throw ExpressError("no audio files in \(music) (MP3, Ogg Vorbis, FLAC, Opus, M4A; \(stats.files) other files): pass a folder of music; nothing was written to \(root.database)")
            }
        }
        let report = try job.run(log: { _ in })
        say("scanned \(music): \(report.summary)")
        return root
    }

    /// `start-server`: avalon-fcgi on a unix socket in the server root and
    /// nginx in front, in the foreground until SIGINT or SIGTERM, which stop
    /// both. Either one dying stops the other. Returns the exit status.
    public static func run(_ root: ServerRoot, reloadOnChange: Bool, say: @escaping (String) -> Void) throws -> Int32 {
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGINT, SIGTERM, SIGCHLD, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        unlink(root.socket)
        // avalon-fcgi reads the settings the server root's files agree on from avalon.toml:
        // the environment would win over them (and DATABASE_URL holds a password).
        let written: Set = ["AVALON_CONFIG", "DATABASE_URL", "REQUEST_PATH", "LOG_PATH", "RELOAD_INTERVAL"]
        var env = currentEnvironment().filter { !written.contains($0.key) }.map { "\($0.key)=\($0.value)" }
        env.append("AVALON_CONFIG=\(root.dir)/avalon.toml")
        let fcgi = try spawn([root.fcgi, "--bind", "unix:" + root.socket, "--workers", "\(root.workers)",
                              "--socket-mode", "0600", "--pid-file", root.dir + "/avalon.pid"],
                             env: env, output: root.dir + "/logs/avalon-stderr.log")
        var nginx: pid_t = 0
        func stopAll() {
            if nginx > 0 { kill(nginx, SIGQUIT) }
            kill(fcgi, SIGTERM)
            let deadline = monotonicSeconds() + 15
            var left = Set([fcgi, nginx].filter { $0 > 0 })
            while !left.isEmpty {
                for p in left where waitpid(p, nil, WNOHANG) == p { left.remove(p) }
                if monotonicSeconds() > deadline { for p in left { kill(p, SIGKILL); waitpid(p, nil, 0) }; break }
                usleep(20_000)
            }
            unlink(root.socket)
        }
        // The socket appears once the collection is loaded.
        let ready = monotonicSeconds() + 120
        while access(root.socket, F_OK) != 0 {
            if waitpid(fcgi, nil, WNOHANG) == fcgi {
                throw ExpressError("avalon-fcgi did not start: \(lastLines(root.dir + "/logs/avalon-stderr.log"))")
            }
            if monotonicSeconds() > ready { stopAll(); throw ExpressError("avalon-fcgi made no socket within 120 s; see \(root.dir)/logs") }
            usleep(20_000)
        }
        // As root, the socket (0600) becomes nginx's workers' alone: a 0666
        // socket would let every local user talk FastCGI to a root process.
        if root.asRoot {
            let workers = WorkerUser.current
            guard chown(root.socket, workers.uid, gid_t(bitPattern: -1)) == 0 else {
                stopAll()
                throw ExpressError("cannot give the socket to \(workers.name): \(String(cString: strerror(errno)))")
            }
        }
        nginx = try spawn([root.nginx, "-p", root.dir, "-e", root.dir + "/logs/nginx-error.log", "-c", root.dir + "/nginx.conf",
                           "-g", "daemon off;"], env: env, output: root.dir + "/logs/nginx-stderr.log")
        usleep(200_000)
        if waitpid(nginx, nil, WNOHANG) == nginx {
            nginx = 0
            stopAll()
            throw ExpressError("nginx did not start: \(lastLines(root.dir + "/logs/nginx-stderr.log")) (see \(root.dir)/logs/nginx-error.log)")
        }
        do { try root.checkServing() } catch { stopAll(); throw error }
        let stop = StopFlag()
        if reloadOnChange {
            var job = ScanJob(root: root.music, url: root.database, scanner: "avalon-express \(avalonVersion)",
                              coverCacheSetting: root.coverCache)
            job.lossGuard = expressLossGuard
            startWatcher(job, say: say, stop: stop)
        }
        say("Avalon serves \(root.url) (the API under \(root.url)avalon/); server root \(root.dir)")
        say("Ctrl-C stops it.")
        var status: Int32 = 0
        loop: while true {
            var sig: Int32 = 0
            sigwait(&signals, &sig)
            switch sig {
            case SIGINT, SIGTERM:
                say("stopping")
                break loop
            case SIGHUP:
                kill(fcgi, SIGHUP)
                kill(nginx, SIGHUP)
            default:
                for (pid, name) in [(fcgi, "avalon-fcgi"), (nginx, "nginx")] where waitpid(pid, nil, WNOHANG) == pid {
                    say("\(name) stopped unexpectedly; stopping (logs in \(root.dir)/logs)")
                    if pid == nginx { nginx = 0 }
                    status = 1
                    break loop
                }
            }
        }
        stop.set()
        stopAll()
        return status
    }

    /// The watcher blocks for as long as the server runs: a Dispatch worker of its own.
    static func startWatcher(_ job: ScanJob, say: @escaping (String) -> Void, stop: StopFlag) {
        DispatchQueue.global().async {
            do {
                try watchAndScan(job, settle: 1, poll: nil, log: { say($0) },
                                 report: { if $0.outcome.generationWritten { say("rescanned: \($0.summary)") } },
                                 stop: { stop.isSet })
            } catch {
                say("watching the music folder failed: \(error)")
            }
        }
    }
}

/// avalon-scan's default loss guard; writing a loss anyway is avalon-scan's `--allow-loss`.
let expressLossGuard = {
    var g = LossGuard()
    g.remedy = "scan with avalon-scan --allow-loss"
    return g
}()

/// Set once to stop the watcher thread.
final class StopFlag: Sendable {
    private let flag = Synchronization.Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}


func defaultServerRoot() -> String {
    // sudo keeps the invoking user's XDG_RUNTIME_DIR: only one's own is private.
    var st = stat()
    if let run = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !run.isEmpty, access(run, W_OK) == 0,
       stat(run, &st) == 0, st.st_uid == geteuid() {
        return run + "/avalon-express"
    }
    let tmp = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    return "\(tmp)/avalon-express-\(geteuid())"
}

func executablePath() -> String {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return "./avalon-express" }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func executableDirectory() -> String { dirname(executablePath()) }

func isExecutable(_ p: String) -> Bool { access(p, X_OK) == 0 }

/// `AVALON_NGINX`, else nginx on PATH or in /usr/sbin (where Debian puts it).
func findNginx() throws -> String {
    if let given = getenv("AVALON_NGINX").map({ String(cString: $0) }) {
        guard isExecutable(given) else {
            throw ExpressError("nginx is not installed: install Debian's nginx package (sudo apt-get install nginx), or set AVALON_NGINX to it (\(given) is not a program)")
        }
        return given
    }
    let path = getenv("PATH").map { String(cString: $0) } ?? ""
    for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] where isExecutable(dir + "/nginx") {
        return dir + "/nginx"
    }
    throw ExpressError("nginx is not installed: install Debian's nginx package (sudo apt-get install nginx); avalon-express runs it as your user")
}

/// A program next to this one (a build folder, /usr/bin), else on PATH.
func findProgram(_ name: String, near dir: String) throws -> String {
    if isExecutable(dir + "/" + name) { return dir + "/" + name }
    let path = getenv("PATH").map { String(cString: $0) } ?? ""
    for d in path.split(separator: ":").map(String.init) where isExecutable(d + "/" + name) { return d + "/" + name }
    throw ExpressError("\(name) is not installed next to avalon-express or on PATH")
}

/// The page and the FastCGI settings: AVALON_SHARE, the install's share
/// folder, or the source tree a build folder sits in.
func findShare(near dir: String) throws -> String {
    var candidates = ["/usr/share/avalon", "/usr/local/share/avalon", dir + "/../share/avalon", dir + "/../../..", dir + "/../.."]
    if let given = getenv("AVALON_SHARE").map({ String(cString: $0) }) { candidates.insert(given, at: 0) }
    for c in candidates where access(c + "/web/index.html", R_OK) == 0 && access(c + "/nginx/avalon-fastcgi.conf", R_OK) == 0 {
        return normalizePath(c)
    }
    throw ExpressError("cannot find Avalon's web page and nginx settings (web/index.html, nginx/avalon-fastcgi.conf); set AVALON_SHARE to the folder that holds them")
}

func checkPortFree(_ host: String, _ port: Int) throws {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
    var res: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else {
        throw ExpressError("--host \(host) is not an address of this machine")
    }
    defer { freeaddrinfo(res) }
    let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, 0)
    guard fd >= 0 else { throw ExpressError("cannot make a socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    if bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 {
        let e = errno
        if e == EADDRINUSE { throw ExpressError("port \(port) on \(host) is taken (another server is listening there): pass --port with a free one") }
        if e == EACCES { throw ExpressError("port \(port) needs root (ports below 1024 are privileged): pass --port 8080 or another above 1023") }
        throw ExpressError("cannot listen on \(host):\(port): \(String(cString: strerror(e)))")
    }
}

/// Starts a program in a process group of its own (a terminal's Ctrl-C comes
/// to avalon-express, which stops the two in order), output to a file.
func spawn(_ args: [String], env: [String], output: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGINT, SIGTERM, SIGCHLD, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setpgroup(&attr, 0)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
    var pid: pid_t = 0
    let argv = args.map { strdup($0) } + [nil]
    let envp = env.map { strdup($0) } + [nil]
    defer { for p in argv + envp { free(p) } }
    let rc = posix_spawn(&pid, args[0], &actions, &attr, argv, envp)
    guard rc == 0 else { throw ExpressError("cannot start \(args[0]): \(String(cString: strerror(rc)))") }
    return pid
}

func lastLines(_ path: String, _ n: Int = 3) -> String {
    let text = (try? readFile(path)) ?? ""
    return text.split(separator: "\n").suffix(n).joined(separator: " | ")
}
