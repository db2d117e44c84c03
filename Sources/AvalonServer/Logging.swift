import AvalonConfig
import AvalonCore
import Glibc
import Logging
import Synchronization

/// Where log lines go: standard error or a file opened for appending, each line
/// written with one write(2) so lines of several workers never interleave.
/// SIGUSR1 asks for the file to be reopened (after logrotate moved it).
public final class LogSink: @unchecked Sendable {
    public static let shared = LogSink()
    private var fd: Int32 = 2
    private var path: String?
    private let lock = Lock()

    /// Opens the log file; nil keeps standard error.
    public func open(path: String?) throws {
        guard let path else { return }
        // Not through a link: a log in a shared folder must not append to a file someone else points it at.
        let f = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard f >= 0 else {
            let why = errno == ELOOP ? "it is a symbolic link (name the file itself)" : String(cString: strerror(errno))
            throw Config.Invalid(description: "cannot open LOG_PATH \(path): \(why)")
        }
        lock.locked {
            if fd > 2 { close(fd) }
            fd = f
            self.path = path
        }
    }

    func reopenIfAsked() {
        guard reopenRequested.load(ordering: .relaxed), let path else { return }
        reopenRequested.store(false, ordering: .relaxed)
        try? open(path: path)
    }

    func write(_ line: String) {
        reopenIfAsked()
        var bytes = Array(line.utf8)
        bytes.append(10)
        lock.locked {
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                off += n
            }
        }
    }
}

/// Set by SIGUSR1: in the master by its signal handler, in a worker by its
/// signal thread; read by whichever thread writes the next log line, which
/// then reopens the file. Atomic: the setter and the reader are different
/// threads (a lock-free atomic store is safe in a signal handler).
let reopenRequested = Atomic<Bool>(false)

/// The log level of the whole pool: the configured one until
/// `/admin/log-level` stores another in the shared table, which every
/// process (and every worker forked later) reads on each log call.
enum LogLevelControl {
    /// Set once, in the master before it forks.
    nonisolated(unsafe) static var table: SharedTable?
    nonisolated(unsafe) static var configured: Config.LogLevel = .info

    static var current: Config.LogLevel {
        guard let table, let l = Config.LogLevel(rawValue: Int(table[.logLevel])) else { return configured }
        return l
    }

    static func set(_ level: Config.LogLevel) {
        if let table { table[.logLevel] = UInt64(level.rawValue) } else { configured = level }
    }
}

/// Formats lines with Python logging's `%(name)s` tokens and strftime dates.
public struct LineFormat: Sendable {
    let format: String
    let dateFormat: String

    public init(format: String, dateFormat: String) {
        self.format = format
        self.dateFormat = dateFormat
    }

    public func render(level: String, message: String, name: String, requestID: String = "-", time: time_t = time(nil)) -> String {
        var out = ""
        var rest = Substring(format)
        while let pct = rest.firstIndex(of: "%") {
            out += rest[..<pct]
            let after = rest[pct...]
            if after.hasPrefix("%%") {
                out += "%"
                rest = after.dropFirst(2)
                continue
            }
            var matched = false
            for (token, value) in [("%(asctime)s", { strftime(dateFormat, time) }),
                                   ("%(process)d", { String(getpid()) }),
                                   ("%(levelname)s", { level }),
                                   ("%(message)s", { message }),
                                   ("%(request_id)s", { requestID }),
                                   ("%(name)s", { name })] as [(String, () -> String)] where after.hasPrefix(token) {
                out += value()
                rest = after.dropFirst(token.count)
                matched = true
                break
            }
            if !matched {
                out += "%"
                rest = after.dropFirst()
            }
        }
        return out + rest
    }

    func strftime(_ fmt: String, _ t: time_t) -> String {
        var t = t
        var tmv = tm()
        localtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 256)
        let n = Glibc.strftime(&buf, buf.count, fmt, &tmv)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// swift-log handler for the configured format and sink. Every line passes
/// the redactor, so no configured secret reaches the log.
public struct AvalonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    let label: String
    let format: LineFormat
    let json: Bool
    let redactor: Redactor
    let sink: LogSink

    /// The pool's level (see `LogLevelControl`); setting it here changes nothing.
    public var logLevel: Logger.Level {
        get { LogLevelControl.current.swiftLog }
        set {}
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        let name: String
        switch level {
        case .trace, .debug: name = "DEBUG"
        case .info, .notice: name = "INFO"
        case .warning: name = "WARNING"
        case .error: name = "ERROR"
        case .critical: name = "CRITICAL"
        }
        var all = self.metadata.merging(metadata ?? [:]) { $1 }
        let requestID = all.removeValue(forKey: "request_id").map { "\($0)" }
        if json {
            // Masked before escaping: an escaped secret (a quote, a backslash) no longer matches.
            let fields = all.mapValues { Logger.MetadataValue.string(redactor.text("\($0)")) }
            sink.write(redactor.text(JSONLogLine.render(level: name, message: redactor.text(message.description), logger: label,
                                                        requestID: requestID.map(redactor.text), fields: fields)))
            return
        }
        var text = message.description
        // A request id the format has no place for goes with the other fields.
        if let requestID, !format.format.contains("%(request_id)s") { all["request_id"] = .string(requestID) }
        // Details the message already says are for JSON lines only.
        all = all.filter { !text.contains("\($0.value)") }
        if !all.isEmpty { text += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        sink.write(redactor.text(format.render(level: name, message: text, name: label, requestID: requestID ?? "-")))
    }
}

/// `LOG_FORMAT = 'json'`: one object a line, for log shippers.
enum JSONLogLine {
    static func render(level: String, message: String, logger: String, requestID: String?, fields: Logger.Metadata,
                       time: UInt64 = wallNanoseconds()) -> String {
        var object: [(String, JSONValue)] = [
            ("time", .string(isoTime(wallNanoseconds: time))), ("level", .string(level)), ("pid", .int(Int64(getpid()))),
            ("logger", .string(logger)), ("request_id", requestID.map { .string($0) } ?? .null), ("message", .string(message)),
        ]
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) where !object.contains(where: { $0.0 == k }) {
            object.append((k, .string("\(v)")))
        }
        return String(decoding: JSONValue.object(object).bytes, as: UTF8.self)
    }
}

extension Config.LogLevel {
    var swiftLog: Logger.Level {
        switch self {
        case .debug: return .debug
        case .info: return .info
        case .warn: return .warning
        case .error: return .error
        case .critical: return .critical
        }
    }
}

/// Sets up swift-log once per process from the configuration.
public func bootstrapLogging(_ config: Config) throws -> Logger {
    try LogSink.shared.open(path: config.logPath)
    let format = LineFormat(format: config.logFormat, dateFormat: config.logDateFormat)
    let json = config.logFormat.trimmingWhitespace().lowercased() == "json"
    let redactor = Redactor(config: config)
    LogLevelControl.configured = config.logLevel
    LoggingSystem.bootstrap { label in
        AvalonLogHandler(label: label, format: format, json: json, redactor: redactor, sink: .shared)
    }
    var handler = sigaction()
    _ = reopenRequested.load(ordering: .relaxed)  // initialised before any handler runs
    handler.__sigaction_handler.sa_handler = { _ in reopenRequested.store(true, ordering: .relaxed) }
    sigemptyset(&handler.sa_mask)
    handler.sa_flags = SA_RESTART
    sigaction(SIGUSR1, &handler, nil)
    return Logger(label: "avalon")
}
