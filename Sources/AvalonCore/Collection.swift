import Dispatch

/// The most bytes the collection's names, or an element table's escaped JSON,
/// may take: offsets into them are 32 bits. Past it a load stops (a trap,
/// which a reload's trial load in a child turns into a failed reload). Tests
/// lower it to meet the limit with a small collection.
public enum OffsetLimit {
    public static let bytes = ProcessSetting(Int(UInt32.max))

    @inline(__always)
    static func check(_ size: Int, _ what: StaticString) {
        let limit = bytes.value
        precondition(size <= limit, "the collection is too large to load: its \(what) pass \(limit) bytes")
    }
}

/// A span of the collection's UTF-8 arena.
public struct TextRef: Sendable, BitwiseCopyable {
    public var start: UInt32
    public var count: UInt32
}

/// An album, artist or genre.
public struct Element: Sendable, BitwiseCopyable {
    public var id: ItemID
    public var name: TextRef
}

public struct Song: Sendable, BitwiseCopyable {
    public var id: ItemID
    public var name: TextRef
    public var length: Int64
    public var track: Int64
    public var year: Int64
    public var album: UInt32
    public var artist: UInt32
    public var genre: UInt32
}

public enum Kind: Int, CaseIterable, Sendable {
    case album = 0, artist, genre
}

/// Where an element's songs are in its table's song lists, and the first of them.
struct KeySongs: Sendable {
    var at: UInt32
    var end: UInt32
    var head: UInt32
}

/// Albums, artists or genres with every index over them. Immutable.
public struct ElementTable: Sendable {
    public let items: [Element]
    /// Element positions sorted by id, for id lookups; `idRank[i]` is i's place there.
    let byID: [UInt32]
    let idRank: [UInt32]
    /// Sorted by name bytes, and each element's dense rank in that order.
    let byName: [UInt32]
    let nameRank: [UInt32]
    /// Python-lower-cased names, sorted, for case-insensitive exact lookups.
    let lowerText: [UInt8]
    let lowerSpans: [TextRef]
    let byLower: [UInt32]
    /// Songs of each element (CSR: songs[offsets[i]..<offsets[i+1]], ascending).
    let songOffsets: [UInt32]
    let songs: [UInt32]
    let search: SearchIndex
    /// Each element as JSON, rendered once at load: its quoted id (38 bytes),
    /// then its quoted, escaped name, at json[jsonOffsets[i]..<jsonOffsets[i+1]].
    /// One place to read per element instead of two, and nothing to format.
    let json: [UInt8]
    let jsonOffsets: [UInt32]
    /// For each key of `search`, in its order, the song list of the key's
    /// element: a search reads the lists of its matches in sequence, without
    /// a lookup per element.
    let keySongs: [KeySongs]

    public var count: Int { items.count }

    public func index(of id: ItemID) -> UInt32? {
        var lo = 0, hi = byID.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if items[Int(byID[mid])].id < id { lo = mid + 1 } else { hi = mid }
        }
        if lo < byID.count && items[Int(byID[lo])].id == id { return byID[lo] }
        return nil
    }

    /// Elements whose name equals `name` ignoring case (Python `lower()` on both).
    public func indexes(named name: String) -> [UInt32] {
        let key = Array(pythonLowercased(name).utf8)
        return lowerText.withUnsafeBufferPointer { t in
            key.withUnsafeBufferPointer { k in
                guard let tb = t.baseAddress else { return [] }
                let kb = k.baseAddress ?? UnsafePointer(bitPattern: 1)!
                func cmp(_ e: UInt32) -> Int {
                    let s = lowerSpans[Int(e)]
                    return compareBytes(tb + Int(s.start), Int(s.count), kb, k.count)
                }
                var lo = 0, hi = byLower.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if cmp(byLower[mid]) < 0 { lo = mid + 1 } else { hi = mid }
                }
                var out: [UInt32] = []
                while lo < byLower.count && cmp(byLower[lo]) == 0 { out.append(byLower[lo]); lo += 1 }
                return out
            }
        }
    }

    public func songs(of element: UInt32) -> ArraySlice<UInt32> {
        songs[Int(songOffsets[Int(element)])..<Int(songOffsets[Int(element) + 1])]
    }

    /// All songs, stably ordered by their element's `rank` (`order`: the
    /// elements sorted by it): each element's list, ascending already, in
    /// turn; the lists of elements that share a rank are merged.
    func songsInOrder(_ order: [UInt32], rank: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(songs.count)
        var i = 0
        while i < order.count {
            var j = i + 1
            while j < order.count && rank[Int(order[j])] == rank[Int(order[i])] { j += 1 }
            let from = out.count
            for e in order[i..<j] { out.append(contentsOf: songs(of: e)) }
            if j - i > 1 {
                // Radix, not comparison: such a group may hold most songs.
                var keys = out[from...].map { UInt64($0) }, songs = Array(out[from...])
                radixSortPairs(keys: &keys, values: &songs)
                out.replaceSubrange(from..., with: songs)
            }
            i = j
        }
        return out
    }
}

