import AvalonConfig
import AvalonCore
import AvalonStore
import CCurl
import Glibc

/// The operations paths under REQUEST_PATH. All but `health_check` (and
/// `metrics` with METRICS_PUBLIC) need the admin secret and are 404 without it.
enum OpsRoute: CaseIterable {
    case healthCheck, metrics, versions, debugWorkers, logLevel

    var path: StaticString {
        switch self {
        case .healthCheck: return "health_check"
        case .metrics: return "metrics"
        case .versions: return "versions"
        case .debugWorkers: return "debug/workers"
        case .logLevel: return "admin/log-level"
        }
    }

    var metric: MetricEndpoint {
        switch self {
        case .healthCheck: return .healthCheck
        case .metrics: return .metrics
        case .versions: return .versions
        case .debugWorkers: return .debugWorkers
        case .logLevel: return .adminLogLevel
        }
    }

    func isPublic(_ ops: OpsViews) -> Bool {
        self == .healthCheck || (self == .metrics && ops.config.metricsPublic)
    }
}

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

    /// `admin`: the request carries the admin secret (what the public health check may not do).
    func answer(_ route: OpsRoute, _ params: QueryParameters, admin: Bool, into out: ResponseBuffer) -> AnswerHead {
        func json(_ v: JSONValue, status: Int = 200) -> AnswerHead {
            out.set(v.bytes)
            return AnswerHead(status: status, contentType: AnswerHead.jsonType, noStore: true)
        }
        switch route {
        case .healthCheck:
            return healthCheck(params, admin: admin, into: out)
        case .metrics:
            out.set(Array(PrometheusText.render(table).utf8))
            return AnswerHead(status: 200, contentType: PrometheusText.contentType, noStore: true)
        case .versions:
            return json(versions())
        case .debugWorkers:
            return json(workers())
        case .logLevel:
            if let raw = params["level"] {
                guard let level = Config.LogLevel(name: raw) else {
                    let e = APIError(code: 101, messageKey: "avalon.service.error.invalid_input_type", status: 400,
                                     message: "Invalid field value for log level field level: '\(raw)'",
                                     payload: [("field", .string("level")), ("value", .string(raw))])
                    out.set(e.body)
                    return AnswerHead(status: 400, contentType: AnswerHead.jsonType, noStore: true)
                }
                LogLevelControl.set(level)
            }
            return json(.object([("level", .string(LogLevelControl.current.name))]))
        }
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
