import AvalonConfig
import AvalonCore
import CCurl
import Glibc
import Logging

/// Sends unhandled errors to Sentry as events, from a thread of its own with
/// a bounded queue, so a slow or unreachable Sentry never delays a request.
/// Send failures are logged, never raised.
final class ErrorReporter: @unchecked Sendable {
    struct DSN: Equatable {
        let storeURL: String
        let publicKey: String
        let secretKey: String?
    }

    let dsn: DSN
    let logger: Logger
    private let lock = Lock()
    private let cond = Condition()
    private var queue: [String] = []
    private var started = false
    static let maxQueued = 100

    /// A reporter for a DSN `parse` accepted (start-up warns about the others).
    init(dsn: DSN, logger: Logger) {
        self.dsn = dsn
        self.logger = logger
    }

    /// `scheme://public[:secret]@host[:port][/path]/project`, or nil.
    static func parse(_ raw: String) -> DSN? {
        guard let schemeEnd = raw.firstRange(of: "://") else { return nil }
        let scheme = raw[..<schemeEnd.lowerBound]
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = raw[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return nil }
        let userinfo = rest[..<at].split(separator: ":", maxSplits: 1)
        let hostPath = rest[rest.index(after: at)...]
        guard let key = userinfo.first, !key.isEmpty, let slash = hostPath.lastIndex(of: "/") else { return nil }
        let project = hostPath[hostPath.index(after: slash)...]
        let hostAndPrefix = hostPath[..<slash]
        guard !project.isEmpty, !hostAndPrefix.isEmpty, project.allSatisfy(\.isNumber) else { return nil }
        return DSN(storeURL: "\(scheme)://\(hostAndPrefix)/api/\(project)/store/", publicKey: String(key),
                   secretKey: userinfo.count > 1 ? String(userinfo[1]) : nil)
    }

    /// Queues an event; drops it (with a log line) when the queue is full.
    /// The caller masks secrets in the message and the URL.
    func report(message: String, url: String, method: String, requestID: String) {
        let event = Self.event(message: message, url: url, method: method, requestID: requestID)
        let queued: Bool = lock.locked {
            guard queue.count < Self.maxQueued else { return false }
            queue.append(event)
            cond.signal()
            return true
        }
        if !queued { logger.error("Sentry queue full; event dropped: \(message)") }
        startIfNeeded()
    }

    private func startIfNeeded() {
        lock.locked {
            guard !started else { return }
            started = startThread { [self] in sendLoop() }
        }
    }

    private func sendLoop() -> Never {
        while true {
            let event: String = lock.locked {
                while queue.isEmpty { lock.wait(cond) }
                return queue.removeFirst()
            }
            send(event)
        }
    }

    func send(_ event: String) {
        var auth = "X-Sentry-Auth: Sentry sentry_version=7, sentry_client=avalon/\(avalonVersion), sentry_key=\(dsn.publicKey)"
        if let secret = dsn.secretKey { auth += ", sentry_secret=\(secret)" }
        let headers = [auth, "Content-Type: application/json", "User-Agent: avalon/\(avalonVersion)"]
        var cHeaders = headers.map { strdup($0) }
        defer { cHeaders.forEach { free($0) } }
        var status = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = cHeaders.withUnsafeMutableBufferPointer { h in
            h.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: h.count) {
                avalon_http_post(dsn.storeURL, $0, Int32(h.count), event, 5000, &status, &err, Int32(err.count))
            }
        }
        if rc != 0 {
            logger.error("sending an event to Sentry failed: \(String(cString: err))")
        } else if !(200..<300).contains(status) {
            logger.error("Sentry refused an event: HTTP \(status)")
        }
    }

    /// A Sentry event (store API) as JSON.
    static func event(message: String, url: String, method: String, requestID: String) -> String {
        let eventID = ItemID(hi: .random(in: .min ... .max), lo: .random(in: .min ... .max)).hex32
        var now = time(nil)
        var t = tm()
        gmtime_r(&now, &t)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, 32, "%Y-%m-%dT%H:%M:%SZ", &t)
        let timestamp = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        var w = JSONWriter(capacity: 1024)
        w.raw("{\"event_id\": "); w.string(eventID)
        w.raw(", \"timestamp\": "); w.string(timestamp)
        w.raw(", \"level\": \"error\", \"platform\": \"other\", \"logger\": \"avalon\"")
        w.raw(", \"message\": "); w.string(message)
        w.raw(", \"release\": "); w.string("avalon@\(avalonVersion)")
        w.raw(", \"server_name\": "); w.string(String(cString: host))
        w.raw(", \"request\": {\"url\": "); w.string(url)
        w.raw(", \"method\": "); w.string(method)
        w.raw(", \"headers\": {\"X-Request-ID\": "); w.string(requestID)
        w.raw("}}, \"tags\": {\"request_id\": "); w.string(requestID)
        w.raw("}, \"exception\": {\"values\": [{\"type\": \"UnhandledError\", \"value\": "); w.string(message)
        w.raw("}]}, \"extra\": {\"pid\": "); w.int(Int64(getpid()))
        w.raw("}}")
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
