/// Collects rows as a database yields them, then builds the immutable collection.
public struct CollectionBuilder {
    private var arena: [UInt8] = []
    private var elements: [[Element]] = [[], [], []]
    private var elementIndex: [[ItemID: UInt32]] = [[:], [:], [:]]
    private struct PendingSong {
        var song: Song
        var album: ItemID, artist: ItemID, genre: ItemID
    }
    private var pending: [PendingSong] = []

    public init() {}

    public mutating func reserve(songs: Int) {
        pending.reserveCapacity(songs)
        arena.reserveCapacity(songs * 24)
    }

    /// Appends UTF-8 to the arena, repairing invalid sequences as U+FFFD.
    private mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> TextRef {
        let start = UInt32(arena.count)
        arena.append(contentsOf: String(decoding: bytes, as: UTF8.self).utf8)
        return TextRef(start: start, count: UInt32(arena.count) - start)
    }

    private mutating func intern(_ s: String) -> TextRef {
        var s = s
        return s.withUTF8 { intern($0) }
    }

    /// Adds an album, artist or genre; a repeated id keeps the first name.
    public mutating func addElement(_ kind: Kind, id: ItemID, name: UnsafeBufferPointer<UInt8>) {
        guard elementIndex[kind.rawValue][id] == nil else { return }
        let ref = intern(name)
        elementIndex[kind.rawValue][id] = UInt32(elements[kind.rawValue].count)
        elements[kind.rawValue].append(Element(id: id, name: ref))
    }

    public mutating func addElement(_ kind: Kind, id: ItemID, name: String) {
        var s = name
        s.withUTF8 { addElement(kind, id: id, name: $0) }
    }

    public mutating func addSong(id: ItemID, name: UnsafeBufferPointer<UInt8>, length: Int64, track: Int64, year: Int64,
                                 album: ItemID, artist: ItemID, genre: ItemID) {
        let ref = intern(name)
        pending.append(PendingSong(song: Song(id: id, name: ref, length: length, track: track, year: year,
                                              album: 0, artist: 0, genre: 0),
                                   album: album, artist: artist, genre: genre))
    }

    public mutating func addSong(id: ItemID, name: String, length: Int64, track: Int64, year: Int64,
                                 album: ItemID, artist: ItemID, genre: ItemID) {
        var s = name
        s.withUTF8 { addSong(id: id, name: $0, length: length, track: track, year: year, album: album, artist: artist, genre: genre) }
    }

    public func build() -> MusicCollection {
        var songs: [Song] = []
        songs.reserveCapacity(pending.count)
        var seen = Set<ItemID>()
        seen.reserveCapacity(pending.count)
        var dropped = 0
        for p in pending {
            guard let a = elementIndex[0][p.album], let r = elementIndex[1][p.artist], let g = elementIndex[2][p.genre],
                  seen.insert(p.song.id).inserted else {
                dropped += 1
                continue
            }
            var s = p.song
            s.album = a
            s.artist = r
            s.genre = g
            songs.append(s)
        }
        return MusicCollection(arena: arena, elements: elements, songs: songs, dropped: dropped)
    }
}
