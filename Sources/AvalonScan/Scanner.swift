import AvalonCore
import AvalonStore
import CTagLib
import Dispatch
import Glibc

/// What one audio file's tags say, after the scanning rules (README).
public struct SongTags: Sendable {
    public var path: String
    public var title = "", album = "", artist = "", genre = ""
    public var track: Int64 = 0, year: Int64 = 0, length: Int64 = 0
}

/// Reads one file through TagLib; a failure with the reason for anything that is not
/// readable audio. `warn` gets tag values that could not be parsed.
public func readTags(_ path: String, warn: (String) -> Void) -> Result<SongTags, ScanIssue> {
    var raw = avalon_tags()
    var err = [CChar](repeating: 0, count: 256)
    guard PathBytes.withCString(path, { avalon_read_tags($0, &raw, &err, Int32(err.count)) }) == 0 else {
        return .failure(ScanIssue(path: path, reason: String(cString: err)))
    }
    defer { avalon_free_tags(&raw) }
    func s(_ p: UnsafeMutablePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
    var t = SongTags(path: path)
    t.title = s(raw.title) ?? ""
    t.album = s(raw.album) ?? ""
    t.artist = s(raw.artist) ?? ""
    t.genre = s(raw.genre) ?? ""
    t.length = Int64(max(0, raw.length))
    switch TagRules.track(s(raw.track)) {
    case .some(let v): t.track = v ?? 0
    case .none: warn("\(PathBytes.display(path)): cannot parse track number '\(s(raw.track) ?? "")'; storing 0")
    }
    switch TagRules.year(s(raw.date)) {
    case .some(let v): t.year = v ?? 0
    case .none: warn("\(PathBytes.display(path)): cannot parse year from date '\(s(raw.date) ?? "")'; storing 0")
    }
    return .success(t)
}

public struct ScanIssue: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(PathBytes.display(path)): \(reason)" }
}

/// A file the walk found, with what `stat` said of it.
public struct ListedFile: Sendable {
    public var path: String
    public var size: Int64
    public var mtime: Int64
    public var ctime: Int64
}

/// Every regular file under `root` (hidden ones too), as paths joined to the
/// root as typed and normalised, sorted by their bytes. Symlinked directories
/// are not entered, so links cannot loop. Names that are not UTF-8 come as
/// `PathBytes` escapes, counted in `undecodable`.
public func listFiles(under root: String, undecodable: inout Int, onError: (String) -> Void) throws -> [String] {
    try listFileStats(under: root, undecodable: &undecodable, onError: onError).map(\.path)
}

/// Threads that walk a tree: enough to keep a disk's queue busy when the
/// tree is not in the page cache (on the 2-core test machine a cold walk
/// took 0.8 s on one thread, 0.3 s on 16).
let walkThreads = 16

