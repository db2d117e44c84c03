@testable import AvalonCore
import TestSupport
import XCTest

/// The Subsonic writer's fast paths give the bytes of the general ones.
final class NodeWriterTests: XCTestCase {
    private func written(_ format: NodeWriter.Format, _ body: (inout NodeWriter) -> Void) -> String {
        let out = ResponseBuffer()
        var w = NodeWriter(out, format: format)
        body(&w)
        return String(decoding: out.array, as: UTF8.self)
    }

    /// Every day from 1970 to 9999: the answers' 32-bit date against the general one.
    func testEveryDayToTheYear9999() {
        let last = UInt32(253_402_300_799 / 86400)
        for days in 0...last {
            let (y, m, d) = JSONCursor.civilDate(daysSince1970: days)
            let general = civilDate(days: Int64(days))
            if Int64(y) != general.year || Int64(m) != general.month || Int64(d) != general.day {
                XCTFail("day \(days): \(y)-\(m)-\(d), general \(general)")
                return
            }
        }
        XCTAssertTrue(JSONCursor.civilDate(daysSince1970: last) == (9999, 12, 31))
        XCTAssertTrue(JSONCursor.civilDate(daysSince1970: 0) == (1970, 1, 1))
    }

    func testDatesMatchTheGeneralPath() {
        let seed: UInt64 = 20261128
        print("NodeWriterTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var times: [Int64] = [0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 4_107_542_399_999, 253_402_300_799_999]
        for _ in 0..<20000 { times.append(Int64(rng.next() % 253_402_300_800_000)) }
        // Outside 1970...9999 the general path writes them.
        times += [-1, -86_400_001, 253_402_300_800_000, 999_999_999_999_999, .max, .min, .min + 999, .min + 1000]
        for ms in times {
            for format in [NodeWriter.Format.json, .xml] {
                let fast = written(format) { $0.open("s"); $0.attr("created", date: ms); $0.close() }
                let general = written(format) { $0.open("s"); $0.attr("created", isoDate(milliseconds: ms)); $0.close() }
                XCTAssertEqual(fast, general, "\(ms)")
            }
        }
        XCTAssertEqual(written(.json) { $0.open("s"); $0.attr("created", date: 1_700_000_000_123); $0.close() },
                       "\"s\": {\"created\": \"2023-11-14T22:13:20.123Z\"}")
        let known: [Int64: String] = [0: "1970-01-01T00:00:00.000Z", 951_782_400_000: "2000-02-29T00:00:00.000Z",
                                      4_107_542_399_999: "2100-02-28T23:59:59.999Z", 253_402_300_799_999: "9999-12-31T23:59:59.999Z",
                                      -1: "1969-12-31T23:59:59.999Z", 86_400_000 * 59 + 7: "1970-03-01T00:00:00.007Z",
                                      .min: "-292275055-05-16T16:47:04.192Z", .max: "292278994-08-17T07:12:55.807Z"]
        for (ms, text) in known {
            XCTAssertEqual(written(.xml) { $0.open("s"); $0.attr("c", date: ms); $0.close() }, "<s c=\"\(text)\"/>")
        }
    }

    func testSuffixesMatchTheGeneralPath() {
        let paths = ["a/b.MP3", "a/b.flac", "a.b/c", "noext", "a/b.", "x.Opus", "x.tar.GZ", "ü/ä.ÖGG", "a/b.m4B",
                     "a/b.abcdefghijklmnopq", "a/b.ABCDEFGHIJKLMNOP", ".hidden", "a/b.wAv", "a.b/c.d/e", "a/B.Ü", "a/b.c/"]
        var bytes: [UInt8] = []
        var spans: [TextRef] = []
        for p in paths {
            spans.append(TextRef(start: UInt32(bytes.count), count: UInt32(p.utf8.count)))
            bytes += Array(p.utf8)
        }
        let n = paths.count
        let files = SongFiles(root: "/m", paths: bytes, spans: spans, sizes: Array(repeating: 1, count: n),
                              bitRates: Array(repeating: 0, count: n), discs: Array(repeating: 0, count: n),
                              created: Array(repeating: 0, count: n))
        for i in 0..<n {
            let general = files.suffix(i)
            files.withSuffix(i) { fast in
                XCTAssertEqual(String(decoding: fast, as: UTF8.self), general, paths[i])
                XCTAssertEqual(SongFiles.contentType(suffix: fast).description, SongFiles.contentType(suffix: general), paths[i])
            }
        }
        let types = ["mp3": "audio/mpeg", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "flac": "audio/flac",
                     "m4a": "audio/mp4", "mp4": "audio/mp4", "m4b": "audio/mp4", "wav": "audio/wav"]
        for (suffix, type) in types { XCTAssertEqual(SongFiles.contentType(suffix: suffix), type, suffix) }
        for other in ["", "mp", "mp33", "MP3", "ogx", "flacc", "wa", "m4", "opu", "m4v", "aac", "\u{0}mp3", "mp3\u{0}", "wav\u{0}", "m4a\u{0}"] {
            XCTAssertEqual(SongFiles.contentType(suffix: other), "application/octet-stream", other)
        }
    }

    func testArenaTextsAndKeysOfEveryLength() {
        // Keys of 1 to 20 bytes (the short copies' branches), values with and
        // without specials read from a padded arena.
        let keys: [StaticString] = ["a", "ab", "abc", "abcd", "abcde", "abcdefg", "abcdefgh", "abcdefghi",
                                    "abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnopqrst"]
        let texts = ["", "x", "1234567", "12345678", "123456789", "a\"b", "tab\there", "ünï", String(repeating: "y", count: 40)]
        let arena = texts.flatMap { Array($0.utf8) } + Array(repeating: 0, count: JSONCursor.padding)
        arena.withUnsafeBufferPointer { a in
            var at = 0
            for t in texts {
                let n = t.utf8.count
                let span = UnsafeBufferPointer(rebasing: a[at..<(at + n)])
                at += n
                for key in keys {
                    for format in [NodeWriter.Format.json, .xml] {
                        let fast = written(format) { $0.open("o"); $0.attr(key, arena: span); $0.attr("n", 7); $0.close() }
                        let general = written(format) { $0.open("o"); $0.attr(key, t); $0.attr("n", 7); $0.close() }
                        XCTAssertEqual(fast, general)
                        if format == .json {
                            let object = try? JSONSerialization.jsonObject(with: Data(("{" + fast + "}").utf8)) as? [String: Any]
                            let o = object?["o"] as? [String: Any]
                            XCTAssertEqual(o?["\(key)"] as? String, t, fast)
                            XCTAssertEqual(o?["n"] as? Int, 7, fast)
                        }
                    }
                }
            }
        }
        XCTAssertEqual(written(.xml) { $0.open("a"); $0.attr("k", "v"); $0.open("b"); $0.close(); $0.close() },
                       "<a k=\"v\"><b/></a>")
        XCTAssertEqual(written(.json) {
            $0.open("a"); $0.beginList("b"); $0.open("b"); $0.attr("k", true); $0.close(); $0.element("b", 2); $0.endList(); $0.close()
        }, "\"a\": {\"b\": [{\"k\": true}, 2]}")
    }

    /// XML escaping, eight bytes at a time with the last partial word read
    /// as the text's last eight bytes, against a byte-by-byte reference.
    func testXMLEscapingOfEveryLength() {
        func reference(_ bytes: [UInt8]) -> String {
            var out = ""
            for b in bytes {
                switch b {
                case UInt8(ascii: "&"): out += "&amp;"
                case UInt8(ascii: "<"): out += "&lt;"
                case UInt8(ascii: ">"): out += "&gt;"
                case UInt8(ascii: "\""): out += "&quot;"
                case UInt8(ascii: "'"): out += "&apos;"
                case 0x09, 0x0A, 0x0D: out.unicodeScalars.append(Unicode.Scalar(b))
                case ..<0x20: out += " "
                default: out.unicodeScalars.append(Unicode.Scalar(b))
                }
            }
            return out
        }
        var rng = SeededGenerator(test: #function)
        let specials: [UInt8] = [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x21, 0x22, 0x26, 0x27, 0x3C, 0x3D, 0x3E, 0x7F]
        for length in 0..<26 {
            for _ in 0..<80 {
                var bytes = (0..<length).map { _ in UInt8.random(in: 0x41...0x7A, using: &rng) }
                for _ in 0..<Int.random(in: 0...2, using: &rng) where length > 0 {
                    bytes[Int.random(in: 0..<length, using: &rng)] = specials.randomElement(using: &rng)!
                }
                let xml = written(.xml) { w in w.open("s"); bytes.withUnsafeBufferPointer { w.attr("k", $0) }; w.close() }
                XCTAssertEqual(xml, "<s k=\"" + reference(bytes) + "\"/>", "\(bytes)")
            }
        }
    }

    /// A song is written in one room sized from its texts: at its longest
    /// (every byte escaped to six: control characters in JSON, quotes in
    /// XML; the longest numbers, a picture, a long suffix) it fits, and what
    /// is not its texts fits `songRoom`.
    func testASongAtItsLongestFitsItsRoom() throws {
        for (k, byte) in ["\u{1}", "\""].enumerated() {
            var b = CollectionBuilder()
            let text = String(repeating: byte, count: 300)
            let album = ItemID(hi: 1, lo: 1), artist = ItemID(hi: 2, lo: 2), genre = ItemID(hi: 3, lo: 3), song = ItemID(hi: 4, lo: 4)
            b.addElement(.album, id: album, name: text)
            b.addElement(.artist, id: artist, name: text)
            b.addElement(.genre, id: genre, name: text)
            b.addSong(id: song, name: text, length: .max, track: .min, year: .min, album: album, artist: artist, genre: genre)
            b.musicFolder = "/music"
            b.pictures[song] = String(repeating: "ab", count: 32) + ".jpg"
            let suffix = String(repeating: byte, count: 20)
            var path = Array((text + "/" + text + "." + suffix).utf8)
            // A corrupt time is written as the nearest one within 1970...9999.
            let created: Int64 = k == 0 ? .min : .max
            path.withUnsafeBufferPointer {
                b.addFile(song: song, relativePath: $0, size: .min, bitRate: Int64(Int32.max), disc: Int64(Int32.max), created: created)
            }
            let c = b.build()
            XCTAssertTrue(c.files.has(0))
            XCTAssertGreaterThanOrEqual(c.covers.song(0), 0)
            let json = written(.json) { w in c.arena.withUnsafeBufferPointer { c.writeSong(&w, "song", 0, $0) } }
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(("{" + json + "}").utf8)) as? [String: Any])
            let s = try XCTUnwrap(object["song"] as? [String: Any])
            for key in ["title", "album", "artist", "genre"] { XCTAssertEqual(s[key] as? String, text, key) }
            XCTAssertEqual(s["path"] as? String, String(decoding: path, as: UTF8.self))
            XCTAssertEqual(s["suffix"] as? String, suffix)
            XCTAssertEqual(s["size"] as? Int64, .min)
            XCTAssertNotNil(s["coverArt"] as? String)
            XCTAssertEqual(s["created"] as? String, k == 0 ? "1970-01-01T00:00:00.000Z" : "9999-12-31T23:59:59.000Z")
            let xml = written(.xml) { w in c.arena.withUnsafeBufferPointer { c.writeSong(&w, "song", 0, $0) } }
            let escaped = k == 0 ? String(repeating: " ", count: 300) : String(repeating: "&quot;", count: 300)
            XCTAssertTrue(xml.contains(" title=\"\(escaped)\" album=\"\(escaped)\" artist=\"\(escaped)\""), xml)
            // Outside its texts (four names, the path, the suffix) a song fits the fixed room.
            let texts = 4 * 300 * (k == 0 ? 6 : 2) + (300 + 1 + 300 + 1 + 20) * (k == 0 ? 6 : 2) + 20 * (k == 0 ? 6 : 2)
            let xmlTexts = 4 * 300 * (k == 0 ? 1 : 6) + (300 + 1 + 300 + 1 + 20) * (k == 0 ? 1 : 6) + 20 * (k == 0 ? 1 : 6)
            print("song \(k): outside its texts \(json.utf8.count - texts) bytes of JSON, \(xml.utf8.count - xmlTexts) of XML; room \(MusicCollection.songRoom)")
            XCTAssertLessThanOrEqual(json.utf8.count - texts, MusicCollection.songRoom)
            XCTAssertLessThanOrEqual(xml.utf8.count - xmlTexts, MusicCollection.songRoom)
        }
    }
}
