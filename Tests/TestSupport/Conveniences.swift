import AvalonCore
import AvalonServer
import AvalonStore

// What tests and the bench call that production code does not: each is a
// thin layer over the public API.

/// The collection's lists by name, as tests and the bench ask for them.
public enum Endpoint: String, CaseIterable, Sendable {
    case songs, albums, artists, genres, years
}

/// An answer made whole: HTTP status and body.
public struct APIResponse: Sendable {
    public let status: Int
    public let body: [UInt8]
}

extension MusicCollection {
    /// Writes the answer into `out` and returns its HTTP status.
    public func respond(_ endpoint: Endpoint, _ params: QueryParameters, into out: ResponseBuffer) -> Int {
        out.answer {
            switch endpoint {
            case .songs: try songsBody(params, into: out)
            case .albums: try elementsBody(.album, params, into: out)
            case .artists: try elementsBody(.artist, params, into: out)
            case .genres: try elementsBody(.genre, params, into: out)
            case .years: try yearsBody(params, into: out)
            }
        }
    }

    public func respond(_ endpoint: Endpoint, _ params: QueryParameters) -> APIResponse {
        let out = ResponseBuffer(capacity: 4096)
        let status = respond(endpoint, params, into: out)
        return APIResponse(status: status, body: out.array)
    }
}

/// A request as strings.
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

/// One whole HTTP answer before it is framed for FastCGI.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
}

extension Router {
    /// Answers a request given as strings; throws only for unhandled errors.
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
                            return try answer(h, path: p, into: out)
                        }
                    }
                }
            }
        }
        return HTTPResponse(status: head.status, contentType: head.contentType, body: out.array)
    }
}

extension Store {
    /// Makes the stored collection `rows` (file records untouched).
    public func replace(with rows: CollectionRows, check: ([ItemID]) throws -> Void = { _ in }) throws {
        try write(ScanWrite(rows: rows, files: nil, scanner: "avalon"), check: check)
    }
}

extension Statsd {
    /// Queues `PREFIX.NAME:MS|ms` for a time in milliseconds.
    public func timing(_ name: String, milliseconds: Double) {
        timing(name, microseconds: Int((max(0, min(milliseconds, 1e12)) * 1000).rounded()))
    }
}

/// The keys the old server indexed a name under (its `tokenize()`): the whole
/// searchable text, each word, and each trailing run of words from the 2nd to
/// the next-to-last, joined by single spaces.
public func searchTokens(_ name: String) -> Set<String> {
    let term = searchable(name)
    let parts = pythonWords(term)
    guard !parts.isEmpty else { return [] }
    var tokens = Set(parts.map(String.init))
    tokens.insert(term)
    if parts.count > 2 {
        for i in 1..<(parts.count - 1) { tokens.insert(parts[i...].joined(separator: " ")) }
    }
    return tokens
}