/// The whole music collection: built once before the workers fork, never
/// changed after. Every string is a span of one UTF-8 arena, every reference
/// an integer index, so workers read it without writing to shared pages.
public final class MusicCollection: Sendable {
    public let arena: [UInt8]
    public let albums: ElementTable
    public let artists: ElementTable
    public let genres: ElementTable
    public let songs: [Song]
    /// Song names, indexed in two halves so that both cores build it.
    let songSearch: [SearchIndex]
    /// The song name indexes, then the album, artist and genre ones: what a song search reads.
    let searches: [SearchIndex]
    /// Per kind of element, where its song lists start and the lists themselves.
    let elementSongs: [(keySongs: [KeySongs], songs: [UInt32])]
    let songNameRank: [UInt32]
    let songIDRank: [UInt32]
    let songKeys: SongKeys
    /// For each song field, all songs in ascending order of it.
    let songOrder: [[UInt32]]
    /// The distinct years, ascending, with their song counts.
    let years: [YearCount]
    /// Tracks dropped at load because their album, artist or genre is missing
    /// (the old server's inner join dropped them too).
    public let droppedTracks: Int
    /// The scan that wrote it (0: a database no scan of ours wrote).
    public let generation: Int64
    /// The songs' files, as the scanner recorded them.
    public let files: SongFiles
    /// The covers the scanner chose.
    public let covers: Covers
    /// The Subsonic API's artist index, album counts and album orders.
    public let subsonic: SubsonicIndex

    /// Runs `body` on a table in place: returning the struct would retain each
    /// of its arrays (a retain and release per array per request).
    @inline(__always)
    func withTable<R>(_ k: Kind, _ body: (borrowing ElementTable) -> R) -> R {
        switch k {
        case .album: return body(albums)
        case .artist: return body(artists)
        case .genre: return body(genres)
        }
    }