/// `listFiles` with each file's size and times (of the link's target for a
/// symlink): enough to tell whether it changed, without opening it.
/// `onDirectory` sees each directory before its entries are read.
public func listFileStats(under root: String, undecodable: inout Int, onError: (String) -> Void,
                          onDirectory: (String) -> Void = { _ in }) throws -> [ListedFile] {
    var st = stat()
    guard stat(root, &st) == 0 else { throw ScanIssue(path: root, reason: String(cString: strerror(errno))) }
    guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ScanIssue(path: root, reason: "not a directory") }
    guard let probe = opendir(root) else { throw ScanIssue(path: root, reason: String(cString: strerror(errno))) }
    closedir(probe)
    // Shared by the walking threads, under `monitor`.
    let monitor = Monitor()
    // Names joined to the normalised root are normalised already (a name holds no "/").
    var pending = [normalizePath(root)]
    var busy = 0
    var files: [ListedFile] = []
    var errors: [String] = []
    var escaped = false
    var undecodableFiles = 0
    withoutActuallyEscaping(onDirectory) { onDirectory in
        onThreads(walkThreads) { _ in
            var local: [ListedFile] = []
            while let dir = monitor.locked({ () -> String? in
                while pending.isEmpty && busy > 0 { monitor.wait() }
                guard let next = pending.popLast() else { return nil }
                busy += 1
                onDirectory(next)
                return next
            }) {
                let found = readDirectory(dir, into: &local)
                monitor.locked {
                    pending += found.dirs
                    if let e = found.error { errors.append(e) }
                    escaped = escaped || found.escaped
                    undecodableFiles += found.undecodable
                    busy -= 1
                    monitor.broadcast()
                }
            }
            monitor.locked { files += local }
        }
    }
    errors.sort()
    for e in errors { onError(e) }
    undecodable += undecodableFiles
    // By the bytes the system holds: UTF-8 order for ordinary names; escaped
    // names compare by the bytes they stand for.
    if !escaped { return files.sorted { utf8Precedes($0.path, $1.path) } }
    return files.map { (PathBytes.bytes($0.path), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
}

/// One directory's files (appended to `files`) and subdirectories.
private func readDirectory(_ dir: String, into files: inout [ListedFile])
    -> (dirs: [String], error: String?, escaped: Bool, undecodable: Int) {
    guard let d = PathBytes.withCString(dir, { opendir($0) }) else {
        return ([], "\(PathBytes.display(dir)): cannot read directory: \(String(cString: strerror(errno)))", false, 0)
    }
    defer { closedir(d) }
    func listed(_ path: String, _ s: stat) -> ListedFile {
        ListedFile(path: path, size: Int64(s.st_size),
                   mtime: Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec),
                   ctime: Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec))
    }
    var dirs: [String] = []
    var escaped = false, undecodable = 0
    let fd = dirfd(d)
    while let entry = readdir(d) {
        let (name, valid) = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            PathBytes.string(UnsafeBufferPointer(start: raw.bindMemory(to: UInt8.self).baseAddress!, count: strlen(raw.baseAddress!.assumingMemoryBound(to: CChar.self))))
        }
        if name == "." || name == ".." { continue }
        if !valid { escaped = true }
        let path = joinPath(dir, name)
        // The entry's type saves a stat for directories; files need theirs.
        var type = entry.pointee.d_type
        var ls = stat()
        if type != UInt8(DT_DIR) {
            // Relative to the open directory: no walk of the whole path per file.
            guard withUnsafeBytes(of: entry.pointee.d_name, { raw in
                fstatat(fd, raw.baseAddress!.assumingMemoryBound(to: CChar.self), &ls, AT_SYMLINK_NOFOLLOW)
            }) == 0 else { continue }
            type = switch ls.st_mode & S_IFMT {
            case S_IFDIR: UInt8(DT_DIR)
            case S_IFREG: UInt8(DT_REG)
            case S_IFLNK: UInt8(DT_LNK)
            default: UInt8(DT_UNKNOWN)
            }
        }
        switch type {
        case UInt8(DT_DIR): dirs.append(path)
        case UInt8(DT_REG):
            files.append(listed(path, ls))
            if !valid { undecodable += 1 }
        case UInt8(DT_LNK):
            // Symlinked files count; symlinked directories are not entered, so links cannot loop.
            var target = stat()
            if PathBytes.withCString(path, { stat($0, &target) }) == 0 && (target.st_mode & S_IFMT) == S_IFREG {
                files.append(listed(path, target))
                if !valid { undecodable += 1 }
            }
        default: break
        }
    }
    return (dirs, nil, escaped, undecodable)
}

/// Byte order of two strings' UTF-8, by memcmp.
func utf8Precedes(_ a: String, _ b: String) -> Bool {
    var a = a, b = b
    return a.withUTF8 { x in
        b.withUTF8 { y in
            guard let xa = x.baseAddress, let ya = y.baseAddress else { return x.count < y.count }
            let c = memcmp(xa, ya, min(x.count, y.count))
            return c != 0 ? c < 0 : x.count < y.count
        }
    }
}

public struct ScanStats: Sendable {
    /// Files the walk found.
    public var files = 0
    /// Files opened with TagLib (new or changed).
    public var reread = 0
    /// Files whose records were still good: not opened.
    public var unchanged = 0
    /// Records of files that are gone.
    public var removed = 0
    public var songs = 0
    public var skipped = 0
    /// Why files were skipped, and how many for each reason.
    public var skipReasons: [String: Int] = [:]
    public var warnings = 0
    /// Files whose names are not valid UTF-8 (scanned all the same).
    public var undecodableNames = 0
}

/// A file changed this close (ns) to the scan's start may change again within
/// the same timestamp tick after it was read (FAT's tick is 2 s).
let racyWindow: Int64 = 2_000_000_000

/// Reads the files under `root` on all cores and builds the rows to store.
/// With `previous` records (an incremental scan), a file whose size and times
/// match its record is not opened: its record's tags stand. Names differing
/// only in case share one id and keep the first spelling in path order, so
/// the rows are those a full scan of the same tree makes.
public func scanCollection(root: String, previous: [FileRecord]? = nil, log: @escaping (String) -> Void,
                           progress: ((ScanStats) -> Void)? = nil) throws -> (CollectionRows, ScanStats) {
    let (rows, _, stats) = try scanFiles(root: root, previous: previous, log: log, progress: progress)
    return (rows, stats)
}

