/* Tag reading in child processes: TagLib parses whatever files a music
   folder holds, and a crafted one can crash it or loop forever. A child per
   reading thread, fed batches of paths over a socket, answers file by file;
   its parent gives each file a time limit and replaces a child that dies or
   overruns, so that the file costs itself only. The child is forked, not
   executed: it runs this C++ only, never the Swift runtime of its parent. */
#include "avalon_taglib.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace {

bool write_all(int fd, const std::string &s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += (size_t)n;
    }
    return true;
}

bool read_all(int fd, void *p, size_t len) {
    char *c = static_cast<char *>(p);
    while (len > 0) {
        ssize_t n = read(fd, c, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        c += n;
        len -= (size_t)n;
    }
    return true;
}

void put32(std::string &s, uint32_t v) { s.append(reinterpret_cast<const char *>(&v), 4); }

void put_string(std::string &s, const char *v) {
    if (!v) { put32(s, UINT32_MAX); return; }
    uint32_t n = (uint32_t)strlen(v);
    put32(s, n);
    s.append(v, n);
}

/* Only what the child needs: its socket and the standard streams. The other
   fds are its parent's (other children's sockets among them, whose ends
   must close when those children die). */
void close_other_fds(int keep) {
    bool ok = (keep <= 3 || syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0) &&
              syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0;
    if (!ok) {  /* kernels before 5.9 */
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++) if (fd != keep) close(fd);
    }
}

[[noreturn]] void child_main(int fd, pid_t parent, const char *picture_dir, const char *music_root) {
    close_other_fds(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, nullptr);
    /* Dies with the thread that forked it; a crash leaves no core file. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    struct rlimit none_core = {0, 0};
    setrlimit(RLIMIT_CORE, &none_core);
    /* Test hooks: the file on which this reader crashes, or hangs. */
    const char *crash = getenv("AVALON_TEST_READER_CRASH");
    const char *hang = getenv("AVALON_TEST_READER_HANG");
    std::vector<std::string> paths;
    std::vector<unsigned char> follow;
    std::string out;
    for (;;) {
        uint32_t count;
        if (!read_all(fd, &count, 4)) _exit(0);
        paths.assign(count, std::string());
        follow.assign(count, 0);
        for (uint32_t i = 0; i < count; i++) {
            uint32_t len;
            if (!read_all(fd, &follow[i], 1) || !read_all(fd, &len, 4)) _exit(0);
            paths[i].resize(len);
            if (len && !read_all(fd, &paths[i][0], len)) _exit(0);
        }
        for (uint32_t i = 0; i < count; i++) {
            const char *path = paths[i].c_str();
            if (crash && strcmp(path, crash) == 0) raise(SIGSEGV);
            if (hang && strcmp(path, hang) == 0) for (;;) pause();
            avalon_tags t;
            avalon_picture picture;
            char err[256] = "";
            int rc = avalon_read_tags(path, follow[i], picture_dir, music_root, &t, &picture, err, sizeof err);
            out.clear();
            out.push_back(rc == 0 ? AVALON_READ_OK : rc == -2 ? AVALON_READ_UNREADABLE : AVALON_READ_NOT_AUDIO);
            if (rc == 0) {
                put32(out, (uint32_t)t.length);
                put32(out, (uint32_t)t.bitrate);
                for (const char *v : {t.title, t.album, t.artist, t.genre, t.track, t.date, t.disc}) put_string(out, v);
                avalon_free_tags(&t);
            } else {
                put_string(out, err);
            }
            put_string(out, picture.name[0] ? picture.name : nullptr);
            out.push_back((char)picture.front);
            /* One answer per file: the parent's time limit runs per file. */
            if (!write_all(fd, out)) _exit(0);
        }
    }
}

int spawn(avalon_reader *r) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return e;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(sv[1], parent, r->picture_dir, r->music_root);
    }
    close(sv[1]);
    r->pid = pid;
    r->fd = sv[0];
    return 0;
}

double now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Ends the child (killed first when `kill_it`) and says how it ended. */
std::string reap(avalon_reader *r, bool kill_it) {
    if (kill_it) kill(r->pid, SIGKILL);
    close(r->fd);
    std::string how = "tag reader died";
    int status;
    /* A child stuck in the kernel (a hung network mount) may not die at
       once: it is left behind rather than waited for. */
    for (int i = 0; i < 2000; i++) {
        pid_t p = waitpid(r->pid, &status, WNOHANG);
        if (p == r->pid) {
            char b[96];
            if (WIFSIGNALED(status)) {
                const char *name = sigabbrev_np(WTERMSIG(status));
                snprintf(b, sizeof b, "tag reader crashed (SIG%s)", name ? name : "?");
            } else {
                snprintf(b, sizeof b, "tag reader exited (status %d)", WEXITSTATUS(status));
            }
            how = b;
            break;
        }
        if (p < 0 && errno != EINTR) break;
        usleep(1000);
    }
    r->pid = 0;
    r->fd = -1;
    return how;
}