    /// `arena` ends with `JSONCursor.padding` bytes that no text uses.
    /// `byID`: the songs sorted by id, when the caller sorted them already.
    /// `buildFiles`, when given, builds `files` beside the indexes.
    convenience init(arena: [UInt8], elements: [[Element]], songs: [Song], dropped: Int, generation: Int64 = 0, files: SongFiles = .none,
         pictures: [ItemID: String] = [:], byID: [UInt32]? = nil, buildFiles: (() -> SongFiles)? = nil) {
        // Independent pieces are built on all cores.
        var tables = [ElementTable?](repeating: nil, count: 3)
        var songSearch = [SearchIndex(), SearchIndex()]
        var nameRank: [UInt32] = []
        var ranks: [UInt32] = [], idOrder: [UInt32] = [], nameOrder: [UInt32] = []
        var orders = [[UInt32]](repeating: [], count: SongField.allCases.count)
        var files = files
        let lock = DispatchQueue(label: "avalon.build")
        // The files first: their rows are freed when built, before the song
        // search's memory grows. Then longest first (the song search halves,
        // then the name sort): jobs are taken in this order, and a long one
        // taken last would run alone. The orders by number need only the songs:
        // short, they come last and fill the gaps.
        let numbers: [SongField] = [.length, .track, .year]
        let longestFirst = [7, 3, 6, 4, 0, 1, 2, 5, 8, 9, 10]
        DispatchQueue.concurrentPerform(iterations: longestFirst.count) { i in
            let job = longestFirst[i]
            switch job {
            case 8, 9, 10:
                let field = numbers[job - 8]
                let perm = MusicCollection.numberOrder(field, songs)
                lock.sync { orders[SongField.allCases.firstIndex(of: field)!] = perm }
            case 7:
                guard let buildFiles else { return }
                let f = buildFiles()
                lock.sync { files = f }
                phase("file facts")
            case 0, 1, 2:
                let t = MusicCollection.buildTable(elements[job], arena: arena, songs: songs, kind: Kind(rawValue: job)!)
                lock.sync { tables[job] = t }
                phase(["album", "artist", "genre"][job] + " table")
            case 3, 6:
                let half = songs.count / 2
                let part = job == 3 ? 0..<half : half..<songs.count
                let s = SearchIndex(part, arena: arena) { (Int(songs[$0].name.start), Int(songs[$0].name.count)) }
                lock.sync { songSearch[job == 3 ? 0 : 1] = s }
                phase(job == 3 ? "song search 1/2" : "song search 2/2")
            case 4:
                let r = arena.withUnsafeBufferPointer { a in
                    sortByBytesRanked(count: songs.count, arena: a) { (Int(songs[$0].name.start), Int(songs[$0].name.count)) }
                }
                lock.sync { (nameOrder, nameRank) = r }
                phase("songs by name")
            default:
                let r = byID.map { ($0, MusicCollection.ranks(of: $0)) } ?? MusicCollection.idOrder(songs.map(\.id))
                lock.sync { (idOrder, ranks) = r }
            }
        }
        phase("indexes")
        // By name and by id the songs are sorted already (both sorts are
        // stable: equal names keep song order), and by number.
        orders[SongField.allCases.firstIndex(of: .name)!] = nameOrder
        orders[SongField.allCases.firstIndex(of: .id)!] = idOrder
        nameOrder = []
        idOrder = []
        // By an element's name or id the order is its table's song lists, read
        // in the element order: no sort. The numbers are ordered already.
        let gathered: [SongField: (Kind, byID: Bool)] = [.album: (.album, false), .album_id: (.album, true), .artist: (.artist, false),
                                                          .artist_id: (.artist, true), .genre: (.genre, false), .genre_id: (.genre, true)]
        let others = SongField.allCases.filter { $0 != .name && $0 != .id && !numbers.contains($0) }
        // The Subsonic index beside the song orders (it needs only the tables),
        // in four parts: whole, it was the longest job and ran alone at the end.
        var subsonic = SubsonicIndex.Parts()
        let (albumTable, artistTable, genreTable) = (tables[0]!, tables[1]!, tables[2]!)
        let albumOf = SubsonicIndex.albumOf(songs)
        let subsonicJobs = 4
        DispatchQueue.concurrentPerform(iterations: others.count + subsonicJobs) { job in
            if job < subsonicJobs {
                switch job {
                case 0:
                    let l = SubsonicIndex.artistLetters(arena: arena, artists: artistTable)
                    lock.sync { subsonic.letters = l }
                case 1:
                    let o = SubsonicIndex.albumOrders(songs: songs, albums: albumTable, artists: artistTable, files: files)
                    lock.sync { subsonic.albumOrders = o }
                case 2:
                    let c = SubsonicIndex.albumCounts(artistTable, albumOf: albumOf, albums: albumTable.count)
                    lock.sync { subsonic.artistAlbumCounts = c }
                default:
                    let c = SubsonicIndex.albumCounts(genreTable, albumOf: albumOf, albums: albumTable.count)
                    lock.sync { subsonic.genreAlbumCounts = c }
                }
                return
            }
            let field = others[job - subsonicJobs]
            if let (kind, ofID) = gathered[field] {
                let t = [albumTable, artistTable, genreTable][kind.rawValue]
                let perm = ofID ? t.songsInOrder(t.byID, rank: t.idRank) : t.songsInOrder(t.byName, rank: t.nameRank)
                lock.sync { orders[SongField.allCases.firstIndex(of: field)!] = perm }
                return
            }
            preconditionFailure("\(field): every song order is gathered or built before")
        }
        phase("song orders")
        let years = MusicCollection.yearCounts(songs, byYear: orders[SongField.allCases.firstIndex(of: .year)!])
        let covers = Covers(pictures: pictures, songs: songs, albums: albumTable.items.map(\.id), artists: artistTable.items.map(\.id))
        self.init(arena: arena, songs: songs, tables: (albumTable, artistTable, genreTable), songSearch: songSearch,
                  nameRank: nameRank, idRank: ranks, orders: orders, years: years, dropped: dropped, generation: generation,
                  files: files, covers: covers, subsonic: SubsonicIndex(subsonic))
    }

