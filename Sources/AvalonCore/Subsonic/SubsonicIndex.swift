/// What the Subsonic API needs beyond Avalon's indexes: artists by index
/// letter, album counts, albums by artist. Made once per collection, on
/// first use in a worker (a worker serves one request at a time), so that
/// loading costs nothing for servers that never see a Subsonic client.
public final class SubsonicIndex: @unchecked Sendable {
    public let artistIndex: [(letter: String, artists: [UInt32])]
    public let artistAlbumCounts: [Int64]
    public let genreAlbumCounts: [Int64]
    /// Albums by their artist's name, then their own.
    public let albumsByArtist: [UInt32]
    /// Albums by `created` (their first file's first sighting), newest first;
    /// without file facts, the load order, last first.
    public let albumsNewest: [UInt32]

    public init(_ c: MusicCollection) {
        artistIndex = c.artistIndex()
        artistAlbumCounts = c.albumCounts(c.artists)
        genreAlbumCounts = c.albumCounts(c.genres)
        var keyed: [(UInt64, UInt32)] = []
        keyed.reserveCapacity(c.albums.count)
        for al in 0..<c.albums.count {
            let first = c.albums.songs(of: UInt32(al)).first
            let artistRank = first.map { UInt64(c.artists.nameRank[Int(c.songs[Int($0)].artist)]) } ?? UInt64(UInt32.max)
            keyed.append((artistRank << 32 | UInt64(c.albums.nameRank[al]), UInt32(al)))
        }
        keyed.sort { $0 < $1 }
        albumsByArtist = keyed.map(\.1)
        let created = (0..<c.albums.count).map { c.albumFacts(UInt32($0)).created }
        albumsNewest = (0..<UInt32(c.albums.count)).sorted { (created[Int($0)], $0) > (created[Int($1)], $1) }
    }
}

/// The index of the collection a worker serves, made when first asked.
public final class SubsonicIndexCache: @unchecked Sendable {
    private var made: (ObjectIdentifier, SubsonicIndex)?

    public init() {}

    public func index(_ c: MusicCollection) -> SubsonicIndex {
        if let (id, ix) = made, id == ObjectIdentifier(c) { return ix }
        let ix = SubsonicIndex(c)
        made = (ObjectIdentifier(c), ix)
        return ix
    }
}
