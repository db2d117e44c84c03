import AvalonConfig
import AvalonCore
import AvalonStore
import Glibc

/// The health checks, by level: 0 is a ping for load balancers, 1 looks at
/// the pool from inside, 2 reaches out to the database.
enum HealthCheckName: Int, CaseIterable {
    case ping, collection, workers, database, freshness, replica

    var rawName: String {
        switch self {
        case .ping: return "ping"
        case .collection: return "collection"
        case .workers: return "workers"
        case .database: return "database"
        case .freshness: return "freshness"
        case .replica: return "replica"
        }
    }

    var level: Int {
        switch self {
        case .ping: return 0
        case .collection, .workers: return 1
        case .database, .freshness, .replica: return 2
        }
    }
}

extension HealthCheckName {
    /// Checks that reach the database: admin only, and their results reused
    /// for a moment, so that a flood of calls cannot open a flood of connections.
    var reachesDatabase: Bool { level >= 2 }
    static let reuseSeconds = 1.0
}

struct CheckFailure: Error {
    let message: String
}

extension OpsViews {
    /// `health_check?max_level=N&checks=a,b`, in c2cwsgiutils' shape: 200
    /// when every check that ran passed, 500 otherwise.
    func healthCheck(_ params: QueryParameters, admin: Bool, into out: ResponseBuffer) -> AnswerHead {
        func invalid(_ e: APIError) -> AnswerHead {
            out.set(e.body)
            return AnswerHead(status: e.status, contentType: AnswerHead.jsonType, noStore: true)
        }
        var maxLevel = 1
        if let raw = params["max_level"] {
            // The API's integer rules (whitespace, sign, clamping), as for limit and offset.
            guard let n = parseInteger(raw) else { return invalid(.invalidType("max_level", raw, "integer")) }
            guard n >= 0 else { return invalid(.negative("max_level", n)) }
            maxLevel = Int(n)
        }
        var selected = HealthCheckName.allCases.filter { $0.level <= maxLevel }
        if let names = params["checks"], !names.isEmpty {
            selected = []
            for name in names.split(separator: ",").map({ String($0).trimmingWhitespace() }) where !name.isEmpty {
                guard let c = HealthCheckName.allCases.first(where: { $0.rawName == name }) else {
                    return invalid(APIError(code: 100, messageKey: "avalon.service.error.invalid_input_name", status: 400,
                                            message: "Unknown health check '\(name)'",
                                            payload: [("field", .string("checks")), ("value", .string(name))]))
                }
                if !selected.contains(c) { selected.append(c) }
            }
        }
        if !admin, selected.contains(where: \.reachesDatabase) {
            return invalid(.forbidden("Health checks of level 2 (database, freshness, replica) need the admin secret"))
        }
        var successes: [(String, JSONValue)] = [], failures: [(String, JSONValue)] = []
        // The checks that reach the database share one HEALTH_CHECK_TIMEOUT: a hung
        // database costs the caller that long, not that long per check.
        let deadline = monotonicSeconds() + config.healthCheckTimeout
        for c in selected {
            let started = monotonicNanoseconds()
            let outcome: Result<JSONValue, Error>
            let timing: JSONValue
            if c.reachesDatabase, let recent = recentChecks[c], monotonicSeconds() - recent.at < HealthCheckName.reuseSeconds {
                outcome = recent.outcome.mapError { $0 }
                timing = .double(0)
            } else {
                outcome = Result { try run(c, deadline: deadline) }
                timing = .double(Double(monotonicNanoseconds() - started) / 1e9)
                if c.reachesDatabase {
                    recentChecks[c] = (monotonicSeconds(), outcome.mapError { $0 as? CheckFailure ?? CheckFailure(message: "\($0)") })
                }
            }
            slot?.recordCheck(c, failed: (try? outcome.get()) == nil)
            switch outcome {
            case .success(let result):
                successes.append((c.rawName, .object([("level", .int(Int64(c.level))), ("timing", timing), ("result", result)])))
            case .failure(let error):
                let message = (error as? CheckFailure)?.message ?? "\(error)"
                failures.append((c.rawName, .object([("level", .int(Int64(c.level))), ("timing", timing),
                                                     ("message", .string(redactor.text(message)))])))
            }
        }
        out.set(JSONValue.object([("successes", .object(successes)), ("failures", .object(failures))]).bytes)
        return AnswerHead(status: failures.isEmpty ? 200 : 500, contentType: AnswerHead.jsonType, noStore: true)
    }

