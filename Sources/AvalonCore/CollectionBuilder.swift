import Dispatch

/// Collects rows as a database yields them, then builds the immutable collection.
public struct CollectionBuilder {
    private var arena: [UInt8] = []
    private var elements: [[Element]] = [[], [], []]
    private var elementIndex = [IDTable(), IDTable(), IDTable()]
    private struct PendingSong {
        var song: Song
        var album: ItemID, artist: ItemID, genre: ItemID
        /// How many songs were resolved before it came: its place in the order of adding.
        var after: Int
    }
    private var songs: [Song] = []
    /// Songs that came before their album, artist or genre.
    private var pending: [PendingSong] = []
    /// The generation the rows belong to.
    public var generation: Int64 = 0
    private var files = SongFilesBuilder()
    /// Each album's, artist's and song's picture in the cover cache.
    public var pictures: [ItemID: String] = [:]
    /// The folder the scanner read (its songs' paths are relative to it).
    public var musicFolder: String? {
        get { files.root }
        set { files.root = newValue }
    }

    public init() {}

    public mutating func reserve(songs: Int) {
        self.songs.reserveCapacity(songs)
        arena.reserveCapacity(songs * 24)
    }

    /// Room for a file a song, as a scan records them (called once the
    /// database is known to hold file facts): arrays sized once, not grown.
    public mutating func reserveFiles(rows: Int? = nil) {
        files.reserve(rows ?? songs.count)
    }

    /// Takes the files `other` collected (read beside this builder's rows);
    /// `other` is left without them.
    public mutating func adoptFiles(from other: inout CollectionBuilder) {
        files = other.files
        other.files = SongFilesBuilder()
    }

    /// Appends UTF-8 to the arena, repairing invalid sequences as U+FFFD.
    private mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> TextRef {
        let start = UInt32(arena.count)
        var ascii = true
        for b in bytes where b >= 0x80 { ascii = false; break }
        if ascii {
            arena.append(contentsOf: bytes)
        } else {
            arena.append(contentsOf: String(decoding: bytes, as: UTF8.self).utf8)
        }
        OffsetLimit.check(arena.count, "names")
        return TextRef(start: start, count: UInt32(arena.count) - start)
    }

    /// Adds an album, artist or genre; a repeated id keeps the first name.
    public mutating func addElement(_ kind: Kind, id: ItemID, name: UnsafeBufferPointer<UInt8>) {
        guard elementIndex[kind.rawValue].insert(id, UInt32(elements[kind.rawValue].count)) else { return }
        let ref = intern(name)
        elements[kind.rawValue].append(Element(id: id, name: ref))
    }

    public mutating func addElement(_ kind: Kind, id: ItemID, name: String) {
        var s = name
        s.withUTF8 { addElement(kind, id: id, name: $0) }
    }

    /// Adds a song; a repeated id keeps the first song (repeats are found
    /// at `build`, by sorting: a table of ten million ids costs more).
    public mutating func addSong(id: ItemID, name: UnsafeBufferPointer<UInt8>, length: Int64, track: Int64, year: Int64,
                                 album: ItemID, artist: ItemID, genre: ItemID) {
        let ref = intern(name)
        var song = Song(id: id, name: ref, length: length, track: track, year: year, album: 0, artist: 0, genre: 0)
        if let a = elementIndex[0][album], let r = elementIndex[1][artist], let g = elementIndex[2][genre] {
            song.album = a
            song.artist = r
            song.genre = g
            songs.append(song)
        } else {
            pending.append(PendingSong(song: song, album: album, artist: artist, genre: genre, after: songs.count))
        }
    }

    /// The positions of elements of `kind` by id (`missing` for unknown ids),
    /// a batch at a time: lookups in a loop of their own overlap their cache
    /// misses, where one per song, between the rest of its work, waits for each.
    public func lookUp(_ kind: Kind, _ ids: UnsafeBufferPointer<ItemID>, into out: UnsafeMutableBufferPointer<UInt32>) {
        let table = elementIndex[kind.rawValue]
        for i in 0..<ids.count { out[i] = table[ids[i]] ?? Self.missing }
    }

    public static let missing = UInt32.max

    private static let lock = DispatchQueue(label: "avalon.builder")

