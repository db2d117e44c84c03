import AvalonCore
@testable import AvalonScan
import AvalonStore
import AvalonTagWriter
import Foundation
import TestSupport
import XCTest

/// Incremental scans against full scans of the same tree, and what an
/// unchanged rescan does (nothing).
final class IncrementalTests: MusicTestCase {
    static var server: PostgresServer?
    static var startError: Error?

    override class func setUp() {
        do { server = try PostgresServer() } catch { startError = error }
    }
    override class func tearDown() { server?.stop() }

    /// A tree changed at random, round after round: edits, additions,
    /// deletions, renames, retags (names that differ only in case, so that
    /// which file comes first decides the stored spelling), new directories,
    /// files that stop being audio. After each round the incremental
    /// database must hold exactly the rows a full scan into a new one holds.
    func testIncrementalEqualsFullScanSQLite() throws {
        try randomRounds { round in "sqlite:///\(self.dir)/full\(round).sqlite" } incremental: { "sqlite:///\(self.dir)/inc.sqlite" }
    }

    func testIncrementalEqualsFullScanPostgreSQL() throws {
        guard let server = Self.server else { throw Self.startError! }
        let base = String(server.url.dropLast("/postgres".count))
        _ = try server.psql("CREATE DATABASE inc")
        try randomRounds { round in
            _ = try server.psql("CREATE DATABASE full\(round)")
            return "\(base)/full\(round)"
        } incremental: { "\(base)/inc" }
    }