void fail(avalon_read_result *res, int status, const std::string &why) {
    memset(res, 0, sizeof *res);
    res->status = status;
    snprintf(res->err, sizeof res->err, "%s", why.c_str());
}

/* One answer parsed from buf at off: false when it is not all there yet. */
bool parse(const std::string &buf, size_t &off, avalon_read_result *res) {
    size_t p = off;
    auto take32 = [&](uint32_t &v) {
        if (buf.size() - p < 4) return false;
        memcpy(&v, buf.data() + p, 4);
        p += 4;
        return true;
    };
    auto take_string = [&](char **v) {
        uint32_t n;
        if (!take32(n)) return false;
        if (n == UINT32_MAX) { *v = nullptr; return true; }
        if (buf.size() - p < n) return false;
        *v = static_cast<char *>(malloc(n + 1));
        memcpy(*v, buf.data() + p, n);
        (*v)[n] = 0;
        p += n;
        return true;
    };
    if (buf.size() - p < 1) return false;
    memset(res, 0, sizeof *res);
    res->status = (unsigned char)buf[p++];
    if (res->status == AVALON_READ_OK) {
        uint32_t length;
        if (!take32(length)) return false;
        res->tags.length = (int)length;
        uint32_t bitrate;
        if (!take32(bitrate)) return false;
        res->tags.bitrate = (int)bitrate;
        for (char **v : {&res->tags.title, &res->tags.album, &res->tags.artist, &res->tags.genre, &res->tags.track, &res->tags.date,
                         &res->tags.disc}) {
            if (!take_string(v)) { avalon_free_tags(&res->tags); return false; }
        }
    } else {
        char *why = nullptr;
        if (!take_string(&why)) return false;
        snprintf(res->err, sizeof res->err, "%s", why ? why : "");
        free(why);
    }
    char *picture = nullptr;
    if (!take_string(&picture) || buf.size() - p < 1) {
        free(picture);
        if (res->status == AVALON_READ_OK) avalon_free_tags(&res->tags);
        return false;
    }
    snprintf(res->picture.name, sizeof res->picture.name, "%s", picture ? picture : "");
    free(picture);
    res->picture.front = buf[p++];
    off = p;
    return true;
}

}  // namespace

extern "C" void avalon_reader_read(avalon_reader *r, const char *const *paths, const unsigned char *follow, int count,
                                   avalon_read_result *results, int timeout_ms) {
    int next = 0;        /* the first file without a result */
    int send_fails = 0;  /* children that died before taking a batch */
    std::string buf;
    char chunk[65536];
    while (next < count) {
        if (r->pid == 0) {
            int e = spawn(r);
            if (e != 0) {
                for (; next < count; next++) fail(&results[next], AVALON_READ_UNREADABLE, std::string("cannot start a tag reader: ") + strerror(e));
                return;
            }
        }
        std::string req;
        put32(req, (uint32_t)(count - next));
        for (int i = next; i < count; i++) {
            req.push_back((char)follow[i]);
            uint32_t n = (uint32_t)strlen(paths[i]);
            put32(req, n);
            req.append(paths[i], n);
        }
        if (!write_all(r->fd, req)) {
            std::string how = reap(r, true);
            /* A child that died idle is replaced; one that keeps dying costs the file. */
            if (++send_fails >= 3) fail(&results[next++], AVALON_READ_CRASHED, how);
            continue;
        }
        buf.clear();
        size_t off = 0;
        double deadline = now_ms() + timeout_ms;
        while (next < count) {
            if (parse(buf, off, &results[next])) {
                next++;
                send_fails = 0;
                deadline = now_ms() + timeout_ms;
                continue;
            }
            if (off > 0) {
                buf.erase(0, off);
                off = 0;
            }
            double left = deadline - now_ms();
            if (left <= 0) {
                reap(r, true);
                char why[64];
                snprintf(why, sizeof why, "tag reader took longer than %g s", timeout_ms / 1000.0);
                fail(&results[next++], AVALON_READ_HUNG, why);
                break;
            }
            struct pollfd p = {r->fd, POLLIN, 0};
            int rc = poll(&p, 1, (int)left + 1);
            if (rc == 0 || (rc < 0 && errno == EINTR)) continue;
            ssize_t n = rc > 0 ? read(r->fd, chunk, sizeof chunk) : -1;
            if (n > 0) {
                buf.append(chunk, (size_t)n);
                continue;
            }
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            fail(&results[next++], AVALON_READ_CRASHED, reap(r, false));
            break;
        }
    }
}

extern "C" void avalon_reader_stop(avalon_reader *r) {
    if (r->pid == 0) return;
    /* Its socket closed, the child reads end-of-file and exits. */
    close(r->fd);
    int status;
    while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR) {}
    r->pid = 0;
    r->fd = -1;
}
