@testable import AvalonCore
import XCTest

/// The Subsonic writer's fast paths give the bytes of the general ones.
final class NodeWriterTests: XCTestCase {
    private func written(_ format: NodeWriter.Format, _ body: (inout NodeWriter) -> Void) -> String {
        let out = ResponseBuffer()
        var w = NodeWriter(out, format: format)
        body(&w)
        return String(decoding: out.array, as: UTF8.self)
    }

    func testDatesMatchTheGeneralPath() {
        let seed: UInt64 = 20261128
        print("NodeWriterTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var times: [Int64] = [0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 4_107_542_399_999, 253_402_300_799_999]
        for _ in 0..<20000 { times.append(Int64(rng.next() % 253_402_300_800_000)) }
        // Outside 1970...9999 the general path writes them.
        times += [-1, -86_400_001, 253_402_300_800_000, 999_999_999_999_999]
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
                                      -1: "1969-12-31T23:59:59.999Z", 86_400_000 * 59 + 7: "1970-03-01T00:00:00.007Z"]
        for (ms, text) in known {
            XCTAssertEqual(written(.xml) { $0.open("s"); $0.attr("c", date: ms); $0.close() }, "<s c=\"\(text)\"/>")
        }
    }

    func testSuffixesMatchTheGeneralPath() {
        let paths = ["a/b.MP3", "a/b.flac", "a.b/c", "noext", "a/b.", "x.Opus", "x.tar.GZ", "ü/ä.ÖGG", "a/b.m4B",
                     "a/b.abcdefghijklmnopq", "a/b.ABCDEFGHIJKLMNOP", ".hidden", "a/b.wAv"]
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
}
