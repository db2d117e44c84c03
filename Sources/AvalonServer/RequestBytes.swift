import CFastCGI
import Glibc

/// The FastCGI parameters a request needs, as bytes valid until the request
/// is finished: one pass over the environment, no String per request.
public struct RequestBytes {
    public typealias Bytes = UnsafeBufferPointer<UInt8>
    static let none = Bytes(start: nil, count: 0)

    public var method = none
    public var query = none
    var uri = none
    var host = none
    public var apiKey = none
    public var authorization = none
    var requestID = none
    var ifNoneMatch = none
    var contentType = none
    var contentLength = none
    /// `AVALON_FAILED_SIGNIN`: the nginx location that counts failed Subsonic
    /// sign-ins (set by the shipped configurations; a client cannot send a
    /// parameter without the HTTP_ prefix).
    var failedSignIn = none
    /// A form body (POST), read for the routes that take one: see `RequestContext.readForm`.
    public var body = none
    public var bodyTooLarge = false
    /// The whole environment: what only some routes read is looked up there.
    var environment: FCGX_ParamArray?

    public init() {}

    init(_ envp: FCGX_ParamArray?) {
        environment = envp
        guard var e = envp else { return }
        while let entry = e.pointee {
            let p = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
            func value(_ name: StaticString) -> Bytes? {
                let n = name.utf8CodeUnitCount  // "NAME="
                // strncmp stops at the entry's end; memcmp could read past it.
                guard name.utf8Start.withMemoryRebound(to: CChar.self, capacity: n, { strncmp(entry, $0, n) }) == 0 else {
                    return nil
                }
                return Bytes(start: p + n, count: strlen(entry + n))
            }
            switch p[0] {
            case UInt8(ascii: "R"): if method.baseAddress == nil, let v = value("REQUEST_METHOD=") { method = v }
            case UInt8(ascii: "Q"): if query.baseAddress == nil, let v = value("QUERY_STRING=") { query = v }
            case UInt8(ascii: "D"): if uri.baseAddress == nil, let v = value("DOCUMENT_URI=") { uri = v }
            case UInt8(ascii: "A"): if let v = value("AVALON_FAILED_SIGNIN=") { failedSignIn = v }
            case UInt8(ascii: "C"):
                if let v = value("CONTENT_TYPE=") { contentType = v } else if let v = value("CONTENT_LENGTH=") { contentLength = v }
            case UInt8(ascii: "H"):
                // HTTP_ headers; p[5] is readable once the first five bytes matched.
                guard strncmp(entry, "HTTP_", 5) == 0 else { break }
                switch p[5] {
                case UInt8(ascii: "X"):
                    if let v = value("HTTP_X_REQUEST_ID=") { requestID = v } else if let v = value("HTTP_X_API_KEY=") { apiKey = v }
                case UInt8(ascii: "A"): if let v = value("HTTP_AUTHORIZATION=") { authorization = v }
                case UInt8(ascii: "H"): if let v = value("HTTP_HOST=") { host = v }
                case UInt8(ascii: "I"): if let v = value("HTTP_IF_NONE_MATCH=") { ifNoneMatch = v }
                default: break
                }
            default: break
            }
            e += 1
        }
    }

    /// `REMOTE_ADDR`, looked up only by the routes that need it (Subsonic sign-ins).
    var remoteAddress: Bytes {
        guard let envp = environment, let v = FCGX_GetParam("REMOTE_ADDR", envp) else { return Self.none }
        return v.withMemoryRebound(to: UInt8.self, capacity: 1) { Bytes(start: $0, count: strlen(v)) }
    }

    /// Whether nginx asks again about a failed sign-in the worker counted
    /// already (`AVALON_SIGNIN_COUNTED`, set in `@avalon_signin_failed`).
    var signInCounted: Bool {
        guard let envp = environment else { return false }
        return FCGX_GetParam("AVALON_SIGNIN_COUNTED", envp) != nil
    }

    /// The admin secret as the request gives it: `X-API-Key`, `Authorization:
    /// Bearer`, or the `secret` query parameter (read by the caller).
    var bearerToken: Bytes? {
        let prefix = "Bearer "
        guard authorization.count > prefix.utf8.count,
              prefix.utf8.enumerated().allSatisfy({ authorization[$0.offset] | 0x20 == $0.element | 0x20 }) else { return nil }
        var rest = Bytes(rebasing: authorization[prefix.utf8.count...])
        while let f = rest.first, f == 0x20 { rest = Bytes(rebasing: rest.dropFirst()) }
        return rest
    }
}
