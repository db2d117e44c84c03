import TestSupport
import XCTest
@testable import AvalonCore

final class TextTests: XCTestCase {
    func testSearchable() {
        XCTAssertEqual(searchable("  Café Del Mar  "), "cafe del mar")
        XCTAssertEqual(searchable("Björk"), "bjork")
        XCTAssertEqual(searchable("ΣΩΚΡΑΤΗΣ"), "σωκρατης")
        XCTAssertEqual(searchable("Motörhead\u{3000}"), "motorhead")
        XCTAssertEqual(searchable("\u{1C}x\u{1F}"), "x")   // Python counts these as whitespace
        XCTAssertEqual(searchable("   "), "")
        XCTAssertEqual(searchable("Ｔｏｋｙｏ"), "ｔｏｋｙｏ")
        XCTAssertEqual(searchable("Ёлка"), "елка")
    }

    /// Queries take a byte path when ASCII; it must agree with `searchable`.
    func testSearchableQueryAgreesWithSearchable() {
        for q in ["love", "  LoVe  ", "\u{1C}x\u{1F}", "\t\nA B\u{0B}", "", "   ", "Café", " ΣΩΚΡΑΤΗΣ ", "a\u{3000}", "[]{}~\u{7F}"] {
            XCTAssertEqual(searchableQuery(q), Array(searchable(q).utf8), q.debugDescription)
        }
    }

    func testTokensOfTheSpecExample() {
        XCTAssertEqual(searchTokens("This Is Giving Up"),
                       ["this is giving up", "this", "is", "giving", "up", "is giving up", "giving up"])
        XCTAssertEqual(searchTokens("a  b"), ["a  b", "a", "b"])
        XCTAssertEqual(searchTokens(""), [])
        XCTAssertEqual(searchTokens(" \t "), [])
    }

    /// A load lowers, trims and splits every ASCII name on bytes: against
    /// `searchable` and `pythonWords` on Strings, for every ASCII byte and
    /// seeded random names rich in whitespace, appended after other bytes.
    func testSearchableBytesAgreeWithTheStringPath() {
        let seed: UInt64 = 20261128
        print("TextTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        for b in UInt8(0)..<0x80 { XCTAssertEqual(isASCIIWhitespace(b), isPythonWhitespace(UInt32(b)), "byte \(b)") }
        let common = Array(" \t\n\u{0B}\u{0C}\r\u{1C}\u{1D}\u{1E}\u{1F}aZzA@[`{09 ".utf8)
        var names: [[UInt8]] = (0..<0x80).map { [UInt8($0)] } + (0..<0x80).map { [0x20, UInt8($0), 0x41] }
        for _ in 0..<20_000 {
            names.append((0..<Int(rng.next() % 40)).map { _ in
                rng.next() % 2 == 0 ? common[Int(rng.next() % UInt64(common.count))] : UInt8(rng.next() % 0x80)
            })
        }
        var term: [UInt8] = [], words: [Range<Int>] = []
        for name in names {
            let s = String(decoding: name, as: UTF8.self)
            var out: [UInt8] = [0x41, 0x5A, 7]  // not lowered: only what is appended is
            let ascii = name.withUnsafeBufferPointer { appendSearchableASCII($0, to: &out) }
            XCTAssertTrue(ascii)
            XCTAssertEqual(out, [0x41, 0x5A, 7] + Array(searchable(s).utf8), s.debugDescription)
            name.withUnsafeBufferPointer { searchableBytes($0, into: &term, words: &words) }
            XCTAssertEqual(term, Array(searchable(s).utf8), s.debugDescription)
            XCTAssertEqual(words.map { String(decoding: term[$0], as: UTF8.self) }, pythonWords(searchable(s)).map(String.init), s.debugDescription)
        }
        for name in ["Café", "a\u{85}b", " ÿ"] {
            var out: [UInt8] = [1]
            XCTAssertFalse(Array(name.utf8).withUnsafeBufferPointer { appendSearchableASCII($0, to: &out) }, name)
            XCTAssertEqual(out, [1], "nothing appended for \(name.debugDescription)")
        }
    }

    /// An element table's lowered names (its case-insensitive order) are
    /// Python's lower() of each name, on the ASCII byte path and the general one.
    func testTableLowerNamesArePythonLower() {
        let seed: UInt64 = 20261130
        print("TextTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let pieces = ["A", "z", "Z", "@", "[", "`", "{", "\0", "\u{7F}", " ", "Café", "ΣΑΣ", "İ", "ẞ", "Ω", "東"]
        var names = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) }
        for _ in 0..<3_000 { names.append((0..<Int(rng.next() % 5)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()) }
        var b = CollectionBuilder()
        for (i, n) in names.enumerated() { b.addElement(.album, id: ItemID(hi: 1, lo: UInt64(i)), name: n) }
        let albums = b.build().albums
        for (i, n) in names.enumerated() {
            let r = albums.lowerSpans[i]
            XCTAssertEqual(Array(albums.lowerText[Int(r.start)..<Int(r.start + r.count)]), Array(pythonLowercased(n).utf8), n.debugDescription)
        }
    }

    func testWordsSplitOnPythonWhitespace() {
        XCTAssertEqual(pythonWords(" a\u{2003}b\u{85}c  "), ["a", "b", "c"])
    }
}
