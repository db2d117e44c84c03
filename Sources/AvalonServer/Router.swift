import AvalonCore

public let avalonVersion = "1.0.0"

/// The status and headers of an answer whose body is in a `ResponseBuffer`.
public struct AnswerHead: Sendable {
    public var status: Int
    public var contentType: String
    /// The collection endpoint answered, for the statsd timer.
    public var endpoint: Endpoint?

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

    public init(method: String, path: String, query: String, apiKey: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.apiKey = apiKey
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
    /// What a path starts with before the endpoint name: `REQUEST_PATH/`, or `/` at the root.
    private let prefix: [UInt8]

    public init(collection: MusicCollection, requestPath: String, adminSecret: String?) {
        self.collection = collection
        self.requestPath = requestPath
        self.adminSecret = adminSecret
        prefix = Array((requestPath == "/" ? "/" : requestPath + "/").utf8)
    }

    /// What a path under the prefix names.
    enum Route: Equatable {
        case heartbeat, version, debugError
        case collection(Endpoint)
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
        if named("debug/error") && adminSecret != nil { return .debugError }
        return nil
    }

    /// Answers a request; throws only for unhandled errors (the caller logs,
    /// reports and answers them with code 1).
    public func handle(_ r: Request) throws -> HTTPResponse {
        var (method, path, query) = (r.method, r.path, r.query)
        let out = ResponseBuffer(capacity: 4096)
        let head = try method.withUTF8 { m in
            try path.withUTF8 { p in
                try query.withUTF8 { q in try handle(method: m, path: p, query: q, apiKey: r.apiKey, into: out) }
            }
        }
        return HTTPResponse(status: head.status, contentType: head.contentType, body: out.array, endpoint: head.endpoint)
    }

    /// `handle` of the request's raw bytes, as FastCGI gives them: the body
    /// goes into `out`, which a worker reuses for every request.
    public func handle(method: UnsafeBufferPointer<UInt8>, path: UnsafeBufferPointer<UInt8>, query: UnsafeBufferPointer<UInt8>,
                       apiKey: @autoclosure () -> String?, into out: ResponseBuffer) throws -> AnswerHead {
        func error(_ e: APIError) -> AnswerHead {
            out.set(e.body)
            return AnswerHead(status: e.status, contentType: AnswerHead.jsonType)
        }
        func text(_ body: [UInt8]) -> AnswerHead {
            out.set(body)
            return AnswerHead(status: 200, contentType: AnswerHead.textType)
        }
        guard let route = route(path) else { return error(.notFound(String(decoding: path, as: UTF8.self))) }
        guard method.elementsEqual("GET".utf8) || method.elementsEqual("HEAD".utf8) else {
            return error(.methodNotAllowed(String(decoding: method, as: UTF8.self)))
        }
        switch route {
        case .heartbeat: return text(Self.heartbeatBody)
        case .version: return text(Self.versionBody)
        case .debugError:
            let params = QueryParameters(raw: query)
            guard let secret = adminSecret, apiKey() == secret || params[.secret] == secret else {
                return error(.notFound(String(decoding: path, as: UTF8.self)))
            }
            throw UnhandledError(description: "deliberate error from \(String(decoding: path, as: UTF8.self)) (admin test of error reporting)")
        case .collection(let endpoint):
            let status = collection.respond(endpoint, QueryParameters(raw: query), into: out)
            return AnswerHead(status: status, contentType: AnswerHead.jsonType, endpoint: endpoint)
        }
    }

    private static let heartbeatBody = Array("OKOKOK".utf8)
    private static let versionBody = Array(avalonVersion.utf8)
}

let reasonPhrases: [Int: String] = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                                    500: "Internal Server Error", 503: "Service Unavailable"]
