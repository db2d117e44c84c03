/// The collection as a fixed sequence of flat arrays, for a snapshot file
/// (AvalonStore writes and reads the file). Only what a load computes is in
/// it; what is cheap to derive (the search list, the sort keys, the cover
/// lookup) is derived again. No I/O here.
public protocol SnapshotWriting {
    mutating func write<T: BitwiseCopyable>(_ array: [T]) throws
}

public protocol SnapshotReading {
    /// The next array, whose elements must be `T`s (the file says their size).
    mutating func read<T: BitwiseCopyable>(_ type: T.Type) throws -> [T]
}

public struct SnapshotMismatch: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

extension SnapshotWriting {
    mutating func write(strings: [String]) throws {
        var bytes: [UInt8] = [], ends: [UInt32] = []
        for s in strings {
            bytes.append(contentsOf: s.utf8)
            ends.append(UInt32(bytes.count))
        }
        try write(bytes)
        try write(ends)
    }
}

/// Whether every entry is below `n` (an index into something of `n` entries).
@inline(__always)
func allBelow(_ a: [UInt32], _ n: Int) -> Bool { (a.max().map { Int($0) } ?? -1) < n }

func ascending(_ a: [UInt32]) -> Bool { zip(a, a.dropFirst()).allSatisfy { $0 <= $1 } }

extension SnapshotReading {
    mutating func readStrings() throws -> [String] {
        let bytes = try read(UInt8.self), ends = try read(UInt32.self)
        var out: [String] = [], at = 0
        for e in ends {
            guard Int(e) >= at, Int(e) <= bytes.count else { throw SnapshotMismatch("a string list is inconsistent") }
            out.append(String(decoding: bytes[at..<Int(e)], as: UTF8.self))
            at = Int(e)
        }
        return out
    }

    /// An array of exactly `count` elements.
    mutating func read<T: BitwiseCopyable>(_ type: T.Type, count: Int, _ what: String) throws -> [T] {
        let a = try read(type)
        guard a.count == count else { throw SnapshotMismatch("\(what): \(a.count) entries for \(count)") }
        return a
    }
}

extension MusicCollection {
    /// Bumped whenever what `write(snapshot:)` writes changes.
    public static let snapshotFormat = 1

    public func write(snapshot w: inout some SnapshotWriting) throws {
        try w.write([Int64(droppedTracks), generation, Int64(songs.count), Int64(albums.count), Int64(artists.count), Int64(genres.count)])
        try w.write(arena)
        try w.write(songs)
        for t in [albums, artists, genres] { try t.write(snapshot: &w) }
        for s in songSearch { try s.write(snapshot: &w) }
        try w.write(songNameRank)
        try w.write(songIDRank)
        for o in songOrder { try w.write(o) }
        try w.write(years)
        try w.write(strings: files.root.map { [$0] } ?? [])
        try w.write(files.paths)
        try w.write(files.spans)
        try w.write(files.sizes)
        try w.write(files.bitRates)
        try w.write(files.discs)
        try w.write(files.created)
        try w.write(covers.ids)
        try w.write(strings: covers.names)
        try w.write(covers.songs)
        try w.write(covers.albums)
        try w.write(covers.artists)
        try subsonic.write(snapshot: &w)
    }

