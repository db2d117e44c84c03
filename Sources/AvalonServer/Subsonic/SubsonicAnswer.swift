import AvalonCore
import Glibc

/// One Subsonic answer: parameters (query string and form body), format,
/// sign-in, the envelope around the method's element, and every failure as
/// the specification's error with HTTP 200, as clients expect.
extension Router {
    static let xmlType = "text/xml; charset=utf-8"
    static let javascriptType = "application/javascript; charset=utf-8"

    /// `body` writes the method's element, or returns the head of an answer
    /// without one (a stream's redirect to nginx).
    func subsonicAnswer(_ call: Call, _ body: (SubsonicCall, inout NodeWriter) throws -> AnswerHead?) throws -> AnswerHead {
        guard let api = subsonic else { return notFound(call) }
        let request = call.request
        let params: QueryParameters
        if request.body.isEmpty {
            params = QueryParameters(raw: request.query)
        } else {
            // The form's parameters after the query string's (the first of a repeated key wins).
            var both = Array(request.query)
            both.append(UInt8(ascii: "&"))
            both += request.body
            params = both.withUnsafeBufferPointer { QueryParameters(raw: $0) }
        }
        var format = NodeWriter.Format.xml
        var contentType = Router.xmlType
        var callback: String?
        // By bytes: every request names its format, and a String of it costs a validation.
        switch params.withValue("f", { f in Self.spells(f, "json") ? 1 : Self.spells(f, "jsonp") ? 2 : 0 }) {
        case 1:
            (format, contentType) = (.json, AnswerHead.jsonType)
        case 2:
            (format, contentType) = (.json, Router.javascriptType)
            callback = params["callback"] ?? ""
        default: break
        }
        let out = call.out
        out.reset()
        var w = NodeWriter(out, format: format)
        func prefix() {
            guard let cb = callback else { return }
            var c = out.cursor(room: cb.utf8.count + 1)
            var s = cb
            s.withUTF8 { c.raw($0) }
            c.raw("(")
            out.commit(c)
        }
        do {
            if let cb = callback, !Router.isCallbackName(cb) {
                callback = nil
                contentType = AnswerHead.jsonType
                throw SubsonicError.missing("callback (a JavaScript name: letters, digits, _ $ and .)")
            }
            prefix()
            out.streamContentType = contentType
            defer { out.streamContentType = nil }
            let method = request.method
            guard method.elementsEqual("GET".utf8) || method.elementsEqual("HEAD".utf8) || method.elementsEqual("POST".utf8) else {
                throw SubsonicError.generic("method \(String(decoding: method, as: UTF8.self)) not supported: GET or POST")
            }
            if request.bodyTooLarge { throw SubsonicError.generic("form body over \(RequestContext.formLimit >> 10) KB: send fewer parameters") }
            let user = try signIn(api.accounts, params, request)
            try Router.checkVersion(params)
            api.server.begin(&w, ok: true)
            if let head = try body(SubsonicCall(collection: collection, params: params, server: api.server, user: api.accounts.name(user),
                                                streamPath: api.streamPath, coverPath: api.coverPath), &w) {
                out.reset()
                return head
            }
            api.server.end(&w)
        } catch let e as SubsonicError {
            out.reset()
            if let head = Router.countFailedSignIn(e, request, contentType) { return head }
            w = NodeWriter(out, format: format)
            prefix()
            api.server.error(e, &w)
        }
        if callback != nil {
            var c = out.cursor(room: 2)
            c.raw(");")
            out.commit(c)
        }
        return AnswerHead(status: 200, contentType: contentType)
    }

