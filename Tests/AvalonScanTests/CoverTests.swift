import AvalonCore
@testable import AvalonScan
import AvalonStore
import AvalonTagWriter
import Foundation
import TestSupport
import XCTest

/// Cover art found by the scanner: folder images, the four kinds of
/// embedded pictures, albums with neither, and incremental scans that
/// follow pictures added, changed and removed.
final class CoverTests: MusicTestCase {
    var root: String { dir + "/music" }
    var db: String { dir + "/c.sqlite" }
    var cache: String { db + ".covers" }

    /// Copies a fixture (`ext`, or an M4A made from bytes) to `sub/name`, tagged.
    func song(_ sub: String, _ name: String, album: String, artist: String = "Artist") throws -> String {
        let folder = "\(root)/\(sub)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/\(name)"
        let ext = (name as NSString).pathExtension
        if ext == "m4a" {
            try Data(CoverBytes.m4a()).write(to: URL(fileURLWithPath: path))
        } else {
            try FileManager.default.copyItem(atPath: "\(fixtures)/silence.\(ext)", toPath: path)
        }
        XCTAssertTrue(writeTags(path, title: name, album: album, artist: artist, genre: "G", track: "1", date: "2001"), path)
        return path
    }

    func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// A scan; pictures no longer named leave the cache after `grace` s (0: at once).
    func scan(grace: Double = 0) throws -> ScanJob.Report {
        var job = ScanJob(root: root, url: try DatabaseURL(parsing: "sqlite:///" + db), scanner: "test")
        job.racyNanoseconds = 0
        job.coverGraceSeconds = grace
        return try job.run(log: { print($0) })
    }

    /// The stored cover of an album (by name) as bytes from the cache, nil for none.
    func cover(_ id: ItemID) throws -> [UInt8]? {
        guard let name = try openStore(try DatabaseURL(parsing: "sqlite:///" + db)).covers()[id] else { return nil }
        return Array(try Data(contentsOf: URL(fileURLWithPath: "\(cache)/\(name)")))
    }