    /// The collection a snapshot holds. Counts are checked against one
    /// another (the file's checksums guard the bytes).
    public convenience init(snapshot r: inout some SnapshotReading) throws {
        let head = try r.read(Int64.self, count: 6, "the head")
        guard head[2...].allSatisfy({ (0...Int64(UInt32.max)).contains($0) }) else { throw SnapshotMismatch("the head's counts are out of range") }
        let (songCount, albumCount, artistCount, genreCount) = (Int(head[2]), Int(head[3]), Int(head[4]), Int(head[5]))
        let arena = try r.read(UInt8.self)
        let songs = try r.read(Song.self, count: songCount, "songs")
        let albums = try ElementTable(snapshot: &r, count: albumCount, songs: songCount, arena: arena.count)
        let artists = try ElementTable(snapshot: &r, count: artistCount, songs: songCount, arena: arena.count)
        let genres = try ElementTable(snapshot: &r, count: genreCount, songs: songCount, arena: arena.count)
        let songSearch = [try SearchIndex(snapshot: &r, elements: songCount), try SearchIndex(snapshot: &r, elements: songCount)]
        let nameRank = try r.read(UInt32.self, count: songCount, "song name ranks")
        let idRank = try r.read(UInt32.self, count: songCount, "song id ranks")
        var orders: [[UInt32]] = []
        for f in SongField.allCases { orders.append(try r.read(UInt32.self, count: songCount, "songs by \(f.rawValue)")) }
        guard allBelow(nameRank, songCount), allBelow(idRank, songCount), orders.allSatisfy({ allBelow($0, songCount) }) else {
            throw SnapshotMismatch("the song orders are inconsistent")
        }
        let years = try r.read(YearCount.self)
        let root = try r.readStrings().first
        let paths = try r.read(UInt8.self)
        let spans = try r.read(TextRef.self)
        let fileCount = spans.count
        guard fileCount == 0 || fileCount == songCount else { throw SnapshotMismatch("file facts: \(fileCount) entries for \(songCount) songs") }
        let files = SongFiles(root: root, paths: paths, spans: spans, sizes: try r.read(Int64.self, count: fileCount, "file sizes"),
                              bitRates: try r.read(Int32.self, count: fileCount, "bit rates"), discs: try r.read(Int32.self, count: fileCount, "discs"),
                              created: try r.read(Int64.self, count: fileCount, "file dates"))
        let coverIDs = try r.read(UInt8.self)
        let coverNames = try r.readStrings()
        guard coverIDs.count == coverNames.count * Covers.idLength else { throw SnapshotMismatch("cover ids do not match cover names") }
        let coverSongs = try r.read(Int32.self), coverAlbums = try r.read(Int32.self), coverArtists = try r.read(Int32.self)
        // What decides a served path or id is checked again, whatever the checksums say.
        guard coverNames.allSatisfy(Covers.isPictureName),
              [(coverSongs, songCount), (coverAlbums, albumCount), (coverArtists, artistCount)].allSatisfy({ list, n in
                  (list.isEmpty || list.count == n) && list.allSatisfy { $0 >= -1 && Int($0) < coverNames.count } }) else {
            throw SnapshotMismatch("the covers are inconsistent")
        }
        guard spans.allSatisfy({ Int($0.start) + Int($0.count) <= paths.count }),
              // Names are read a word past their end (`string(padded:)`): none may end in the padding.
              songs.allSatisfy({ Int($0.name.start) + Int($0.name.count) <= arena.count - JSONCursor.padding }),
              songs.allSatisfy({ Int($0.album) < albumCount && Int($0.artist) < artistCount && Int($0.genre) < genreCount }),
              arena.count >= JSONCursor.padding else {
            throw SnapshotMismatch("the songs or file paths are inconsistent")
        }
        let covers = Covers(ids: coverIDs, names: coverNames, songs: coverSongs, albums: coverAlbums, artists: coverArtists)
        let subsonic = try SubsonicIndex(snapshot: &r, artists: artistCount, genres: genreCount, albums: albumCount)
        self.init(arena: arena, songs: songs, tables: (albums, artists, genres), songSearch: songSearch, nameRank: nameRank,
                  idRank: idRank, orders: orders, years: years, dropped: Int(head[0]), generation: head[1],
                  files: files, covers: covers, subsonic: subsonic)
    }
}

extension ElementTable {
    func write(snapshot w: inout some SnapshotWriting) throws {
        try w.write(items)
        try w.write(byID); try w.write(idRank); try w.write(byName); try w.write(nameRank)
        try w.write(lowerText); try w.write(lowerSpans); try w.write(byLower)
        try w.write(songOffsets); try w.write(songs)
        try search.write(snapshot: &w)
        try w.write(json); try w.write(jsonOffsets); try w.write(keySongs)
    }

