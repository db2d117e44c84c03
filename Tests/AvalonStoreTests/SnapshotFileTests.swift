import AvalonCore
import AvalonStore
import CSystem
import Foundation
import TestSupport
import XCTest

/// The snapshot file: read back only for its own key, and only whole. A
/// stale, damaged, truncated or unsafe file is refused with a reason, never
/// turned into a collection.
final class SnapshotFileTests: XCTestCase {
    var dir = ""
    var db = ""
    var path: String { dir + "/snap/collection" }

    override func setUpWithError() throws {
        dir = makeTempDir("avalon-snapshot")
        XCTAssertEqual(mkdir(dir + "/snap", 0o700), 0)
        db = dir + "/c.sqlite"
        var rows = CollectionRows()
        rows.albums = (0..<40).map { .init(id: .album("a\($0)"), name: "Album \($0)") }
        rows.artists = (0..<9).map { .init(id: .artist("r\($0)"), name: "Artist \($0)") }
        rows.genres = [.init(id: .genre("Rock"), name: "Rock")]
        // Enough songs for sections of several 4 MiB chunks (the song rows).
        for i in 0..<70_000 {
            rows.tracks.append(.init(id: .song(path: "/m/\(i).mp3"), name: "Song \(i) love", length: Int64(i % 500), track: Int64(i % 20),
                                     year: 1960 + Int64(i % 60), album: .album("a\(i % 40)"), artist: .artist("r\(i % 9)"), genre: .genre("Rock")))
        }
        try SQLiteStore(path: db).replace(with: rows)
    }

    override func tearDown() { removeTree(dir) }

    func key() throws -> String { try XCTUnwrap(CollectionSnapshot.key(stamp: try XCTUnwrap(try SQLiteStore(path: db).generationStamp()))) }

    func reason(_ o: CollectionSnapshot.Outcome) -> String? {
        if case .unusable(let why) = o { return why }
        return nil
    }

    func testWrittenThenReadGivesTheSameAnswers() throws {
        let c = try SQLiteStore(path: db).load()
        XCTAssertEqual(c.generation, 1)
        let k = try key()
        XCTAssertTrue(k.contains("generation 1 written"), k)
        if case .missing = CollectionSnapshot.read(path: path, key: k) {} else { XCTFail("no file is missing") }
        try CollectionSnapshot.write(c, path: path, key: k)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/snap"), ["collection"], "no temporary file left")
        guard case .loaded(let back) = CollectionSnapshot.read(path: path, key: k) else { return XCTFail("not read back") }
        XCTAssertEqual(back.songs.count, 70_000)
        XCTAssertEqual(back.generation, 1)
        for q in ["query=love%201&limit=50", "order=name&limit=20&offset=1000", "order=year&limit=10", "album_id=\(ItemID.album("a3").uuidString)"] {
            XCTAssertEqual(c.respond(.songs, QueryParameters(queryString: q)).body, back.respond(.songs, QueryParameters(queryString: q)).body, q)
        }
    }

    func testStaleDamagedAndTruncatedFilesAreRefused() throws {
        let c = try SQLiteStore(path: db).load()
        let k = try key()
        try CollectionSnapshot.write(c, path: path, key: k)
        // Another generation (a scan since) or another build: stale.
        XCTAssertTrue(reason(CollectionSnapshot.read(path: path, key: k + "x"))?.contains("another generation") == true)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func refused(_ bytes: Data, _ what: String) -> String? {
            try! bytes.write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            let why = reason(CollectionSnapshot.read(path: path, key: k))
            XCTAssertNotNil(why, what)
            return why
        }
        // One bit flipped at several places: the head, section heads, the data.
        var rng = SeededGenerator(test: "SnapshotFileTests.testStaleDamagedAndTruncatedFilesAreRefused")
        for at in [20, 60, good.count / 3, good.count / 2, good.count - 30] + (0..<20).map({ _ in Int.random(in: 0..<good.count, using: &rng) }) {
            var bad = good
            bad[at] ^= 0x10
            _ = refused(bad, "a bit flipped at \(at)")
        }
        XCTAssertNotNil(refused(good.prefix(good.count / 2), "cut in half"))
        XCTAssertNotNil(refused(good.prefix(good.count - 1), "one byte short"))
        XCTAssertNotNil(refused(good + Data([0]), "one byte more"))
        XCTAssertNotNil(refused(Data(), "empty"))
        XCTAssertTrue(refused(Data("not a snapshot at all, just text".utf8), "text")?.contains("not an Avalon snapshot") == true)
        // And the good bytes are read again.
        try good.write(to: URL(fileURLWithPath: path))
        if case .loaded = CollectionSnapshot.read(path: path, key: k) {} else { XCTFail("the good file is refused") }
    }

