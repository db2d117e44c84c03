/// What the Subsonic API needs beyond Avalon's indexes: artists by index
/// letter, album counts, albums by artist and by age. Built with the
/// collection, before the workers fork (flat arrays, shared by every worker's
/// copy-on-write pages instead of one copy made per worker on first use).
public final class SubsonicIndex: Sendable {
    /// The index letters in order (`#` last); letter `i`'s artists, by name,
    /// are `indexedArtists[letterStarts[i]..<letterStarts[i + 1]]`.
    public let letters: [String]
    public let letterStarts: [UInt32]
    public let indexedArtists: [UInt32]
    public let artistAlbumCounts: [Int64]
    public let genreAlbumCounts: [Int64]
    /// Albums by their artist's name, then their own.
    public let albumsByArtist: [UInt32]
    /// Albums by `created` (their first file's first sighting), newest first;
    /// without file facts, the load order, last first.
    public let albumsNewest: [UInt32]

    init(letters: [String], letterStarts: [UInt32], indexedArtists: [UInt32], artistAlbumCounts: [Int64],
         genreAlbumCounts: [Int64], albumsByArtist: [UInt32], albumsNewest: [UInt32]) {
        self.letters = letters; self.letterStarts = letterStarts; self.indexedArtists = indexedArtists
        self.artistAlbumCounts = artistAlbumCounts; self.genreAlbumCounts = genreAlbumCounts
        self.albumsByArtist = albumsByArtist; self.albumsNewest = albumsNewest
    }

    /// The parts, built side by side by the load.
    struct Parts {
        var letters: (letters: [String], starts: [UInt32], artists: [UInt32]) = ([], [], [])
        var artistAlbumCounts: [Int64] = []
        var genreAlbumCounts: [Int64] = []
        var albumOrders: (byArtist: [UInt32], newest: [UInt32]) = ([], [])
    }

    convenience init(_ p: Parts) {
        self.init(letters: p.letters.letters, letterStarts: p.letters.starts, indexedArtists: p.letters.artists,
                  artistAlbumCounts: p.artistAlbumCounts, genreAlbumCounts: p.genreAlbumCounts,
                  albumsByArtist: p.albumOrders.byArtist, albumsNewest: p.albumOrders.newest)
    }

    /// Every artist by index letter, each letter's artists by name.
    static func artistLetters(arena: [UInt8], artists: ElementTable) -> (letters: [String], starts: [UInt32], artists: [UInt32]) {
        var keyed: [IndexKey] = []
        keyed.reserveCapacity(artists.count)
        for i in 0..<artists.count {
            let r = artists.items[i].name
            let k = MusicCollection.indexKey(String(decoding: arena[Int(r.start)..<Int(r.start + r.count)], as: UTF8.self))
            keyed.append((k.letter, k.sortName, UInt32(i)))
        }
        keyed = indexOrder(keyed)
        var letters: [String] = [], starts: [UInt32] = []
        for (n, k) in keyed.enumerated() where letters.last != k.0 {
            letters.append(k.0)
            starts.append(UInt32(n))
        }
        starts.append(UInt32(keyed.count))
        return (letters, starts, keyed.map(\.artist))
    }

    typealias IndexKey = (letter: String, sortName: String, artist: UInt32)

    /// Index letters in order: `#` last, the rest as strings compare.
    static func letterBefore(_ l: String, _ r: String) -> Bool { l == "#" ? false : r == "#" ? true : l < r }

    /// Keys in index order: by letter, then sort name, then artist.
    static func before(_ l: IndexKey, _ r: IndexKey) -> Bool {
        if l.letter != r.letter { return letterBefore(l.letter, r.letter) }
        return l.sortName != r.sortName ? l.sortName < r.sortName : l.artist < r.artist
    }

    /// `keyed` in index order. Strings compare by their scalars (in NFC), so
    /// keys whose bytes order them (`byteKey`: most) take one byte sort; the
    /// rest a sort of Strings, merged in. Sorting all as Strings took ~1 s of
    /// the load at 450,000 artists. (Among names with combining marks String's
    /// < is not transitive, so their order was already the sort algorithm's.)
    /// `keyed` comes in ascending artist order, as `artistLetters` builds it:
    /// the byte sort is stable, so equal bytes keep that order, as `before` wants.
    static func indexOrder(_ keyed: [IndexKey]) -> [IndexKey] {
        assert(zip(keyed, keyed.dropFirst()).allSatisfy { $0.artist < $1.artist }, "keys in ascending artist order")
        var simple: [IndexKey] = [], other: [IndexKey] = []
        var arena: [UInt8] = [], spans: [(Int, Int)] = []
        simple.reserveCapacity(keyed.count)
        spans.reserveCapacity(keyed.count)
        for k in keyed {
            let start = arena.count
            if byteKey(k, into: &arena) {
                simple.append(k)
                spans.append((start, arena.count - start))
            } else {
                arena.removeSubrange(start...)
                other.append(k)
            }
        }
        let bytewise = arena.withUnsafeBufferPointer { a in sortByBytes(count: simple.count, arena: a) { spans[$0] } }
        other.sort(by: before)
        var out: [IndexKey] = []
        out.reserveCapacity(keyed.count)
        var o = 0
        for p in bytewise {
            let k = simple[Int(p)]
            while o < other.count && before(other[o], k) { out.append(other[o]); o += 1 }
            out.append(k)
        }
        out.append(contentsOf: other[o...])
        return out
    }