    /// `addSong` with its elements' positions already looked up (`lookUp`).
    public mutating func addSong(id: ItemID, name: UnsafeBufferPointer<UInt8>, length: Int64, track: Int64, year: Int64,
                                 album: ItemID, artist: ItemID, genre: ItemID, positions: (UInt32, UInt32, UInt32)) {
        guard positions.0 != Self.missing && positions.1 != Self.missing && positions.2 != Self.missing else {
            addSong(id: id, name: name, length: length, track: track, year: year, album: album, artist: artist, genre: genre)
            return
        }
        songs.append(Song(id: id, name: intern(name), length: length, track: track, year: year,
                          album: positions.0, artist: positions.1, genre: positions.2))
    }

    public mutating func addSong(id: ItemID, name: String, length: Int64, track: Int64, year: Int64,
                                 album: ItemID, artist: ItemID, genre: ItemID) {
        var s = name
        s.withUTF8 { addSong(id: id, name: $0, length: length, track: track, year: year, album: album, artist: artist, genre: genre) }
    }

    /// A song's file as the scanner recorded it; any order, before or after the song.
    public mutating func addFile(song: ItemID, relativePath: UnsafeBufferPointer<UInt8>, size: Int64, bitRate: Int64, disc: Int64, created: Int64) {
        files.add(song: song, relativePath: relativePath, size: size, bitRate: bitRate, disc: disc, created: created)
    }

    /// Songs whose album, artist or genre never came are dropped, as the old
    /// server's inner join dropped them. Hands its rows to the collection and
    /// is left empty: what it held is freed before the indexes are built.
    public mutating func build() -> MusicCollection {
        var songs = self.songs, pending = self.pending
        let index = elementIndex
        self.songs = []
        self.pending = []
        elementIndex = []
        var dropped = 0
        if !pending.isEmpty { dropped += Self.dropRepeats(&songs, &pending) }
        for p in pending {
            guard let a = index[0][p.album], let r = index[1][p.artist], let g = index[2][p.genre] else {
                dropped += 1
                continue
            }
            var s = p.song
            s.album = a
            s.artist = r
            s.genre = g
            songs.append(s)
        }
        pending = []
        // One sort by id finds repeated ids and gives every song's place by id;
        // the file rows' sort by song id runs beside it.
        var byID: [UInt32] = [], fileRows: [UInt32] = [], repeated: [UInt32] = []
        do {
            let (files, songList) = (self.files, songs)  // copies that end here: the rows are freed as built
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                if i == 0 {
                    let sorted = MusicCollection.sortedByIDFindingRepeats(count: songList.count) { songList[$0].id }
                    Self.lock.sync { (byID, repeated) = sorted }
                } else {
                    let order = files.rowsByID()
                    Self.lock.sync { fileRows = order }
                }
            }
        }
        if !repeated.isEmpty {
            let repeats = Set(repeated)
            dropped += repeats.count
            songs = songs.indices.filter { !repeats.contains(UInt32($0)) }.map { songs[$0] }
            byID = MusicCollection.sortedByID(count: songs.count) { songs[$0].id }
        }
        phase("songs sorted by id")
        // Read past the last name by string(padded:).
        var text = arena
        arena = []
        text += repeatElement(0, count: JSONCursor.padding)
        var fileRowsBuilder = files
        files = SongFilesBuilder()
        let pictures = self.pictures
        self.pictures = [:]
        let byIDOrder = byID
        byID = []
        return MusicCollection(arena: text, elements: elements, songs: songs, dropped: dropped, generation: generation,
                               pictures: pictures, byID: byIDOrder) { [songs] in
            fileRowsBuilder.build(songs, byID: byIDOrder, rowsByID: fileRows)
        }
    }

    /// With songs waiting for their elements, repeats are judged in the order
    /// the songs were added, resolved or not (rare: a builder fed songs first).
    private static func dropRepeats(_ songs: inout [Song], _ pending: inout [PendingSong]) -> Int {
        // Each song's place in the order of adding: pending p came after p.after resolved songs.
        var seen = Set<ItemID>()
        var keepSong = [Bool](repeating: true, count: songs.count)
        var keepPending = [Bool](repeating: true, count: pending.count)
        var s = 0, dropped = 0
        for (k, p) in pending.enumerated() {
            while s < p.after {
                if !seen.insert(songs[s].id).inserted { keepSong[s] = false; dropped += 1 }
                s += 1
            }
            if !seen.insert(p.song.id).inserted { keepPending[k] = false; dropped += 1 }
        }
        while s < songs.count {
            if !seen.insert(songs[s].id).inserted { keepSong[s] = false; dropped += 1 }
            s += 1
        }
        if dropped > 0 {
            songs = songs.indices.filter { keepSong[$0] }.map { songs[$0] }
            pending = pending.indices.filter { keepPending[$0] }.map { pending[$0] }
        }
        return dropped
    }
}