    /// The collection from its built parts (a load's, or a snapshot's).
    init(arena: [UInt8], songs: [Song], tables: (ElementTable, ElementTable, ElementTable), songSearch: [SearchIndex],
         nameRank: [UInt32], idRank: [UInt32], orders: [[UInt32]], years: [YearCount], dropped: Int, generation: Int64,
         files: SongFiles, covers: Covers, subsonic: SubsonicIndex) {
        self.arena = arena
        self.songs = songs
        (albums, artists, genres) = tables
        self.songSearch = songSearch
        searches = songSearch + [albums.search, artists.search, genres.search]
        elementSongs = [albums, artists, genres].map { ($0.keySongs, $0.songs) }
        songNameRank = nameRank
        songIDRank = idRank
        songKeys = SongKeys(nameRank: nameRank, idRank: idRank, albums: albums, artists: artists, genres: genres)
        songOrder = orders
        self.years = years
        droppedTracks = dropped
        self.generation = generation
        self.files = files
        self.covers = covers
        self.subsonic = subsonic
    }

    /// Positions sorted by id (as 128-bit numbers).
    static func sortedByID(_ ids: [ItemID]) -> [UInt32] { sortedByID(count: ids.count) { ids[$0] } }

    static func sortedByID(count: Int, id: (Int) -> ItemID) -> [UInt32] {
        var perm = (0..<UInt32(count)).map { $0 }
        sortStrings(&perm, chunk: { i, depth in depth == 0 ? id(Int(i)).hi : id(Int(i)).lo }, ended: { _, depth, _ in depth == 1 })
        return perm
    }

    /// Positions sorted by id, and the positions whose id an earlier one has
    /// (ascending), from the ties the sort saw: the sort is stable, so the
    /// first of equal ids is the earliest.
    static func sortedByIDFindingRepeats(count: Int, id: (Int) -> ItemID) -> (order: [UInt32], repeats: [UInt32]) {
        var perm = (0..<UInt32(count)).map { $0 }
        return withTieMarks(count) { marks in
            sortStrings(&perm, marks: marks, chunk: { i, depth in depth == 0 ? id(Int(i)).hi : id(Int(i)).lo },
                        ended: { _, depth, _ in depth == 1 })
            var repeats: [UInt32] = []
            for pos in 1..<max(count, 1) where marks.differs(pos) == 0 { repeats.append(perm[pos]) }
            return (perm, repeats.sorted())
        }
    }

    /// Positions sorted by id, and each one's place there.
    static func idOrder(_ ids: [ItemID]) -> (order: [UInt32], rank: [UInt32]) {
        let perm = sortedByID(ids)
        return (perm, ranks(of: perm))
    }

