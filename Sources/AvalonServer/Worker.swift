import CSystem
import AvalonCore
import CFastCGI
import Glibc
import Logging
import Synchronization

/// Set when a worker is asked to stop (SIGTERM, SIGINT, its master's death):
/// it finishes the request in hand, then exits.
let workerStopRequested = Atomic<Bool>(false)

/// A worker process: accepts FastCGI requests on the shared socket and
/// answers them from the collection it inherited from the master, through
/// the pipeline of steps around the router.
final class Worker {
    let listenFD: Int32
    let logger: Logger
    let statsd: Statsd?
    let pipeline: Pipeline
    let router: Router
    /// Every request passes through this one context: no allocation per request.
    let context = RequestContext()

    init(listenFD: Int32, router: Router, logger: Logger, statsd: Statsd?, reporter: ErrorReporter?, slot: WorkerSlot?, redactor: Redactor, etagSalt: UInt64 = 0) {
        self.listenFD = listenFD
        self.logger = logger
        self.statsd = statsd
        pipeline = .standard(router: router, slot: slot, statsd: statsd, reporter: reporter, logger: logger, redactor: redactor,
                             etagSalt: etagSalt)
        self.router = router
    }

    func run() -> Never {
        let wake = WorkerSignals.start()
        // Non-blocking accept: a worker that loses the race for a connection
        // gets EAGAIN and waits in poll, where a stop request also wakes it.
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        // libfcgi reads with no time limit: a connection that sends nothing
        // would hold this worker forever. A TCP connection accepted from this
        // socket inherits its receive timeout (no system call per request), and
        // libfcgi drops it when the read fails (after its 2 s lingering close);
        // on a unix socket libfcgi itself drops a connection that is not
        // readable within 2 s of its accept.
        var limit = timeval(tv_sec: Worker.idleSeconds, tv_usec: 0)
        _ = setsockopt(listenFD, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        FCGX_Init()
        var req = FCGX_Request()
        FCGX_InitRequest(&req, listenFD, 0)
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        while !workerStopRequested.load(ordering: .relaxed) {
            let rc = FCGX_Accept_r(&req)
            if rc == -EAGAIN || rc == -EWOULDBLOCK {
                // Idle: the statsd batch goes out once due, not from a thread of its own.
                _ = poll(&fds, 2, statsd?.flushIfDue() ?? -1)
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

    func serve(_ req: inout FCGX_Request) {
        let c = context
        c.started = monotonicNanoseconds()
        c.envp = req.envp
        c.stream = req.out
        c.input = req.in
        c.request = RequestBytes(req.envp)
        if c.request.method.baseAddress == nil { c.request.method = Worker.get }
        c.isHead = c.request.method.elementsEqual("HEAD".utf8)
        c.head = AnswerHead(status: 500, contentType: AnswerHead.jsonType)
        c.out.reset()
        // nginx's stock fastcgi_params carry the whole path in DOCUMENT_URI.
        if !c.request.uri.isEmpty {
            c.path = c.request.uri
        } else {
            var path = (c.param("SCRIPT_NAME") ?? "") + (c.param("PATH_INFO") ?? "")
            if path.isEmpty, let uri = c.param("REQUEST_URI") { path = String(uri.prefix { $0 != "?" }) }
            c.setBuiltPath(path)
        }
        c.route = router.route(c.path)
        do {
            try pipeline.run(c)
        } catch {
            // CatchErrors is inside the pipeline; only a step's own failure gets here.
            logger.critical("request pipeline failed: \(error)")
        }
    }

    /// How long a connection may keep a worker waiting for its request.
    static let idleSeconds = 3

    private static let get = UnsafeBufferPointer(start: StaticString("GET").utf8Start, count: 3)
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
        for s in stopping + [SIGUSR1, SIGUSR2, SIGHUP, SIGCHLD, SIGWINCH] { sigaddset(&set, s) }
        pthread_sigmask(SIG_SETMASK, &set, nil)  // inherited by every thread started after
        signal(SIGPIPE, SIG_IGN)
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        let waiter = Waiter(set: set, wakeFD: pipeFDs[1])
        guard startThread({ waiter.run() }) else { fatalError("cannot start the signal thread") }
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
                    reopenRequested.store(true, ordering: .relaxed)
                }
            }
        }
    }
}
