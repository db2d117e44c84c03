import Glibc

// The server root may sit in a shared place (/tmp/avalon-express-UID): another
// user could make the folder first, or plant links in it, to read the database
// password or swap nginx.conf. Every folder is the caller's own and closed to
// others before anything is written into it; files go in under names nobody
// could have guessed, never through a link.

/// Makes `path` (0700), or takes the folder already there once it is checked.
func makeDirectory(_ path: String) throws {
    if mkdir(path, 0o700) != 0 && errno != EEXIST {
        throw ExpressError("cannot create \(path) (\(errorText())): pass --server-root with a folder you can write")
    }
    try checkOwnDirectory(path)
}

/// A folder (not a link) that the caller owns and only the caller can change.
func checkOwnDirectory(_ path: String) throws {
    var st = stat()
    guard lstat(path, &st) == 0 else { throw ExpressError("cannot look at \(path) (\(errorText())): pass --server-root with a folder you can write") }
    if (st.st_mode & S_IFMT) == S_IFLNK {
        throw ExpressError("\(path) is a symbolic link (another user may have planted it): remove it, or pass --server-root with a folder of your own")
    }
    guard (st.st_mode & S_IFMT) == S_IFDIR else {
        throw ExpressError("\(path) is not a folder: remove it, or pass --server-root with another")
    }
    guard st.st_uid == geteuid() else {
        throw ExpressError("\(path) belongs to \(userName(st.st_uid)), not to you (\(userName(geteuid()))), so its owner could read or swap its files: remove it, or pass --server-root with a folder of your own")
    }
    guard st.st_mode & 0o022 == 0 else {
        throw ExpressError("\(path) is writable by other users (mode \(octal(st.st_mode & 0o7777))), who could swap its files: chmod go-w \(shellQuote(path)), or pass --server-root with a folder of your own")
    }
    guard access(path, W_OK | X_OK) == 0 else {
        throw ExpressError("\(path) is not writable by this user: choose another with --server-root DIR")
    }
}

/// Nobody else can swap the server root for a folder of their own: each
/// folder above it is root's or the caller's, and one that others may write
/// to is sticky (as /tmp is), so that only its owner can rename what is in it.
func checkParents(_ path: String) throws {
    // A link on the way must be root's or the caller's: its owner could point it elsewhere later.
    var p = dirname(path)
    var existing: String?
    while true {
        var st = stat()
        if lstat(p, &st) == 0 {
            if existing == nil { existing = p }
            if (st.st_mode & S_IFMT) == S_IFLNK && st.st_uid != 0 && st.st_uid != geteuid() {
                throw ExpressError("\(p) is a link of \(userName(st.st_uid)), who could point the server root \(path) elsewhere: pass --server-root with a path of folders that are yours or root's")
            }
        }
        if p == "/" { break }
        p = dirname(p)
    }
    // Then the folders the path really goes through, links resolved.
    guard let start = existing, let resolved = realpath(start, nil) else { return }
    p = String(cString: resolved)
    free(resolved)
    while true {
        var st = stat()
        guard lstat(p, &st) == 0 else { break }
        if st.st_uid != 0 && st.st_uid != geteuid() {
            throw ExpressError("\(p) belongs to \(userName(st.st_uid)), who could replace the server root \(path) inside it: pass --server-root with a folder under one of yours")
        }
        if st.st_mode & 0o022 != 0 && st.st_mode & S_ISVTX == 0 {
            throw ExpressError("\(p) is writable by other users (mode \(octal(st.st_mode & 0o7777))), who could replace the server root \(path) inside it: chmod go-w \(shellQuote(p)) (or +t), or pass --server-root with a folder under one of yours")
        }
        if p == "/" { break }
        p = dirname(p)
    }
}

/// Sets a folder's mode; a failure is an error, not a folder left open or shut.
func setMode(_ path: String, _ mode: mode_t) throws {
    guard chmod(path, mode) == 0 else { throw ExpressError("cannot chmod \(octal(mode)) \(path): \(errorText())") }
}

/// Writes `text` to `path` whole or not at all: a fresh temporary file
/// (O_CREAT|O_EXCL|O_NOFOLLOW, a random name) in the same folder, renamed over
/// `path` — a link at either name is replaced, never followed.
func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
    var fd: Int32 = -1
    var tmp = ""
    for _ in 0..<16 {
        tmp = path + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 || errno != EEXIST { break }
    }
    guard fd >= 0 else { throw ExpressError("cannot write \(path): \(errorText())") }
    let bytes = Array(text.utf8)
    var done = 0
    var problem: String?
    while done < bytes.count {
        let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { problem = errorText(); break }
        done += n
    }
    if problem == nil && fchmod(fd, mode) != 0 { problem = "chmod \(octal(mode)): \(errorText())" }
    if close(fd) != 0 && problem == nil { problem = errorText() }
    if problem == nil && rename(tmp, path) != 0 { problem = errorText() }
    if let problem {
        unlink(tmp)
        throw ExpressError("cannot write \(path): \(problem)")
    }
}

func errorText() -> String { String(cString: strerror(errno)) }

func octal(_ mode: mode_t) -> String { "0" + String(mode, radix: 8) }

func userName(_ uid: uid_t) -> String {
    getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(uid)"
}