public func scanFiles(root: String, previous: [FileRecord]?, log: @escaping (String) -> Void,
                      progress: ((ScanStats) -> Void)? = nil,
                      onDirectory: (String) -> Void = { _ in }) throws -> (CollectionRows, [FileRecord], ScanStats) {
    let started = Int64(wallNanoseconds())
    var undecodable = 0
    let listed = try listFileStats(under: root, undecodable: &undecodable, onError: log, onDirectory: onDirectory)
    var known = [String: FileRecord](minimumCapacity: previous?.count ?? 0)
    for r in previous ?? [] { known[r.path] = r }
    var records = [FileRecord?](repeating: nil, count: listed.count)
    var toRead: [Int] = []
    for (i, f) in listed.enumerated() {
        if let r = known.removeValue(forKey: f.path), r.unchanged(size: f.size, mtime: f.mtime, ctime: f.ctime) {
            records[i] = r
        } else {
            toRead.append(i)
        }
    }
    var stats = ScanStats()
    stats.files = listed.count
    stats.unchanged = listed.count - toRead.count
    stats.reread = toRead.count
    stats.removed = known.count
    let lock = DispatchQueue(label: "avalon.scan")
    var done = 0, warnings = 0
    let chunk = 64
    records.withUnsafeMutableBufferPointer { out in
        let outp = out
        DispatchQueue.concurrentPerform(iterations: (toRead.count + chunk - 1) / chunk) { c in
            var local: [(Int, FileRecord)] = []
            var localWarnings: [String] = []
            for i in toRead[(c * chunk)..<min(toRead.count, (c + 1) * chunk)] {
                let f = listed[i]
                let racy = max(f.mtime, f.ctime) > started - racyWindow
                var record = FileRecord(path: f.path, size: f.size, mtime: f.mtime, ctime: f.ctime, racy: racy, tags: nil)
                switch readTags(f.path, warn: { localWarnings.append($0) }) {
                case .success(let t): record.tags = t.fileTags
                case .failure(let issue): record.reason = issue.reason
                }
                local.append((i, record))
            }
            lock.sync {
                for (i, r) in local {
                    outp[i] = r
                    if r.tags == nil { log("skipped \(ScanIssue(path: r.path, reason: r.reason))") }
                }
                for w in localWarnings { log(w) }
                warnings += localWarnings.count
                done += local.count
                var s = stats
                s.reread = done
                progress?(s)
            }
        }
    }
    let files = records.compactMap { $0 }
    var rows = CollectionRows()
    var names: [[ItemID: Int]] = [[:], [:], [:]]
    func element(_ kind: Int, _ name: String, _ id: ItemID) {
        guard names[kind][id] == nil else { return }
        names[kind][id] = 1
        let named = CollectionRows.Named(id: id, name: name)
        switch kind {
        case 0: rows.albums.append(named)
        case 1: rows.artists.append(named)
        default: rows.genres.append(named)
        }
    }
    var seenSongs = Set<ItemID>()
    // Ids of names already seen: most files share theirs with others, and the id takes Unicode lower-casing and SHA-1.
    var ids: [[String: ItemID]] = [[:], [:], [:]]
    func id(_ kind: Int, _ name: String) -> ItemID {
        if let known = ids[kind][name] { return known }
        let made = kind == 0 ? ItemID.album(name) : kind == 1 ? ItemID.artist(name) : ItemID.genre(name)
        ids[kind][name] = made
        return made
    }
    for f in files {
        guard let t = f.tags else {
            stats.skipped += 1
            stats.skipReasons[f.reason, default: 0] += 1
            continue
        }
        let song = ItemID.song(pathBytes: PathBytes.bytes(f.path))
        // Two spellings of one path (only possible through odd bytes) keep the first.
        guard seenSongs.insert(song).inserted else { continue }
        let album = id(0, t.album), artist = id(1, t.artist), genre = id(2, t.genre)
        element(0, t.album, album)
        element(1, t.artist, artist)
        element(2, t.genre, genre)
        rows.tracks.append(.init(id: song, name: t.title, length: t.length, track: t.track, year: t.year,
                                 album: album, artist: artist, genre: genre))
    }
    stats.songs = rows.tracks.count
    stats.warnings = warnings
    stats.undecodableNames = undecodable
    return (rows, files, stats)
}

extension SongTags {
    var fileTags: FileTags {
        var t = FileTags()
        (t.title, t.album, t.artist, t.genre) = (title, album, artist, genre)
        (t.track, t.year, t.length) = (track, year, length)
        return t
    }
}
