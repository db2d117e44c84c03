import XCTest
@testable import AvalonCore

final class SearchTests: XCTestCase {
    let c = buildFixture()

    func testSpecExample() {
        for q in ["this", "giv", "is giving", "giving u", "This Is Giving Up", "THIS is", "up"] {
            XCTAssertEqual(ask(c, .songs, "query=" + q.replacingOccurrences(of: " ", with: "+")).names, ["This Is Giving Up"], q)
        }
        XCTAssertEqual(ask(c, .songs, "query=is+up").names, [])
        XCTAssertEqual(ask(c, .songs, "query=%20%20").names, [])
        XCTAssertEqual(ask(c, .songs, "query=").names, [])
    }

    func testSongsMatchThroughAlbumArtistGenre() {
        XCTAssertEqual(Set(ask(c, .songs, "query=jawbreaker").names), ["This Is Giving Up", "Accident Prone", "love"])
        XCTAssertEqual(Set(ask(c, .songs, "query=punk").names), ["This Is Giving Up", "Accident Prone", "love", "Adicción, Tradición, Revolución"])
        XCTAssertEqual(ask(c, .songs, "query=menag").names, ["Lovely Day"])
    }

    func testAccentsCaseAndScripts() {
        XCTAssertEqual(ask(c, .songs, "query=adiccion").names, ["Adicción, Tradición, Revolución"])
        XCTAssertEqual(ask(c, .songs, "query=REVOLUCIÓN").names, ["Adicción, Tradición, Revolución"])
        XCTAssertEqual(ask(c, .artists, "query=σωκρατης").names, ["Σωκράτης"])
        XCTAssertEqual(ask(c, .songs, "query=%CE%A3%CE%A9%CE%9A").names, ["ΣΩΚΡΑΤΗΣ  και  φίλοι"])
        XCTAssertEqual(ask(c, .albums, "query=группа+к").names, ["Группа крови"])
        XCTAssertEqual(ask(c, .albums, "query=東").names, ["東京"])
        XCTAssertEqual(ask(c, .songs, "query=🎸").names, ["東京 Love Song 🎸"])
        XCTAssertEqual(ask(c, .genres, "query=λαι").names, ["Λαϊκά"])
    }

    func testRunsOfSpacesFollowTheOldTokenizer() {
        // Whole text keeps its double spaces; trailing runs are single-spaced.
        XCTAssertEqual(ask(c, .songs, "query=σωκρατης++και").names, ["ΣΩΚΡΑΤΗΣ  και  φίλοι"])
        XCTAssertEqual(ask(c, .songs, "query=σωκρατης+και").names, [])
        XCTAssertEqual(ask(c, .songs, "query=και+φιλ").names, ["ΣΩΚΡΑΤΗΣ  και  φίλοι"])
        XCTAssertEqual(ask(c, .songs, "query=tabs+and").names, ["Love\tTabs\nand lines"])
    }

    /// The suffix index must agree with the old server's token sets on any names.
    func testIndexAgreesWithTokenizer() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = ["a", "b", "ab", "ba", "É", "é", "Σ", "σ", " ", "  ", "\t", "\u{3000}", "x y", "ß", "🎸"]
        var names: [String] = []
        for _ in 0..<300 {
            let n = Int.random(in: 0...6, using: &rng)
            names.append((0..<n).map { _ in alphabet.randomElement(using: &rng)! }.joined())
        }
        var b = CollectionBuilder()
        for (i, n) in names.enumerated() { b.addElement(.album, id: ItemID(hi: 0, lo: UInt64(i)), name: n) }
        let coll = b.build()
        let tokens = names.map(searchTokens)
        let queries = ["a", "b", "ab", "a b", "b a", "e", "σ", "ς", "ss", "x", "x y", "y", "a  b", "🎸", "ab ", " ab"] + names.prefix(40)
        for q in queries {
            let nq = searchable(q)
            let expected = Set(nq.isEmpty ? [] : names.indices.filter { i in tokens[i].contains { $0.utf8.starts(with: nq.utf8) } })
            let got = Set(coll.albums.search.search(Array(nq.utf8)).map { Int($0) })
            XCTAssertEqual(got, expected, "query \(q.debugDescription)")
        }
    }
}