    func randomRounds(full: (Int) throws -> String, incremental: () -> String) throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["AVALON_TEST_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("incremental scan test seed: \(seed) (AVALON_TEST_SEED=\(seed) repeats it)")
        var rng = SplitMix64(seed: seed)
        let root = dir + "/music"
        let names = ["Alpha", "ALPHA", "alpha", "Beta", "béta", "Gamma", ""]
        let formats = ["mp3", "ogg", "flac"]
        var files: [String] = []
        var junk = Set<String>()  // files that stopped being audio
        var counter = 0
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        func tag(_ path: String) {
            XCTAssertTrue(writeTags(path, title: "T\(rng.next() % 100)", album: pick(names), artist: pick(names), genre: pick(names),
                                    track: "\(rng.next() % 20)", date: "\(1980 + rng.next() % 40)"), path)
            XCTAssertTrue(writeProperty(path, "DISCNUMBER", pick(["", "1", "2/3", "04"])), path)
        }
        // Pictures: a few, shared by many files and folders, so the cache stores each once.
        let palette = (0..<4).map { CoverBytes.picture($0 % 2 == 0 ? "jpg" : "png", seed: UInt64(100 + $0)) }
        let imageNames = ["cover.jpg", "Folder.PNG", "front.webp", "album.jpeg"]
        func embed(_ path: String) {
            XCTAssertTrue(writePicture(path, pick(palette + [nil]), type: pick([3, 3, 4])), path)
        }
        func folderImage(in folder: String) throws {
            let path = folder + "/" + pick(imageNames)
            if rng.next() % 3 == 0, FileManager.default.fileExists(atPath: path) {
                try FileManager.default.removeItem(atPath: path)
            } else {
                try Data(pick(palette)).write(to: URL(fileURLWithPath: path))
            }
        }
        func add(in sub: String) {
            counter += 1
            let ext = pick(formats)
            let path = "\(root)/\(sub)/f\(counter).\(ext)"
            try! FileManager.default.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true)
            try! FileManager.default.copyItem(atPath: "\(fixtures)/silence.\(ext)", toPath: path)
            tag(path)
            if rng.next() % 3 == 0 { embed(path) }
            files.append(path)
        }
        for i in 0..<40 { add(in: "d\(i % 5)") }
        // No timestamp tick here (ext4 keeps nanoseconds): records are trusted at once, so rescans reuse them.
        let inc = try openStore(try DatabaseURL(parsing: incremental()))
        var lastGeneration: Int64 = 0
        var firstSeen: [String: Int64] = [:]  // path: when the incremental scans first recorded it
        for round in 0..<6 {
            let roundStart = Int64(Date().timeIntervalSince1970)
            if round > 0 {
                for _ in 0..<(3 + Int(rng.next() % 6)) {
                    guard !files.isEmpty else { add(in: "d0"); continue }
                    let i = Int(rng.next() % UInt64(files.count))
                    switch rng.next() % 9 {
                    case 0: add(in: "d\(rng.next() % 5)")
                    case 1: add(in: "new\(round)/deeper")
                    case 2:
                        junk.remove(files[i])
                        try FileManager.default.removeItem(atPath: files.remove(at: i))
                    case 3:
                        let to = (files[i] as NSString).deletingLastPathComponent + "/renamed\(round)-\(i)." + (files[i] as NSString).pathExtension
                        if !FileManager.default.fileExists(atPath: to) {
                            try FileManager.default.moveItem(atPath: files[i], toPath: to)
                            if junk.remove(files[i]) != nil { junk.insert(to) }
                            files[i] = to
                        }
                    case 4:
                        try "no longer audio".write(toFile: files[i], atomically: false, encoding: .utf8)
                        junk.insert(files[i])
                    case 5: if !junk.contains(files[i]) { embed(files[i]) }
                    case 6: try folderImage(in: (files[i] as NSString).deletingLastPathComponent)
                    default: if !junk.contains(files[i]) { tag(files[i]) }
                    }
                }
            }
            let job = { (url: String, full: Bool) throws -> ScanJob.Report in
                var j = ScanJob(root: root, url: try DatabaseURL(parsing: url), scanner: "test")
                j.coverCache = self.coverCache(url)
                // Dropped pictures go at once, so the cache must hold exactly what
                // the records name (CoverTests covers the grace period).
                j.coverGraceSeconds = 0
                j.racyNanoseconds = 0
                j.full = full
                j.lossGuard = LossGuard(allowLoss: true)
                return try j.run(log: { _ in })
            }
            let r = try job(incremental(), false)
            let fullURL = try full(round)
            _ = try job(fullURL, true)
            let fullStore = try openStore(try DatabaseURL(parsing: fullURL))
            try assertSameRows(try inc.rows(), try fullStore.rows(), "round \(round), seed \(seed)")
            try assertSameFacts(inc, fullStore, root: root, "round \(round), seed \(seed)")
            try assertSameCovers(inc, fullStore, cache: coverCache(incremental()), "round \(round), seed \(seed)")
            let roundEnd = Int64(Date().timeIntervalSince1970)
            var seenNow: [String: Int64] = [:]
            for f in try inc.files() {
                if let before = firstSeen[f.path] {
                    XCTAssertEqual(f.created, before, "\(f.path): created kept, round \(round), seed \(seed)")
                } else {
                    XCTAssertTrue((roundStart...roundEnd).contains(f.created), "\(f.path): created \(f.created) in this round, seed \(seed)")
                }
                seenNow[f.path] = f.created
            }
            firstSeen = seenNow
            if round == 1 { XCTAssertGreaterThan(r.stats.unchanged, 0, "round \(round): records were reused") }
            XCTAssertEqual(r.stats.files, r.stats.reread + r.stats.unchanged)
            // A new generation for changed rows, and for served file facts, covers or folder alone.
            XCTAssertEqual(r.outcome.generation, lastGeneration + (r.outcome.generationWritten ? 1 : 0), "round \(round)")
            XCTAssertTrue(!r.outcome.rowsChanged || r.outcome.generationWritten, "round \(round)")
            lastGeneration = r.outcome.generation
            XCTAssertEqual(try inc.generation(), lastGeneration)
            let loaded = try inc.load()
            XCTAssertEqual(loaded.generation, lastGeneration)
            // Every song loads with its file's facts, matched by song id.
            let records = Dictionary(try inc.files().compactMap { f in f.song.map { ($0, f) } }) { a, _ in a }
            for (k, song) in loaded.songs.enumerated() {
                guard let f = records[song.id], loaded.files.has(k) else { XCTFail("round \(round): song without its file facts"); break }
                XCTAssertEqual(root + "/" + String(decoding: loaded.files.path(k), as: UTF8.self), f.path)
                XCTAssertEqual(loaded.files.sizes[k], f.size)
                XCTAssertEqual(loaded.files.created[k], f.created)
                XCTAssertEqual(Int64(loaded.files.discs[k]), f.tags?.disc)
            }
        }
        XCTAssertFalse(try inc.covers().isEmpty, "the rounds made covers, seed \(seed)")
        // Nothing changed since: a rescan writes nothing and keeps the generation.
        var j = ScanJob(root: root, url: try DatabaseURL(parsing: incremental()), scanner: "test")
        j.racyNanoseconds = 0
        j.lossGuard = LossGuard(allowLoss: true)
        let again = try j.run(log: { _ in })
        XCTAssertFalse(again.outcome.rowsChanged || again.outcome.filesChanged)
        XCTAssertEqual(again.stats.reread, 0)
        XCTAssertEqual(again.outcome.generation, lastGeneration)
    }

    /// Each database's own cover cache (PostgreSQL has no place beside a file).
    func coverCache(_ url: String) -> String {
        if url.hasPrefix("sqlite:///") { return String(url.dropFirst("sqlite:///".count)) + ".covers" }
        return dir + "/covers-" + url.split(separator: "/").last!
    }

    /// The same covers chosen, the incremental cache holding exactly the
    /// pictures its records name, and the loaded songs showing them.
    func assertSameCovers(_ inc: Store, _ full: Store, cache: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let covers = try inc.covers()
        XCTAssertEqual(covers, try full.covers(), "covers, \(what)", file: file, line: line)
        let named = Set(try inc.files().compactMap { $0.picture }.filter { !$0.isEmpty })
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: cache)), named, "the cache, \(what)", file: file, line: line)
        let loaded = try inc.load()
        for (k, song) in loaded.songs.enumerated() {
            let p = loaded.covers.song(k)
            XCTAssertEqual(p >= 0 ? loaded.covers.names[Int(p)] : nil, covers[song.id], "loaded song cover, \(what)", file: file, line: line)
        }
    }

    /// The per-file facts Subsonic serves (all but `created`, which is when
    /// each database first saw the file) are the same in both.
    func assertSameFacts(_ a: Store, _ b: Store, root: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        func facts(_ s: Store) throws -> [String] {
            try s.files().map { f in
                "\(f.path) \(f.size) \(f.song?.uuidString ?? "-") \(f.tags.map { "\($0.bitRate) \($0.disc)" } ?? "-") \(f.picture ?? "nil") \(f.pictureFront)"
            }.sorted()
        }
        let fa = try facts(a)
        XCTAssertEqual(fa, try facts(b), "file facts, \(what)", file: file, line: line)
        XCTAssertEqual(try a.folder(), MusicFolder(root: root, prefix: root), what, file: file, line: line)
        XCTAssertEqual(try b.folder(), try a.folder(), what, file: file, line: line)
        var discs = Set<Int64>()
        for f in try a.files() where f.tags != nil {
            discs.insert(f.tags!.disc)
            // The FLAC fixture's silence packs into under 1 kbit/s.
            if !f.path.hasSuffix(".flac") { XCTAssertGreaterThan(f.tags!.bitRate, 0, "\(f.path) bit rate, \(what)", file: file, line: line) }
            XCTAssertEqual(f.song, ItemID.song(pathBytes: Array(f.path.utf8)), what, file: file, line: line)
        }
        XCTAssertTrue(discs.contains { $0 > 0 }, "disc numbers read, \(what)", file: file, line: line)
    }

    func assertSameRows(_ a: CollectionRows, _ b: CollectionRows, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        func named(_ l: [CollectionRows.Named]) -> [String] { l.map { "\($0.id.uuidString) \($0.name)" }.sorted() }
        XCTAssertEqual(named(a.albums), named(b.albums), "albums, \(what)", file: file, line: line)
        XCTAssertEqual(named(a.artists), named(b.artists), "artists, \(what)", file: file, line: line)
        XCTAssertEqual(named(a.genres), named(b.genres), "genres, \(what)", file: file, line: line)
        let ta = a.tracks.sorted { $0.id.uuidString < $1.id.uuidString }, tb = b.tracks.sorted { $0.id.uuidString < $1.id.uuidString }
        XCTAssertEqual(ta.count, tb.count, "tracks, \(what)", file: file, line: line)
        XCTAssertTrue(ta == tb, "tracks differ, \(what)", file: file, line: line)
    }

    /// The acceptance check: a rescan of an unchanged tree opens no audio
    /// file (strace watches every open of the scanner and its threads) and
    /// writes nothing (the database file's bytes stay).
    func testUnchangedRescanOpensNoAudioFileAndWritesNothing() throws {
        let strace = try which("strace")
        let root = dir + "/music"
        for i in 0..<30 {
            let path = "\(root)/a\(i % 3)/s\(i).ogg"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: fixtures + "/silence.ogg", toPath: path)
            XCTAssertTrue(writeTags(path, title: "S\(i)", album: "A\(i % 4)", artist: "R", genre: "G", track: "\(i)", date: "2001"))
            if i % 2 == 1 { XCTAssertTrue(writePicture(path, CoverBytes.picture("png", seed: UInt64(i)), mime: "image/png")) }
        }
        // Covers too: a folder image (read once, then not opened again) and embedded pictures.
        try Data(CoverBytes.picture("jpg", seed: 99)).write(to: URL(fileURLWithPath: root + "/a1/cover.jpg"))
        usleep(2_100_000)
        let db = dir + "/c.sqlite"
        let first = try runProgram([product("avalon-scan"), "-d", "sqlite:///" + db, root])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("31 read, 0 unchanged") && first.stderr.contains("generation 1 written"), first.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: db + ".covers").count, 16, "15 embedded pictures and the folder's")
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let trace = dir + "/trace"
        let second = try runProgram([strace, "-f", "-e", "trace=open,openat,openat2", "-o", trace, product("avalon-scan"), "-d", "sqlite:///" + db, root])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("0 read, 31 unchanged, 0 removed") && second.stderr.contains("unchanged (generation 1)"), second.stderr)
        let opens = try String(contentsOfFile: trace).split(separator: "\n")
        XCTAssertTrue(opens.contains { $0.contains(db) }, "strace saw the scanner's opens")
        XCTAssertEqual(opens.filter { $0.contains(root + "/") && !$0.contains("O_DIRECTORY") }, [])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before)
        // And a change is seen: one retagged file is read, and only it.
        XCTAssertTrue(writeTags("\(root)/a0/s0.ogg", title: "Changed"))
        let third = try runProgram([product("avalon-scan"), "-d", "sqlite:///" + db, root])
        XCTAssertTrue(third.stderr.contains("1 read, 30 unchanged") && third.stderr.contains("generation 2 written (songs +0 ~1 -0)"), third.stderr)
    }

    /// A record whose file changed within the timestamp tick of the scan is
    /// not trusted: the next scan reads it again, so a same-size rewrite in
    /// the same tick is not missed.
    func testRacyRecordsAreReadAgain() throws {
        let root = dir + "/music"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixtures + "/silence.flac", toPath: root + "/x.flac")
        XCTAssertTrue(writeTags(root + "/x.flac", title: "One"))
        let (_, files, _) = try scanFiles(root: root, previous: nil, log: { _ in })
        XCTAssertEqual(files.map(\.racy), [true])
        let (_, _, stats) = try scanFiles(root: root, previous: files, log: { _ in })
        XCTAssertEqual(stats.reread, 1)
        // Times older than the window: trusted.
        var old = files[0]
        old.racy = false
        let (_, _, kept) = try scanFiles(root: root, previous: [old], log: { _ in })
        XCTAssertEqual(kept.reread, 0)
    }

    /// A database whose `avalon_files` predates the file facts: the next
    /// scan adds the columns, reads every file once more to fill them
    /// (rows and generation stay), and the one after reads none.
    func testOlderFileRecordsGainTheFacts() throws {
        let root = dir + "/music"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for i in 0..<3 {
            try FileManager.default.copyItem(atPath: fixtures + "/silence.mp3", toPath: "\(root)/s\(i).mp3")
            XCTAssertTrue(writeTags("\(root)/s\(i).mp3", title: "S\(i)"))
            XCTAssertTrue(writeProperty("\(root)/s\(i).mp3", "DISCNUMBER", "\(i + 1)/3"))
        }
        let db = dir + "/old.sqlite"
        func scan() throws -> ScanJob.Report {
            var j = ScanJob(root: root, url: try DatabaseURL(parsing: "sqlite:///" + db), scanner: "test")
            j.racyNanoseconds = 0
            return try j.run(log: { _ in })
        }
        XCTAssertEqual(try scan().stats.reread, 3)
        let downgrade = """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            c.executescript('''CREATE TABLE old AS SELECT path, size, mtime_ns, ctime_ns, racy, readable, title, album, artist, genre,
                track, year, length, reason FROM avalon_files; DROP TABLE avalon_files; ALTER TABLE old RENAME TO avalon_files;
                DROP TABLE avalon_music_folder;''')
            c.commit()
            """
        let r = try runProgram(["python3", "-c", downgrade, db])
        XCTAssertEqual(r.status, 0, r.stderr)
        let store = try openStore(try DatabaseURL(parsing: "sqlite:///" + db))
        XCTAssertNil(try store.folder())
        XCTAssertEqual(try store.files().map(\.created), [0, 0, 0])
        XCTAssertFalse(try store.load().files.has(0), "no facts: songs load without files")
        let again = try scan()
        XCTAssertEqual(again.stats.reread, 3)
        XCTAssertFalse(again.outcome.rowsChanged)
        // The facts gained are served (Subsonic's files): a new generation, so servers reload.
        XCTAssertTrue(again.outcome.generationWritten)
        XCTAssertEqual(again.outcome.generation, 2)
        XCTAssertEqual(try store.folder(), MusicFolder(root: root, prefix: root))
        let files = try store.files()
        XCTAssertEqual(files.map { $0.tags?.disc }, [1, 2, 3])
        XCTAssertTrue(files.allSatisfy { $0.created > 0 && ($0.tags?.bitRate ?? 0) > 0 && $0.song != nil })
        XCTAssertEqual(try scan().stats.reread, 0)
        // Loaded beside the songs, each song its own file's facts.
        let c = try store.load()
        XCTAssertEqual(c.files.root, root)
        for (k, s) in c.songs.enumerated() {
            let f = try XCTUnwrap(files.first { $0.song == s.id })
            XCTAssertTrue(c.files.has(k))
            XCTAssertEqual("\(root)/" + String(decoding: c.files.path(k), as: UTF8.self), f.path)
            XCTAssertEqual(c.files.sizes[k], try FileManager.default.attributesOfItem(atPath: f.path)[.size] as? Int64)
            XCTAssertEqual(c.files.suffix(k), "mp3")
            XCTAssertEqual(SongFiles.contentType(suffix: c.files.suffix(k)), "audio/mpeg")
            XCTAssertEqual(Int64(c.files.discs[k]), f.tags?.disc)
            XCTAssertEqual(Int64(c.files.bitRates[k]), f.tags?.bitRate)
            XCTAssertEqual(c.files.created[k], f.created)
        }
    }
}
