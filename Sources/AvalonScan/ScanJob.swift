import AvalonCore
import AvalonStore

/// One scan into a database: incremental from the stored file records
/// unless `full`, written only where it differs.
public struct ScanJob {
    public var root: String
    public var url: DatabaseURL
    public var full = false
    /// How recent a change makes a file's record untrusted (see `racyWindow`).
    public var racyNanoseconds = racyWindow
    public var lossGuard = LossGuard()
    /// Sees what was scanned before anything is written, and may refuse it.
    public var beforeWrite: ((CollectionRows, ScanStats) throws -> Void)?
    /// Recorded with each generation.
    public var scanner: String
    /// Where pictures are stored (see `coverCacheFolder`); nil: no covers.
    public var coverCache: String?
    /// Seconds a picture stays in the cache after the scan that stopped naming
    /// it: servers still on the older generation keep serving it until they
    /// reload (see `coverGrace(reloadInterval:)`). 0: removed at once.
    public var coverGraceSeconds: Double = ScanJob.coverGrace(reloadInterval: 0)

    /// An hour, or longer than servers reloading every `reloadInterval` s
    /// (spread by up to a quarter) take to leave an older generation.
    public static func coverGrace(reloadInterval: Double) -> Double { max(3600, reloadInterval * 1.25 + 60) }

    public init(root: String, url: DatabaseURL, scanner: String, coverCacheSetting: String? = nil) {
        self.root = root
        self.url = url
        self.scanner = scanner
        self.coverCache = coverCacheFolder(for: url, setting: coverCacheSetting)
    }

    public struct Report {
        public var stats: ScanStats
        public var rows: (songs: Int, albums: Int, artists: Int, genres: Int)
        public var outcome: WriteOutcome
        public var seconds: Double
        /// Seconds spent reading the stored records, walking and reading files, and writing.
        public var phases: (records: Double, files: Double, write: Double) = (0, 0, 0)

        /// One line: what was seen, read, kept and written.
        public var summary: String {
            let s = stats
            var parts = ["\(s.files) files: \(s.reread) read, \(s.unchanged) unchanged, \(s.removed) removed"]
            parts.append("\(rows.songs) songs, \(rows.albums) albums, \(rows.artists) artists, \(rows.genres) genres")
            if s.skipped > 0 {
                let reasons = s.skipReasons.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                    .map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                parts.append("\(s.skipped) skipped (\(reasons))")
            }
            if s.warnings > 0 { parts.append("\(s.warnings) warnings") }
            if s.unreadable > 0 { parts.append("\(s.unreadable) unreadable (\(s.kept) stored records kept)") }
            if s.undecodableNames > 0 { parts.append("\(s.undecodableNames) names not UTF-8 (shown with \u{FFFD})") }
            let d = outcome.diff
            parts.append(outcome.rowsChanged
                ? "generation \(outcome.generation) written (songs +\(d.addedTracks.count) ~\(d.changedTracks.count) -\(d.removedTracks.count))"
                : outcome.generationWritten ? "generation \(outcome.generation) written (files, covers or folder)"
                : "unchanged (generation \(outcome.generation))")
            func r(_ v: Double) -> Double { (v * 100).rounded() / 100 }
            parts.append("\(r(seconds)) s (records \(r(phases.records)), files \(r(phases.files)), write \(r(phases.write)))")
            return parts.joined(separator: "; ")
        }
    }

    public func run(log: @escaping (String) -> Void, progress: ((ScanStats) -> Void)? = nil,
                    onDirectory: (String) -> Void = { _ in }) throws -> Report {
        let started = monotonicSeconds()
        let startedWall = Int64(wallNanoseconds())
        let store = try openStore(url)
        if let coverCache { try CoverCache.prepare(coverCache) }
        // Read for a full scan too: what cannot be read keeps its records.
        let previous = try store.files()
        let walked = monotonicSeconds()
        let (rows, files, stats, covers) = try scanFolder(root: root, previous: previous, rereadAll: full, racyNanoseconds: racyNanoseconds,
                                                          coverCache: coverCache, log: log, progress: progress,
                                                          onDirectory: onDirectory)
        if let coverCache, stats.reread > 0 { CoverCache.sync(coverCache) }
        let read = monotonicSeconds()
        try beforeWrite?(rows, stats)
        let guardrail = lossGuard
        var scan = ScanWrite(rows: rows, files: files, scanner: scanner)
        scan.folder = MusicFolder(root: absolutePath(root), prefix: normalizePath(root))
        scan.filesUnchanged = !full && stats.reread == 0 && stats.removed == 0
        scan.covers = covers
        if let coverCache, coverGraceSeconds > 0, !scan.filesUnchanged {
            // Their grace starts now: the pictures the stored generation names and this one drops.
            let named = Set(files.compactMap(\.picture))
            CoverCache.touch(coverCache, Set(previous.compactMap(\.picture)).filter { !$0.isEmpty && !named.contains($0) })
        }
        let outcome = try store.write(scan) {
            try guardrail.check(current: $0, replacement: rows)
        }
        if let coverCache, !scan.filesUnchanged {
            CoverCache.removeUnreferenced(coverCache, keep: Set(files.compactMap { $0.picture.flatMap { $0.isEmpty ? nil : $0 } }),
                                          before: startedWall - Int64(coverGraceSeconds * 1e9), log: log)
        }
        let end = monotonicSeconds()
        var report = Report(stats: stats, rows: (rows.tracks.count, rows.albums.count, rows.artists.count, rows.genres.count),
                            outcome: outcome, seconds: end - started)
        report.phases = (walked - started, read - walked, end - read)
        return report
    }
}
