import AvalonCore
@testable import AvalonScan
import AvalonStore
import AvalonTagWriter
import Foundation
import TestSupport
import XCTest

/// What a scan does when the folder fights back: parts it may not read,
/// files that crash or hang the tag reader, a FIFO in a file's place.
final class FaultTests: MusicTestCase {

    /// A tagged copy of a fixture at `path`, its folders made.
    func song(_ path: String, _ fixture: String = "silence.ogg", title: String) {
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! FileManager.default.copyItem(atPath: fixtures + "/" + fixture, toPath: path)
        XCTAssertTrue(writeTags(path, title: title, album: "Album", artist: "Artist", genre: "Genre", track: "1", date: "2001"))
    }

    func songs(_ db: String) throws -> Int { try openStore(try DatabaseURL(parsing: db)).load().songs.count }
    func generation(_ db: String) throws -> Int64 { try openStore(try DatabaseURL(parsing: db)).generation() }

    /// An unreadable folder (opendir fails), a folder whose entries cannot be
    /// stat'ed and a file that cannot be opened keep their songs: reported one
    /// line each, counted in the summary, and no new generation. As `nobody`:
    /// root reads through chmod 000.
    func testUnreadableFolderAndFailedStatKeepTheirSongs() throws {
        guard let pw = getpwnam("nobody") else { throw XCTSkip("no user nobody") }
        // Only nobody (and root) can reach inside.
        let home = dir + "/nobody"
        let music = home + "/music"
        for i in 0..<2 { song("\(music)/Closed/c\(i).ogg", title: "Closed \(i)") }
        for i in 0..<2 { song("\(music)/NoSearch/n\(i).ogg", title: "NoSearch \(i)") }
        for i in 0..<6 { song("\(music)/Open/o\(i).ogg", title: "Open \(i)") }
        // The program too, where nobody can reach it: the checkout may sit in a 0700 folder.
        let program = home + "/avalon-scan"
        try FileManager.default.copyItem(atPath: product("avalon-scan"), toPath: program)
        XCTAssertEqual(try runProgram(["/bin/chown", "-R", "nobody", home]).status, 0)
        chmod(home, 0o700)
        let db = "sqlite:///\(home)/c.sqlite"
        func scan(_ extra: [String] = []) throws -> ProcessResult {
            try runProgram(["/usr/sbin/runuser", "-u", "nobody", "--", program, "-d", db] + extra + [music])
        }
        usleep(2_100_000)  // past the timestamp window: records trusted
        let first = try scan()
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(try songs(db), 10)
        XCTAssertEqual(try generation(db), 1)
        XCTAssertEqual(pw.pointee.pw_uid, try FileManager.default.attributesOfItem(atPath: home + "/c.sqlite")[.ownerAccountID] as? UInt32)

        // opendir fails on one folder; on the other, reading works but stat does not (no search permission).
        chmod(music + "/Closed", 0)
        chmod(music + "/NoSearch", 0o444)
        for extra in [[], ["--full"]] {
            let r = try scan(extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stderr.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.filter { $0.contains("\(music)/Closed: cannot read directory: Permission denied; its 2 stored records kept") }.count, 1, r.stderr)
            for i in 0..<2 {
                XCTAssertEqual(lines.filter { $0.contains("\(music)/NoSearch/n\(i).ogg: cannot stat: Permission denied; its 1 stored record kept") }.count, 1, r.stderr)
            }
            XCTAssertTrue(r.stderr.contains("3 unreadable (4 stored records kept)"), r.stderr)
            XCTAssertTrue(r.stderr.contains("0 removed") && r.stderr.contains("10 songs") && r.stderr.contains("unchanged (generation 1)"), r.stderr)
            XCTAssertEqual(try songs(db), 10, "\(extra)")
            XCTAssertEqual(try generation(db), 1, "\(extra)")
        }
        // Readable again: nothing to read again, nothing to write.
        chmod(music + "/Closed", 0o755)
        chmod(music + "/NoSearch", 0o755)
        let back = try scan()
        XCTAssertTrue(back.stderr.contains("10 files: 0 read, 10 unchanged, 0 removed") && back.stderr.contains("unchanged (generation 1)"), back.stderr)
        // A file that cannot be opened keeps its record too, and is read once it can be.
        chmod(music + "/Open/o0.ogg", 0)
        let closedFile = try scan()
        XCTAssertEqual(closedFile.status, 0, closedFile.stderr)
        XCTAssertEqual(closedFile.stderr.components(separatedBy: "\(music)/Open/o0.ogg: cannot open: Permission denied; its stored record kept").count, 2, closedFile.stderr)
        XCTAssertTrue(closedFile.stderr.contains("1 unreadable (1 stored records kept)") && closedFile.stderr.contains("10 songs")
                      && closedFile.stderr.contains("unchanged (generation 1)"), closedFile.stderr)
        chmod(music + "/Open/o0.ogg", 0o644)
        let open = try scan()
        XCTAssertTrue(open.stderr.contains("10 files: 1 read, 9 unchanged") && open.stderr.contains("unchanged (generation 1)"), open.stderr)
        // A folder really removed is removed.
        try FileManager.default.removeItem(atPath: music + "/Closed")
        let removed = try scan()
        XCTAssertTrue(removed.stderr.contains("2 removed") && removed.stderr.contains("generation 2 written (songs +0 ~0 -2)"), removed.stderr)
    }

