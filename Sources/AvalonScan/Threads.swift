import Glibc

/// Runs `body(i)` for i in 0..<count, each on a thread of its own, and waits
/// for all. Not Dispatch's pool, which keeps to one thread per core: a walk
/// or a tag read on a cold disk spends its time waiting for the device, and
/// the device answers many requests at once faster than one at a time.
func onThreads(_ count: Int, _ body: @escaping (Int) -> Void) {
    final class Job {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    var threads: [pthread_t] = []
    for i in 0..<max(1, count) {
        var t = pthread_t()
        let job = Unmanaged.passRetained(Job { body(i) }).toOpaque()
        let rc = pthread_create(&t, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, job)
        if rc == 0 {
            threads.append(t)
        } else {
            Unmanaged<Job>.fromOpaque(job).takeRetainedValue().run()  // no thread: run it here
        }
    }
    for t in threads { pthread_join(t, nil) }
}

/// A mutex and its condition, for the scanner's work queues.
final class Monitor {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Inside `locked` only.
    func wait() { pthread_cond_wait(&cond, &mutex) }
    func broadcast() { pthread_cond_broadcast(&cond) }
}
