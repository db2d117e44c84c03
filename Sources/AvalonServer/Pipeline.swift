import AvalonCore
import CFastCGI
import Glibc
import Logging

/// One request on its way through the steps around the handler. A worker
/// keeps one and resets it for each request: nothing here is allocated per
/// request.
final class RequestContext {
    var request = RequestBytes()
    /// The path routed: DOCUMENT_URI, or built from other parameters.
    var path = RequestBytes.none
    /// Storage for a path that had to be built (servers other than nginx).
    private var builtPath = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256)
    var stream: UnsafeMutablePointer<FCGX_Stream>?
    var envp: FCGX_ParamArray?
    var started: UInt64 = 0
    let requestID = RequestID()
    /// The answer: head here, body in `out`.
    var head = AnswerHead(status: 500, contentType: AnswerHead.jsonType)
    let out = ResponseBuffer()
    /// Set by `ConditionalRequests` for collection answers.
    let etag = ETag()

    init() {
        // A large answer goes out in chunks as it is rendered, so a worker's
        // memory stays bounded whatever the answer's size. Only collection
        // answers grow that large, and they are 200 JSON once rendering starts;
        // their length is unknown then, so the head has none (nginx frames the body).
        out.sink = { [unowned self] chunk in
            if out.streamed == 0 {
                putHead(AnswerHead(status: 200, contentType: AnswerHead.jsonType), length: nil, requestID: requestID.bytes,
                        etag: etag.bytes, stream)
            }
            if !isHead { put(chunk, stream) }
        }
    }

    deinit { builtPath.deallocate() }

    /// Routes `s`, copied into storage the context owns.
    func setBuiltPath(_ s: String) {
        let n = s.utf8.count
        if n > builtPath.count {
            builtPath.deallocate()
            builtPath = .allocate(capacity: n)
        }
        _ = builtPath.initialize(from: s.utf8)
        path = UnsafeBufferPointer(rebasing: builtPath[..<n])
    }

    /// A HEAD request: the answer's head only. Set once per request.
    var isHead = false

    /// Another parameter, as a String: for the rare paths that need one.
    func param(_ name: String) -> String? {
        FCGX_GetParam(name, envp).map { String(cString: $0) }
    }

    /// Method, path and query for a log line or an error report, secrets masked.
    func describe(_ redactor: Redactor) -> (method: String, url: String) {
        let host = request.host.isEmpty ? "-" : String(decoding: request.host, as: UTF8.self)
        return (String(decoding: request.method, as: UTF8.self),
                redactor.url(host + String(decoding: path, as: UTF8.self), query: String(decoding: request.query, as: UTF8.self)))
    }
}

/// A step around the handler: it may act before and after `next`, which
/// runs the rest of the pipeline (as Hummingbird's middleware does).
protocol RequestStep: AnyObject {
    func handle(_ c: RequestContext, next: () throws -> Void) throws
}

/// The steps, outermost first, and the handler inside them.
struct Pipeline {
    let steps: [RequestStep]
    let handler: (RequestContext) throws -> Void

    func run(_ c: RequestContext) throws { try run(0, c) }

    private func run(_ i: Int, _ c: RequestContext) throws {
        guard i < steps.count else { return try handler(c) }
        try steps[i].handle(c) { try run(i + 1, c) }
    }
}

/// Takes the request's `X-Request-ID` or makes one.
final class AssignRequestID: RequestStep {
    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        c.requestID.set(from: c.request.requestID)
        try next()
    }
}

/// Counts the request in the worker's slot of the shared table (and marks
/// it in hand meanwhile), and sends the statsd timer of collection endpoints.
final class RecordMetrics: RequestStep {
    let slot: WorkerSlot?
    let statsd: Statsd?

    init(slot: WorkerSlot?, statsd: Statsd?) {
        self.slot = slot
        self.statsd = statsd
    }

    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        slot?.begin(at: c.started, path: c.path)
        defer {
            let elapsed = monotonicNanoseconds() &- c.started
            slot?.record(c.head.metric, status: c.head.status, nanoseconds: elapsed, bytes: c.out.total)
            if let e = c.head.endpoint, let statsd {
                statsd.timing(e.metricName, microseconds: Int((elapsed + 500) / 1000))
            }
        }
        try next()
    }
}

/// A DEBUG line per request, built only when that level is on.
final class LogRequest: RequestStep {
    let logger: Logger
    let redactor: Redactor