    func run(_ c: HealthCheckName, deadline: Double) throws -> JSONValue {
        /// What is left of the shared deadline, for one check that reaches the database.
        func timeLeft() throws -> Double {
            let left = deadline - monotonicSeconds()
            guard left > 0.01 else {
                throw CheckFailure(message: "not run: the checks before it spent HEALTH_CHECK_TIMEOUT (\(config.healthCheckTimeout) s)")
            }
            return left
        }
        switch c {
        case .ping:
            return .string("pong")
        case .collection:
            guard table[.loadedAt] > 0 else { throw CheckFailure(message: "no collection is loaded") }
            return .object([
                ("songs", .int(Int64(table[.songs]))), ("albums", .int(Int64(table[.albums]))),
                ("artists", .int(Int64(table[.artists]))), ("genres", .int(Int64(table[.genres]))),
                ("loaded_at", .string(isoTime(wallNanoseconds: table[.loadedAt]))),
                ("load_seconds", .double(Double(table[.loadNanoseconds]) / 1e9)),
                ("reloads", .int(Int64(table[.reloadsSucceeded]))),
                ("generation", .int(Int64(table[.collectionGeneration]))),
            ])
        case .workers:
            let configured = Int(table[.configuredWorkers])
            // A second look before failing: a reload can retire a worker between
            // the table's snapshot and the liveness checks of the first.
            var live = 0
            for _ in 0..<2 {
                live = table.liveSlots().filter { $0.state == .active && processIsAlive($0.pid) }.count
                if live >= configured { break }
            }
            guard live >= configured else {
                throw CheckFailure(message: "\(live) of \(configured) workers are live")
            }
            return .object([("live", .int(Int64(live))), ("configured", .int(Int64(configured)))])
        case .database:
            let left = try timeLeft()
            do {
                try DatabaseProbe.ping(config.databaseURL, timeout: left)
            } catch {
                throw CheckFailure(message: "\(error)")
            }
            return .object([("url", .string(config.databaseURL.description))])
        case .freshness:
            let served = Int64(table[.collectionGeneration])
            guard table[.reloadFailing] == 0 else {
                throw CheckFailure(message: "the latest reload failed; serving generation \(served) (the log says why)")
            }
            let stored: Int64
            let left = try timeLeft()
            do {
                stored = try DatabaseProbe.generation(config.databaseURL, timeout: left)
            } catch {
                throw CheckFailure(message: "\(error)")
            }
            guard stored == served else {
                throw CheckFailure(message: "serving generation \(served), the database has \(stored)\(config.reloadInterval > 0 ? "" : " (RELOAD_INTERVAL is 0: send SIGHUP)")")
            }
            return .object([("generation", .int(served))])
        case .replica:
            let r: DatabaseProbe.Replication?
            let left = try timeLeft()
            do {
                r = try DatabaseProbe.replication(config.databaseURL, timeout: left)
            } catch {
                throw CheckFailure(message: "\(error)")
            }
            guard let r else { return .object([("standby", .bool(false))]) }
            if !r.standby && config.databaseURL.prefersStandby {
                throw CheckFailure(message: "no standby answers: DATABASE_URL asks for one, and the primary answered")
            }
            return .object([("standby", .bool(r.standby)), ("lag_seconds", .double(r.lagSeconds)), ("lag_bytes", .int(r.lagBytes))])
        }
    }
}
