import AvalonCore
import AvalonStore
import CTagLib
import Glibc

/// What one audio file's tags say, after the scanning rules (README).
public struct SongTags: Sendable {
    public var path: String
    public var title = "", album = "", artist = "", genre = ""
    public var track: Int64 = 0, year: Int64 = 0, length: Int64 = 0
    public var bitRate: Int64 = 0, disc: Int64 = 0
    /// The embedded picture's name in the cover cache ("" none), and whether it is a front cover.
    public var picture = "", pictureFront = false
}

/// The scanning rules (README) applied to what TagLib read. `warn` gets tag values that could not be parsed.
func songTags(_ raw: avalon_tags, path: String, warn: (String) -> Void) -> SongTags {
    func s(_ p: UnsafeMutablePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
    var t = SongTags(path: path)
    t.title = s(raw.title) ?? ""
    t.album = s(raw.album) ?? ""
    t.artist = s(raw.artist) ?? ""
    t.genre = s(raw.genre) ?? ""
    t.length = Int64(max(0, raw.length))
    t.bitRate = Int64(max(0, raw.bitrate))
    // Only clients show it: anything but a leading integer is no disc number, without a warning.
    t.disc = s(raw.disc).map { TagRules.clampedInt($0.trimmingWhitespace().prefix { $0.isASCII && $0.isNumber }) } ?? 0
    switch TagRules.track(s(raw.track)) {
    case .some(let v): t.track = v ?? 0
    case .none: warn("\(PathBytes.display(path)): cannot parse track number '\(s(raw.track) ?? "")'; storing 0")
    }
    switch TagRules.year(s(raw.date)) {
    case .some(let v): t.year = v ?? 0
    case .none: warn("\(PathBytes.display(path)): cannot parse year from date '\(s(raw.date) ?? "")'; storing 0")
    }
    return t
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
    /// A symlink (to a regular file): the reader follows it; any other file is opened without following.
    public var link = false
}

/// What a walk found: the files, and what it could not read. Under an
/// unreadable place the files are unknown, not gone.
public struct Walk: Sendable {
    public var files: [ListedFile] = []
    /// Directories that could not be read and entries that could not be stat'ed, with why.
    public var unreadable: [ScanIssue] = []
}

/// Every regular file under `root` (hidden ones too), as paths joined to the
/// root as typed and normalised, sorted by their bytes. Symlinked directories
/// are not entered, so links cannot loop. Names that are not UTF-8 come as
/// `PathBytes` escapes, counted in `undecodable`.
public func listFiles(under root: String, undecodable: inout Int, onError: (String) -> Void) throws -> [String] {
    let walk = try listFileStats(under: root, undecodable: &undecodable)
    for e in walk.unreadable { onError("\(e)") }
    return walk.files.map(\.path)
}

/// Threads that walk a tree: enough to keep a disk's queue busy when the
/// tree is not in the page cache (on the 2-core test machine a cold walk
/// took 0.8 s on one thread, 0.3 s on 16).
let walkThreads = 16

/// `listFiles` with each file's size and times (of the link's target for a
/// symlink): enough to tell whether it changed, without opening it.
/// `onDirectory` sees each directory before its entries are read.
public func listFileStats(under root: String, undecodable: inout Int,
                          onDirectory: (String) -> Void = { _ in }) throws -> Walk {
    var st = stat()
    guard stat(root, &st) == 0 else { throw ScanIssue(path: root, reason: String(cString: strerror(errno))) }
    guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ScanIssue(path: root, reason: "not a directory") }
    guard let probe = opendir(root) else { throw ScanIssue(path: root, reason: String(cString: strerror(errno))) }
    closedir(probe)
    // Shared by the walking threads, under `lock`; `changed` wakes those waiting for work.
    let lock = Lock(), changed = Condition()
    // Names joined to the normalised root are normalised already (a name holds no "/").
    var pending = [normalizePath(root)]
    var busy = 0
    var files: [ListedFile] = []
    var errors: [ScanIssue] = []
    var escaped = false
    var undecodableFiles = 0
    withoutActuallyEscaping(onDirectory) { onDirectory in
        onThreads(walkThreads) { _ in
            var local: [ListedFile] = []
            while let dir = lock.locked({ () -> String? in
                while pending.isEmpty && busy > 0 { lock.wait(changed) }
                guard let next = pending.popLast() else { return nil }
                busy += 1
                onDirectory(next)
                return next
            }) {
                let found = readDirectory(dir, into: &local)
                lock.locked {
                    pending += found.dirs
                    errors += found.errors
                    escaped = escaped || found.escaped
                    undecodableFiles += found.undecodable
                    busy -= 1
                    changed.broadcast()
                }
            }
            lock.locked { files += local }
        }
    }
    undecodable += undecodableFiles
    errors.sort { utf8Precedes($0.path, $1.path) }
    return Walk(files: sortedByPath(files, escaped: escaped, path: \.path), unreadable: errors)
}