    /// A tag reader that crashes on one file and one that hangs on another
    /// (test hooks in the reader process): the scan completes with the rest,
    /// each bad file is reported once and recorded with its reason, and the
    /// next scan does not read them again until they change.
    func testReaderCrashAndHangCostOneFileEach() throws {
        let music = dir + "/music"
        for name in ["a", "crash", "hang", "d", "e"] { song("\(music)/\(name).ogg", title: name) }
        usleep(2_100_000)
        let db = "sqlite:///\(dir)/c.sqlite"
        var env = ProcessInfo.processInfo.environment
        env["AVALON_TEST_READER_CRASH"] = music + "/crash.ogg"
        env["AVALON_TEST_READER_HANG"] = music + "/hang.ogg"
        env["AVALON_TEST_READER_TIMEOUT"] = "4"  // far above a real read of these files, even on a loaded machine
        let started = Date()
        let first = try runProgram([product("avalon-scan"), "-d", db, music], environment: env)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        let lines = first.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0 == "skipped \(music)/crash.ogg: tag reader crashed (SIGSEGV)" }.count, 1, first.stderr)
        XCTAssertEqual(lines.filter { $0 == "skipped \(music)/hang.ogg: tag reader took longer than 4 s" }.count, 1, first.stderr)
        XCTAssertTrue(first.stderr.contains("5 files: 5 read") && first.stderr.contains("3 songs"), first.stderr)
        let records = try openStore(try DatabaseURL(parsing: db)).files()
        XCTAssertEqual(records.first { $0.path.hasSuffix("/crash.ogg") }?.reason, "tag reader crashed (SIGSEGV)")
        XCTAssertEqual(records.first { $0.path.hasSuffix("/hang.ogg") }?.reason, "tag reader took longer than 4 s")

        // Not read again: no reader meets them, nothing is reported again.
        let second = try runProgram([product("avalon-scan"), "-d", db, music], environment: env)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("5 files: 0 read, 5 unchanged") && second.stderr.contains("unchanged (generation 1)"), second.stderr)
        XCTAssertFalse(second.stderr.contains("skipped \(music)"), second.stderr)
        // Changed, and without the hooks: read, and a song again.
        XCTAssertTrue(writeTags(music + "/crash.ogg", title: "mended"))
        let third = try runProgram([product("avalon-scan"), "-d", db, music])
        XCTAssertTrue(third.stderr.contains("5 files: 1 read, 4 unchanged") && third.stderr.contains("4 songs"), third.stderr)
    }

    /// `--watch` meets a file that crashes the tag reader: it reports it
    /// once and keeps watching (it used to die, be restarted and die again).
    func testWatchSurvivesACrashingFile() throws {
        let music = dir + "/music"
        song(music + "/a.ogg", title: "a")
        song(music + "/crash.ogg", title: "crash")
        usleep(2_100_000)
        var env = ProcessInfo.processInfo.environment
        env["AVALON_TEST_READER_CRASH"] = music + "/crash.ogg"
        let watcher = try Background([product("avalon-scan"), "--watch", "--settle", "0.3", "-d", "sqlite:///\(dir)/c.sqlite", music],
                                     environment: env, logPath: dir + "/watch.log")
        defer { watcher.stop() }
        XCTAssertTrue(waitUntil(timeout: 20) { watcher.log.contains("1 songs") }, watcher.log)
        song(music + "/b.ogg", title: "b")
        XCTAssertTrue(waitUntil(timeout: 20) { watcher.log.contains("2 songs") }, watcher.log)
        XCTAssertTrue(watcher.process.isRunning, watcher.log)
        XCTAssertEqual(watcher.log.components(separatedBy: "skipped \(music)/crash.ogg: tag reader crashed (SIGSEGV)").count, 2, watcher.log)
        XCTAssertEqual(watcher.stop(), 0, watcher.log)
    }

    /// 1,000 randomly corrupted copies of real audio files, and a file that
    /// becomes a FIFO between the walk and its read: the scan completes, each
    /// file skipped is reported once, and a second scan reads none of them.
    func testCorruptedFilesAndAFifo() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["AVALON_TEST_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("corrupted files test seed: \(seed) (AVALON_TEST_SEED=\(seed) repeats it)")
        var rng = SplitMix64(seed: seed)
        let music = dir + "/music"
        try FileManager.default.createDirectory(atPath: music, withIntermediateDirectories: true)
        let originals = try ["mp3", "ogg", "flac"].map { ext -> (String, [UInt8]) in
            let path = dir + "/tagged." + ext
            try FileManager.default.copyItem(atPath: fixtures + "/silence." + ext, toPath: path)
            XCTAssertTrue(writeTags(path, title: "Title", album: "Album", artist: "Artist", genre: "Genre", track: "3", date: "1999"))
            return (ext, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        // Enough batches that the last is not yet taken when the first is done, however many readers run.
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let count = max(1000, 64 * (cores + 2))
        for i in 0..<count {
            let (ext, original) = originals[Int(rng.next() % 3)]
            var bytes = original
            // Bytes changed here and there, a run overwritten, or the end cut off.
            switch rng.next() % 4 {
            case 0, 1:
                for _ in 0..<(1 + rng.next() % 24) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 2:
                let at = Int(rng.next() % UInt64(bytes.count)), n = min(bytes.count - at, 1 + Int(rng.next() % 512))
                for k in at..<(at + n) { bytes[k] = UInt8(truncatingIfNeeded: rng.next()) }
            default:
                bytes.removeLast(Int(rng.next() % UInt64(bytes.count)))
                if !bytes.isEmpty { bytes[Int(rng.next() % UInt64(bytes.count))] ^= 0xFF }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: String(format: "%@/c%04d.%@", music, i, ext)))
        }
        // Last in path order: read after the first batch, when it is a FIFO already.
        let swapped = music + "/zz-fifo.ogg"
        song(swapped, title: "FIFO")
        usleep(2_100_000)
        let db = "sqlite:///\(dir)/c.sqlite"
        let job = ScanJob(root: music, url: try DatabaseURL(parsing: db), scanner: "test")
        var logged: [String] = []
        var fifoMade = false
        let started = Date()
        let first = try job.run(log: { logged.append($0) }, progress: { _ in
            guard !fifoMade else { return }
            fifoMade = true
            XCTAssertEqual(mkfifo(self.dir + "/fifo", 0o644), 0)
            XCTAssertEqual(rename(self.dir + "/fifo", swapped), 0)
        })
        XCTAssertTrue(fifoMade)
        XCTAssertLessThan(Date().timeIntervalSince(started), 25, "a FIFO or a bad file held the scan")
        XCTAssertEqual(first.stats.files, count + 1)
        XCTAssertEqual(first.stats.reread, count + 1)
        let skippedLines = logged.filter { $0.hasPrefix("skipped ") }
        XCTAssertEqual(skippedLines.count, first.stats.skipped, "\(first.summary)")
        XCTAssertEqual(Set(skippedLines).count, skippedLines.count, "a file reported twice")
        XCTAssertTrue(skippedLines.contains("skipped \(swapped): not a regular file"), "\(skippedLines.suffix(5))")
        print("\(count) corrupted files: \(first.summary)")
        XCTAssertGreaterThan(first.stats.skipped, 0)

        logged = []
        let second = try job.run(log: { logged.append($0) })
        XCTAssertEqual(second.stats.reread, 0, second.summary)
        XCTAssertEqual(second.stats.files, count, "the FIFO is no file")
        XCTAssertEqual(second.stats.skipped, first.stats.skipped - 1, second.summary)
        XCTAssertEqual(logged.filter { $0.hasPrefix("skipped ") }, [])
    }

    /// Audio files are opened read-only, without following a link the walk
    /// did not see (strace of the scanner and its reader processes).
    func testScanOpensAudioFilesReadOnly() throws {
        let strace = try which("strace")
        let music = dir + "/music"
        for (i, ext) in ["mp3", "ogg", "flac"].enumerated() { song("\(music)/s\(i).\(ext)", "silence.\(ext)", title: "S\(i)") }
        try FileManager.default.createSymbolicLink(atPath: music + "/link.ogg", withDestinationPath: music + "/s1.ogg")
        let trace = dir + "/trace"
        let r = try runProgram([strace, "-f", "-e", "trace=open,openat,openat2", "-o", trace,
                                product("avalon-scan"), "-d", "sqlite:///\(dir)/c.sqlite", music])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("4 songs"), r.stderr)
        let opens = try String(contentsOfFile: trace).split(separator: "\n").filter { $0.contains(music + "/") && !$0.contains("O_DIRECTORY") }
        XCTAssertEqual(opens.count, 4, opens.joined(separator: "\n"))
        for line in opens {
            XCTAssertTrue(line.contains("O_RDONLY") && !line.contains("O_RDWR") && !line.contains("O_WRONLY"), String(line))
            XCTAssertTrue(line.contains("O_NONBLOCK"), String(line))
            XCTAssertEqual(line.contains("O_NOFOLLOW"), !line.contains("link.ogg"), String(line))
        }
    }
}
