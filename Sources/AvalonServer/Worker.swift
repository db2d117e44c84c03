import AvalonCore
import CFastCGI
import Glibc
import Logging
import Synchronization

/// Set when a worker is asked to stop (SIGTERM, SIGINT, its master's death):
/// it finishes the request in hand, then exits.
let workerStopRequested = Atomic<Bool>(false)

/// A worker process: accepts FastCGI requests on the shared socket and
/// answers them from the collection it inherited from the master.
final class Worker {
    let listenFD: Int32
    let router: Router
    let logger: Logger
    let statsd: Statsd?
    let reporter: ErrorReporter?
    /// Every answer is written here: no allocation per request.
    let out = ResponseBuffer()

    init(listenFD: Int32, router: Router, logger: Logger, statsd: Statsd?, reporter: ErrorReporter?) {
        self.listenFD = listenFD
        self.router = router
        self.logger = logger
        self.statsd = statsd
        self.reporter = reporter
    }

    func run() -> Never {
        let wake = WorkerSignals.start()
        // Non-blocking accept: a worker that loses the race for a connection
        // gets EAGAIN and waits in poll, where a stop request also wakes it.
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        FCGX_Init()
        var req = FCGX_Request()
        FCGX_InitRequest(&req, listenFD, 0)
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        while !workerStopRequested.load(ordering: .relaxed) {
            let rc = FCGX_Accept_r(&req)
            if rc == -EAGAIN || rc == -EWOULDBLOCK {
                _ = poll(&fds, 2, -1)
                continue
            }
            if rc < 0 {
                if rc == -EINTR { continue }
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

    /// The parameters every request needs, as bytes valid until the request
    /// is finished: one pass over the environment, no String per request.
    struct RawParams {
        var method = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
        var query = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
        var uri = UnsafeBufferPointer<UInt8>(start: nil, count: 0)

        init(_ envp: FCGX_ParamArray?) {
            guard var e = envp else { return }
            while let entry = e.pointee {
                let p = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
                func value(_ name: StaticString) -> UnsafeBufferPointer<UInt8>? {
                    let n = name.utf8CodeUnitCount  // "NAME="
                    // strncmp stops at the entry's end; memcmp could read past it.
                    guard name.utf8Start.withMemoryRebound(to: CChar.self, capacity: n, { strncmp(entry, $0, n) }) == 0 else {
                        return nil
                    }
                    return UnsafeBufferPointer(start: p + n, count: strlen(entry + n))
                }
                switch p[0] {
                case UInt8(ascii: "R"): if method.baseAddress == nil, let v = value("REQUEST_METHOD=") { method = v }
                case UInt8(ascii: "Q"): if query.baseAddress == nil, let v = value("QUERY_STRING=") { query = v }
                case UInt8(ascii: "D"): if uri.baseAddress == nil, let v = value("DOCUMENT_URI=") { uri = v }
                default: break
                }
                e += 1
            }
        }
    }

    func serve(_ req: inout FCGX_Request) {
        let start = monotonicNanoseconds()
        let raw = RawParams(req.envp)
        let method = raw.method.baseAddress == nil ? Worker.get : raw.method
        let query = raw.query
        // nginx's stock fastcgi_params carry the whole path in DOCUMENT_URI.
        let uri = raw.uri
        var head: AnswerHead
        var path = ""
        do {
            if !uri.isEmpty {
                head = try router.handle(method: method, path: uri, query: query, apiKey: param("HTTP_X_API_KEY", &req), into: out)
            } else {
                path = (param("SCRIPT_NAME", &req) ?? "") + (param("PATH_INFO", &req) ?? "")
                if path.isEmpty, let uri = param("REQUEST_URI", &req) { path = String(uri.prefix { $0 != "?" }) }
                head = try path.withUTF8 {
                    try router.handle(method: method, path: $0, query: query, apiKey: param("HTTP_X_API_KEY", &req), into: out)
                }
            }
        } catch {
            if !uri.isEmpty { path = String(decoding: uri, as: UTF8.self) }
            let (m, q) = (String(decoding: method, as: UTF8.self), String(decoding: query, as: UTF8.self))
            let host = param("HTTP_HOST", &req) ?? "-"
            let url = "\(host)\(path)\(q.isEmpty ? "" : "?" + q)"
            logger.error("Unhandled error processing \(m) \(url): \(error)")
            reporter?.report(message: "\(error)", url: url, method: m)
            let e = APIError.unknown("\(error)")
            out.set(e.body)
            head = AnswerHead(status: e.status, contentType: AnswerHead.jsonType)
        }
        putHead(head, length: out.count, req.out)
        if !method.elementsEqual("HEAD".utf8) { put(out.bytes, req.out) }
        out.shrink()
        if let e = head.endpoint, let statsd {
            statsd.timing(e.metricName, microseconds: Int((monotonicNanoseconds() - start + 500) / 1000))
        }
    }

    private static let get = UnsafeBufferPointer(start: StaticString("GET").utf8Start, count: 3)
}

/// Writes the CGI header lines of an answer and the blank line after them,
/// built on the stack: this runs once per request.
func putHead(_ head: AnswerHead, length: Int, _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    let prefix = head.status == 200 && head.contentType == AnswerHead.jsonType
        ? okJSONHead
        : Array("Status: \(head.status) \(reasonPhrases[head.status] ?? "")\r\nContent-Type: \(head.contentType)\r\nContent-Length: ".utf8)
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefix.count + JSONCursor.maxBytesInt + 4) { buf in
        var c = JSONCursor(buf.baseAddress!)
        prefix.withUnsafeBufferPointer { c.raw($0) }
        c.int(Int64(length))
        c.raw("\r\n\r\n")
        let n = c.p - buf.baseAddress!
        buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: n) { _ = FCGX_PutStr($0, Int32(n), stream) }
    }
}

private let okJSONHead = Array("Status: 200 OK\r\nContent-Type: \(AnswerHead.jsonType)\r\nContent-Length: ".utf8)

/// Writes bytes to a FastCGI stream.
func put(_ bytes: [UInt8], _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    bytes.withUnsafeBufferPointer { put($0, stream) }
}

func put(_ bytes: UnsafeBufferPointer<UInt8>, _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { _ = FCGX_PutStr($0, Int32(bytes.count), stream) }
}

/// A worker's signals. No thread of the worker takes them: they stay blocked,
/// and one thread receives them with sigwait. A handler would interrupt
/// whatever system call the main thread is in, and libfcgi drops the
/// connection when the poll it makes right after accept is interrupted
/// (nginx answers 502); SA_RESTART does not restart poll.
enum WorkerSignals {
    static let stopping: [Int32] = [SIGTERM, SIGINT]