/// By the bytes the system holds: UTF-8 order for ordinary names; escaped
/// names compare by the bytes they stand for.
func sortedByPath<T>(_ items: [T], escaped: Bool, path: (T) -> String) -> [T] {
    if !escaped { return items.sorted { utf8Precedes(path($0), path($1)) } }
    return items.map { (PathBytes.bytes(path($0)), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
}

/// Errors that say a thing is gone (removed between the listing and the
/// look), rather than there and unreadable.
func meansGone(_ e: Int32) -> Bool { e == ENOENT || e == ENOTDIR }

/// One directory's files (appended to `files`) and subdirectories, and
/// what in it could not be read.
private func readDirectory(_ dir: String, into files: inout [ListedFile])
    -> (dirs: [String], errors: [ScanIssue], escaped: Bool, undecodable: Int) {
    func issue(_ path: String, _ what: String, _ e: Int32) -> ScanIssue {
        ScanIssue(path: path, reason: "\(what): \(String(cString: strerror(e)))")
    }
    guard let d = PathBytes.withCString(dir, { opendir($0) }) else {
        let e = errno
        return ([], meansGone(e) ? [] : [issue(dir, "cannot read directory", e)], false, 0)
    }
    defer { closedir(d) }
    func listed(_ path: String, _ s: stat) -> ListedFile {
        ListedFile(path: path, size: Int64(s.st_size),
                   mtime: Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec),
                   ctime: Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec))
    }
    var dirs: [String] = []
    var errors: [ScanIssue] = []
    var escaped = false, undecodable = 0
    let fd = dirfd(d)
    while true {
        errno = 0
        guard let entry = readdir(d) else {
            // The rest of the directory is unknown: the whole of it counts as unread.
            if errno != 0 { errors.append(issue(dir, "cannot read directory", errno)) }
            break
        }
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
            }) == 0 else {
                let e = errno
                if !meansGone(e) { errors.append(issue(path, "cannot stat", e)) }
                continue
            }
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
            if PathBytes.withCString(path, { stat($0, &target) }) == 0 {
                if (target.st_mode & S_IFMT) == S_IFREG {
                    var f = listed(path, target)
                    f.link = true
                    files.append(f)
                    if !valid { undecodable += 1 }
                }
            } else if case let e = errno, !meansGone(e) && e != ELOOP {
                errors.append(issue(path, "cannot stat", e))
            }
        default: break
        }
    }
    return (dirs, errors, escaped, undecodable)
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
    /// Directories, entries and files that could not be read.
    public var unreadable = 0
    /// Stored records kept because what they describe could not be read.
    public var kept = 0
    /// Folder images (cover.jpg, …) among the files.
    public var folderImages = 0
}

/// A file changed this close (ns) to the scan's start may change again within
/// the same timestamp tick after it was read (FAT's tick is 2 s).
public let racyWindow: Int64 = 2_000_000_000

/// `rereadAll` reads every file, using `previous` only for what cannot be
/// read: a directory, entry or file that could not be read keeps its stored
/// records, so an unreadable folder is reported rather than removed.
/// `racyNanoseconds`: how recent a change makes a record untrusted (the
/// file system's timestamp tick; 0 where times are exact, as in tests).
public func scanFiles(root: String, previous: [FileRecord]?, rereadAll: Bool = false, racyNanoseconds: Int64 = racyWindow,
                      log: @escaping (String) -> Void, progress: ((ScanStats) -> Void)? = nil,
                      onDirectory: (String) -> Void = { _ in }) throws -> (CollectionRows, [FileRecord], ScanStats) {
    let scan = try scanFolder(root: root, previous: previous, rereadAll: rereadAll, racyNanoseconds: racyNanoseconds,
                              log: log, progress: progress, onDirectory: onDirectory)
    return (scan.rows, scan.files, scan.stats)
}

