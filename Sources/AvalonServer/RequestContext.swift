import AvalonCore
import CFastCGI
import Glibc

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
    /// The route the path names, resolved once before the steps run.
    var route = MetricEndpoint.other
    let requestID = RequestID()
    /// The answer: head here, body in `out`.
    var head = AnswerHead(status: 500, contentType: AnswerHead.jsonType)
    let out = ResponseBuffer()
    /// Set by `ConditionalRequests` for cacheable answers.
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
