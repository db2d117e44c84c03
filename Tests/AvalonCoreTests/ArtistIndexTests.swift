import XCTest
@testable import AvalonCore

/// The index letter and sort name of an artist: the byte path for ASCII
/// names against the general one, which works on characters.
final class ArtistIndexTests: XCTestCase {
    func testASCIINamesAgreeWithTheGeneralPath() {
        let seed: UInt64 = 20261128
        print("ArtistIndexTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var names = ["", " ", "   ", "The", "The ", "The  ", "THE X", "the  x", "Thex", "tHe 9", "Les", "Les ", "Les Paul", "Le s",
                     "LE  S", "El", "El ", "el nino", "Los x", "LAS", "La  ", "la la", "#1", "1 The", " The x", "x\ty", "\tThe", "Zz",
                     "\0a", "a\u{7F}", "~", "[", "`", "@", "The\u{0}x"]
        let pieces = ["The ", "the", "THE ", "Les ", "le ", "El", "los ", "LA ", " ", "  ", "a", "Z", "q", "9", "#", "\t", "\n", "\0", "-", "@"]
        for _ in 0..<20_000 {
            names.append((0..<Int(rng.next() % 5)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined())
        }
        var checked = 0
        for name in names {
            guard let fast = MusicCollection.indexKey(asciiBytes: name) else {
                XCTFail("\(name.debugDescription) is ASCII without CR: the byte path takes it")
                continue
            }
            let general = MusicCollection.indexKeyOfAnyText(name)
            XCTAssertEqual(fast.letter, general.letter, name.debugDescription)
            XCTAssertEqual(fast.sortName, general.sortName, name.debugDescription)
            XCTAssertTrue(fast.sortName.utf8.elementsEqual(general.sortName.utf8), name.debugDescription)
            checked += 1
        }
        XCTAssertEqual(checked, names.count)
        // Anything else takes the general path.
        for name in ["Été", "el niño", "The Émile", "ß", "a\r\nb", "\r", "The\r\n x", "Ǆemal", "日本"] {
            XCTAssertNil(MusicCollection.indexKey(asciiBytes: name), name.debugDescription)
            XCTAssertTrue(MusicCollection.indexKey(name) == MusicCollection.indexKeyOfAnyText(name), name.debugDescription)
        }
    }
}
