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
        let seed = UInt64(0x5EED_0042)
        print("BuilderTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
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
}
