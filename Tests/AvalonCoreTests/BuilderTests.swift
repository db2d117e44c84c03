import XCTest
@testable import AvalonCore

/// The builder finds repeated song ids by sorting at `build` (no table of
/// ids while rows come): the first song added with an id stays, in the order
/// songs were added, whether or not its album, artist and genre came first.
final class BuilderTests: XCTestCase {
    func testRepeatedSongIDKeepsTheFirstSong() {
        var b = CollectionBuilder()
        let (al, ar, ge) = (ItemID.album("A"), ItemID.artist("R"), ItemID.genre("G"))
        // Before its elements: waits; the repeat after the elements is dropped.
        b.addSong(id: .song(path: "/1"), name: "first", length: 1, track: 1, year: 2000, album: al, artist: ar, genre: ge)
        b.addElement(.album, id: al, name: "A")
        b.addElement(.artist, id: ar, name: "R")
        b.addElement(.genre, id: ge, name: "G")
        b.addSong(id: .song(path: "/1"), name: "second", length: 2, track: 2, year: 2001, album: al, artist: ar, genre: ge)
        b.addSong(id: .song(path: "/2"), name: "kept", length: 3, track: 3, year: 2002, album: al, artist: ar, genre: ge)
        b.addSong(id: .song(path: "/2"), name: "repeat", length: 4, track: 4, year: 2003, album: al, artist: ar, genre: ge)
        let c = b.build()
        XCTAssertEqual(c.songs.map { c.text($0.name) }, ["kept", "first"])
        XCTAssertEqual(c.droppedTracks, 2)
    }

    /// Seeded random builders against a plain model of the rules.
    func testRandomBuildsMatchTheModel() {
        let below = seeded(0x5EED_0042)
        for round in 0..<200 {
            var b = CollectionBuilder()
            let albums = (0..<(1 + below(5))).map { ItemID.album("a\($0)") }
            let artists = (0..<(1 + below(5))).map { ItemID.artist("r\($0)") }
            var added = Set<ItemID>()
            var seen = Set<ItemID>()
            var resolved: [String] = [], waiting: [(String, ItemID, ItemID)] = []
            var dropped = 0
            for i in 0..<(below(60)) {
                if below(4) == 0 {
                    let k = below(2)
                    let id = k == 0 ? albums[below(albums.count)] : artists[below(artists.count)]
                    b.addElement(k == 0 ? .album : .artist, id: id, name: "e")
                    added.insert(id)
                    continue
                }
                if below(5) == 0 { b.addElement(.genre, id: .genre("g"), name: "g"); added.insert(.genre("g")) }
                let id = ItemID.song(path: "/\(below(25))")
                let (al, ar) = (albums[below(albums.count)], artists[below(artists.count)])
                let name = "s\(i)"
                b.addSong(id: id, name: name, length: 0, track: 0, year: 0, album: al, artist: ar, genre: .genre("g"))
                if !seen.insert(id).inserted { dropped += 1; continue }
                if added.contains(al) && added.contains(ar) && added.contains(.genre("g")) { resolved.append(name) } else { waiting.append((name, al, ar)) }
            }
            for (name, al, ar) in waiting {
                if added.contains(al) && added.contains(ar) && added.contains(.genre("g")) { resolved.append(name) } else { dropped += 1 }
            }
            let c = b.build()
            XCTAssertEqual(c.songs.map { c.text($0.name) }, resolved, "round \(round)")
            XCTAssertEqual(c.droppedTracks, dropped, "round \(round)")
            // The id order handed over from the builder is the songs' order by id.
            let byID = c.songs.indices.sorted { c.songs[$0].id < c.songs[$1].id }.map(UInt32.init)
            XCTAssertEqual(c.songOrder[SongField.allCases.firstIndex(of: .id)!], byID, "round \(round)")
            XCTAssertEqual(byID.enumerated().allSatisfy { c.songIDRank[Int($0.element)] == UInt32($0.offset) }, true, "round \(round)")
        }
    }

    /// Every song order is the stable sort of the songs by its key, also where
    /// elements share a name (the orders by element are gathered, not sorted).
    func testSongOrdersAreStableSortsByTheirKeys() {
        let below = seeded(0x5EED_0043)
        for round in 0..<50 {
            var b = CollectionBuilder()
            let names = ["x", "Y", "x", "z", "", "Y"]
            let kinds: [Kind] = [.album, .artist, .genre]
            let ids = kinds.map { k in (0..<(1 + below(6))).map { ItemID.album("\(k.rawValue)-\($0)") } }
            for (k, list) in ids.enumerated() {
                for (i, id) in list.enumerated() { b.addElement(kinds[k], id: id, name: names[(i + below(3)) % names.count]) }
            }
            for i in 0..<below(80) {
                b.addSong(id: .song(path: "/\(i)"), name: names[below(names.count)], length: Int64(below(5)) - 2, track: Int64(below(3)),
                          year: Int64(1990 + below(4)), album: ids[0][below(ids[0].count)], artist: ids[1][below(ids[1].count)],
                          genre: ids[2][below(ids[2].count)])
            }
            let c = b.build()
            for (f, field) in SongField.allCases.enumerated() {
                let expected = c.songs.indices.map(UInt32.init).sorted {
                    let (ka, kb) = (c.songKeys.key(field, c.songs[Int($0)], $0), c.songKeys.key(field, c.songs[Int($1)], $1))
                    return ka != kb ? ka < kb : $0 < $1
                }
                XCTAssertEqual(c.songOrder[f], expected, "round \(round), \(field)")
            }
        }
    }

    /// `below(n)`: seeded draws from 0..<n; the seed is printed.
    private func seeded(_ seed: UInt64) -> (Int) -> Int {
        print("BuilderTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        return { n in Int(rng.next() % UInt64(n)) }
    }
}
