import AvalonConfig
import AvalonCore
import Glibc

/// An error a request raised that nothing expected: answered 500 and reported.
public struct UnhandledError: Error, CustomStringConvertible {
    public let description: String
}

/// Maps request paths under REQUEST_PATH to answers. A class: a handler's
/// `Call` points at it instead of copying (and retaining) each of its fields.
// Immutable after init: what it points at (names of static strings, handlers) never changes.
public final class Router: @unchecked Sendable {
    public let collection: MusicCollection
    public let requestPath: String
    public let adminSecret: String?
    /// The health, metrics and admin views; without them those paths are 404.
    let ops: OpsViews?
    /// The Subsonic API below SUBSONIC_PATH; nil: off (its paths are 404).
    let subsonic: SubsonicAPI?
    /// This worker's count of failed Subsonic sign-ins; nil: no lockout.
    let signIns: SignInFailures?
    /// Told when an address reaches the lockout (address, failures, window seconds): the log line.
    let onLockout: ((String, Int, Int) -> Void)?
    /// The lockouts this worker logged lately (address key and window).
    let lockoutsLogged = RecentKeys()
    /// What a path starts with before the endpoint name: `REQUEST_PATH/`, or `/` at the root.
    private let prefix: [UInt8]
    /// The route table's names as (start, length), its accesses and handlers,
    /// held here: reading the globals on every request costs their lazy-init
    /// checks and array bounds (and took 100 instructions of a heartbeat).
    private let names: UnsafeMutableBufferPointer<(UnsafePointer<UInt8>, Int)>
    private let accesses = Route.accesses
    private let handlers = Route.handlers
    private let avalonRoutes = Route.table.count

    public convenience init(collection: MusicCollection, requestPath: String, adminSecret: String?, subsonic: SubsonicAPI? = nil) {
        self.init(collection: collection, requestPath: requestPath, adminSecret: adminSecret, ops: nil, subsonic: subsonic)
    }

    init(collection: MusicCollection, requestPath: String, adminSecret: String?, ops: OpsViews?, subsonic: SubsonicAPI? = nil,
         signIns: SignInFailures? = nil, onLockout: ((String, Int, Int) -> Void)? = nil) {
        self.collection = collection
        self.signIns = signIns
        self.onLockout = onLockout
        self.requestPath = requestPath
        self.adminSecret = adminSecret
        self.ops = ops
        self.subsonic = subsonic
        prefix = Array((requestPath == "/" ? "/" : requestPath + "/").utf8)
        names = .allocate(capacity: Route.paths.count)
        _ = names.initialize(from: Route.paths.map { ($0.utf8Start, $0.utf8CodeUnitCount) })
    }

    deinit { names.deallocate() }

    /// The route a path names (compared as bytes: this runs on every request).
    /// Avalon's routes are looked up first: their cost is what it was; only
    /// a path that names none of them is compared with SUBSONIC_PATH.
    func route(_ path: UnsafeBufferPointer<UInt8>) -> MetricEndpoint {
        if path.count >= prefix.count, prefix.withUnsafeBufferPointer({ $0.elementsEqual(path[..<$0.count]) }) {
            let name = UnsafeBufferPointer(rebasing: path[prefix.count...])
            for i in 0..<names.count where names[i].1 == name.count && memcmp(names[i].0, name.baseAddress!, name.count) == 0 {
                return MetricEndpoint(rawValue: i)
            }
        }
        if let api = subsonic, path.count > api.prefix.count,
           api.prefix.withUnsafeBufferPointer({ $0.elementsEqual(path[..<$0.count]) }) {
            return Router.subsonicRoute(UnsafeBufferPointer(rebasing: path[api.prefix.count...]))
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
        let i = number.rawValue
        guard i < avalonRoutes else {
            // A Subsonic method signs its caller in and answers every failure itself.
            return i < handlers.count ? try handlers[i](call) : notFound(call)
        }
        let method = request.method
        guard method.elementsEqual("GET".utf8) || method.elementsEqual("HEAD".utf8) else {
            out.set(APIError.methodNotAllowed(String(decoding: method, as: UTF8.self)).body)
            return AnswerHead(status: 405, contentType: AnswerHead.jsonType)
        }
        switch accesses[i] {
        case .everyone: break
        case .admin: guard isAdmin(request) else { return notFound(call) }
        case .metrics: guard ops?.config.metricsPublic == true || isAdmin(request) else { return notFound(call) }
        case .subsonic: break
        }
        return try handlers[i](call)
    }

    func notFound(_ call: Call) -> AnswerHead {
        call.out.set(APIError.notFound(String(decoding: call.path, as: UTF8.self)).body)
        return AnswerHead(status: 404, contentType: AnswerHead.jsonType)
    }
}
