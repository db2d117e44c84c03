import AvalonCore

public let avalonVersion = "1.0.0"

/// One HTTP answer before it is framed for FastCGI.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// The collection endpoint answered, for the statsd timer.
    public var endpoint: Endpoint?

    static let jsonType = "application/json; charset=utf-8"

    static func json(_ status: Int, _ body: [UInt8], _ endpoint: Endpoint? = nil) -> HTTPResponse {
        HTTPResponse(status: status, contentType: jsonType, body: body, endpoint: endpoint)
    }

    static func text(_ s: String) -> HTTPResponse {
        HTTPResponse(status: 200, contentType: "text/plain; charset=utf-8", body: Array(s.utf8), endpoint: nil)
    }

    public static func error(_ e: APIError) -> HTTPResponse { json(e.status, e.body) }
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
    private let prefix: String

    public init(collection: MusicCollection, requestPath: String, adminSecret: String?) {
        self.collection = collection
        self.requestPath = requestPath
        self.adminSecret = adminSecret
        prefix = requestPath + "/"
    }

    /// The endpoint name of a path under the prefix, or nil when outside it.
    func endpointName(_ path: String) -> Substring? {
        if requestPath == "/" { return path.hasPrefix("/") ? path.dropFirst() : nil }
        guard path.hasPrefix(prefix) else { return nil }
        return path.dropFirst(prefix.count)
    }

    /// Answers a request; throws only for unhandled errors (the caller logs,
    /// reports and answers them with code 1).
    public func handle(_ r: Request) throws -> HTTPResponse {
        let name = endpointName(r.path)
        let known: Bool
        switch name {
        case "heartbeat", "version", "songs", "albums", "artists", "genres": known = true
        case "debug/error": known = adminSecret != nil
        default: known = false
        }
        guard known, let name else { return .error(.notFound(r.path)) }
        guard r.method == "GET" || r.method == "HEAD" else { return .error(.methodNotAllowed(r.method)) }
        switch name {
        case "heartbeat": return .text("OKOKOK")
        case "version": return .text(avalonVersion)
        case "debug/error":
            let params = QueryParameters(queryString: r.query)
            guard let secret = adminSecret, r.apiKey == secret || params["secret"] == secret else {
                return .error(.notFound(r.path))
            }
            throw UnhandledError(description: "deliberate error from \(r.path) (admin test of error reporting)")
        default:
            let endpoint = Endpoint(rawValue: String(name))!
            let answer = collection.respond(endpoint, QueryParameters(queryString: r.query))
            return .json(answer.status, answer.body, endpoint)
        }
    }
}

let reasonPhrases: [Int: String] = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                                    500: "Internal Server Error", 503: "Service Unavailable"]