    init(snapshot r: inout some SnapshotReading, count n: Int, songs songCount: Int, arena: Int) throws {
        let items = try r.read(Element.self, count: n, "elements")
        let byID = try r.read(UInt32.self, count: n, "elements by id"), idRank = try r.read(UInt32.self, count: n, "id ranks")
        let byName = try r.read(UInt32.self, count: n, "elements by name"), nameRank = try r.read(UInt32.self, count: n, "name ranks")
        let lowerText = try r.read(UInt8.self), lowerSpans = try r.read(TextRef.self, count: n, "lower-cased names")
        let byLower = try r.read(UInt32.self, count: n, "elements by lower-cased name")
        let offsets = try r.read(UInt32.self, count: n + 1, "song list offsets")
        let list = try r.read(UInt32.self, count: songCount, "song lists")
        let search = try SearchIndex(snapshot: &r, elements: n)
        let json = try r.read(UInt8.self), jsonOffsets = try r.read(UInt32.self, count: n + 1, "JSON offsets")
        let keySongs = try r.read(KeySongs.self, count: search.elements.count, "song lists by key")
        // Every index the request path reads through unchecked pointers is checked here.
        guard offsets.first == 0, Int(offsets.last!) == songCount, ascending(offsets), allBelow(list, songCount),
              jsonOffsets.first == 0, Int(jsonOffsets.last!) + JSONCursor.padding <= json.count,
              zip(jsonOffsets, jsonOffsets.dropFirst()).allSatisfy({ Int($1) - Int($0) >= JSONCursor.maxBytesUUID + 2 }),
              [byID, idRank, byName, nameRank, byLower].allSatisfy({ allBelow($0, n) }),
              items.allSatisfy({ Int($0.name.start) + Int($0.name.count) <= arena - JSONCursor.padding }),
              lowerSpans.allSatisfy({ Int($0.start) + Int($0.count) <= lowerText.count }),
              keySongs.allSatisfy({ $0.at <= $0.end && Int($0.end) <= songCount && ($0.head == .max || Int($0.head) < songCount) }) else {
            throw SnapshotMismatch("an element table is inconsistent")
        }
        self.init(items: items, byID: byID, idRank: idRank, byName: byName, nameRank: nameRank, lowerText: lowerText,
                  lowerSpans: lowerSpans, byLower: byLower, songOffsets: offsets, songs: list, search: search,
                  json: json, jsonOffsets: jsonOffsets, keySongs: keySongs)
    }
}

extension SearchIndex {
    func write(snapshot w: inout some SnapshotWriting) throws {
        try w.write(text); try w.write(starts); try w.write(elements); try w.write(firstAt); try w.write(sampleKeys)
    }

    /// `elements`: how many elements its entries may name.
    init(snapshot r: inout some SnapshotReading, elements count: Int) throws {
        let text = try r.read(UInt8.self), starts = try r.read(UInt32.self)
        let elements = try r.read(UInt32.self, count: starts.count, "search elements")
        let firstAt = try r.read(UInt32.self, count: 65537, "search prefixes")
        let sampleKeys = try r.read(UInt64.self, count: (starts.count + Self.sampleStep - 1) / Self.sampleStep, "search samples")
        // A suffix is read eight bytes at a time: the text ends with eight terminators.
        guard firstAt[0] == 0, Int(firstAt[65536]) == starts.count, ascending(firstAt), allBelow(elements, count),
              text.count >= 8, text.suffix(8).allSatisfy({ $0 == Self.terminator }), allBelow(starts, text.count - 8) else {
            throw SnapshotMismatch("a search index is inconsistent")
        }
        self.init(text: text, starts: starts, elements: elements, firstAt: firstAt, sampleKeys: sampleKeys)
    }
}

extension SubsonicIndex {
    func write(snapshot w: inout some SnapshotWriting) throws {
        try w.write(strings: letters)
        try w.write(letterStarts); try w.write(indexedArtists)
        try w.write(artistAlbumCounts); try w.write(genreAlbumCounts)
        try w.write(albumsByArtist); try w.write(albumsNewest)
    }

    convenience init(snapshot r: inout some SnapshotReading, artists: Int, genres: Int, albums: Int) throws {
        let letters = try r.readStrings()
        let starts = try r.read(UInt32.self, count: letters.count + 1, "index letters")
        let indexed = try r.read(UInt32.self, count: artists, "indexed artists")
        let artistCounts = try r.read(Int64.self, count: artists, "artist album counts")
        let genreCounts = try r.read(Int64.self, count: genres, "genre album counts")
        let byArtist = try r.read(UInt32.self, count: albums, "albums by artist")
        let newest = try r.read(UInt32.self, count: albums, "albums by age")
        guard starts.first == 0, Int(starts.last!) == artists, ascending(starts), allBelow(indexed, artists),
              allBelow(byArtist, albums), allBelow(newest, albums) else {
            throw SnapshotMismatch("the Subsonic index is inconsistent")
        }
        self.init(letters: letters, letterStarts: starts, indexedArtists: indexed, artistAlbumCounts: artistCounts,
                  genreAlbumCounts: genreCounts, albumsByArtist: byArtist, albumsNewest: newest)
    }
}
