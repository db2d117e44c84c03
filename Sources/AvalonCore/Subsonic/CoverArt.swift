extension MusicCollection {
    /// The picture `getCoverArt`'s id names: a `coverArt` id (the picture
    /// itself: `fixed` true, cacheable for good), or a song's, album's or
    /// artist's id (its cover now, which a rescan may change). Error 70 when
    /// there is none.
    public func coverPicture(_ p: QueryParameters) throws -> (picture: Int32, fixed: Bool) {
        var v = try Self.required(p, "id")
        if let picture = v.withUTF8({ covers.picture(id: $0) }) { return (picture, true) }
        guard let id = ItemID(parsing: v) else { throw SubsonicError.notFound("cover art \(v)") }
        let picture = songIndex(of: id).map { covers.song(Int($0)) }
            ?? albums.index(of: id).map { covers.album(Int($0)) }
            ?? artists.index(of: id).map { covers.artist(Int($0)) } ?? -1
        guard picture >= 0 else { throw SubsonicError.notFound("cover art of \(v)") }
        return (picture, false)
    }
}
