import AvalonConfig
import Glibc

extension Server {
    /// Refuses to start when the pid file names a running Avalon master of
    /// this user (but the old master of an upgrade, whose file this one takes
    /// over). Any other pid is stale: after a reboot it is often reused.
    static func writePidFile(_ path: String, replacing old: pid_t? = nil) throws {
        if let text = try? readFile(path), let pid = Int32(text.trimmingWhitespace()), pid != old, isOurMaster(pid) {
            throw Listener.Failure(description: "pid file \(path) names running avalon-fcgi \(pid); is another avalon-fcgi running? (stop it, or give another --pid-file)")
        }
        // Written beside it and renamed over it: a reader never sees half a
        // file, and a link planted in the directory is not followed.
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tmp = (dir.isEmpty ? "" : dir + "/") + ".\(name).\(getpid()).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Listener.Failure(description: "cannot write pid file \(path): \(tmp): \(String(cString: strerror(errno)))") }
        let s = Array("\(getpid())\n".utf8)
        let written = write(fd, s, s.count)
        close(fd)
        guard written == s.count, rename(tmp, path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(tmp)
            throw Listener.Failure(description: "cannot write pid file \(path): \(e)")
        }
    }

    /// A live process of this user whose program is avalon-fcgi.
    static func isOurMaster(_ pid: pid_t) -> Bool {
        guard pid > 0, pid != getpid(), processIsAlive(pid) else { return false }
        var st = stat()
        guard stat("/proc/\(pid)", &st) == 0, st.st_uid == geteuid() else { return false }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/\(pid)/exe", &buf, buf.count - 1)
        if n > 0 {
            // A package upgrade replaces the file the old master runs.
            var exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if exe.hasSuffix(" (deleted)") { exe.removeLast(10) }
            if exe.split(separator: "/").last == "avalon-fcgi" { return true }
        }
        guard let cmdline = try? readFile("/proc/\(pid)/cmdline") else { return false }
        let argv0 = cmdline.prefix { $0 != "\0" }
        return argv0.split(separator: "/").last == "avalon-fcgi"
    }
}