/// `scanFiles`, and the covers chosen; pictures are stored in `coverCache`
/// (none are read without it).
public func scanFolder(root: String, previous: [FileRecord]?, rereadAll: Bool = false, racyNanoseconds: Int64 = racyWindow,
                       coverCache: String? = nil, log: @escaping (String) -> Void, progress: ((ScanStats) -> Void)? = nil,
                       onDirectory: (String) -> Void = { _ in })
    throws -> (rows: CollectionRows, files: [FileRecord], stats: ScanStats, covers: [ItemID: String]) {
    let started = Int64(wallNanoseconds())
    let startedSeconds = started / 1_000_000_000
    var undecodable = 0
    let walk = try listFileStats(under: root, undecodable: &undecodable, onDirectory: onDirectory)
    let listed = walk.files
    var known = [String: FileRecord](minimumCapacity: previous?.count ?? 0)
    for r in previous ?? [] { known[r.path] = r }
    var records = [FileRecord?](repeating: nil, count: listed.count)
    var toRead: [Int] = []
    var stored: [Int: FileRecord] = [:]  // records of the files read again
    for (i, f) in listed.enumerated() {
        let r = known.removeValue(forKey: f.path)
        if let r, !rereadAll, r.unchanged(size: f.size, mtime: f.mtime, ctime: f.ctime) {
            records[i] = r
        } else {
            toRead.append(i)
            stored[i] = r
        }
    }
    var stats = ScanStats()
    // Records under what the walk could not read stand, one line for each place.
    var kept: [FileRecord] = []
    if !walk.unreadable.isEmpty {
        let under: [String: Int]
        (kept, under) = takeRecords(under: walk.unreadable.map(\.path), from: &known)
        for e in walk.unreadable {
            let n = under[e.path]!
            log("\(e); \(n == 0 ? "no stored records under it" : "its \(n) stored record\(n == 1 ? "" : "s") kept")")
        }
        stats.unreadable = walk.unreadable.count
    }
    stats.files = listed.count
    stats.unchanged = listed.count - toRead.count
    stats.reread = toRead.count
    stats.removed = known.count
    var done = 0, warnings = 0
    let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    // Pictures come only from files whose real path is under the root's (README, "Cover art").
    let realRoot = coverCache == nil ? nil : PathBytes.withCString(root) { realpath($0, nil) }
    defer { free(realRoot) }
    readTagsInChildren(toRead.map { listed[$0] }, threads: cores, pictureDir: coverCache,
                       musicRoot: realRoot.map { String(cString: $0) }) { outcomes, localWarnings in
        for (k, outcome) in outcomes {
            let i = toRead[k], f = listed[i]
            let racy = max(f.mtime, f.ctime) > started - racyNanoseconds
            // First seen now, unless a record of this path was kept before.
            let created = stored[i].map { $0.created != 0 ? $0.created : startedSeconds } ?? startedSeconds
            var record = FileRecord(path: f.path, size: f.size, mtime: f.mtime, ctime: f.ctime, racy: racy, tags: nil, created: created)
            // Known to have none when pictures are not read: turning the cache on later needs a --full scan.
            record.picture = ""
            switch outcome {
            case .tags(let t):
                record.tags = t.fileTags
                record.song = ItemID.song(pathBytes: PathBytes.bytes(f.path))
                (record.picture, record.pictureFront) = (t.picture, t.pictureFront)
            case .folderImage(let picture):
                record.reason = "folder image"
                record.picture = picture
            case .skipped(let reason):
                record.reason = reason
                log("skipped \(ScanIssue(path: f.path, reason: reason))")
            case .unreadable(let reason):
                // Kept as stored (its times differ, so it is read again next time); never stored, nothing to keep.
                stats.unreadable += 1
                if let old = stored[i] { kept.append(old) }
                log("\(ScanIssue(path: f.path, reason: reason)); \(stored[i] == nil ? "not stored" : "its stored record kept")")
                continue
            }
            records[i] = record
        }
        for w in localWarnings { log(w) }
        warnings += localWarnings.count
        done += outcomes.count
        var s = stats
        s.reread = done
        progress?(s)
    }
    var files = records.compactMap { $0 }
    if !kept.isEmpty {
        stats.kept = kept.count
        files = sortedByPath(files + kept, escaped: true, path: \.path)
    }
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
    var coverSongs: [CoverSong] = []
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
            if f.picture.map({ !$0.isEmpty }) ?? false {
                stats.folderImages += 1
                continue
            }
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
        coverSongs.append(CoverSong(id: song, album: album, artist: artist, directory: split(f.path).0,
                                    picture: f.picture ?? "", front: f.pictureFront))
    }
    stats.songs = rows.tracks.count
    stats.warnings = warnings
    stats.undecodableNames = undecodable
    var albumNames: [ItemID: String] = [:]
    for a in rows.albums { albumNames[a.id] = a.name }
    let covers = chooseCovers(files: files, songs: coverSongs, albumNames: albumNames)
    return (rows, files, stats, covers)
}

/// Takes from `known` the records at or under `places`; how many each place had.
func takeRecords(under places: [String], from known: inout [String: FileRecord]) -> ([FileRecord], [String: Int]) {
    var under = [String: Int]()
    for p in places { under[p] = 0 }
    var taken: [FileRecord] = []
    for (path, r) in known {
        var p = Substring(path)
        while true {
            if let n = under[String(p)] {
                under[String(p)] = n + 1
                taken.append(r)
                known[path] = nil
                break
            }
            guard let slash = p.lastIndex(of: "/"), slash > p.startIndex else { break }
            p = p[..<slash]
        }
    }
    return (taken, under)
}

extension SongTags {
    var fileTags: FileTags {
        var t = FileTags()
        (t.title, t.album, t.artist, t.genre) = (title, album, artist, genre)
        (t.track, t.year, t.length) = (track, year, length)
        (t.bitRate, t.disc) = (bitRate, disc)
        return t
    }
}
