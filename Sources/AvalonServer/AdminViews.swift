import AvalonConfig
import AvalonCore
import AvalonStore
import CCurl
import Glibc

/// Answers the operations paths from the shared table, in any worker.
final class OpsViews: @unchecked Sendable {
    let table: SharedTable
    let config: Config
    let redactor: Redactor
    /// The slot of the worker answering, where health check results are counted.
    let slot: WorkerSlot?

    init(table: SharedTable, config: Config, redactor: Redactor, slot: WorkerSlot?) {
        self.table = table
        self.config = config
        self.redactor = redactor
        self.slot = slot
    }

    /// Level-2 results of this worker, reused for `HealthCheckName.reuseSeconds`.
    var recentChecks: [HealthCheckName: (at: Double, outcome: Result<JSONValue, CheckFailure>)] = [:]

    func json(_ v: JSONValue, status: Int = 200, into out: ResponseBuffer) -> AnswerHead {
        out.set(v.bytes)
        return AnswerHead(status: status, contentType: AnswerHead.jsonType, noStore: true)
    }

    func metrics(into out: ResponseBuffer) -> AnswerHead {
        out.set(Array(PrometheusText.render(table).utf8))
        return AnswerHead(status: 200, contentType: PrometheusText.contentType, noStore: true)
    }

    /// `admin/log-level?level=DEBUG`: sets the pool's level; answers the level now.
    func logLevel(_ params: QueryParameters, into out: ResponseBuffer) -> AnswerHead {
        if let raw = params["level"] {
            guard let level = Config.LogLevel(name: raw) else {
                out.set(APIError.invalidType("level", raw, "log level").body)
                return AnswerHead(status: 400, contentType: AnswerHead.jsonType, noStore: true)
            }
            LogLevelControl.set(level)
        }
        return json(.object([("level", .string(LogLevelControl.current.name))]), into: out)
    }

    func versions() -> JSONValue {
        var libraries: [(String, JSONValue)] = databaseLibraryVersions().map { ($0.0, .string($0.1)) }
        libraries.append(("libcurl", .string(String(cString: avalon_curl_version()))))
        // libfcgi has no version call, and avalon-fcgi does not link TagLib (the scanner does).
        libraries.append(("libfcgi", .null))
        return .object([
            ("version", .string(avalonVersion)), ("commit", .string(BuildInfo.commit)), ("build_date", .string(BuildInfo.date)),
            ("swift", .string(BuildInfo.swiftVersion)), ("libraries", .object(libraries)),
        ])
    }

    /// The pool as the master last arranged it, and what each worker is doing now.
    func workers() -> JSONValue {
        let now = monotonicNanoseconds()
        let rows: [JSONValue] = table.liveSlots().map { s in
            let slot = table.slot(s.slot)
            let alive = processIsAlive(s.pid)
            var request = JSONValue.null
            if let r = slot.requestInHand(), slot[.pid] == UInt64(s.pid) {
                request = .object([("path", .string(r.path)), ("seconds", .double(Double(now &- r.since) / 1e9))])
            }
            let started = slot[.pid] == UInt64(s.pid) ? slot[.startedAt] : table.state(s.slot, .spawnedAt)
            return .object([
                ("slot", .int(Int64(s.slot))), ("pid", .int(Int64(s.pid))),
                // Which load it serves: 1 at start, one more for each reload.
                ("generation", .int(Int64(table.state(s.slot, .generation)))),
                ("state", .string(!alive ? "dead" : s.state == .retiring ? "retiring" : request == .null ? "idle" : "busy")),
                ("started_at", .string(isoTime(wallNanoseconds: started))),
                ("requests", .int(Int64(slot[.pid] == UInt64(s.pid) ? slot[.processRequests] : 0))),
                ("resident_bytes", .int(Int64(memoryOf(s.pid).resident))),
                ("request", request),
            ])
        }
        return .object([
            ("master_pid", .int(Int64(table[.masterPid]))), ("configured", .int(Int64(table[.configuredWorkers]))),
            ("workers", .array(rows)),
        ])
    }
}
