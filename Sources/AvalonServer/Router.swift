import AvalonConfig
import AvalonCore

/// The status and headers of an answer whose body is in a `ResponseBuffer`.
public struct AnswerHead: Sendable {
    public var status: Int
    public var contentType: String
    /// The collection endpoint answered, for the statsd timer.
    public var endpoint: Endpoint?
    /// What the request is counted under in the metrics (set by the router from the route).
    var metric: MetricEndpoint = .other
    /// `Cache-Control: no-store`: answers that describe this moment (health, metrics).
    var noStore = false

    init(status: Int, contentType: String, endpoint: Endpoint? = nil, noStore: Bool = false) {
        self.status = status
        self.contentType = contentType
        self.endpoint = endpoint
        self.noStore = noStore
    }

    static let jsonType = "application/json; charset=utf-8"
    static let textType = "text/plain; charset=utf-8"
}

/// One whole HTTP answer before it is framed for FastCGI.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var endpoint: Endpoint?
}

/// What a request needs from the FastCGI parameters.
public struct Request: Sendable {
    public var method: String
    public var path: String
    public var query: String
    public var apiKey: String?
    public var authorization: String?

    public init(method: String, path: String, query: String, apiKey: String? = nil, authorization: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.apiKey = apiKey
        self.authorization = authorization
    }
}

/// An error a request raised that nothing expected: answered 500 and reported.
public struct UnhandledError: Error, CustomStringConvertible {
    public let description: String
}

/// Maps request paths under REQUEST_PATH to answers.
public struct Router: Sendable {
    public let collection: MusicCollection
    public let requestPath: String
    public let adminSecret: String?
    /// The health, metrics and admin views; without them those paths are 404.
    let ops: OpsViews?
    /// What a path starts with before the endpoint name: `REQUEST_PATH/`, or `/` at the root.
    private let prefix: [UInt8]

    public init(collection: MusicCollection, requestPath: String, adminSecret: String?) {
        self.init(collection: collection, requestPath: requestPath, adminSecret: adminSecret, ops: nil)
    }

    init(collection: MusicCollection, requestPath: String, adminSecret: String?, ops: OpsViews?) {
        self.collection = collection
        self.requestPath = requestPath
        self.adminSecret = adminSecret
        self.ops = ops
        prefix = Array((requestPath == "/" ? "/" : requestPath + "/").utf8)
    }

    /// What a path under the prefix names.
    enum Route: Equatable {
        case heartbeat, version, debugError
        case collection(Endpoint)
        case ops(OpsRoute)
    }

    /// The route of a path, compared as bytes: this runs on every request.
    func route(_ path: UnsafeBufferPointer<UInt8>) -> Route? {
        guard path.count >= prefix.count, prefix.withUnsafeBufferPointer({ $0.elementsEqual(path[..<$0.count]) }) else {
            return nil
        }
        let name = UnsafeBufferPointer(rebasing: path[prefix.count...])
        func named(_ s: StaticString) -> Bool {
            s.utf8CodeUnitCount == name.count && UnsafeBufferPointer(start: s.utf8Start, count: name.count).elementsEqual(name)
        }
        if named("songs") { return .collection(.songs) }
        if named("albums") { return .collection(.albums) }
        if named("artists") { return .collection(.artists) }
        if named("genres") { return .collection(.genres) }
        if named("heartbeat") { return .heartbeat }
        if named("version") { return .version }
        if named("debug/error") { return .debugError }
        for r in OpsRoute.allCases where named(r.path) { return .ops(r) }
        return nil
    }

    /// The collection endpoint a path names, if any: the four names only,
    /// for the steps that treat collection answers apart.
    func collectionEndpoint(_ path: UnsafeBufferPointer<UInt8>) -> Endpoint? {
        // "songs", "albums", "artists", "genres": 5 to 7 bytes after the prefix.
        let n = path.count - prefix.count
        guard n >= 5 && n <= 7, case .collection(let e)? = route(path) else { return nil }
        return e
    }

    /// Answers a request; throws only for unhandled errors (the caller logs,
    /// reports and answers them with code 1).
    public func handle(_ r: Request) throws -> HTTPResponse {
        var (method, path, query) = (r.method, r.path, r.query)
        var (key, auth) = (r.apiKey ?? "", r.authorization ?? "")
        let out = ResponseBuffer(capacity: 4096)
        let head = try method.withUTF8 { m in
            try path.withUTF8 { p in
                try query.withUTF8 { q in
                    try key.withUTF8 { k in
                        try auth.withUTF8 { a in
                            var h = RequestBytes()
                            (h.method, h.query, h.apiKey, h.authorization) = (m, q, k, a)
                            return try handle(h, path: p, into: out)
                        }
                    }
                }
            }
        }
        return HTTPResponse(status: head.status, contentType: head.contentType, body: out.array, endpoint: head.endpoint)
    }

