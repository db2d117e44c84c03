import AvalonCore
import AvalonStore
import Glibc

/// Settings, from the embedded default, then `AVALON_CONFIG`, then the
/// environment, each overriding the one before.
public struct Config: Sendable {
    public var databaseURL: DatabaseURL
    public var requestPath: String
    public var logPath: String?
    public var logLevel: LogLevel
    public var logFormat: String
    public var logDateFormat: String
    public var sentryDSN: String?
    public var statsdHost: String
    public var statsdPort: Int
    public var statsdPrefix: String
    public var adminSecret: String?
    /// Seconds a health check may wait for the database.
    public var healthCheckTimeout: Double = 2
    /// Serve /metrics without the admin secret (nginx restricts who reaches it).
    public var metricsPublic = false
    /// Seconds between the master's looks at the database's generation; 0: never.
    public var reloadInterval: Double = 30
    /// Things worth a warning line at start-up (unknown setting names).
    public var warnings: [String] = []
    /// URL prefix of the Subsonic API.
    public var subsonicPath = "/rest"
    /// `name:password` lines: the Subsonic API's users. Unset: the API is off.
    public var subsonicUsersFile: String?
    /// `key:username` lines: the Subsonic API's keys (apiKeyAuthentication).
    public var subsonicAPIKeysFile: String?
    /// nginx's `internal` location that maps the music folder: streams and
    /// downloads answer `X-Accel-Redirect: <this>/<relative path>`.
    public var subsonicStreamPath = "/avalon-internal-music"
    /// The folder that location maps (nil: the root the scanner recorded).
    public var subsonicMusicFolder: String?
    /// Where the collection's indexes are kept between starts (`SNAPSHOT_PATH`); nil: nowhere.
    public var snapshotPath: String?
    /// nginx's internal location of the cover cache (`SUBSONIC_COVER_PATH`).
    public var subsonicCoverPath = "/avalon-internal-covers"
    /// The scanner's cover cache folder (`COVER_CACHE`); nil: beside a SQLite database.
    public var coverCache: String?
    /// Failed Subsonic sign-ins from one address that lock it out for the
    /// rest of the window (`SUBSONIC_SIGNIN_FAILURES`); 0: no lockout.
    public var subsonicSignInFailures = 10
    /// That window, in seconds (`SUBSONIC_SIGNIN_WINDOW`).
    public var subsonicSignInWindow: Double = 60

    public enum LogLevel: Int, Comparable, Sendable {
        case debug = 10, info = 20, warn = 30, error = 40, critical = 50
        public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
        /// A level as LOG_LEVEL and the log-level view spell it, in any case.
        public init?(name: String) {
            let levels: [String: LogLevel] = ["DEBUG": .debug, "INFO": .info, "WARN": .warn, "WARNING": .warn,
                                              "ERROR": .error, "CRITICAL": .critical]
            guard let l = levels[name.trimmingWhitespace().uppercased()] else { return nil }
            self = l
        }

