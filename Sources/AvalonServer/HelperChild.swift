import AvalonConfig
import CSystem
import Glibc

/// Work for the master that a database can make hang or a collection can make
/// crash (a look at the generation, a trial load), in a child process: the
/// master's loop stays free to reap and restart its workers, and a crash costs
/// the child only. The child says how it went through a pipe, then exits.
struct HelperChild {
    let pid: pid_t
    let fd: Int32
    /// Past this (monotonic seconds) the master kills it.
    let deadline: Double

    enum Outcome {
        case answered(String)
        case failed(String)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func start(deadline: Double, _ work: () throws -> String) throws -> HelperChild {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid = fork()
        if pid == 0 {
            close(fds[0])
            // The master's signals are blocked; this child takes the defaults,
            // and stops with its master.
            var none = sigset_t()
            sigemptyset(&none)
            sigprocmask(SIG_SETMASK, &none, nil)
            _ = avalon_exit_with_parent()
            var text: String
            do { text = "+" + (try work()) } catch { text = "-\(error)" }
            var bytes = Array(text.utf8.prefix(8192))
            var at = 0
            while at < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(fds[1], $0.baseAddress! + at, $0.count - at) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                at += n
            }
            _exit(0)
        }
        close(fds[1])
        guard pid > 0 else {
            close(fds[0])
            throw Failure(description: "fork: \(String(cString: strerror(errno)))")
        }
        return HelperChild(pid: pid, fd: fds[0], deadline: deadline)
    }

    /// Once reaped: what the child said, or how it stopped.
    func outcome(status: Int32, at now: Double) -> Outcome {
        let text = String(decoding: readAll(fd) ?? [], as: UTF8.self)
        close(fd)
        if (status & 0x7f) != 0 {
            let sig = status & 0x7f
            if sig == SIGKILL && now > deadline { return .failed("no answer in time (stopped)") }
            return .failed("it stopped by signal \(sig) (a crash: the server's standard error says why)")
        }
        if text.hasPrefix("+") { return .answered(String(text.dropFirst())) }
        if text.hasPrefix("-") { return .failed(String(text.dropFirst())) }
        return .failed("it stopped with exit status \((status >> 8) & 0xff)")
    }

    /// The master is stopping: no answer is wanted.
    func abandon() {
        kill(pid, SIGKILL)
        close(fd)
    }
}
