import AvalonCore
import Glibc

/// Watches a tree with inotify. Directories are added as a scan's walk
/// enters them (`watch`), before their entries are read: a file that appears
/// later raises an event, one that was there is in the scan.
public final class TreeWatcher {
    let fd: Int32
    /// The queue overflowed: events were lost, so a scan must look at everything.
    public private(set) var overflowed = false

    static let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
                             | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

    public init() throws {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw ScanIssue(path: "inotify", reason: String(cString: strerror(errno))) }
    }

    deinit { close(fd) }

    /// Watches one directory (again is harmless: inotify keeps one watch per inode).
    public func watch(_ dir: String) -> String? {
        let wd = PathBytes.withCString(dir) { inotify_add_watch(fd, $0, Self.mask) }
        guard wd < 0 else { return nil }
        let e = errno
        return e == ENOSPC
            ? "cannot watch \(PathBytes.display(dir)): inotify watch limit reached (raise fs.inotify.max_user_watches, or use --poll)"
            : "cannot watch \(PathBytes.display(dir)): \(String(cString: strerror(e)))"
    }

    /// Waits for a change, then until none came for `settle` seconds (but no
    /// longer than `maxWait` once changes started). Returns false when
    /// `stop` turned true or `timeout` passed first with no change.
    public func waitForChanges(settle: Double, maxWait: Double, timeout: Double = .infinity, stop: () -> Bool) -> Bool {
        overflowed = false
        let start = monotonicSeconds()
        var first: Double?
        var last = 0.0
        while !stop() {
            let now = monotonicSeconds()
            let wait: Double
            if let first {
                if now - last >= settle || now - first >= maxWait { return true }
                wait = min(settle - (now - last), maxWait - (now - first))
            } else {
                if now - start >= timeout { return false }
                wait = min(1, timeout - (now - start))  // wakes to look at `stop`
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(max(1, (wait * 1000).rounded(.up)))) > 0 else { continue }
            if drain() {
                if first == nil { first = monotonicSeconds() }
                last = monotonicSeconds()
            }
        }
        return false
    }

    /// Reads what is queued; whether any of it was a change.
    private func drain() -> Bool {
        var changed = false
        let size = 64 * 1024
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buf.deallocate() }
        while true {
            let n = read(fd, buf, size)
            if n <= 0 { return changed }
            var off = 0
            while off < n {
                let ev = buf.load(fromByteOffset: off, as: inotify_event.self)
                if ev.mask & UInt32(IN_Q_OVERFLOW) != 0 { overflowed = true }
                if ev.mask & UInt32(IN_IGNORED) == 0 { changed = true }
                off += MemoryLayout<inotify_event>.size + Int(ev.len)
            }
        }
    }
}

/// `avalon-scan --watch`: a scan now, then one after every settled batch of
/// changes (inotify), or every `poll` seconds where inotify sees nothing
/// (network filesystems). A failed scan is logged and tried again after
/// `retry` seconds even without changes; the previous collection stays.
public func watchAndScan(_ job: ScanJob, settle: Double, poll: Double?, retry: Double = 30,
                         log: @escaping (String) -> Void, report: (ScanJob.Report) -> Void, stop: () -> Bool) throws {
    let watcher = try poll == nil ? TreeWatcher() : nil
    var watchErrors = 0
    var failing = false
    while !stop() {
        do {
            let r = try job.run(log: log, onDirectory: { dir in
                if let w = watcher, let e = w.watch(dir) {
                    watchErrors += 1
                    if watchErrors <= 3 { log(e) }
                }
            })
            report(r)
            failing = false
        } catch {
            log("scan failed, the previous collection stays: \(error)")
            failing = true
        }
        if let poll {
            let until = monotonicSeconds() + (failing ? min(poll, retry) : poll)
            while !stop() && monotonicSeconds() < until { usleep(100_000) }
        } else if let watcher {
            let changed = watcher.waitForChanges(settle: settle, maxWait: max(60, 10 * settle),
                                                 timeout: failing ? retry : .infinity, stop: stop)
            if watcher.overflowed { log("inotify queue overflowed; scanning everything") }
            if !changed && !failing { continue }
        }
    }
}
