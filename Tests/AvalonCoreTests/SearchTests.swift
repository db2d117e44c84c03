import TestSupport
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
        var rng = SeededGenerator(test: #function)
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

extension SearchTests {
    /// Elements numbered from past 2^24 (every byte of the number non-zero,
    /// one of them 0xFF), as a block's tail carries them while the index is
    /// built: each suffix keeps its own element, against the tokenizer.
    func testElementsPastTwoToTheTwentyFourKeepTheirNames() {
        var rng = SeededGenerator(test: #function)
        let alphabet = ["a", "b", "ab", "é", " ", "  ", "x y", "ß"]
        let first = 0x01FF_2345
        var names: [String] = [], arena: [UInt8] = [], spans: [(Int, Int)] = []
        for _ in 0..<500 {
            let n = (0..<Int.random(in: 0...5, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
            names.append(n)
            spans.append((arena.count, n.utf8.count))
            arena.append(contentsOf: n.utf8)
        }
        let index = SearchIndex(first..<(first + names.count), arena: arena) { spans[$0 - first] }
        let tokens = names.map(searchTokens)
        for q in ["a", "b", "ab", "a b", "é", "ss", "x y", "y", "b a"] + names.prefix(30) {
            let nq = searchable(q)
            let expected = nq.isEmpty ? [] : names.indices.filter { i in tokens[i].contains { $0.utf8.starts(with: nq.utf8) } }.map { UInt32(first + $0) }
            XCTAssertEqual(index.search(Array(nq.utf8)), expected, "query \(q.debugDescription)")
        }
    }

    /// A name of a hundred thousand words (a crafted tag) gets keys for its
    /// first `maxKeyWords` words only, in both layouts of its text (single
    /// spaces: suffixes of the whole text; other spacing: the words joined),
    /// so its cost stays linear in its length; its early words and runs
    /// through the rest are still found, a word only past the cap is not.
    func testAHugeNameStartsBoundedKeys() {
        let n = 100_000
        let single = (0..<n).map { "w\($0)" }.joined(separator: " ")
        let spaced = (0..<n).map { "v\($0)" }.joined(separator: "  ")
        var b = CollectionBuilder()
        b.addElement(.album, id: ItemID(hi: 0, lo: 1), name: single)
        b.addElement(.album, id: ItemID(hi: 0, lo: 2), name: spaced)
        b.addElement(.album, id: ItemID(hi: 0, lo: 3), name: "w9999 tail")
        let c = b.build()
        let index = c.albums.search
        // The whole text and words 2…256 of each huge name, and "w9999 tail"'s two keys.
        XCTAssertEqual(index.starts.count, 2 * SearchIndex.maxKeyWords + 2)
        func found(_ q: String) -> Set<UInt32> { Set(index.search(Array(searchable(q).utf8))) }
        XCTAssertEqual(found("w0 w1"), [0])
        XCTAssertEqual(found("w255 w256 w257"), [0])  // the 256th word starts a key running to the end
        XCTAssertEqual(found("v255 v256"), [1])
        XCTAssertEqual(found("w9999"), [2])  // only as the other name's first word
        XCTAssertEqual(found("v99999"), [])
        // The boundary in each layout: the 257th word starts no key, the 256th's runs to the end.
        XCTAssertEqual(found("w256"), [])
        XCTAssertEqual(found("v256"), [])
        XCTAssertEqual(found((255..<n).map { "v\($0)" }.joined(separator: " ")), [1])
    }

    /// Names that share a prefix of hundreds of kilobytes (two songs with one
    /// crafted title, a title repeating one word) sort 8 bytes a level, tens of
    /// thousands of levels deep: on a list of runs, not the stack (this load
    /// overflowed a build thread's stack when each level was a call).
    func testNamesSharingAHugePrefixLoad() {
        let title = String(repeating: "la ", count: 50_000) + "end"
        var b = CollectionBuilder()
        b.addElement(.album, id: ItemID(hi: 0, lo: 1), name: title)
        b.addElement(.artist, id: ItemID(hi: 0, lo: 2), name: title)
        b.addElement(.genre, id: ItemID(hi: 0, lo: 3), name: "g")
        for i in 0..<3 {
            b.addSong(id: ItemID(hi: 1, lo: UInt64(i)), name: i == 2 ? "la" : title, length: 1, track: 1, year: 2000,
                      album: ItemID(hi: 0, lo: 1), artist: ItemID(hi: 0, lo: 2), genre: ItemID(hi: 0, lo: 3))
        }
        let c = b.build()
        XCTAssertEqual(c.songs.count, 3)
        XCTAssertEqual(Set(c.songSearch.flatMap { $0.search(Array("la la la".utf8)) }), [0, 1])
        XCTAssertEqual(SearchIndex.matchRanges(Array("la".utf8), in: c.songSearch).reduce(0) { $0 + $1.count }, 2 * SearchIndex.maxKeyWords + 1)
        // By name: the short "la" first, then the two equal titles in song order.
        XCTAssertEqual(c.songOrder[SongField.allCases.firstIndex(of: .name)!], [2, 0, 1])
    }
}

final class PagedSearchTests: XCTestCase {
    /// Songs with names from a few words, so that queries match songs spread
    /// over the whole collection through every table.
    static let c: MusicCollection = {
        var rng = SeededGenerator(test: "PagedSearchTests")
        let words = ["love", "lovely", "the", "night", "Lövé", "blue", "x"]
        func name() -> String { (0..<Int.random(in: 1...3, using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ") }
        var b = CollectionBuilder()
        for i in 0..<40 { b.addElement(.album, id: .album("al\(i)"), name: name()) }
        for i in 0..<25 { b.addElement(.artist, id: .artist("ar\(i)"), name: name()) }
        for i in 0..<6 { b.addElement(.genre, id: .genre("ge\(i)"), name: name()) }
        for i in 0..<3000 {
            b.addSong(id: .song(path: "/s/\(i)"), name: name(), length: 1, track: 1, year: 2000,
                      album: .album("al\(Int.random(in: 0..<40, using: &rng))"),
                      artist: .artist("ar\(Int.random(in: 0..<25, using: &rng))"),
                      genre: .genre("ge\(Int.random(in: 0..<6, using: &rng))"))
        }
        return b.build()
    }()

    /// Small ordered pages of a search walk the order and test songs one by
    /// one; they must equal the page of the full match set, ties included.
    func testOrderedSearchWalkAgreesWithTheFullSet() throws {
        var rng = SeededGenerator(test: #function)
        let words = ["love", "lovely", "the", "night", "Lövé", "blue", "x", "Straße", "été", "the  night"]
        func name() -> String {
            (0..<Int.random(in: 0...4, using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined(separator: Bool.random(using: &rng) ? " " : "  ")
        }
        var b = CollectionBuilder()
        for i in 0..<30 { b.addElement(.album, id: .album("al\(i)"), name: name()) }
        for i in 0..<20 { b.addElement(.artist, id: .artist("ar\(i)"), name: name()) }
        for i in 0..<5 { b.addElement(.genre, id: .genre("ge\(i)"), name: name()) }
        for i in 0..<4000 {
            b.addSong(id: .song(path: "/s/\(i)"), name: name(), length: Int64.random(in: 0..<5, using: &rng),
                      track: Int64.random(in: 0..<3, using: &rng), year: Int64.random(in: 1990..<1994, using: &rng),
                      album: .album("al\(Int.random(in: 0..<30, using: &rng))"),
                      artist: .artist("ar\(Int.random(in: 0..<20, using: &rng))"),
                      genre: .genre("ge\(Int.random(in: 0..<5, using: &rng))"))
        }
        let c = b.build()
        var walked = 0
        for q in ["love", "lov", "the n", "the night", "night l", "x", "blue lovely", "LOVE", "lo ve", "ete", "strasse", "zzz", "e"] {
            for field in [SongField.year, .name, .track, .album, .id, .length] {
                for (dir, limit, offset) in [("desc", 10, 0), ("asc", 1, 0), ("asc", 25, 7), ("desc", 3, 2)] {
                    let qs = "query=\(q)&order=\(field.rawValue)&direction=\(dir)&limit=\(limit)&offset=\(offset)"
                    let params = QueryParameters(queryString: qs)
                    let paging = try Paging(params, fields: MusicCollection.songFields)
                    let keys = c.songKeys, songs = c.songs
                    let full = c.ordered(try c.selectSongs(params, idFilters: []), total: songs.count, paging: paging,
                                         globalOrder: c.songOrder[SongField.allCases.firstIndex(of: field)!]) { keys.key(field, songs[Int($0)], $0) }
                    if let page = c.orderedSearchPage(q, field: field, paging: paging, limit: Int64(limit)) {
                        walked += 1
                        XCTAssertEqual(page, full, qs)
                    }
                    XCTAssertEqual(ask(c, .songs, qs).ids, full.map { songs[Int($0)].id.uuidString }, qs)
                }
            }
        }
        XCTAssertGreaterThan(walked, 100, "the walk was hardly used; the test proves little")
    }

    func testFirstMatchesAgreeWithTheFullSearch() {
        let c = Self.c
        for q in ["love", "lovel", "the n", "night", "x", "blue lovely", "zzz", ""] {
            let all = c.searchSongs(q).members(0..<Int.max)
            for need in [0, 1, 7, 50, 333, all.count, all.count + 1, 5000] {
                for block in [64, 100, 1 << 16, nil] {
                    XCTAssertEqual(c.firstSearchMatches(q, need: need, firstBlock: block), Array(all.prefix(need)),
                                   "query \(q) need \(need) block \(String(describing: block))")
                }
            }
        }
    }

    func testSearchPagesAreSlicesOfTheWholeAnswer() {
        let c = Self.c
        let whole = ask(c, .songs, "query=love").ids
        XCTAssertGreaterThan(whole.count, 1000)
        for (offset, limit) in [(0, 50), (10, 5), (0, 0), (whole.count - 3, 10), (whole.count, 1), (99999, 5), (7, 9223372036854775807)] {
            XCTAssertEqual(ask(c, .songs, "query=love&limit=\(limit)&offset=\(offset)").ids,
                           Array(whole.dropFirst(offset).prefix(limit)), "offset \(offset) limit \(limit)")
        }
    }
}

final class JSONWriterTests: XCTestCase {
    /// The word-at-a-time escaper against a byte-by-byte one, with special
    /// bytes at every position of strings around the word size.
    func testEscapingAgreesWithBytewise() {
        func reference(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [0x22]
            for b in bytes {
                switch b {
                case 0x22: out += Array("\\\"".utf8)
                case 0x5C: out += Array("\\\\".utf8)
                case 0x0A: out += Array("\\n".utf8)
                case 0x0D: out += Array("\\r".utf8)
                case 0x09: out += Array("\\t".utf8)
                case 0x08: out += Array("\\b".utf8)
                case 0x0C: out += Array("\\f".utf8)
                case ..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
                default: out.append(b)
                }
            }
            return out + [0x22]
        }
        var rng = SeededGenerator(test: #function)
        let specials: [UInt8] = [0x00, 0x01, 0x0A, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xA2, 0xDC, 0xFF]
        for length in 0..<26 {
            for _ in 0..<60 {
                var bytes = (0..<length).map { _ in UInt8.random(in: 0x41...0x7A, using: &rng) }
                if length > 0 { bytes[Int.random(in: 0..<length, using: &rng)] = specials.randomElement(using: &rng)! }
                var w = JSONWriter(capacity: 1)
                bytes.withUnsafeBufferPointer { w.string($0) }
                XCTAssertEqual(w.bytes, reference(bytes), "\(bytes)")
                // The padded form reads past the end: specials there must not count.
                let padded = bytes + (0..<JSONCursor.padding).map { _ in specials.randomElement(using: &rng)! }
                var v = JSONWriter(capacity: 1)
                padded.withUnsafeBufferPointer { all in
                    v.write(maxBytes: JSONCursor.maxBytes(string: length) + 8) { $0.string(padded: UnsafeBufferPointer(rebasing: all[..<length])) }
                }
                XCTAssertEqual(v.bytes, reference(bytes), "padded \(bytes)")
            }
        }
    }

    /// Small numbers take a four-digit path without a loop; all of them, its
    /// edges and the general path against Swift's own formatting.
    func testIntegersAsSwiftPrintsThem() {
        var values: [Int64] = Array(0..<12_000) + [-1, -9, -10, -9999, -10_000, 99_999, 100_000, 43_698, 43_699, .max, .min,
                                                                     10_001, 12_345_678, 99_999_999, 100_000_000, 100_000_001, 10_000_000, 9_999_999]
        var rng = SeededGenerator(test: #function)
        for _ in 0..<1000 { values.append(Int64(bitPattern: rng.next())) }
        for _ in 0..<20000 { values.append(Int64(rng.next() % 100_000_000)) }  // the two-word path
        var w = JSONWriter(capacity: 1)
        for v in values { w.int(v); w.raw(",") }
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), values.map { "\($0)," }.joined())
    }

    func testUUIDsAsFoundationWritesThem() {
        var rng = SeededGenerator(test: #function)
        for _ in 0..<500 {
            let id = ItemID(hi: rng.next(), lo: rng.next())
            var w = JSONWriter()
            w.uuid(id)
            let text = String(decoding: w.bytes, as: UTF8.self)
            let u = UUID(uuidString: String(text.dropFirst().dropLast()))
            XCTAssertEqual(text, "\"" + id.uuidString + "\"")
            XCTAssertEqual(u.map { v in withUnsafeBytes(of: v.uuid) { ItemID(bytes: $0) } }, id)
        }
        var w = JSONWriter()
        w.uuid(ItemID(hi: 0x0123_4567_89ab_cdef, lo: 0xfedc_ba98_7654_3210))
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), "\"01234567-89ab-cdef-fedc-ba9876543210\"")
    }
}