    /// Nobody but this user may have written the file or its folder.
    func testUnsafeFilesAndFoldersAreRefused() throws {
        let c = try SQLiteStore(path: db).load()
        let k = try key()
        try CollectionSnapshot.write(c, path: path, key: k)
        chmod(path, 0o666)
        XCTAssertTrue(reason(CollectionSnapshot.read(path: path, key: k))?.contains("writable by nobody else") == true)
        chmod(path, 0o600)
        chmod(dir + "/snap", 0o777)
        XCTAssertTrue(reason(CollectionSnapshot.read(path: path, key: k))?.contains("nobody else may write") == true)
        XCTAssertThrowsError(try CollectionSnapshot.write(c, path: path, key: k))
        chmod(dir + "/snap", 0o700)
        // A link is not followed, even to a good snapshot.
        XCTAssertEqual(symlink(path, dir + "/snap/link"), 0)
        XCTAssertNotNil(reason(CollectionSnapshot.read(path: dir + "/snap/link", key: k)))
        if case .loaded = CollectionSnapshot.read(path: path, key: k) {} else { XCTFail("the file itself is refused") }
    }

    /// A SNAPSHOT_PATH naming another file (a mistake) never loses it; a FIFO
    /// there does not hang a start; writers killed midway leave nothing behind.
    func testOtherFilesAreNeverReplacedAndLeftoversGo() throws {
        let c = try SQLiteStore(path: db).load()
        let k = try key()
        let precious = dir + "/snap/precious"
        try "the operator's data".write(toFile: precious, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try CollectionSnapshot.write(c, path: precious, key: k)) { XCTAssertTrue("\($0)".contains("not a snapshot"), "\($0)") }
        XCTAssertEqual(try String(contentsOfFile: precious), "the operator's data")
        XCTAssertEqual(mkfifo(dir + "/snap/fifo", 0o600), 0)
        let t0 = Date()
        XCTAssertTrue(reason(CollectionSnapshot.read(path: dir + "/snap/fifo", key: k))?.contains("not a regular file") == true)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
        XCTAssertThrowsError(try CollectionSnapshot.write(c, path: dir + "/snap/fifo", key: k))
        // A named leftover of a writer that is gone goes; one of a live process stays.
        let dead = dir + "/snap/.collection.tmp-999999999", live = dir + "/snap/.collection.tmp-\(getppid())"
        for f in [dead, live] { XCTAssertTrue(FileManager.default.createFile(atPath: f, contents: Data("x".utf8))) }
        try CollectionSnapshot.write(c, path: path, key: k)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/snap")),
                       ["collection", "precious", "fifo", ".collection.tmp-\(getppid())"].reduce(into: Set<String>()) { $0.insert($1) })
        // A snapshot is replaced by the next one.
        try CollectionSnapshot.write(c, path: path, key: k + "2")
        if case .loaded = CollectionSnapshot.read(path: path, key: k + "2") {} else { XCTFail("the new snapshot is not read") }
    }

    /// A folder above that others may write (not sticky) could be moved away
    /// under the server: refused. Sticky ones (/tmp) are fine.
    func testFoldersAboveAreChecked() throws {
        let c = try SQLiteStore(path: db).load()
        let k = try key()
        XCTAssertEqual(mkdir(dir + "/open", 0o700), 0)
        XCTAssertEqual(mkdir(dir + "/open/snap", 0o700), 0)
        chmod(dir + "/open", 0o777)
        XCTAssertThrowsError(try CollectionSnapshot.write(c, path: dir + "/open/snap/collection", key: k))
        XCTAssertTrue(reason(CollectionSnapshot.read(path: dir + "/open/snap/collection", key: k))?.contains("under folders") == true)
        chmod(dir + "/open", 0o1777)
        try CollectionSnapshot.write(c, path: dir + "/open/snap/collection", key: k)
        if case .loaded = CollectionSnapshot.read(path: dir + "/open/snap/collection", key: k) {} else { XCTFail("under a sticky folder") }
        // Through a link of this user to a checked folder: followed, its target walked too.
        XCTAssertEqual(symlink(dir + "/snap", dir + "/link"), 0)
        try CollectionSnapshot.write(c, path: dir + "/link/collection", key: k)
        if case .loaded = CollectionSnapshot.read(path: path, key: k) {} else { XCTFail("through a link") }
        // A link another user planted in a sticky folder (/tmp's case) is not followed.
        if geteuid() == 0 {
            XCTAssertEqual(symlink(dir + "/snap", dir + "/open/planted"), 0)
            XCTAssertEqual(lchown(dir + "/open/planted", 65534, 65534), 0)
            XCTAssertThrowsError(try CollectionSnapshot.write(c, path: dir + "/open/planted/collection", key: k))
            XCTAssertTrue(reason(CollectionSnapshot.read(path: dir + "/open/planted/collection", key: k))?.contains("no link of another user") == true)
        }
    }

    /// The checksum's fast path and its portable path agree, at every length
    /// around the lane and tail boundaries.
    func testChecksumPathsAgree() {
        var rng = SeededGenerator(test: "SnapshotFileTests.testChecksumPathsAgree")
        let bytes = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes.withUnsafeBytes { b in
            for n in Array(0..<80) + [4095, 4096, 4097, 5000] {
                XCTAssertEqual(avalon_checksum(b.baseAddress, n), avalon_checksum_portable(b.baseAddress, n), "\(n) bytes")
            }
        }
        XCTAssertNotEqual(bytes.withUnsafeBytes { avalon_checksum($0.baseAddress, 100) }, bytes.withUnsafeBytes { avalon_checksum($0.baseAddress! + 1, 100) })
    }
}
