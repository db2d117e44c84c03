import AvalonConfig
import AvalonCore

/// The status and headers of an answer whose body is in a `ResponseBuffer`.
public struct AnswerHead: Sendable {
    public var status: Int
    public var contentType: String
    /// `Cache-Control: no-store`: answers that describe this moment (health, metrics).
    var noStore = false

    init(status: Int, contentType: String, noStore: Bool = false) {
        self.status = status
        self.contentType = contentType
        self.noStore = noStore
    }

    static let jsonType = "application/json; charset=utf-8"
    static let textType = "text/plain; charset=utf-8"
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

    /// The route a path names (compared as bytes: this runs on every request).
    func route(_ path: UnsafeBufferPointer<UInt8>) -> MetricEndpoint {
        guard path.count >= prefix.count, prefix.withUnsafeBufferPointer({ $0.elementsEqual(path[..<$0.count]) }) else {
            return .other
        }
        let name = UnsafeBufferPointer(rebasing: path[prefix.count...])
        for (i, s) in Route.paths.enumerated()
        where s.utf8CodeUnitCount == name.count && UnsafeBufferPointer(start: s.utf8Start, count: name.count).elementsEqual(name) {
            return MetricEndpoint(rawValue: i)
        }
        return .other
    }

    /// Answers a request on its route: the body goes into `out`, which a
    /// worker reuses for every request. Throws only for unhandled errors (the
    /// caller logs, reports and answers them with code 1).
    public func answer(_ request: RequestBytes, path: UnsafeBufferPointer<UInt8>, into out: ResponseBuffer) throws -> AnswerHead {
        try answer(route(path), request, path: path, into: out)
    }

    func answer(_ number: MetricEndpoint, _ request: RequestBytes, path: UnsafeBufferPointer<UInt8>,
                into out: ResponseBuffer) throws -> AnswerHead {
        let call = Call(router: self, request: request, path: path, out: out)
        guard let route = number.route else { return notFound(call) }
        let method = request.method
        guard method.elementsEqual("GET".utf8) || method.elementsEqual("HEAD".utf8) else {
            out.set(APIError.methodNotAllowed(String(decoding: method, as: UTF8.self)).body)
            return AnswerHead(status: 405, contentType: AnswerHead.jsonType)
        }
        switch route.access {
        case .everyone: break
        case .admin: guard isAdmin(request) else { return notFound(call) }
        case .metrics: guard ops?.config.metricsPublic == true || isAdmin(request) else { return notFound(call) }
        }
        return try route.handle(call)
    }

    func notFound(_ call: Call) -> AnswerHead {
        call.out.set(APIError.notFound(String(decoding: call.path, as: UTF8.self)).body)
        return AnswerHead(status: 404, contentType: AnswerHead.jsonType)
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