    /// Returns a descriptor that becomes readable when the worker should stop.
    static func start() -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for s in stopping + [SIGUSR1, SIGHUP, SIGCHLD] { sigaddset(&set, s) }
        pthread_sigmask(SIG_SETMASK, &set, nil)  // inherited by every thread started after
        signal(SIGPIPE, SIG_IGN)
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        let waiter = Waiter(set: set, wakeFD: pipeFDs[1])
        var thread = pthread_t()
        guard pthread_create(&thread, nil, { arg in
            Unmanaged<Waiter>.fromOpaque(arg!).takeRetainedValue().run()
        }, Unmanaged.passRetained(waiter).toOpaque()) == 0 else { fatalError("cannot start the signal thread") }
        pthread_detach(thread)
        // A worker whose master is gone stops too (the signal is SIGTERM).
        _ = avalon_exit_with_parent()
        return pipeFDs[0]
    }

    final class Waiter {
        var set: sigset_t
        let wakeFD: Int32
        init(set: sigset_t, wakeFD: Int32) { self.set = set; self.wakeFD = wakeFD }

        func run() -> Never {
            while true {
                var signo: Int32 = 0
                guard sigwait(&set, &signo) == 0 else { continue }
                if stopping.contains(signo) {
                    workerStopRequested.store(true, ordering: .relaxed)
                    var byte: UInt8 = 1
                    _ = write(wakeFD, &byte, 1)
                } else if signo == SIGUSR1 {
                    reopenRequested = 1
                }
            }
        }
    }
}

func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
