/// Collects rows as a database yields them, then builds the immutable collection.
public struct CollectionBuilder {
    private var arena: [UInt8] = []
    private var elements: [[Element]] = [[], [], []]
    private var elementIndex = [IDTable(), IDTable(), IDTable()]
    private struct PendingSong {
        var song: Song
        var album: ItemID, artist: ItemID, genre: ItemID
    }
    private var songs: [Song] = []
    private var songIDs = IDTable()
    /// Songs that came before their album, artist or genre.
    private var pending: [PendingSong] = []
    private var dropped = 0
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
        songIDs = IDTable(capacity: songs)
        arena.reserveCapacity(songs * 24)
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

    private mutating func intern(_ s: String) -> TextRef {
        var s = s
        return s.withUTF8 { intern($0) }
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

    public mutating func addSong(id: ItemID, name: UnsafeBufferPointer<UInt8>, length: Int64, track: Int64, year: Int64,
                                 album: ItemID, artist: ItemID, genre: ItemID) {
        guard songIDs.insert(id, 0) else { dropped += 1; return }
        let ref = intern(name)
        var song = Song(id: id, name: ref, length: length, track: track, year: year, album: 0, artist: 0, genre: 0)
        if let a = elementIndex[0][album], let r = elementIndex[1][artist], let g = elementIndex[2][genre] {
            song.album = a
            song.artist = r
            song.genre = g
            songs.append(song)
        } else {
            pending.append(PendingSong(song: song, album: album, artist: artist, genre: genre))
        }
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
    /// server's inner join dropped them.
    public func build() -> MusicCollection {
        var songs = self.songs
        var dropped = self.dropped
        for p in pending {
            guard let a = elementIndex[0][p.album], let r = elementIndex[1][p.artist], let g = elementIndex[2][p.genre] else {
                dropped += 1
                continue
            }
            var s = p.song
            s.album = a
            s.artist = r
            s.genre = g
            songs.append(s)
        }
        // Exact-size copies: growth slack would otherwise stay resident.
        var text = [UInt8]()
        text.reserveCapacity(arena.count + JSONCursor.padding)
        text += arena
        text += repeatElement(0, count: JSONCursor.padding)  // read past the last name by string(padded:)
        let list = Array(songs)
        return MusicCollection(arena: text, elements: elements, songs: list, dropped: dropped, generation: generation, files: files.build(list),
                               pictures: pictures)
    }
}
