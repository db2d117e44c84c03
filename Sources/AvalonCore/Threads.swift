import Glibc

// The one set of thread primitives, for the scanner and the server alike. A
// pthread object lives at an address of its own: one stored inline in a
// Swift class and passed with `&` may be moved or copied by the compiler,
// which POSIX forbids. A failed pthread call is a bug here (an invalid or
// destroyed object): it stops the process rather than go on unsynchronised.

@inline(__always)
private func check(_ rc: Int32, _ what: StaticString) {
    if rc != 0 { fatalError("\(what) failed: \(String(cString: strerror(rc)))") }
}

/// A mutex. Off the request path only (log writes, the statsd and Sentry
/// queues, the scanner's work lists); state shared between processes uses atomics.
public final class Lock: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() {
        m.initialize(to: pthread_mutex_t())
        check(pthread_mutex_init(m, nil), "pthread_mutex_init")
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        check(pthread_mutex_lock(m), "pthread_mutex_lock")
        defer { check(pthread_mutex_unlock(m), "pthread_mutex_unlock") }
        return try body()
    }

    /// Waits on `cond`; call inside `locked`.
    public func wait(_ cond: Condition) { check(pthread_cond_wait(cond.c, m), "pthread_cond_wait") }

    /// Waits on `cond` until the CLOCK_REALTIME `deadline`; ETIMEDOUT when it passed.
    public func wait(_ cond: Condition, until deadline: timespec) -> Int32 {
        var d = deadline
        let rc = pthread_cond_timedwait(cond.c, m, &d)
        if rc != ETIMEDOUT { check(rc, "pthread_cond_timedwait") }
        return rc
    }
}

/// A condition variable, used with a `Lock`.
public final class Condition: @unchecked Sendable {
    fileprivate let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        c.initialize(to: pthread_cond_t())
        check(pthread_cond_init(c, nil), "pthread_cond_init")
    }

    deinit {
        pthread_cond_destroy(c)
        c.deallocate()
    }

    public func signal() { check(pthread_cond_signal(c), "pthread_cond_signal") }
    public func broadcast() { check(pthread_cond_broadcast(c), "pthread_cond_broadcast") }
}

/// A closure to hand to a new thread.
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a thread running `body`; nil when the system refused.
private func spawn(_ body: @escaping () -> Void) -> pthread_t? {
    var t = pthread_t()
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    guard pthread_create(&t, nil, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
    }, box) == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        return nil
    }
    return t
}

/// Starts a detached thread running `body`; false when the system refused.
/// (The worker's signal waiter, the statsd flusher, the Sentry sender.)
@discardableResult
public func startThread(_ body: @escaping () -> Void) -> Bool {
    guard let t = spawn(body) else { return false }
    pthread_detach(t)
    return true
}

/// Runs `body(i)` for i in 0..<count, each on a thread of its own, and waits
/// for all. Not Dispatch's pool, which keeps to one thread per core: a walk
/// or a tag read on a cold disk spends its time waiting for the device, and
/// the device answers many requests at once faster than one at a time.
public func onThreads(_ count: Int, _ body: @escaping (Int) -> Void) {
    var threads: [pthread_t] = []
    for i in 0..<max(1, count) {
        if let t = spawn({ body(i) }) { threads.append(t) } else { body(i) }  // no thread: run it here
    }
    for t in threads { pthread_join(t, nil) }
}