    /// The signed-in user, unless the client's address failed too often
    /// lately: then its credentials are not even checked (so guessing gains
    /// nothing), and its failures are counted for every worker to see.
    func signIn(_ accounts: SubsonicAccounts, _ p: QueryParameters, _ request: RequestBytes) throws -> Int {
        // Without a secret to check (a missing parameter), nothing is refused or counted.
        guard let limit = signIns, p.contains("p") || p.contains("t") || p.contains("apiKey"),
              let key = limit.key(request.remoteAddress) else { return try Router.signIn(accounts, p) }
        if limit.lockedOut(key) { throw SubsonicError.lockedOut }
        do {
            return try Router.signIn(accounts, p)
        } catch let e as SubsonicError where (40...44).contains(e.code) {
            if !request.signInCounted {
                limit.record(key)
                // Said by each worker whose failure finds the address at the
                // limit, once per address and window: once in all, or once per
                // worker whose request was already in hand (an address is no
                // secret; key() took it only if it parses as one).
                if let onLockout, limit.failures(key) >= limit.limit, lockoutsLogged.insert(key ^ limit.window()) {
                    onLockout(String(decoding: request.remoteAddress, as: UTF8.self), limit.limit, Int(limit.windowSeconds))
                }
            }
            throw e
        }
    }

    /// The signed-in user: by API key, password or token, exactly one of them.
    static func signIn(_ accounts: SubsonicAccounts, _ p: QueryParameters) throws -> Int {
        let password = p["p"], token = p["t"], salt = p["s"]
        if let key = p["apiKey"] {
            if p.contains("u") || password != nil || token != nil || salt != nil { throw SubsonicError.conflictingMechanisms }
            guard let user = accounts.user(apiKey: key) else { throw SubsonicError.invalidAPIKey }
            return user
        }
        guard var name = p["u"], !name.isEmpty else { throw SubsonicError.missing("u") }
        let user = name.withUTF8 { accounts.user($0) }
        if password != nil && (token != nil || salt != nil) { throw SubsonicError.conflictingMechanisms }
        if let password {
            guard accounts.check(user: user, password: password) else { throw SubsonicError.wrongCredentials }
        } else if let token {
            guard let salt, !salt.isEmpty else { throw SubsonicError.missing("s") }
            guard accounts.check(user: user, token: token, salt: salt) else { throw SubsonicError.wrongCredentials }
        } else {
            throw SubsonicError.missing("p, t and s, or apiKey")
        }
        return user!
    }

    /// A failed sign-in, when nginx counts them (`AVALON_FAILED_SIGNIN`, a
    /// location with `limit_req`): sent there, and nginx asks again without
    /// the parameter, so the second answer is the error itself (or nginx's 429).
    /// HTTP 200 errors are invisible to nginx otherwise.
    static func countFailedSignIn(_ e: SubsonicError, _ request: RequestBytes, _ contentType: String) -> AnswerHead? {
        let target = request.failedSignIn
        guard (40...44).contains(e.code), let first = target.first, first == UInt8(ascii: "@") || first == UInt8(ascii: "/"),
              target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        var head = AnswerHead(status: 200, contentType: contentType)
        head.extraHeaders = "X-Accel-Redirect: \(String(decoding: target, as: UTF8.self))\r\n"
        return head
    }

    /// Whether `bytes` are `word`'s.
    static func spells(_ bytes: UnsafeBufferPointer<UInt8>, _ word: StaticString) -> Bool {
        bytes.count == word.utf8CodeUnitCount && (bytes.isEmpty || memcmp(bytes.baseAddress!, word.utf8Start, bytes.count) == 0)
    }

    /// `v`, the client's protocol version: 1.x is served.
    static func checkVersion(_ p: QueryParameters) throws {
        // Nearly every client: "1" or "1." and more, and a name; by bytes.
        if p.withValue("v", { $0.first == UInt8(ascii: "1") && ($0.count == 1 || $0[1] == UInt8(ascii: ".")) }) == true,
           p.withValue("c", { !$0.isEmpty }) == true { return }
        guard let v = p["v"], !v.isEmpty else { throw SubsonicError.missing("v") }
        guard let c = p["c"], !c.isEmpty else { throw SubsonicError.missing("c") }
        // By bytes: a Character-wise prefix costs grapheme breaking.
        guard let major = Int(v[..<(v.utf8.firstIndex(of: UInt8(ascii: ".")) ?? v.endIndex)]) else { throw SubsonicError.generic("v must be a version such as 1.16.1 (got '\(v)')") }
        if major < 1 { throw SubsonicError.clientMustUpgrade }
        if major > 1 { throw SubsonicError.serverMustUpgrade }
    }

    static func isCallbackName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: "_") || b == UInt8(ascii: "$")
                || b == UInt8(ascii: ".")
        } && !(s.first!.isNumber)
    }
}