    /// Each position's place in `perm`.
    static func ranks(of perm: [UInt32]) -> [UInt32] {
        var rank = [UInt32](repeating: 0, count: perm.count)
        for (pos, i) in perm.enumerated() { rank[Int(i)] = UInt32(pos) }
        return rank
    }

    /// All songs in ascending (stable) order of a number field. Tracks, years
    /// and lengths mostly span a small range: counted, not radix sorted.
    static func numberOrder(_ field: SongField, _ songs: [Song]) -> [UInt32] {
        if let perm = countingOrder(count: songs.count, key: { SongKeys.number(field, songs[$0]) }) { return perm }
        var keys = [UInt64](repeating: 0, count: songs.count)
        var perm = [UInt32](repeating: 0, count: songs.count)
        for i in 0..<songs.count {
            keys[i] = SongKeys.number(field, songs[i])
            perm[i] = UInt32(i)
        }
        radixSortPairs(keys: &keys, values: &perm)
        return perm
    }

    static func buildTable(_ items: [Element], arena: [UInt8], songs: [Song], kind: Kind) -> ElementTable {
        let n = items.count
        let byID = sortedByID(items.map(\.id))
        let idRank = ranks(of: byID)
        let span: (Int) -> (Int, Int) = { (Int(items[$0].name.start), Int(items[$0].name.count)) }
        let (byName, nameRank) = arena.withUnsafeBufferPointer { sortByBytesRanked(count: n, arena: $0, span: span) }
        var lowerText: [UInt8] = []
        var lowerSpans: [TextRef] = []
        lowerSpans.reserveCapacity(n)
        arena.withUnsafeBufferPointer { a in
            for e in items {
                let start = lowerText.count
                appendPythonLowercased(slice(a, e.name), to: &lowerText)
                lowerSpans.append(TextRef(start: UInt32(start), count: UInt32(lowerText.count - start)))
            }
        }
        let byLower = lowerText.withUnsafeBufferPointer { a in
            sortByBytes(count: n, arena: a) { (Int(lowerSpans[$0].start), Int(lowerSpans[$0].count)) }
        }
        // CSR of songs per element; songs are visited in order so each list is ascending.
        var offsets = [UInt32](repeating: 0, count: n + 1)
        @inline(__always) func owner(_ s: Song) -> Int {
            switch kind {
            case .album: return Int(s.album)
            case .artist: return Int(s.artist)
            case .genre: return Int(s.genre)
            }
        }
        for s in songs { offsets[owner(s) + 1] += 1 }
        for i in 0..<n { offsets[i + 1] += offsets[i] }
        var fill = Array(offsets.dropLast())
        var list = [UInt32](repeating: 0, count: songs.count)
        for (i, s) in songs.enumerated() {
            let o = owner(s)
            list[Int(fill[o])] = UInt32(i)
            fill[o] += 1
        }
        let search = SearchIndex(0..<n, arena: arena, span: span)
        var json = JSONWriter(capacity: n * 64)
        var jsonOffsets: [UInt32] = []
        jsonOffsets.reserveCapacity(n + 1)
        arena.withUnsafeBufferPointer { a in
            for e in items {
                jsonOffsets.append(UInt32(json.count))
                json.uuid(e.id)
                json.string(slice(a, e.name))
            }
        }
        OffsetLimit.check(json.count, "escaped JSON names")
        jsonOffsets.append(UInt32(json.count))
        json.write(maxBytes: JSONCursor.padding) { c in  // read past the last fragment by copy(padded:)
            c.p.initialize(repeating: 0, count: JSONCursor.padding)
            c.p += JSONCursor.padding
        }
        let keySongs = search.elements.map { e in
            let at = offsets[Int(e)], end = offsets[Int(e) + 1]
            return KeySongs(at: at, end: end, head: at < end ? list[Int(at)] : .max)
        }
        return ElementTable(items: items, byID: byID, idRank: idRank, byName: byName, nameRank: nameRank,
                            lowerText: lowerText, lowerSpans: lowerSpans, byLower: byLower,
                            songOffsets: offsets, songs: list, search: search,
                            json: json.bytes, jsonOffsets: jsonOffsets, keySongs: keySongs)
    }

