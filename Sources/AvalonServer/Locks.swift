import Glibc

/// A pthread mutex at a stable address: a pthread_mutex_t stored inline in
/// a Swift class and passed with `&` may be moved or copied by the compiler,
/// which POSIX forbids. Used off the request path only (log writes, the
/// statsd and Sentry queues); shared state between processes uses atomics.
final class Lock: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }

    /// Waits on `cond`; call inside `locked`.
    func wait(_ cond: Condition) { pthread_cond_wait(cond.c, m) }

    /// Waits on `cond` until the CLOCK_REALTIME `deadline`; ETIMEDOUT when it passed.
    func wait(_ cond: Condition, until deadline: timespec) -> Int32 {
        var d = deadline
        return pthread_cond_timedwait(cond.c, m, &d)
    }
}

/// A pthread condition variable at a stable address, used with a `Lock`.
final class Condition: @unchecked Sendable {
    fileprivate let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        c.initialize(to: pthread_cond_t())
        pthread_cond_init(c, nil)
    }

    deinit {
        pthread_cond_destroy(c)
        c.deallocate()
    }

    func signal() { pthread_cond_signal(c) }
}

/// Starts a detached thread running `body`; false when the system refused.
/// (Worker threads: the signal waiter, the statsd flusher, the Sentry sender.)
@discardableResult
func startThread(_ body: @escaping () -> Void) -> Bool {
    final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    var t = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    guard pthread_create(&t, nil, { arg in
        Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, box) == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        return false
    }
    pthread_detach(t)
    return true
}
