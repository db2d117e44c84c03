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

    func testWordsSplitOnPythonWhitespace() {
        XCTAssertEqual(pythonWords(" a\u{2003}b\u{85}c  "), ["a", "b", "c"])
    }
}
