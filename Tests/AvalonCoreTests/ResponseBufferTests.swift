import Foundation
import TestSupport
import XCTest
@testable import AvalonCore

final class ResponseBufferTests: XCTestCase {
    /// Values far past any fixed slack (long names, multibyte characters,
    /// characters JSON escapes six bytes wide) render as exact JSON: every
    /// record's room comes from its actual lengths.
    func testHugeAndEscapedValuesRenderExactly() throws {
        let control = String(repeating: "\u{01}\u{1F}\"\\", count: 2000)           // 6 bytes out for each
        let multibyte = String(repeating: "東京🎸Σ", count: 5000)
        let long = String(repeating: "x", count: 50_000)
        var songs = fixtureSongs
        songs.append(.init(path: "/m/big1", title: control + multibyte, album: long, artist: multibyte, genre: control,
                           length: .max, track: .min, year: -1))
        songs.append(.init(path: "/m/big2", title: long, album: control, artist: long + "a", genre: multibyte,
                           length: 1, track: 2, year: 3))
        let c = buildFixture(songs)
        let all = ask(c, .songs, "")
        XCTAssertEqual(all.status, 200)
        let big = all.success.first { ($0["name"] as? String)?.hasPrefix(control) == true } ?? [:]
        XCTAssertEqual(big["name"] as? String, control + multibyte)
        XCTAssertEqual(big["album"] as? String, long)
        XCTAssertEqual(big["artist"] as? String, multibyte)
        XCTAssertEqual(big["genre"] as? String, control)
        XCTAssertEqual(big["length"] as? Int64, .max)
        XCTAssertEqual(big["track"] as? Int64, .min)
        XCTAssertTrue(Set(ask(c, .albums, "").names).isSuperset(of: [long, control]))
        XCTAssertTrue(Set(ask(c, .artists, "order=name").names).isSuperset(of: [multibyte, long + "a"]))
        // big2 by its name, big1 by its album.
        XCTAssertEqual(Set(ask(c, .songs, "query=\(long.prefix(3000))").names), [long, control + multibyte])
    }

    /// With a sink, an answer streams in chunks: the bytes are the same as
    /// held whole, and the buffer never holds much more than a chunk.
    func testStreamedAnswersAreIdentical() throws {
        var songs: [FixtureSong] = []
        for i in 0..<3000 {
            songs.append(.init(path: "/m/\(i)", title: "Song \(i) " + String(repeating: "é", count: i % 50), album: "Album \(i % 70)",
                               artist: "Artist \(i % 40)", genre: "Genre \(i % 9)", length: Int64(i), track: Int64(i % 20), year: 1990))
        }
        let c = buildFixture(songs)
        for (e, q) in [(Endpoint.songs, ""), (.songs, "order=name&direction=desc"), (.songs, "offset=10&limit=2000"),
                       (.albums, ""), (.songs, "limit=3"), (.songs, "order=nope")] {
            let whole = c.respond(e, QueryParameters(queryString: q)).body
            let out = ResponseBuffer(capacity: 256)
            var chunks: [[UInt8]] = []
            out.chunkBytes = 8192
            out.sink = { chunks.append(Array($0)) }
            let status = c.respond(e, QueryParameters(queryString: q), into: out)
            let streamed = chunks.flatMap { $0 } + out.array
            XCTAssertEqual(streamed, whole, "\(e) \(q)")
            XCTAssertEqual(out.total, whole.count)
            XCTAssertEqual(status, q == "order=nope" ? 400 : 200)
            if whole.count > 3 * 8192 {
                XCTAssertGreaterThan(chunks.count, 3, "\(e) \(q)")
                XCTAssertLessThanOrEqual(chunks.map(\.count).max() ?? 0, 8192 + 1024, "a chunk much larger than asked")
            } else {
                XCTAssertEqual(chunks.count, 0, "a small answer is held whole")
            }
        }
    }

    func testCursorRoomAndCommit() {
        let out = ResponseBuffer(capacity: 64)
        var c = out.cursor(room: 5)
        c.raw("hello")
        out.commit(c)
        // Growing keeps what is held.
        var d = out.cursor(room: 1000)
        d.raw(String(repeating: "y", count: 1000).withCString { UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: 1000) })
        out.commit(d)
        XCTAssertEqual(out.count, 1005)
        XCTAssertEqual(Array(out.array.prefix(6)), Array("helloy".utf8))
        out.set(Array("abc".utf8))
        XCTAssertEqual(out.array, Array("abc".utf8))
        XCTAssertEqual(out.total, 3)
    }

    /// `copy(padded:)` and `string(padded:)` read up to 15 bytes past a text:
    /// the arena and every table's JSON fragments end with that much padding,
    /// and the answer buffer allocates it past its capacity.
    func testThePaddingPaddedReadsRelyOnIsThere() {
        let c = buildFixture()
        var end = c.songs.map { Int($0.name.start + $0.name.count) }.max() ?? 0
        for t in [c.albums, c.artists, c.genres] {
            end = max(end, t.items.map { Int($0.name.start + $0.name.count) }.max() ?? 0)
            XCTAssertGreaterThanOrEqual(t.json.count - Int(t.jsonOffsets.last!), JSONCursor.padding)
        }
        XCTAssertGreaterThanOrEqual(c.arena.count - end, JSONCursor.padding)
        XCTAssertGreaterThanOrEqual(JSONCursor.padding, 16, "copies move 16 bytes at a time")
    }
}
