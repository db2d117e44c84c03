import Foundation
import TestSupport
import XCTest
@testable import AvalonCore

/// Sections kept in memory, as bytes with their element size.
struct MemorySnapshot: SnapshotWriting, SnapshotReading {
    var sections: [(stride: Int, bytes: [UInt8])] = []
    var next = 0

    mutating func write<T: BitwiseCopyable>(_ array: [T]) throws {
        sections.append((MemoryLayout<T>.stride, array.withUnsafeBytes { Array($0) }))
    }

    mutating func read<T: BitwiseCopyable>(_ type: T.Type) throws -> [T] {
        guard next < sections.count else { throw SnapshotMismatch("no more sections") }
        let s = sections[next]
        next += 1
        guard s.stride == MemoryLayout<T>.stride else { throw SnapshotMismatch("section \(next - 1): stride \(s.stride)") }
        return [T](unsafeUninitializedCapacity: s.bytes.count / s.stride) { b, n in
            s.bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(b).copyMemory(from: $0) }
            n = s.bytes.count / s.stride
        }
    }
}

/// A collection read back from its snapshot is the one written: the same
/// arrays (written again, byte for byte) and the same answers, for what is
/// derived at read time too (the search list, the sort keys, the cover lookup).
final class SnapshotTests: XCTestCase {
    func randomCollection(_ rng: inout SeededGenerator, songs: Int) -> MusicCollection {
        var b = CollectionBuilder()
        let words = ["love", "Dear", "you", "Группа", "крови", "東京", "ΣΩΚΡΑΤΗΣ", "song", "the", "  spaced  ", "é"]
        func name(_ n: Int) -> String { (0..<n).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ") }
        let albums = (0..<max(1, songs / 8)).map { _ in name(Int.random(in: 1...3, using: &rng)) }
        let artists = (0..<max(1, songs / 20)).map { _ in name(Int.random(in: 1...2, using: &rng)) }
        for a in albums { b.addElement(.album, id: .album(a), name: a) }
        for a in artists { b.addElement(.artist, id: .artist(a), name: a) }
        for g in ["Rock", "Punk", "Jazz"] { b.addElement(.genre, id: .genre(g), name: g) }
        for i in 0..<songs {
            let id = ItemID.song(path: "/m/\(i).mp3")
            b.addSong(id: id, name: name(Int.random(in: 1...4, using: &rng)), length: Int64.random(in: -5...900, using: &rng),
                      track: Int64.random(in: 0...30, using: &rng), year: Int64.random(in: 1950...2030, using: &rng),
                      album: .album(albums.randomElement(using: &rng)!), artist: .artist(artists.randomElement(using: &rng)!),
                      genre: .genre(["Rock", "Punk", "Jazz"].randomElement(using: &rng)!))
            if i % 3 != 0 {
                let path = Array("d/\(i).mp3".utf8)
                path.withUnsafeBufferPointer {
                    b.addFile(song: id, relativePath: $0, size: Int64(i) * 1000, bitRate: 320, disc: 1, created: Int64(1_700_000_000 + i))
                }
            }
            if i % 4 == 0 { b.pictures[id] = String(repeating: "\(i % 7)", count: 64) + ".jpg" }
        }
        b.pictures[.album(albums[0])] = String(repeating: "a", count: 64) + ".png"
        return b.build()
    }

    func testRoundTripKeepsEveryArrayAndAnswer() throws {
        var rng = SeededGenerator(test: "SnapshotTests.testRoundTripKeepsEveryArrayAndAnswer")
        let c = randomCollection(&rng, songs: 3000)
        XCTAssertGreaterThan(c.covers.names.count, 2)
        XCTAssertGreaterThan(c.files.sizes.count, 0)
        var w = MemorySnapshot()
        try c.write(snapshot: &w)
        var r = w
        let back = try MusicCollection(snapshot: &r)
        XCTAssertEqual(r.next, w.sections.count, "every section read")
        var again = MemorySnapshot()
        try back.write(snapshot: &again)
        XCTAssertEqual(again.sections.count, w.sections.count)
        for (i, (a, b)) in zip(w.sections, again.sections).enumerated() {
            XCTAssertTrue(a.stride == b.stride && a.bytes == b.bytes, "section \(i) differs")
        }
        let queries: [(Endpoint, String)] = [
            (.songs, "query=love&limit=50"), (.songs, "query=гру"), (.songs, "query=the%20song&order=album&limit=20&offset=3"),
            (.songs, "order=artist_id&limit=100"), (.songs, "order=year&direction=desc&limit=30"), (.songs, "order=name&limit=20&offset=1000"),
            (.songs, "album=\(c.text(c.albums.items[0].name).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"),
            (.songs, "genre=rock&order=length"), (.albums, "order=name"), (.artists, "query=love"), (.genres, "order=id"),
            (.songs, "artist_id=\(c.artists.items[1].id.uuidString)"),
        ]
        for (e, q) in queries {
            let a = c.respond(e, QueryParameters(queryString: q)), b = back.respond(e, QueryParameters(queryString: q))
            XCTAssertEqual(a.status, 200, "\(e) \(q)")
            XCTAssertEqual(a.body, b.body, "\(e) \(q)")
        }
        XCTAssertEqual(back.years, c.years)
        for p in 0..<Int32(c.covers.names.count) {
            let id = c.covers.withID(p) { Array($0) }
            XCTAssertEqual(id.withUnsafeBufferPointer { back.covers.picture(id: $0) }, p)
        }
        XCTAssertEqual(back.covers.album(0), c.covers.album(0))
        XCTAssertEqual(back.files.root, c.files.root)
    }

    /// A section missing, or of another element size, is an error, never a collection.
    func testMismatchedSectionsAreRefused() throws {
        var rng = SeededGenerator(test: "SnapshotTests.testMismatchedSectionsAreRefused")
        let c = randomCollection(&rng, songs: 200)
        var w = MemorySnapshot()
        try c.write(snapshot: &w)
        var short = w
        short.sections.removeLast()
        XCTAssertThrowsError(try MusicCollection(snapshot: &short))
        var wrong = w
        wrong.sections[2] = (1, wrong.sections[2].bytes)  // the songs, as bytes
        XCTAssertThrowsError(try MusicCollection(snapshot: &wrong))
        var fewer = w
        fewer.sections[3].bytes.removeLast(fewer.sections[3].stride)  // one album short
        XCTAssertThrowsError(try MusicCollection(snapshot: &fewer))
        // The arena's padding cut short: the last names would be read past its end.
        var unpadded = w
        unpadded.sections[1].bytes.removeLast(8)
        XCTAssertThrowsError(try MusicCollection(snapshot: &unpadded))
        // Indexes the request path follows without bounds checks, out of range:
        // a song in an album's list, an album in the order by name.
        for section in [12, 6] {
            var wild = w
            wild.sections[section].bytes.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, 0x7F])
            XCTAssertThrowsError(try MusicCollection(snapshot: &wild), "section \(section)")
        }
    }
}