    init(logger: Logger, redactor: Redactor) {
        self.logger = logger
        self.redactor = redactor
    }

    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        try next()
        // The shared level word directly: swift-log's check goes through its handler box.
        guard LogLevelControl.current == .debug else { return }
        let (method, url) = c.describe(redactor)
        let ms = Double((monotonicNanoseconds() &- c.started) / 1000) / 1000
        logger.debug("\(method) \(url) \(c.head.status) \(c.out.total) bytes \(ms) ms", metadata: ["request_id": "\(c.requestID.string)"])
    }
}

/// Writes the answer to FastCGI once the steps inside have made it.
final class SendAnswer: RequestStep {
    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        try next()
        // A streamed answer's head went out with its first chunk.
        if c.out.streamed == 0 {
            putHead(c.head, length: c.head.status == 304 ? nil : c.out.count, requestID: c.requestID.bytes, etag: c.etag.bytes, c.stream)
        }
        if !c.isHead { put(c.out.bytes, c.stream) }
        c.out.shrink()
    }
}

/// An error nothing expected: logged and reported (secrets masked, with the
/// request id), answered 500 with code 1; the worker goes on.
final class CatchErrors: RequestStep {
    let logger: Logger
    let reporter: ErrorReporter?
    let redactor: Redactor

    init(logger: Logger, reporter: ErrorReporter?, redactor: Redactor) {
        self.logger = logger
        self.reporter = reporter
        self.redactor = redactor
    }

    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        do {
            try next()
        } catch {
            let (method, url) = c.describe(redactor)
            let id = c.requestID.string
            logger.error("Unhandled error processing \(method) \(url): \(error)",
                         metadata: ["request_id": "\(id)", "error": "\(error)", "error_type": "\(type(of: error))"])
            reporter?.report(message: redactor.text("\(error)"), url: url, method: method, requestID: id)
            // Part of a streamed answer is out already: nothing can replace it.
            guard c.out.streamed == 0 else { return }
            let e = APIError.unknown(redactor.text("\(error)"))
            c.out.set(e.body)
            c.head.status = e.status
            c.head.contentType = AnswerHead.jsonType
            c.head.endpoint = nil
            c.head.noStore = false
        }
    }
}

/// Writes the CGI header lines of an answer and the blank line after them,
/// built on the stack: this runs once per request.
func putHead(_ head: AnswerHead, length: Int?, requestID: UnsafeBufferPointer<UInt8>, etag: UnsafeBufferPointer<UInt8>,
             _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    let prefix = head.status == 200 && head.contentType == AnswerHead.jsonType ? okJSONHead
        : head.status == 200 && head.contentType == AnswerHead.textType ? okTextHead
        : head.contentType.isEmpty ? Array("Status: \(head.status) \(reasonPhrases[head.status] ?? "")\r\n".utf8)
        : Array("Status: \(head.status) \(reasonPhrases[head.status] ?? "")\r\nContent-Type: \(head.contentType)\r\n".utf8)
    let capacity = prefix.count + requestID.count + etag.count + 96 + JSONCursor.maxBytesInt
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buf in
        var c = JSONCursor(buf.baseAddress!)
        prefix.withUnsafeBufferPointer { c.raw($0) }
        if head.noStore { c.raw("Cache-Control: no-store\r\n") }
        if !etag.isEmpty {
            // Revalidate every time: the next generation may be out already.
            c.raw("Cache-Control: no-cache\r\nETag: ")
            c.raw(etag)
            c.raw("\r\n")
        }
        if !requestID.isEmpty {
            c.raw("X-Request-ID: ")
            c.raw(requestID)
            c.raw("\r\n")
        }
        if let length {
            c.raw("Content-Length: ")
            c.int(Int64(length))
            c.raw("\r\n")
        }
        c.raw("\r\n")
        let n = c.p - buf.baseAddress!
        precondition(n <= capacity, "response head overflow")
        buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: n) { _ = FCGX_PutStr($0, Int32(n), stream) }
    }
}

// The heads of most answers, built once: interpolating one costs more than the rest of a heartbeat.
private let okJSONHead = Array("Status: 200 OK\r\nContent-Type: \(AnswerHead.jsonType)\r\n".utf8)
private let okTextHead = Array("Status: 200 OK\r\nContent-Type: \(AnswerHead.textType)\r\n".utf8)

/// Writes bytes to a FastCGI stream.
/// In pieces that fit FCGX_PutStr's Int32 count (an answer held whole once
/// passed 2 GiB at 10M songs and stopped the worker).
func put(_ bytes: UnsafeBufferPointer<UInt8>, _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    var done = 0
    while done < bytes.count {
        let n = min(bytes.count - done, 1 << 30)
        (base + done).withMemoryRebound(to: CChar.self, capacity: n) { _ = FCGX_PutStr($0, Int32(n), stream) }
        done += n
    }
}