    func cachedNames() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: cache).sorted() }

    func testFolderImagesAndEachKindOfEmbeddedPicture() throws {
        let folderJPG = CoverBytes.picture("jpg", seed: 1), folderPNG = CoverBytes.picture("png", seed: 2)
        _ = try song("folder", "a.mp3", album: "Folder")
        _ = try song("folder", "b.ogg", album: "Folder")
        // Several images: cover before folder, whatever the case; the audio's own picture loses to the folder's.
        try write(folderJPG, "\(root)/folder/Cover.JPG")
        try write(folderPNG, "\(root)/folder/folder.png")
        try write(CoverBytes.picture("webp", seed: 3), "\(root)/folder/album.webp")
        XCTAssertTrue(writePicture("\(root)/folder/a.mp3", CoverBytes.picture("jpg", seed: 4)))
        var embedded: [String: [UInt8]] = [:]
        for (i, ext) in ["mp3", "flac", "ogg", "m4a"].enumerated() {
            let path = try song(ext, "s.\(ext)", album: "Embedded \(ext)", artist: "Artist \(ext)")
            let bytes = CoverBytes.picture(i % 2 == 0 ? "jpg" : "png", seed: UInt64(10 + i))
            embedded[ext] = bytes
            XCTAssertTrue(writePicture(path, bytes, mime: i % 2 == 0 ? "image/jpeg" : "image/png"), path)
        }
        // Front cover first: a back cover written first, the front one in a second file.
        let back = try song("mixed", "1.mp3", album: "Mixed")
        let front = try song("mixed", "2.flac", album: "Mixed")
        XCTAssertTrue(writePicture(back, CoverBytes.picture("jpg", seed: 20), type: 4))
        XCTAssertTrue(writePicture(front, CoverBytes.picture("png", seed: 21), mime: "image/png"))
        _ = try song("plain", "p.mp3", album: "Plain", artist: "Plain Artist")
        // A file named like a cover that is no image: no cover, and no harm.
        try write(Array("not an image".utf8), "\(root)/plain/cover.jpg")

        let report = try scan()
        XCTAssertEqual(report.rows.songs, 9)
        XCTAssertEqual(try cover(.album("Folder")), folderJPG, "cover.JPG wins over folder.png and album.webp")
        for ext in ["mp3", "flac", "ogg", "m4a"] {
            XCTAssertEqual(try cover(.album("Embedded \(ext)")), embedded[ext], "embedded picture of \(ext)")
            XCTAssertEqual(try cover(.artist("Artist \(ext)")), embedded[ext], "the artist's album's cover")
            XCTAssertEqual(try cover(.song(pathBytes: Array("\(root)/\(ext)/s.\(ext)".utf8))), embedded[ext], "the song's cover")
        }
        XCTAssertEqual(try cover(.album("Mixed")), CoverBytes.picture("png", seed: 21), "a front cover before another kind")
        XCTAssertNil(try cover(.album("Plain")))
        XCTAssertNil(try cover(.artist("Plain Artist")))
        // Folder songs show the folder's image, even the one with its own picture.
        XCTAssertEqual(try cover(.song(pathBytes: Array("\(root)/folder/a.mp3".utf8))), folderJPG)
        // Stored once each, named by their SHA-256, with the type from the bytes.
        let names = try cachedNames()
        XCTAssertEqual(names.count, 10, "\(names)")  // 3 folder images, 1 in a.mp3, 4 kinds, 2 mixed; no text file
        for name in names {
            XCTAssertTrue(CoverCache.isPictureName(name), name)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(cache)/\(name)"))
            XCTAssertEqual(String(name.prefix(64)), CoverBytes.sha256Hex(Array(bytes)))
        }
        XCTAssertTrue(names.contains { $0.hasSuffix(".webp") } && names.contains { $0.hasSuffix(".png") })
        // Unchanged: nothing read, nothing written.
        let again = try scan()
        XCTAssertEqual(again.stats.reread, 0)
        XCTAssertFalse(again.outcome.filesChanged)
    }

    func testIncrementalScansFollowPictures() throws {
        let mp3 = try song("a", "s.mp3", album: "A")
        let flac = try song("b", "s.flac", album: "B")
        let first = CoverBytes.picture("jpg", seed: 1)
        XCTAssertTrue(writePicture(mp3, first))
        XCTAssertTrue(writePicture(flac, CoverBytes.picture("png", seed: 2), mime: "image/png"))
        XCTAssertEqual(try scan().stats.reread, 2)
        XCTAssertEqual(try cover(.album("A")), first)
        XCTAssertEqual(try cachedNames().count, 2)

        // A picture changed: the old one leaves the cache.
        let second = CoverBytes.picture("jpg", seed: 3)
        XCTAssertTrue(writePicture(mp3, second))
        XCTAssertEqual(try scan().stats.reread, 1)
        XCTAssertEqual(try cover(.album("A")), second)
        XCTAssertEqual(try cachedNames().count, 2)

        // A picture removed: the album has none.
        XCTAssertTrue(writePicture(flac, nil))
        XCTAssertEqual(try scan().stats.reread, 1)
        XCTAssertNil(try cover(.album("B")))
        XCTAssertEqual(try cachedNames().count, 1)

        // A new cover.jpg beside unchanged audio: only the image is read.
        let folderImage = CoverBytes.picture("jpg", seed: 4)
        try write(folderImage, "\(root)/b/cover.jpg")
        let added = try scan()
        XCTAssertEqual(added.stats.reread, 1)
        XCTAssertEqual(try cover(.album("B")), folderImage)
        XCTAssertEqual(try cover(.song(pathBytes: Array(flac.utf8))), folderImage)
        // Changed in place, then removed.
        let changed = CoverBytes.picture("png", seed: 5)
        try write(changed, "\(root)/b/cover.jpg")
        XCTAssertEqual(try scan().stats.reread, 1)
        XCTAssertEqual(try cover(.album("B")), changed)
        try FileManager.default.removeItem(atPath: "\(root)/b/cover.jpg")
        XCTAssertEqual(try scan().stats.removed, 1)
        XCTAssertNil(try cover(.album("B")))
        XCTAssertEqual(try cachedNames(), [CoverBytes.sha256Hex(second) + ".jpg"])
        // A file in the cache not of its naming is never removed.
        try write([1, 2, 3], "\(cache)/notes.txt")
        XCTAssertTrue(writePicture(mp3, nil))
        _ = try scan()
        XCTAssertEqual(try cachedNames(), ["notes.txt"])
    }

    /// --no-covers: no picture read, no cache made, no cover stored.
    func testNoCovers() throws {
        let path = try song("a", "s.mp3", album: "A")
        XCTAssertTrue(writePicture(path, CoverBytes.picture("jpg", seed: 1)))
        try write(CoverBytes.picture("jpg", seed: 2), "\(root)/a/cover.jpg")
        let r = try runProgram([product("avalon-scan"), "--no-covers", "-d", "sqlite:///" + db, root])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache))
        XCTAssertEqual(try openStore(try DatabaseURL(parsing: "sqlite:///" + db)).covers(), [:])
    }

    /// A cover cache that another user could write, or a link, is refused
    /// before anything is read.
    func testUnsafeCacheIsRefused() throws {
        _ = try song("a", "s.mp3", album: "A")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        chmod(cache, 0o777)
        XCTAssertThrowsError(try scan()) { XCTAssertTrue("\($0)".contains("writable by nobody else"), "\($0)") }
        chmod(cache, 0o755)
        try FileManager.default.removeItem(atPath: cache)
        try FileManager.default.createSymbolicLink(atPath: cache, withDestinationPath: dir)
        XCTAssertThrowsError(try scan()) { XCTAssertTrue("\($0)".contains("not a directory"), "\($0)") }
    }

    /// A folder image that is a symlink, in a folder of a symlinked
    /// directory, or a symlinked song outside the music folder gives no
    /// picture: nginx would serve the copy to every user, past the checks
    /// that keep streams in the music folder. Real images still count.
    func testSymlinkedPicturesAreNotTaken() throws {
        let outside = dir + "/private"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let secret = CoverBytes.picture("jpg", seed: 90), secretSong = outside + "/secret.mp3"
        try write(secret, outside + "/id.jpg")
        try FileManager.default.copyItem(atPath: "\(fixtures)/silence.mp3", toPath: secretSong)
        XCTAssertTrue(writeTags(secretSong, title: "S", album: "Linked", artist: "A", genre: "G", track: "1", date: "2001"))
        XCTAssertTrue(writePicture(secretSong, CoverBytes.picture("jpg", seed: 91)))
        _ = try song("linked", "a.mp3", album: "Linked")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/linked/cover.jpg", withDestinationPath: outside + "/id.jpg")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/linked/b.mp3", withDestinationPath: secretSong)
        _ = try song("real", "a.mp3", album: "Real")
        let real = CoverBytes.picture("jpg", seed: 92)
        try write(real, "\(root)/real/cover.jpg")

        let report = try scan()
        XCTAssertEqual(report.rows.songs, 3, "the linked song still counts")
        XCTAssertNil(try cover(.album("Linked")))
        XCTAssertEqual(try cover(.album("Real")), real)
        XCTAssertEqual(try cachedNames(), [CoverBytes.sha256Hex(real) + ".jpg"])
        XCTAssertEqual(report.stats.skipReasons["folder image is a symlink: not taken"], 1, "\(report.stats.skipReasons)")
    }

    /// A folder reached through a symlinked directory (here the real path
    /// of the folder is outside the root) gives no folder image: the reader
    /// checks the real path of what it opened.
    func testFolderImageOutsideTheRootByRealPath() throws {
        let outside = dir + "/elsewhere"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try write(CoverBytes.picture("jpg", seed: 93), outside + "/cover.jpg")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // As if the walk had entered it (it does not enter links): the reader is asked for it directly.
        try FileManager.default.createSymbolicLink(atPath: root + "/away", withDestinationPath: outside)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let real = realpath(root, nil)!
        defer { free(real) }
        var outcomes: [(Int, TagOutcome)] = []
        readTagsInChildren([ListedFile(path: root + "/away/cover.jpg", size: 0, mtime: 0, ctime: 0)], threads: 1,
                           pictureDir: cache, musicRoot: String(cString: real)) { found, _ in outcomes += found }
        guard case .skipped(let why)? = outcomes.first?.1 else { return XCTFail("\(outcomes)") }
        XCTAssertEqual(why, "folder image outside the music folder by its real path: not taken")
        XCTAssertEqual(try cachedNames(), [])
    }

    /// Pictures over 32 MiB are not taken, embedded or in the folder, and a
    /// sparse folder image is refused: each would cost memory and the cache.
    func testHugeAndSparsePicturesAreRefused() throws {
        let huge = try song("huge", "a.mp3", album: "Huge")
        var big: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0]
        big += [UInt8](repeating: 7, count: (32 << 20) + 1 - big.count)
        XCTAssertTrue(writePicture(huge, big))
        _ = try song("sparse", "a.mp3", album: "Sparse")
        try write([0xFF, 0xD8, 0xFF, 0xE0], "\(root)/sparse/cover.jpg")
        XCTAssertEqual(truncate("\(root)/sparse/cover.jpg", 16 << 20), 0)  // a hole of 16 MiB
        let fine = try song("fine", "a.mp3", album: "Fine")
        let small = CoverBytes.picture("jpg", seed: 94)
        XCTAssertTrue(writePicture(fine, small))

        let report = try scan()
        XCTAssertNil(try cover(.album("Huge"))?.count, "no cover of 32 MiB + 1")
        XCTAssertNil(try cover(.album("Sparse")))
        XCTAssertEqual(try cover(.album("Fine")), small)
        XCTAssertEqual(try cachedNames(), [CoverBytes.sha256Hex(small) + ".jpg"])
        XCTAssertEqual(report.stats.skipReasons["folder image is a sparse file"], 1, "\(report.stats.skipReasons)")
    }

    /// A picture the new generation drops stays for the grace (servers still
    /// on the old generation serve it until they reload), then leaves.
    func testDroppedPictureOutlivesItsGeneration() throws {
        let mp3 = try song("a", "s.mp3", album: "A")
        let old = CoverBytes.picture("jpg", seed: 95), new = CoverBytes.picture("jpg", seed: 96)
        XCTAssertTrue(writePicture(mp3, old))
        _ = try scan(grace: 2)
        let oldName = CoverBytes.sha256Hex(old) + ".jpg", newName = CoverBytes.sha256Hex(new) + ".jpg"
        XCTAssertEqual(try cachedNames(), [oldName])
        XCTAssertTrue(writePicture(mp3, new))
        _ = try scan(grace: 2)
        XCTAssertEqual(try cover(.album("A")), new)
        XCTAssertEqual(try cachedNames(), [oldName, newName].sorted(), "the old generation's picture stays")
        // Another change, still within the grace: it stays.
        _ = try song("b", "t.mp3", album: "B")
        _ = try scan(grace: 2)
        XCTAssertEqual(try cachedNames(), [oldName, newName].sorted(), "within the grace")
        usleep(2_100_000)
        _ = try song("c", "u.mp3", album: "C")
        _ = try scan(grace: 2)
        XCTAssertEqual(try cachedNames(), [newName], "past the grace")
    }
}
