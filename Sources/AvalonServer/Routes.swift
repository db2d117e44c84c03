import AvalonConfig
import AvalonCore

/// Who may call a route. A caller who may not gets 404, as for a path that
/// does not exist: the admin paths do not announce themselves.
enum Access {
    case everyone
    /// The admin secret (`X-API-Key`, `Authorization: Bearer`, literal `?secret=`).
    case admin
    /// The admin secret, unless METRICS_PUBLIC.
    case metrics
    /// A Subsonic method: it signs its caller in itself, and answers every
    /// failure in the Subsonic envelope (Subsonic/SubsonicRoutes.swift).
    case subsonic
}

/// What a handler gets: the request, the router's collection and views, and
/// the buffer its answer goes into.
struct Call {
    /// The router outlives every call it makes: no reference counting per request.
    unowned(unsafe) let router: Router
    let request: RequestBytes
    let path: UnsafeBufferPointer<UInt8>
    let out: ResponseBuffer
    /// The request carries the admin secret (worked out when asked: most routes never ask).
    var admin: Bool { router.isAdmin(request) }

    var params: QueryParameters { QueryParameters(raw: request.query) }

    func text(_ body: [UInt8]) -> AnswerHead {
        out.set(body)
        return AnswerHead(status: 200, contentType: AnswerHead.textType)
    }
}

/// One path under REQUEST_PATH, declared once: everything else (routing,
/// access, ETags, metrics, statsd, logs) reads it from here.
struct Route {
    /// After `REQUEST_PATH/`.
    let path: StaticString
    let access: Access
    /// The answer is a pure function of the URL and the collection's
    /// generation: it gets an ETag, and `If-None-Match` a 304.
    let cacheable: Bool
    /// The `endpoint` label of its metrics.
    let label: String
    /// Its statsd timer after the prefix, if it sends one.
    let statsd: String?
    let handle: (Call) throws -> AnswerHead

    /// A list of the collection: public, cacheable, timed for statsd as the old server did.
    static func collection(_ path: StaticString, _ body: @escaping (MusicCollection, QueryParameters, ResponseBuffer) throws -> Void) -> Route {
        Route(path: path, access: .everyone, cacheable: true, label: "\(path)", statsd: "request.\(path)") { call in
            let collection = call.router.collection
            let status = call.out.answer { try body(collection, call.params, call.out) }
            return AnswerHead(status: status, contentType: AnswerHead.jsonType)
        }
    }

    /// An operations view, answered from the shared table (404 where there is none).
    static func ops(_ path: StaticString, _ access: Access, label: String,
                    _ view: @escaping (OpsViews, Call) -> AnswerHead) -> Route {
        Route(path: path, access: access, cacheable: false, label: label, statsd: nil) { call in
            guard let ops = call.router.ops else { return call.router.notFound(call) }
            return view(ops, call)
        }
    }

    /// Every route. Its index is the route's number in the metrics table.
    static let table: [Route] = [
        .collection("songs") { c, p, out in try c.songsBody(p, into: out) },
        .collection("albums") { c, p, out in try c.elementsBody(.album, p, into: out) },
        .collection("artists") { c, p, out in try c.elementsBody(.artist, p, into: out) },
        .collection("genres") { c, p, out in try c.elementsBody(.genre, p, into: out) },
        .collection("years") { c, p, out in try c.yearsBody(p, into: out) },
        Route(path: "heartbeat", access: .everyone, cacheable: false, label: "heartbeat", statsd: nil) { $0.text(heartbeatBody) },
        Route(path: "version", access: .everyone, cacheable: false, label: "version", statsd: nil) { $0.text(versionBody) },
        .ops("health_check", .everyone, label: "health_check") { ops, c in ops.healthCheck(c.params, admin: c.admin, into: c.out) },
        .ops("metrics", .metrics, label: "metrics") { ops, c in ops.metrics(into: c.out) },
        .ops("versions", .admin, label: "versions") { ops, c in ops.json(ops.versions(), into: c.out) },
        .ops("debug/workers", .admin, label: "debug_workers") { ops, c in ops.json(ops.workers(), into: c.out) },
        .ops("admin/log-level", .admin, label: "admin_log_level") { ops, c in ops.logLevel(c.params, into: c.out) },
        Route(path: "debug/error", access: .admin, cacheable: false, label: "debug_error", statsd: nil) { c in
            throw UnhandledError(description: "deliberate error from \(String(decoding: c.path, as: UTF8.self)) (admin test of error reporting)")
        },
    ]

    /// Avalon's routes, then the Subsonic API's: a route's number is its index here.
    static let all = table + subsonicTable

    /// What every request reads, flat: taking a `Route` out of the table
    /// would retain its strings and closure each time. Indexed by route
    /// number, `other` last (`paths`: Avalon's only).
    static let paths = table.map(\.path)
    static let accesses = all.map(\.access)
    static let handlers = all.map(\.handle)
    static let cacheable = all.map(\.cacheable) + [false]
    static let statsdNames = all.map(\.statsd) + [nil]

    private static let heartbeatBody = Array("OKOKOK".utf8)
    private static let versionBody = Array(avalonVersion.utf8)
}

/// A route's number: its index in `Route.all`, or `other` for a path that
/// names none. The metrics table keeps one row of counters per number.
struct MetricEndpoint: Equatable {
    let rawValue: Int

    static let other = MetricEndpoint(rawValue: Route.all.count)
    static let count = Route.all.count + 1
    static let allCases = (0..<count).map { MetricEndpoint(rawValue: $0) }

    var route: Route? { rawValue < Route.all.count ? Route.all[rawValue] : nil }
    var isSubsonic: Bool { rawValue >= Route.table.count && rawValue < Route.all.count }
    var label: String { route?.label ?? "other" }
}