    /// Answers the request's raw bytes, as FastCGI gives them: the body goes
    /// into `out`, which a worker reuses for every request.
    func handle(_ request: RequestBytes, path: UnsafeBufferPointer<UInt8>, into out: ResponseBuffer) throws -> AnswerHead {
        var head = AnswerHead(status: 500, contentType: AnswerHead.jsonType)
        try handle(request, path: path, into: out, head: &head)
        return head
    }

    /// Fills `head`; its metric is set from the route first, so that a request
    /// that throws is still counted under its route.
    func handle(_ request: RequestBytes, path: UnsafeBufferPointer<UInt8>, into out: ResponseBuffer, head: inout AnswerHead) throws {
        let route = route(path)
        let metric = route?.metric ?? .other
        head.metric = metric
        head = try answer(route, request, path: path, into: out)
        head.metric = metric
    }

    private func answer(_ route: Route?, _ request: RequestBytes, path: UnsafeBufferPointer<UInt8>,
                        into out: ResponseBuffer) throws -> AnswerHead {
        func error(_ e: APIError) -> AnswerHead {
            out.set(e.body)
            return AnswerHead(status: e.status, contentType: AnswerHead.jsonType)
        }
        func text(_ body: [UInt8]) -> AnswerHead {
            out.set(body)
            return AnswerHead(status: 200, contentType: AnswerHead.textType)
        }
        guard let route else { return error(.notFound(String(decoding: path, as: UTF8.self))) }
        let method = request.method
        guard method.elementsEqual("GET".utf8) || method.elementsEqual("HEAD".utf8) else {
            return error(.methodNotAllowed(String(decoding: method, as: UTF8.self)))
        }
        switch route {
        case .heartbeat: return text(Self.heartbeatBody)
        case .version: return text(Self.versionBody)
        case .debugError:
            guard isAdmin(request) else { return error(.notFound(String(decoding: path, as: UTF8.self))) }
            throw UnhandledError(description: "deliberate error from \(String(decoding: path, as: UTF8.self)) (admin test of error reporting)")
        case .ops(let r):
            let admin = isAdmin(request)
            guard let ops, r.isPublic(ops) || admin else {
                return error(.notFound(String(decoding: path, as: UTF8.self)))
            }
            return ops.answer(r, QueryParameters(raw: request.query), admin: admin, into: out)
        case .collection(let endpoint):
            let status = collection.respond(endpoint, QueryParameters(raw: request.query), into: out)
            return AnswerHead(status: status, contentType: AnswerHead.jsonType, endpoint: endpoint)
        }
    }

    /// Whether the request carries the admin secret: `X-API-Key`,
    /// `Authorization: Bearer`, or a literal `?secret=`, each compared in constant time.
    func isAdmin(_ request: RequestBytes) -> Bool {
        guard let adminSecret else { return false }
        var secret = adminSecret
        return secret.withUTF8 { s in
            if constantTimeEquals(request.apiKey, s) { return true }
            if let token = request.bearerToken, constantTimeEquals(token, s) { return true }
            guard let given = Self.literalSecretParameter(request.query) else { return false }
            var g = given
            return g.withUTF8 { constantTimeEquals($0, s) }
        }
    }

    /// The value of the first parameter whose key is spelled exactly `secret`
    /// in the raw query: no escapes, no other case. Only that spelling is
    /// accepted, so that the shipped nginx configurations, which mask it in
    /// their logs, cannot be passed by a spelling they do not know.
    static func literalSecretParameter(_ query: UnsafeBufferPointer<UInt8>) -> String? {
        let key = Array("secret=".utf8)
        var start = 0
        while start < query.count {
            let end = query[start...].firstIndex(of: UInt8(ascii: "&")) ?? query.count
            if end - start >= key.count, query[start..<(start + key.count)].elementsEqual(key) {
                return QueryParameters(raw: UnsafeBufferPointer(rebasing: query[start..<end]))[.secret]
            }
            start = end + 1
        }
        return nil
    }

    private static let heartbeatBody = Array("OKOKOK".utf8)
    private static let versionBody = Array(avalonVersion.utf8)
}

extension Router.Route {
    var metric: MetricEndpoint {
        switch self {
        case .heartbeat: return .heartbeat
        case .version: return .version
        case .debugError: return .debugError
        case .collection(let e): return MetricEndpoint(e)
        case .ops(let r): return r.metric
        }
    }
}

/// Compares a secret without an early exit: the time taken does not tell
/// how much of a guess was right. An empty guess never matches.
func constantTimeEquals(_ given: UnsafeBufferPointer<UInt8>, _ secret: UnsafeBufferPointer<UInt8>) -> Bool {
    guard !given.isEmpty, !secret.isEmpty else { return false }
    var diff = UInt8(truncatingIfNeeded: given.count ^ secret.count) | (given.count == secret.count ? 0 : 1)
    for i in 0..<secret.count {
        diff |= secret[i] ^ given[i % given.count]
    }
    return diff == 0
}

let reasonPhrases: [Int: String] = [200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                                    500: "Internal Server Error", 503: "Service Unavailable"]
