import AvalonCore
import CFastCGI
import Glibc
import Logging

/// Set by SIGTERM/SIGINT in a worker: finish the request in hand, then exit.
nonisolated(unsafe) var workerStopRequested: sig_atomic_t = 0

/// A worker process: accepts FastCGI requests on the shared socket and
/// answers them from the collection it inherited from the master.
struct Worker {
    let listenFD: Int32
    let router: Router
    let logger: Logger
    let statsd: Statsd?
    let reporter: ErrorReporter?

    func run() -> Never {
        installWorkerSignals()
        FCGX_Init()
        var req = FCGX_Request()
        // Accept returns on a signal, so an idle worker stops at once.
        FCGX_InitRequest(&req, listenFD, Int32(FCGI_FAIL_ACCEPT_ON_INTR))
        while workerStopRequested == 0 {
            let rc = FCGX_Accept_r(&req)
            if rc < 0 {
                if workerStopRequested != 0 || rc == -EINTR { continue }
                logger.error("accepting a FastCGI connection failed: \(String(cString: strerror(-rc)))")
                usleep(100_000)
                continue
            }
            serve(&req)
            FCGX_Finish_r(&req)
        }
        statsd?.flush()
        exit(0)
    }

    func param(_ name: String, _ req: inout FCGX_Request) -> String? {
        FCGX_GetParam(name, req.envp).map { String(cString: $0) }
    }

    func serve(_ req: inout FCGX_Request) {
        let start = monotonicSeconds()
        let method = param("REQUEST_METHOD", &req) ?? "GET"
        // nginx's stock fastcgi_params carry the whole path in DOCUMENT_URI.
        var path = param("DOCUMENT_URI", &req) ?? ""
        if path.isEmpty { path = (param("SCRIPT_NAME", &req) ?? "") + (param("PATH_INFO", &req) ?? "") }
        if path.isEmpty, let uri = param("REQUEST_URI", &req) { path = String(uri.prefix { $0 != "?" }) }
        let request = Request(method: method, path: path, query: param("QUERY_STRING", &req) ?? "",
                              apiKey: param("HTTP_X_API_KEY", &req))
        var response: HTTPResponse
        do {
            response = try router.handle(request)
        } catch {
            let host = param("HTTP_HOST", &req) ?? "-"
            let url = "\(host)\(path)\(request.query.isEmpty ? "" : "?" + request.query)"
            logger.error("Unhandled error processing \(method) \(url): \(error)")
            reporter?.report(message: "\(error)", url: url, method: method)
            response = .error(.unknown("\(error)"))
        }
        put(responseHead(response), req.out)
        if method != "HEAD" { put(response.body, req.out) }
        if let e = response.endpoint, let statsd {
            statsd.timing(e.metricName, milliseconds: (monotonicSeconds() - start) * 1000)
        }
    }
}

/// The CGI response header lines and the blank line after them.
func responseHead(_ r: HTTPResponse) -> [UInt8] {
    var head: [UInt8] = []
    head.reserveCapacity(128)
    if r.status == 200 && r.contentType == HTTPResponse.jsonType {
        head += okJSONHead
    } else {
        head += "Status: \(r.status) \(reasonPhrases[r.status] ?? "")\r\nContent-Type: \(r.contentType)\r\n".utf8
    }
    head += "Content-Length: ".utf8
    head += String(r.body.count).utf8
    head += "\r\n\r\n".utf8
    return head
}

private let okJSONHead = Array("Status: 200 OK\r\nContent-Type: \(HTTPResponse.jsonType)\r\n".utf8)

/// Writes bytes to a FastCGI stream without copying them.
func put(_ bytes: [UInt8], _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    bytes.withUnsafeBufferPointer { p in
        guard let base = p.baseAddress else { return }
        base.withMemoryRebound(to: CChar.self, capacity: p.count) { _ = FCGX_PutStr($0, Int32(p.count), stream) }
    }
}

func installWorkerSignals() {
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigprocmask(SIG_SETMASK, &unblock, nil)
    var stop = sigaction()
    stop.__sigaction_handler.sa_handler = { _ in workerStopRequested = 1 }
    sigemptyset(&stop.sa_mask)
    stop.sa_flags = 0  // no SA_RESTART: accept(2) must return
    sigaction(SIGTERM, &stop, nil)
    sigaction(SIGINT, &stop, nil)
    signal(SIGHUP, SIG_IGN)
    signal(SIGPIPE, SIG_IGN)
    signal(SIGCHLD, SIG_DFL)
    // A worker whose master is gone stops too.
    _ = avalon_exit_with_parent()
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
