import AvalonCore
import AvalonStore
import CTagLib
import Glibc

/// The folder of cover pictures, named by the SHA-256 of their bytes: for
/// SQLite beside the database file (`<file>.covers`) unless `setting`
/// (COVER_CACHE) names one; for PostgreSQL only the setting (nil: no covers).
public func coverCacheFolder(for url: DatabaseURL, setting: String?) -> String? {
    if let setting, !setting.isEmpty { return absolutePath(setting) }
    if case .sqlite(let path) = url, path != ":memory:", !path.isEmpty { return absolutePath(path) + ".covers" }
    return nil
}

public enum CoverCache {
    /// Makes the folder when missing and checks it is the scanner's own: a
    /// directory (not a link) of this user that nobody else may write, so no
    /// one can plant or swap what nginx will serve from it.
    public static func prepare(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw ScanIssue(path: path, reason: "cannot make the cover cache: \(String(cString: strerror(errno))); make it, or set COVER_CACHE to a folder of this user")
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { throw ScanIssue(path: path, reason: "cover cache: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw ScanIssue(path: path, reason: "the cover cache is not a directory (a link or a file); remove it or set COVER_CACHE elsewhere")
        }
        guard st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
            throw ScanIssue(path: path, reason: "the cover cache must belong to this user and be writable by nobody else (chown, chmod go-w)")
        }
    }

    public static func isPictureName<S: StringProtocol>(_ name: S) -> Bool { Covers.isPictureName(name) }

    /// The renames durable before the database names the pictures (the files
    /// were synced before them). Not syncfs: its cost is every writer's on the disk.
    static func sync(_ path: String) { _ = avalon_sync_folder(path) }

    /// Marks pictures as used now (their modification time), by name in the cache.
    static func touch(_ path: String, _ names: Set<String>) {
        guard !names.isEmpty, let d = opendir(path) else { return }
        defer { closedir(d) }
        for name in names where isPictureName(name) { _ = utimensat(dirfd(d), name, nil, AT_SYMLINK_NOFOLLOW) }
    }

    /// Removes pictures no record names. Only files of the cache's naming,
    /// and only those untouched since `before` (ns): a scan running beside
    /// this one touches what it uses, and the scan that stopped naming a
    /// picture touched it. Leftover temporary files an hour old go too.
    static func removeUnreferenced(_ path: String, keep: Set<String>, before: Int64, log: (String) -> Void) {
        guard let d = opendir(path) else { return }
        defer { closedir(d) }
        let fd = dirfd(d)
        let hourAgo = before - 3_600_000_000_000
        var removed = 0
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            let temporary = name.hasPrefix(".tmp-") && isPictureName(name.dropFirst(5).prefix(while: { $0 != "-" }))
            guard temporary || (isPictureName(name) && !keep.contains(name)) else { continue }
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            guard mtime < (temporary ? hourAgo : before) else { continue }
            if unlinkat(fd, name, 0) == 0 { removed += 1 }
        }
        if removed > 0 { log("cover cache: \(removed) picture\(removed == 1 ? "" : "s") no file uses removed") }
    }
}
