import AvalonCore
import AvalonStore
import CTagLib
import Dispatch
import Glibc

/// What one audio file's tags say, after SPEC's rules.
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

/// Every regular file under `root` (hidden ones too), as paths joined to the
/// root as typed and normalised, sorted by their bytes. Symlinked directories
/// are not entered, so links cannot loop. Names that are not UTF-8 come as
/// `PathBytes` escapes, counted in `undecodable`.
public func listFiles(under root: String, undecodable: inout Int, onError: (String) -> Void) throws -> [String] {
    var st = stat()
    guard stat(root, &st) == 0 else { throw ScanIssue(path: root, reason: String(cString: strerror(errno))) }
    guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ScanIssue(path: root, reason: "not a directory") }
    guard let probe = opendir(root) else { throw ScanIssue(path: root, reason: String(cString: strerror(errno))) }
    closedir(probe)
    var files: [String] = []
    var stack = [root]
    while let dir = stack.popLast() {
        guard let d = PathBytes.withCString(dir, { opendir($0) }) else {
            onError("\(PathBytes.display(dir)): cannot read directory: \(String(cString: strerror(errno)))")
            continue
        }
        while let entry = readdir(d) {
            let (name, valid) = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                PathBytes.string(UnsafeBufferPointer(start: raw.bindMemory(to: UInt8.self).baseAddress!, count: strlen(raw.baseAddress!.assumingMemoryBound(to: CChar.self))))
            }
            if name == "." || name == ".." { continue }
            let path = joinPath(dir, name)
            var ls = stat()
            guard PathBytes.withCString(path, { lstat($0, &ls) }) == 0 else { continue }
            switch ls.st_mode & S_IFMT {
            case S_IFDIR: stack.append(path)
            case S_IFREG:
                files.append(normalizePath(path))
                if !valid { undecodable += 1 }
            case S_IFLNK:
                var target = stat()
                if PathBytes.withCString(path, { stat($0, &target) }) == 0 && (target.st_mode & S_IFMT) == S_IFREG {
                    files.append(normalizePath(path))
                    if !valid { undecodable += 1 }
                }
            default: break
            }
        }
        closedir(d)
    }
    // By the bytes the system holds: UTF-8 order for ordinary names.
    return files.map { (PathBytes.bytes($0), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
}

public struct ScanStats: Sendable {
    public var files = 0
    public var songs = 0
    public var skipped = 0
    public var warnings = 0
    /// Files whose names are not valid UTF-8 (scanned all the same).
    public var undecodableNames = 0
}

/// Reads every file under `root` on all cores and builds the rows to store.
/// Names differing only in case share one id and keep the first spelling in
/// path order.
public func scanCollection(root: String, log: @escaping (String) -> Void,
                           progress: ((ScanStats) -> Void)? = nil) throws -> (CollectionRows, ScanStats) {
    var undecodable = 0
    let files = try listFiles(under: root, undecodable: &undecodable, onError: log)
    var results = [Result<SongTags, ScanIssue>?](repeating: nil, count: files.count)
    var stats = ScanStats()
    stats.files = files.count
    let lock = DispatchQueue(label: "avalon.scan")
    var done = 0, found = 0, skipped = 0, warnings = 0
    let chunk = 64
    results.withUnsafeMutableBufferPointer { out in
        let outp = out
        DispatchQueue.concurrentPerform(iterations: (files.count + chunk - 1) / chunk) { c in
            var local: [(Int, Result<SongTags, ScanIssue>)] = []
            var localWarnings: [String] = []
            for i in (c * chunk)..<min(files.count, (c + 1) * chunk) {
                local.append((i, readTags(files[i]) { localWarnings.append($0) }))
            }
            lock.sync {
                for (i, r) in local {
                    outp[i] = r
                    if case .success = r { found += 1 } else { skipped += 1 }
                }
                for w in localWarnings { log(w) }
                warnings += localWarnings.count
                done += local.count
                var s = ScanStats()
                s.files = done
                s.songs = found
                s.skipped = skipped
                progress?(s)
            }
        }
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
    for r in results {
        switch r {
        case .success(let t)?:
            let song = ItemID.song(pathBytes: PathBytes.bytes(t.path))
            // Two spellings of one path (only possible through odd bytes) keep the first.
            guard seenSongs.insert(song).inserted else { continue }
            let album = ItemID.album(t.album), artist = ItemID.artist(t.artist), genre = ItemID.genre(t.genre)
            element(0, t.album, album)
            element(1, t.artist, artist)
            element(2, t.genre, genre)
            rows.tracks.append(.init(id: song, name: t.title, length: t.length, track: t.track, year: t.year,
                                     album: album, artist: artist, genre: genre))
        case .failure(let issue)?:
            log("skipped \(issue)")
        case nil:
            break
        }
    }
    stats.songs = rows.tracks.count
    stats.skipped = skipped
    stats.warnings = warnings
    stats.undecodableNames = undecodable
    return (rows, stats)
}