    /// Appends the letter (`#` as 0xFF: last) and the sort name as bytes
    /// whose order is the Strings' order, and says so; false (some bytes
    /// appended) when they would not be: a letter that is not one ASCII
    /// character, a NUL (the byte sort pads with zeros: "a" and "a\0" would
    /// tie), or a scalar from U+0300 on (from there a string may not be in
    /// NFC, and Strings compare in NFC; below it every string is).
    static func byteKey(_ k: IndexKey, into arena: inout [UInt8]) -> Bool {
        var letter = k.letter, name = k.sortName
        let first: UInt8? = letter == "#" ? 0xFF : letter.withUTF8 { $0.count == 1 && $0[0] != 0 && $0[0] < 0x80 ? $0[0] : nil }
        guard let first else { return false }
        arena.append(first)
        return name.withUTF8 { b in
            // In UTF-8 a scalar from U+0300 on starts with a byte from 0xCC on.
            guard !b.contains(where: { $0 == 0 || $0 >= 0xCC }) else { return false }
            arena.append(contentsOf: b)
            return true
        }
    }

    /// Each song's album as its own column: the counts read it in list
    /// order, at random, and 4 bytes a song stay cached where whole songs do not.
    static func albumOf(_ songs: [Song]) -> [UInt32] { songs.map(\.album) }

    /// Albums by their artist's name then their own, and by `created`, newest first.
    static func albumOrders(songs: [Song], albums: ElementTable, artists: ElementTable, files: SongFiles) -> (byArtist: [UInt32], newest: [UInt32]) {
        var byArtist: [(UInt64, UInt32)] = []
        byArtist.reserveCapacity(albums.count)
        for al in 0..<albums.count {
            let first = albums.songs(of: UInt32(al)).first
            let artistRank = first.map { UInt64(artists.nameRank[Int(songs[Int($0)].artist)]) } ?? UInt64(UInt32.max)
            byArtist.append((artistRank << 32 | UInt64(albums.nameRank[al]), UInt32(al)))
        }
        byArtist.sort { $0 < $1 }
        // An album's `created`: its earliest file's (0 without file facts), as `albumFacts` says.
        let created = (0..<albums.count).map { al -> Int64 in
            var c = Int64.max
            for i in albums.songs(of: UInt32(al)) where files.has(Int(i)) { c = min(c, files.created[Int(i)]) }
            return c == .max ? 0 : c
        }
        return (byArtist.map(\.1), (0..<UInt32(albums.count)).sorted { (created[Int($0)], $0) > (created[Int($1)], $1) })
    }

    /// For each element of a table, how many distinct albums its songs are on: one pass over the song lists.
    static func albumCounts(_ table: ElementTable, albumOf: [UInt32], albums: Int) -> [Int64] {
        var stamp = [UInt32](repeating: .max, count: albums)
        var counts = [Int64](repeating: 0, count: table.count)
        albumOf.withUnsafeBufferPointer { albumOf in
            table.songs.withUnsafeBufferPointer { list in
                table.songOffsets.withUnsafeBufferPointer { offsets in
                    stamp.withUnsafeMutableBufferPointer { stamp in
                        counts.withUnsafeMutableBufferPointer { counts in
                            for e in 0..<counts.count {
                                var n: Int64 = 0
                                for k in Int(offsets[e])..<Int(offsets[e + 1]) {
                                    let a = Int(albumOf[Int(list[k])])
                                    if stamp[a] != UInt32(e) { stamp[a] = UInt32(e); n += 1 }
                                }
                                counts[e] = n
                            }
                        }
                    }
                }
            }
        }
        return counts
    }

    public var memoryBytes: Int {
        (letterStarts.capacity + indexedArtists.capacity + albumsByArtist.capacity + albumsNewest.capacity) * 4
            + (artistAlbumCounts.capacity + genreAlbumCounts.capacity) * 8 + letters.count * 32
    }
}
