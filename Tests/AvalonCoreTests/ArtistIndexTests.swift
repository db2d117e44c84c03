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

    /// The index order (letter with `#` last, sort name, position) from the
    /// byte sort and the merge agrees with a sort of the Strings, with names
    /// the byte sort takes and names it leaves (NUL, scripts past U+0300,
    /// letters that are not ASCII).
    func testIndexOrderAgreesWithTheStringSort() {
        let seed: UInt64 = 20261129
        print("ArtistIndexTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let pieces = ["The ", "a", "A", "b", "Z", "z", "9", "#", "\t", "\u{7F}", "~", " ", "ab", "aB", "\r\n", "@", "[",
                      "é", "É", "К", "東", "ß", "\u{2FF}", "Ω", "\0"]
        // No combining marks here: String's < is not transitive across canonically
        // equivalent forms ("abe\u{301}" < "abéz" and "abéz" < "abe\u{301}" are both
        // false, but "abé" < "abéz"), so a String sort of such names depends on its
        // algorithm, and no other order can match it. byteKey leaves them to it (below).
        var tookBoth = 0
        for round in 0..<40 {
            // Later pieces (some not byte-ordered, or a first letter that is not ASCII) in a third of
            // the rounds only: the others are taken bytewise whole.
            let some = Array(pieces.prefix(round % 3 == 0 ? pieces.count : 17))
            let names = (0..<Int(rng.next() % 400)).map { _ in
                (0..<Int(rng.next() % 4)).map { _ in some[Int(rng.next() % UInt64(some.count))] }.joined()
            }
            let keyed = names.enumerated().map { i, n in
                let k = MusicCollection.indexKey(n)
                return (letter: k.letter, sortName: k.sortName, artist: UInt32(i))
            }
            let expected = keyed.sorted(by: SubsonicIndex.before).map(\.artist)
            XCTAssertEqual(SubsonicIndex.indexOrder(keyed).map(\.artist), expected, "round \(round)")
            var scratch: [UInt8] = []
            let bytewise = keyed.filter { SubsonicIndex.byteKey($0, into: &scratch) }.count
            if round % 3 != 0 { XCTAssertEqual(bytewise, keyed.count, "round \(round)") }
            if bytewise > 0 && bytewise < keyed.count { tookBoth += 1 }
        }
        XCTAssertGreaterThan(tookBoth, 5, "rounds that merged both kinds")
        var scratch: [UInt8] = []
        for k in [("É", "été", UInt32(0)), ("A", "ae\u{301}", 0), ("AB", "ab", 0), ("A", "ab\0", 0), ("K", "кино", 0), ("\0", "a", 0)] {
            XCTAssertFalse(SubsonicIndex.byteKey(k, into: &scratch), "\(k)")
        }
        for k in [("C", "café", UInt32(0)), ("#", "", 0), ("Z", "z\r\n", 0), ("U", "über ß", 0)] {
            XCTAssertTrue(SubsonicIndex.byteKey(k, into: &scratch), "\(k)")
        }
    }
}