        public var name: String {
            switch self {
            case .debug: return "DEBUG"
            case .info: return "INFO"
            case .warn: return "WARNING"
            case .error: return "ERROR"
            case .critical: return "CRITICAL"
            }
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// The shortest admin secret accepted.
    public static let minimumSecretLength = 16
    /// Settings whose values may hold a secret: never echoed in an error.
    static let secretBearing: Set<String> = ["ADMIN_SECRET", "DATABASE_URL", "SENTRY_DSN"]

    enum Kind { case string, integer, optionalString, boolean, seconds }
    struct Setting {
        let name: String
        let kind: Kind
        let comment: String
    }

    static let settings: [Setting] = [
        Setting(name: "DATABASE_URL", kind: .string, comment: """
            Where the collection lives: sqlite:///relative/path, sqlite:////absolute/path
            or postgresql://user:password@host:port/database (libpq parameters such as
            ?sslmode=require pass through).
            """),
        Setting(name: "REQUEST_PATH", kind: .string, comment: """
            URL prefix of every endpoint. Starts with '/', and does not end with '/'
            unless it is exactly '/'.
            """),
        Setting(name: "LOG_PATH", kind: .optionalString, comment: """
            Log file (reopened on SIGUSR1, for logrotate). Unset: standard error.
            """),
        Setting(name: "LOG_LEVEL", kind: .string, comment: "DEBUG, INFO, WARN, ERROR or CRITICAL."),
        Setting(name: "LOG_FORMAT", kind: .string, comment: """
            Log line format with Python logging tokens: %(asctime)s %(process)d
            %(levelname)s %(message)s %(name)s %(request_id)s. Or 'json': one JSON
            object a line (time, level, pid, logger, request_id, message, details).
            """),
        Setting(name: "LOG_DATE_FORMAT", kind: .string, comment: "strftime format of %(asctime)s."),
        Setting(name: "SENTRY_DSN", kind: .optionalString, comment: """
            Report unhandled errors to this Sentry project. Unset: nothing is sent.
            """),
        Setting(name: "STATSD_HOST", kind: .string, comment: "statsd server for per-endpoint request timers (UDP; failures ignored)."),
        Setting(name: "STATSD_PORT", kind: .integer, comment: "statsd port."),
        Setting(name: "STATSD_PREFIX", kind: .string, comment: "Prefix of every metric name, e.g. avalon.request.songs."),
        Setting(name: "ADMIN_SECRET", kind: .optionalString, comment: """
            Enables the protected admin paths (e.g. /debug/error) and level-2 health
            checks, given as an X-API-Key header, an Authorization: Bearer header or a
            secret query parameter. 16 characters at least. Unset: those paths are 404
            (and /metrics too, unless METRICS_PUBLIC).
            """),
        Setting(name: "HEALTH_CHECK_TIMEOUT", kind: .seconds, comment: """
            Seconds a level-2 health check may wait for the database before it fails.
            """),
        Setting(name: "RELOAD_INTERVAL", kind: .seconds, comment: """
            Seconds between looks at the database's collection generation (one cheap
            query); a new generation is loaded without dropping a request. Each look is
            spread by up to a quarter either way, so servers sharing a database do not
            reload together. 0 turns automatic reloads off (SIGHUP still reloads).
            """),
        Setting(name: "SNAPSHOT_PATH", kind: .optionalString, comment: """
            A file where avalon-fcgi keeps the collection's indexes, written once per
            generation: a restart, and the second load of a reload, read it instead of
            building them (at 10M songs, seconds instead of a minute). Used only for the
            generation the database holds, and only when its checksums hold; otherwise it
            is rebuilt from the database. Its folder must belong to the server's user and
            be writable by nobody else. Takes about the server's resident size on disk.
            Unset: no snapshot.
            """),
        Setting(name: "METRICS_PUBLIC", kind: .boolean, comment: """
            Serve /metrics without the admin secret: for a scrape port or location that
            nginx already restricts to the monitoring network.
            """),
        Setting(name: "SUBSONIC_PATH", kind: .string, comment: """
            URL prefix of the Subsonic API (e.g. /rest/ping.view). Starts with '/', does
            not end with '/', and differs from REQUEST_PATH.
            """),
        Setting(name: "SUBSONIC_USERS_FILE", kind: .optionalString, comment: """
            Turns the Subsonic API on: a file of name:password lines, readable by its
            owner only (chmod 600). Re-read on reload (SIGHUP). Unset: the API is off.
            """),
        Setting(name: "SUBSONIC_API_KEYS_FILE", kind: .optionalString, comment: """
            A file of key:username lines for the Subsonic API's apiKey sign-in, readable
            by its owner only; avalon-subsonic-key makes and revokes keys in it.
            """),
        Setting(name: "SUBSONIC_STREAM_PATH", kind: .string, comment: """
            nginx's internal location that maps only the music folder (alias to it, with
            disable_symlinks): stream and download answer X-Accel-Redirect to it and nginx
            sends the file. Starts with '/', does not end with '/'.
            """),
        Setting(name: "COVER_CACHE", kind: .optionalString, comment: """
            The folder where avalon-scan stores cover pictures (one file per picture,
            named by the SHA-256 of its bytes), and which nginx's SUBSONIC_COVER_PATH
            location maps. Unset: beside a SQLite database (its file name + .covers);
            with PostgreSQL, no covers. After setting it, run avalon-scan --full once.
            """),
        Setting(name: "SUBSONIC_COVER_PATH", kind: .string, comment: """
            nginx's internal location that maps only the cover cache (alias to
            COVER_CACHE): getCoverArt answers X-Accel-Redirect to it. Starts with '/',
            does not end with '/'.
            """),
        Setting(name: "SUBSONIC_MUSIC_FOLDER", kind: .optionalString, comment: """
            The music folder that location maps (absolute). Unset: the folder the scanner
            recorded. Only its files are streamed.
            """),
        Setting(name: "SUBSONIC_SIGNIN_FAILURES", kind: .integer, comment: """
            Failed Subsonic sign-ins from one client address (IPv6: its /64) within
            SUBSONIC_SIGNIN_WINDOW after which the workers refuse that address's sign-ins,
            right ones too, without checking them (error 40), until the window ends. Counted
            over all workers of this server (each host of a cluster counts its own).
            0 turns the lockout off; at most 254.
            """),
        Setting(name: "SUBSONIC_SIGNIN_WINDOW", kind: .seconds, comment: """
            The window of SUBSONIC_SIGNIN_FAILURES, in whole seconds from 1 to 3600.
            """),
    ]

    static func defaultValues(environment: [String: String]) -> [String: String] {
        var tmp = environment["TMPDIR"] ?? "/tmp"
        if tmp.isEmpty { tmp = "/tmp" }
        while tmp.count > 1 && tmp.hasSuffix("/") { tmp.removeLast() }
        return [
            "DATABASE_URL": "sqlite:///" + tmp + "/avalon.sqlite",
            "REQUEST_PATH": "/avalon",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
            "LOG_DATE_FORMAT": "%Y-%m-%dT%H:%M:%S",
            "STATSD_HOST": "localhost",
            "STATSD_PORT": "8125",
            "STATSD_PREFIX": "avalon",
            "HEALTH_CHECK_TIMEOUT": "2",
            "METRICS_PUBLIC": "false",
            "RELOAD_INTERVAL": "30",
            "SUBSONIC_PATH": "/rest",
            "SUBSONIC_STREAM_PATH": "/avalon-internal-music",
            "SUBSONIC_COVER_PATH": "/avalon-internal-covers",
            "SUBSONIC_SIGNIN_FAILURES": "10",
            "SUBSONIC_SIGNIN_WINDOW": "60",
        ]
    }

    /// The default configuration file: every setting, commented. Loading it
    /// changes nothing.
    public static func defaultFile(environment: [String: String] = currentEnvironment()) -> String {
        let defaults = defaultValues(environment: environment)
        var out = "# Avalon configuration. Point AVALON_CONFIG at a copy of this file; any setting\n"
        out += "# may also be given as an environment variable of the same name, which wins.\n"
        for s in settings {
            out += "\n" + s.comment.split(separator: "\n").map { "# " + $0 }.joined(separator: "\n") + "\n"
            switch (s.kind, defaults[s.name]) {
            case (.integer, let v?), (.boolean, let v?), (.seconds, let v?): out += "\(s.name) = \(v)\n"
            case (_, let v?): out += "\(s.name) = \(tomlString(v))\n"
            case (_, nil): out += "# \(s.name) = ''\n"
            }
        }
        return out
    }

    /// A TOML string holding `s` exactly.
    public static func tomlString(_ s: String) -> String {
        if !s.contains("'") && !s.contains("\n") { return "'" + s + "'" }
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    /// Loads the configuration in the README's order: default, file, environment.
    public static func load(environment env: [String: String] = currentEnvironment()) throws -> Config {
        var values = defaultValues(environment: env)
        var warnings: [String] = []
        var origin: [String: String] = [:]
        if let path = env["AVALON_CONFIG"], !path.isEmpty {
            let text: String
            do { text = try readFile(path) } catch {
                throw Invalid(description: "cannot read configuration file \(path) (AVALON_CONFIG): \(error)")
            }
            for entry in try parseConfigFile(text, path: path) {
                guard let setting = settings.first(where: { $0.name == entry.name }) else {
                    warnings.append("\(path):\(entry.line): unknown setting \(entry.name) ignored")
                    continue
                }
                switch (setting.kind, entry.value) {
                case (.boolean, .boolean(let b)): values[entry.name] = String(b)
                case (.boolean, .string(let s)) where Bool(s.lowercased()) != nil: values[entry.name] = s
                case (.boolean, _):
                    throw Invalid(description: "\(path):\(entry.line): \(entry.name) must be true or false")
                case (.seconds, .integer(let n)): values[entry.name] = String(n)
                case (.seconds, .number(let d)): values[entry.name] = String(d)
                case (.seconds, .string(let s)) where Double(s) != nil: values[entry.name] = s
                case (.seconds, _):
                    throw Invalid(description: "\(path):\(entry.line): \(entry.name) must be a number of seconds")
                case (.integer, .integer(let n)): values[entry.name] = String(n)
                case (.integer, .string(let s)) where Int(s) != nil: values[entry.name] = s
                case (.integer, _):
                    throw Invalid(description: "\(path):\(entry.line): \(entry.name) must be an integer")
                case (_, .string(let s)): values[entry.name] = s
                case (_, .integer), (_, .number), (_, .boolean):
                    throw Invalid(description: "\(path):\(entry.line): \(entry.name) must be a quoted string")
                }
                origin[entry.name] = "\(path):\(entry.line)"
            }
        }
        for s in settings {
            if let v = env[s.name] {
                values[s.name] = v
                origin[s.name] = "environment variable \(s.name)"
            }
        }
        func fail(_ name: String, _ why: String) -> Invalid {
            Invalid(description: "\(origin[name] ?? "default"): \(name) \(why)")
        }
        let url: DatabaseURL
        do { url = try DatabaseURL(parsing: values["DATABASE_URL"]!) } catch {
            throw fail("DATABASE_URL", "is invalid: \(error)")  // the error masks the password
        }
        let path = values["REQUEST_PATH"]!
        guard path.hasPrefix("/") else { throw fail("REQUEST_PATH", "must start with '/' (got '\(path)')") }
        guard path == "/" || !path.hasSuffix("/") else { throw fail("REQUEST_PATH", "must not end with '/' (got '\(path)')") }
        guard let level = LogLevel(name: values["LOG_LEVEL"]!) else {
            throw fail("LOG_LEVEL", "must be DEBUG, INFO, WARN, ERROR or CRITICAL (got '\(values["LOG_LEVEL"]!)')")
        }
        guard let port = Int(values["STATSD_PORT"]!.trimmingWhitespace()), (1...65535).contains(port) else {
            throw fail("STATSD_PORT", "must be a port number (got '\(values["STATSD_PORT"]!)')")
        }
        guard let timeout = Double(values["HEALTH_CHECK_TIMEOUT"]!.trimmingWhitespace()), timeout > 0, timeout <= 3600 else {
            throw fail("HEALTH_CHECK_TIMEOUT", "must be a number of seconds above 0 (got '\(values["HEALTH_CHECK_TIMEOUT"]!)')")
        }
        guard let metricsPublic = Bool(values["METRICS_PUBLIC"]!.trimmingWhitespace().lowercased()) else {
            throw fail("METRICS_PUBLIC", "must be true or false (got '\(values["METRICS_PUBLIC"]!)')")
        }
        guard let reloadInterval = Double(values["RELOAD_INTERVAL"]!.trimmingWhitespace()), reloadInterval >= 0, reloadInterval <= 86400 else {
            throw fail("RELOAD_INTERVAL", "must be a number of seconds from 0 (off) to 86400 (got '\(values["RELOAD_INTERVAL"]!)')")
        }
        func optional(_ k: String) -> String? { values[k].flatMap { $0.isEmpty ? nil : $0 } }
        if let secret = optional("ADMIN_SECRET") {
            // A short secret is guessed by trying: the admin views answer as fast as any path.
            guard secret.trimmingWhitespace().count >= Config.minimumSecretLength else {
                throw fail("ADMIN_SECRET", "is shorter than \(Config.minimumSecretLength) characters (not shown); make one with: head -c 24 /dev/urandom | base64")
            }
        }
        let subsonicPath = values["SUBSONIC_PATH"]!
        guard subsonicPath.hasPrefix("/"), subsonicPath.count > 1, !subsonicPath.hasSuffix("/") else {
            throw fail("SUBSONIC_PATH", "must start with '/' and not end with '/' (got '\(subsonicPath)'); the default is /rest")
        }
        guard subsonicPath != path else { throw fail("SUBSONIC_PATH", "must differ from REQUEST_PATH (both '\(path)')") }
        var config = Config(databaseURL: url, requestPath: path, logPath: optional("LOG_PATH"), logLevel: level,
                      logFormat: values["LOG_FORMAT"]!, logDateFormat: values["LOG_DATE_FORMAT"]!,
                      sentryDSN: optional("SENTRY_DSN"), statsdHost: values["STATSD_HOST"]!, statsdPort: port,
                      statsdPrefix: values["STATSD_PREFIX"]!, adminSecret: optional("ADMIN_SECRET"), healthCheckTimeout: timeout,
                      metricsPublic: metricsPublic, reloadInterval: reloadInterval, warnings: warnings)
        config.subsonicPath = subsonicPath
        config.subsonicUsersFile = optional("SUBSONIC_USERS_FILE")
        config.subsonicAPIKeysFile = optional("SUBSONIC_API_KEYS_FILE")
        for (name, fallback) in [("SUBSONIC_STREAM_PATH", "/avalon-internal-music"), ("SUBSONIC_COVER_PATH", "/avalon-internal-covers")] {
            let p = values[name]!
            guard p.hasPrefix("/"), p.count > 1, !p.hasSuffix("/"),
                  !p.split(separator: "/").contains(".."), p.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw fail(name, "must start with '/', not end with '/', and hold no '..' or spaces (got '\(p)'); the default is \(fallback)")
            }
        }
        config.subsonicStreamPath = values["SUBSONIC_STREAM_PATH"]!
        config.subsonicCoverPath = values["SUBSONIC_COVER_PATH"]!
        if let cache = optional("COVER_CACHE") {
            guard cache.hasPrefix("/") else { throw fail("COVER_CACHE", "must be an absolute path (got '\(cache)')") }
            config.coverCache = cache
        }
        if let snapshot = optional("SNAPSHOT_PATH") {
            guard snapshot.hasPrefix("/"), !snapshot.hasSuffix("/") else {
                throw fail("SNAPSHOT_PATH", "must be the absolute path of a file (got '\(snapshot)')")
            }
            // It is replaced whole at every write: never the database's or the log's file.
            var taken = config.logPath.map { [$0] } ?? []
            if case .sqlite(let db) = url { taken += ["", "-wal", "-shm", "-journal"].map { db + $0 } }
            guard !taken.contains(snapshot) else {
                throw fail("SNAPSHOT_PATH", "names the database or the log file (got '\(snapshot)'); it needs a file of its own")
            }
            config.snapshotPath = snapshot
        }
        if let folder = optional("SUBSONIC_MUSIC_FOLDER") {
            guard folder.hasPrefix("/") else { throw fail("SUBSONIC_MUSIC_FOLDER", "must be an absolute path (got '\(folder)')") }
            config.subsonicMusicFolder = folder
        }
        guard let failures = Int(values["SUBSONIC_SIGNIN_FAILURES"]!.trimmingWhitespace()), (0...254).contains(failures) else {
            throw fail("SUBSONIC_SIGNIN_FAILURES", "must be a number of failed sign-ins from 0 (off) to 254 (got '\(values["SUBSONIC_SIGNIN_FAILURES"]!)'); the default is 10")
        }
        guard let window = Double(values["SUBSONIC_SIGNIN_WINDOW"]!.trimmingWhitespace()), window >= 1, window <= 3600,
              window == window.rounded() else {
            throw fail("SUBSONIC_SIGNIN_WINDOW", "must be whole seconds from 1 to 3600 (got '\(values["SUBSONIC_SIGNIN_WINDOW"]!)'); the default is 60")
        }
        config.subsonicSignInFailures = failures
        config.subsonicSignInWindow = window
        return config
    }
}

public func currentEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return env
}

public struct FileError: Error, CustomStringConvertible {
    public let description: String
}

/// A whole text file (a /proc file too, whose size reads as 0).
public func readFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError(description: String(cString: strerror(errno))) }
    defer { close(fd) }
    guard let bytes = readAll(fd) else { throw FileError(description: String(cString: strerror(errno))) }
    guard let s = String(validating: bytes, as: UTF8.self) else { throw FileError(description: "not UTF-8 text") }
    return s
}

/// Everything a descriptor gives until its end, or nil on an error.
public func readAll(_ fd: Int32) -> [UInt8]? {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { return out }
        out.append(contentsOf: buf[0..<n])
    }
}