    /// Approximate bytes held by the collection's arrays.
    public var memoryBytes: Int {
        func t(_ e: ElementTable) -> Int {
            e.items.capacity * MemoryLayout<Element>.stride + (e.byID.capacity + e.idRank.capacity + e.byName.capacity
                + e.nameRank.capacity + e.byLower.capacity + e.songOffsets.capacity + e.songs.capacity) * 4
                + e.lowerText.capacity + e.lowerSpans.capacity * 8 + e.search.memoryBytes
                + e.json.capacity + e.jsonOffsets.capacity * 4 + e.keySongs.capacity * MemoryLayout<KeySongs>.stride
        }
        return arena.capacity + songs.capacity * MemoryLayout<Song>.stride + songSearch.reduce(0) { $0 + $1.memoryBytes }
            + (songNameRank.capacity + songIDRank.capacity) * 4 + songOrder.reduce(0) { $0 + $1.capacity * 4 }
            + t(albums) + t(artists) + t(genres) + subsonic.memoryBytes
    }

    public func text(_ r: TextRef) -> String {
        String(decoding: arena[Int(r.start)..<Int(r.start + r.count)], as: UTF8.self)
    }
}

/// The fields songs can be ordered by, named as in the JSON.
public enum SongField: String, CaseIterable, Sendable {
    case id, name, length, track, year, album, album_id, artist, artist_id, genre, genre_id
}

/// What song sort keys are made of, gathered once so that a loop over songs
/// touches plain arrays (not the tables, whose copies would retain every array).
struct SongKeys {
    let nameRank: [UInt32], idRank: [UInt32]
    let albumName: [UInt32], albumID: [UInt32]
    let artistName: [UInt32], artistID: [UInt32]
    let genreName: [UInt32], genreID: [UInt32]

    init(nameRank: [UInt32], idRank: [UInt32], albums: ElementTable, artists: ElementTable, genres: ElementTable) {
        self.nameRank = nameRank
        self.idRank = idRank
        albumName = albums.nameRank; albumID = albums.idRank
        artistName = artists.nameRank; artistID = artists.idRank
        genreName = genres.nameRank; genreID = genres.idRank
    }

    /// A sort key: integers biased so that unsigned order is signed order;
    /// strings and ids by their precomputed rank.
    @inline(__always)
    func key(_ f: SongField, _ s: Song, _ i: UInt32) -> UInt64 {
        switch f {
        case .id: return UInt64(idRank[Int(i)])
        case .name: return UInt64(nameRank[Int(i)])
        case .length: return Self.signed(s.length)
        case .track: return Self.signed(s.track)
        case .year: return Self.signed(s.year)
        case .album: return UInt64(albumName[Int(s.album)])
        case .album_id: return UInt64(albumID[Int(s.album)])
        case .artist: return UInt64(artistName[Int(s.artist)])
        case .artist_id: return UInt64(artistID[Int(s.artist)])
        case .genre: return UInt64(genreName[Int(s.genre)])
        case .genre_id: return UInt64(genreID[Int(s.genre)])
        }
    }

    /// A number's key: its sign bit flipped, so that keys order as the numbers.
    @inline(__always)
    static func signed(_ v: Int64) -> UInt64 { UInt64(bitPattern: v) ^ (1 << 63) }

    /// A number field's key, for the load (`key` without the ranks).
    static func number(_ f: SongField, _ s: Song) -> UInt64 {
        switch f {
        case .length: return signed(s.length)
        case .track: return signed(s.track)
        case .year: return signed(s.year)
        default: preconditionFailure("\(f) is no number")
        }
    }
}
