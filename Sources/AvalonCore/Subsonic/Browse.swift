/// The Subsonic API's reads of the collection (the endpoint pages under
/// `content/en/docs/Endpoints/` of the OpenSubsonic specification): each
/// writes its element inside an open envelope, or throws a `SubsonicError`.
/// Ids are Avalon's UUIDs; per-file facts (size, suffix, bit rate, path,
/// created) come from the scanner's records (`SongFiles`), left out where
/// there are none.
extension MusicCollection {
    // MARK: parameters

    static func required(_ p: QueryParameters, _ name: String) throws -> String {
        guard let v = p[name], !v.isEmpty else { throw SubsonicError.missing(name) }
        return v
    }

    static func int(_ p: QueryParameters, _ name: String, default d: Int64, max m: Int64 = .max) throws -> Int64 {
        guard let v = p[name], !v.isEmpty else { return d }
        guard let n = Int64(v), n >= 0 else { throw SubsonicError.generic("\(name) must be a whole number from 0 (got '\(v)')") }
        return min(n, m)
    }

    static func optionalInt(_ p: QueryParameters, _ name: String) throws -> Int64? {
        guard let v = p[name], !v.isEmpty else { return nil }
        guard let n = Int64(v) else { throw SubsonicError.generic("\(name) must be a whole number (got '\(v)')") }
        return n
    }

    func parseID(_ p: QueryParameters, _ name: String = "id") throws -> ItemID {
        // The hyphenated form clients send, from the bytes; others as before.
        if let id = p.withValue(name, { ItemID(hyphenated: $0) }) ?? nil { return id }
        let v = try Self.required(p, name)
        guard let id = ItemID(parsing: v) else { throw SubsonicError.notFound("\(name) \(v)") }
        return id
    }

    /// The song with `id`, by binary search over the songs in id order.
    public func songIndex(of id: ItemID) -> UInt32? {
        let order = songOrder[SongField.allCases.firstIndex(of: .id)!]
        var lo = 0, hi = order.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if songs[Int(order[mid])].id < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < order.count && songs[Int(order[lo])].id == id ? order[lo] : nil
    }

    // MARK: facts derived per element

    /// An album's artist (its first song's), song count, duration, year and
    /// genre, and when its first file was seen (0: no file recorded).
    struct AlbumFacts {
        var artist: UInt32, songCount: Int64, duration: Int64, year: Int64, genre: UInt32
        var created: Int64 = 0
    }

    func albumFacts(_ album: UInt32) -> AlbumFacts {
        let list = albums.songs(of: album)
        guard let first = list.first else { return AlbumFacts(artist: .max, songCount: 0, duration: 0, year: 0, genre: .max) }
        let s = songs[Int(first)]
        var duration: Int64 = 0, created = Int64.max
        for i in list {
            duration &+= max(0, songs[Int(i)].length)
            if files.has(Int(i)) { created = min(created, files.created[Int(i)]) }
        }
        return AlbumFacts(artist: s.artist, songCount: Int64(list.count), duration: duration, year: s.year, genre: s.genre,
                          created: created == .max ? 0 : created)
    }

    /// The distinct albums of an artist's songs, in the order first met.
    func albumsOf(artist: UInt32) -> [UInt32] {
        var seen: Set<UInt32> = []
        var out: [UInt32] = []
        for s in artists.songs(of: artist) {
            let a = songs[Int(s)].album
            if seen.insert(a).inserted { out.append(a) }
        }
        return out
    }

    // MARK: writing records

    func text(_ a: UnsafeBufferPointer<UInt8>, _ r: TextRef) -> UnsafeBufferPointer<UInt8> { slice(a, r) }

    /// A song as a `Child`.
    func writeSong(_ w: inout NodeWriter, _ name: StaticString, _ i: UInt32, _ a: UnsafeBufferPointer<UInt8>) {
        let k = Int(i)
        guard files.has(k) else { return writeSong(&w, name, i, a, suffix: nil) }
        // The suffix in a buffer on the stack: no closure around the song.
        var buffer: (UInt64, UInt64) = (0, 0)
        if let n = files.shortSuffix(k, into: &buffer) {
            withUnsafeBytes(of: &buffer) {
                writeSong(&w, name, i, a, suffix: UnsafeBufferPointer(start: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n))
            }
        } else {
            files.withSuffix(k) { writeSong(&w, name, i, a, suffix: $0) }
        }
    }

    /// A song's attributes in one room: its texts' lengths are known, the
    /// rest is bounded (`songRoom`). `suffix`: the file's, when it has one.
    /// Not inlined: one copy for the three cases above.
    @inline(never)
    private func writeSong(_ w: inout NodeWriter, _ name: StaticString, _ i: UInt32, _ a: UnsafeBufferPointer<UInt8>,
                           suffix: UnsafeBufferPointer<UInt8>?) {
        let s = songs[Int(i)], k = Int(i)
        let album = albums.items[Int(s.album)], artist = artists.items[Int(s.artist)]
        let title = slice(a, s.name), albumName = slice(a, album.name), artistName = slice(a, artist.name)
        let genre = slice(a, genres.items[Int(s.genre)].name)
        var room = Self.songRoom + JSONCursor.maxBytes(string: title.count) + JSONCursor.maxBytes(string: albumName.count)
            + JSONCursor.maxBytes(string: artistName.count) + JSONCursor.maxBytes(string: genre.count)
        if let suffix { room += JSONCursor.maxBytes(string: suffix.count) + JSONCursor.maxBytes(string: files.pathCount(k)) }
        var r = w.leaf(name, room: room)
        r.attr("id", id: s.id)
        r.attr("parent", id: album.id)
        r.attr("isDir", false)
        r.attr("title", arena: title)
        r.attr("album", arena: albumName)
        r.attr("artist", arena: artistName)
        if s.track > 0 { r.attr("track", s.track) }
        if s.year > 0 { r.attr("year", s.year) }
        r.attr("genre", arena: genre)
        r.attr("duration", max(0, s.length))
        r.attr("albumId", id: album.id)
        r.attr("artistId", id: artist.id)
        r.attr("type", static: "music")
        r.attr("isVideo", false)
        let picture = covers.song(k)
        if picture >= 0 { covers.withID(picture) { r.attr("coverArt", $0) } }
        if let suffix {
            r.attr("size", files.sizes[k])
            r.attr("suffix", suffix)
            r.attr("contentType", static: SongFiles.contentType(suffix: suffix))
            if files.bitRates[k] > 0 { r.attr("bitRate", Int64(files.bitRates[k])) }
            files.withPath(k) { r.attr("path", $0) }
            if files.discs[k] > 0 { r.attr("discNumber", Int64(files.discs[k])) }
            r.attr("created", date: milliseconds(seconds: files.created[k]))
        }
        w.endLeaf(r)
    }

    /// A song's room besides its texts: 22 keys of at most 16 bytes with
    /// their punctuation, 4 ids, 6 numbers, a date, a picture id, the
    /// content type, two booleans, "music" and 8 bytes past each of the four
    /// arena spans. (At most about 680 are written: `testASongAtItsLongestFitsItsRoom`.)
    static let songRoom = 22 * 24 + 4 * JSONCursor.maxBytesUUID + 6 * JSONCursor.maxBytesInt + Attributes.maxDate
        + JSONCursor.maxBytes(string: Covers.idLength) + 64 + 2 * 5 + 7 + 4 * 8

    /// An album as an `AlbumID3`.
    func writeAlbumID3(_ w: inout NodeWriter, _ name: StaticString, _ album: UInt32, _ a: UnsafeBufferPointer<UInt8>,
                       _ server: SubsonicServer, close: Bool = true) {
        let e = albums.items[Int(album)]
        let f = albumFacts(album)
        w.open(name)
        w.attr("id", id: e.id)
        w.attr("name", arena: slice(a, e.name))
        if f.artist != .max {
            w.attr("artist", arena: slice(a, artists.items[Int(f.artist)].name))
            w.attr("artistId", id: artists.items[Int(f.artist)].id)
        }
        w.attr("songCount", f.songCount)
        w.attr("duration", f.duration)
        if f.created > 0 { w.attr("created", date: milliseconds(seconds: f.created)) } else { w.attr("created", server.created) }
        if f.year > 0 { w.attr("year", f.year) }
        if f.genre != .max { w.attr("genre", arena: slice(a, genres.items[Int(f.genre)].name)) }
        w.coverArt(covers, covers.album(Int(album)))
        if close { w.close() }
    }

    /// An album as a directory `Child` (isDir), its parent its artist.
    func writeAlbumChild(_ w: inout NodeWriter, _ name: StaticString, _ album: UInt32, _ a: UnsafeBufferPointer<UInt8>) {
        let e = albums.items[Int(album)]
        let f = albumFacts(album)
        w.open(name)
        w.attr("id", id: e.id)
        if f.artist != .max { w.attr("parent", id: artists.items[Int(f.artist)].id) }
        w.attr("isDir", true)
        w.attr("title", arena: slice(a, e.name))
        w.attr("album", arena: slice(a, e.name))
        if f.artist != .max {
            w.attr("artist", arena: slice(a, artists.items[Int(f.artist)].name))
            w.attr("artistId", id: artists.items[Int(f.artist)].id)
        }
        if f.year > 0 { w.attr("year", f.year) }
        if f.genre != .max { w.attr("genre", arena: slice(a, genres.items[Int(f.genre)].name)) }
        w.attr("duration", f.duration)
        w.attr("songCount", f.songCount)
        w.coverArt(covers, covers.album(Int(album)))
        w.close()
    }

    func writeArtistID3(_ w: inout NodeWriter, _ name: StaticString, _ artist: UInt32, albumCount: Int64,
                        _ a: UnsafeBufferPointer<UInt8>, close: Bool = true) {
        let e = artists.items[Int(artist)]
        w.open(name)
        w.attr("id", id: e.id)
        w.attr("name", arena: slice(a, e.name))
        w.attr("albumCount", albumCount)
        w.coverArt(covers, covers.artist(Int(artist)))
        if close { w.close() }
    }

    func writeArtist(_ w: inout NodeWriter, _ name: StaticString, _ artist: UInt32, _ a: UnsafeBufferPointer<UInt8>) {
        let e = artists.items[Int(artist)]
        w.open(name)
        w.attr("id", id: e.id)
        w.attr("name", arena: slice(a, e.name))
        w.close()
    }

    /// An album's songs in disc order: by track, then as loaded.
    func albumSongs(_ album: UInt32) -> [UInt32] {
        let list = albums.songs(of: album)
        // Tracks that fit 32 bits (every real one): (track, song) as one
        // integer, sorted without a comparison closure reading songs again.
        var keys: [UInt64] = []
        keys.reserveCapacity(list.count)
        for s in list {
            let t = songs[Int(s)].track
            guard t >= 0 && t <= Int64(UInt32.max) else {
                return list.sorted { (songs[Int($0)].track, $0) < (songs[Int($1)].track, $1) }
            }
            keys.append(UInt64(t) << 32 | UInt64(s))
        }
        keys.sort()
        return keys.map { UInt32(truncatingIfNeeded: $0) }
    }

    // MARK: indexes of artists

    /// The letter an artist is filed under, and its name without a leading article, for sorting.
    static func indexKey(_ name: String) -> (letter: String, sortName: String) {
        indexKey(asciiBytes: name) ?? indexKeyOfAnyText(name)
    }

    /// `indexKey` of an ASCII name without CR (where a character is a byte),
    /// on its bytes; nil for any other name. At 450,000 artists the general
    /// path, which counts characters for every article, took a core ~1.5 s.
    static func indexKey(asciiBytes name: String) -> (letter: String, sortName: String)? {
        var name = name
        return name.withUTF8 { b -> (letter: String, sortName: String)? in
            guard !b.contains(where: { $0 >= 0x80 || $0 == 0x0D }) else { return nil }
            var at = 0
            for article in SubsonicServer.articles where b.count > article.count {
                if article.indices.allSatisfy({ asciiLowered(b[$0]) == article[$0] }) {
                    at = article.count
                    break
                }
            }
            while at < b.count && b[at] == 0x20 { at += 1 }
            let sortName = String(decoding: b[at...].map(asciiLowered), as: UTF8.self)
            guard at < b.count, case let c = asciiLowered(b[at]), c >= 0x61 && c <= 0x7A else { return ("#", sortName) }
            return (String(UnicodeScalar(c - 0x20)), sortName)
        }
    }

    static func indexKeyOfAnyText(_ name: String) -> (letter: String, sortName: String) {
        var rest = Substring(name)
        for article in SubsonicServer.articles.map({ String(decoding: $0, as: UTF8.self) }) {
            if rest.count > article.count, rest.prefix(article.count).lowercased() == article {
                rest = rest.dropFirst(article.count)
                break
            }
        }
        rest = rest.drop { $0 == " " }
        guard let first = rest.first, first.isLetter else { return ("#", rest.lowercased()) }
        return (String(first).uppercased(), rest.lowercased())
    }

    // MARK: endpoints

    public func subsonicArtists(_ p: QueryParameters, _ w: inout NodeWriter, _ ix: SubsonicIndex) throws {
        writeArtistIndex(&w, "artists", ix, lastModified: nil)
    }

    public func subsonicIndexes(_ p: QueryParameters, _ w: inout NodeWriter, _ server: SubsonicServer, _ ix: SubsonicIndex) throws {
        writeArtistIndex(&w, "indexes", ix, lastModified: server.createdMilliseconds)
    }

    /// `getArtists` (`ArtistID3`s with album counts) or `getIndexes` (`Artist`s and `lastModified`).
    func writeArtistIndex(_ w: inout NodeWriter, _ name: StaticString, _ ix: SubsonicIndex, lastModified: Int64?) {
        let counts = ix.artistAlbumCounts
        arena.withUnsafeBufferPointer { a in
            w.open(name)
            w.attr("ignoredArticles", SubsonicServer.ignoredArticles)
            if let lastModified { w.attr("lastModified", lastModified) }
            w.beginList("index")
            for (l, letter) in ix.letters.enumerated() {
                w.open("index")
                w.attr("name", letter)
                w.beginList("artist")
                for r in ix.indexedArtists[Int(ix.letterStarts[l])..<Int(ix.letterStarts[l + 1])] {
                    if lastModified == nil { writeArtistID3(&w, "artist", r, albumCount: counts[Int(r)], a) } else { writeArtist(&w, "artist", r, a) }
                }
                w.endList()
                w.close()
            }
            w.endList()
            w.close()
        }
    }

    public func subsonicArtist(_ p: QueryParameters, _ w: inout NodeWriter, _ server: SubsonicServer) throws {
        let id = try parseID(p)
        guard let r = artists.index(of: id) else { throw SubsonicError.notFound("artist \(id)") }
        let list = albumsOf(artist: r)
        arena.withUnsafeBufferPointer { a in
            writeArtistID3(&w, "artist", r, albumCount: Int64(list.count), a, close: false)
            w.beginList("album")
            for al in list { writeAlbumID3(&w, "album", al, a, server) }
            w.endList()
            w.close()
        }
    }

    public func subsonicAlbum(_ p: QueryParameters, _ w: inout NodeWriter, _ server: SubsonicServer) throws {
        let id = try parseID(p)
        guard let al = albums.index(of: id) else { throw SubsonicError.notFound("album \(id)") }
        arena.withUnsafeBufferPointer { a in
            writeAlbumID3(&w, "album", al, a, server, close: false)
            w.beginList("song")
            for s in albumSongs(al) { writeSong(&w, "song", s, a) }
            w.endList()
            w.close()
        }
    }

    /// The song `id` names (error 70 for anything else).
    public func parseSongID(_ p: QueryParameters) throws -> UInt32 {
        let id = try parseID(p)
        guard let s = songIndex(of: id) else { throw SubsonicError.notFound("song \(id)") }
        return s
    }

    public func subsonicSong(_ p: QueryParameters, _ w: inout NodeWriter) throws {
        let s = try parseSongID(p)
        arena.withUnsafeBufferPointer { a in writeSong(&w, "song", s, a) }
    }

    /// An artist's directory lists its albums; an album's, its songs.
    public func subsonicDirectory(_ p: QueryParameters, _ w: inout NodeWriter) throws {
        let id = try parseID(p)
        try arena.withUnsafeBufferPointer { a in
            if let r = artists.index(of: id) {
                w.open("directory")
                w.attr("id", id: id)
                w.attr("name", arena: slice(a, artists.items[Int(r)].name))
                w.beginList("child")
                for al in albumsOf(artist: r) { writeAlbumChild(&w, "child", al, a) }
            } else if let al = albums.index(of: id) {
                w.open("directory")
                w.attr("id", id: id)
                let f = albumFacts(al)
                if f.artist != .max { w.attr("parent", id: artists.items[Int(f.artist)].id) }
                w.attr("name", arena: slice(a, albums.items[Int(al)].name))
                w.beginList("child")
                for s in albumSongs(al) { writeSong(&w, "child", s, a) }
            } else {
                throw SubsonicError.notFound("directory \(id)")
            }
            w.endList()
            w.close()
        }
    }

    public func subsonicGenres(_ w: inout NodeWriter, _ ix: SubsonicIndex) {
        let albumCounts = ix.genreAlbumCounts
        arena.withUnsafeBufferPointer { a in
            w.open("genres")
            w.beginList("genre")
            for g in genres.byName {
                w.open("genre")
                w.attr("songCount", Int64(genres.songs(of: g).count))
                w.attr("albumCount", albumCounts[Int(g)])
                w.text(slice(a, genres.items[Int(g)].name))
                w.close()
            }
            w.endList()
            w.close()
        }
    }

    /// The genres named `name` (in any case), or error 70.
    func genreIndexes(_ name: String) throws -> [UInt32] {
        let found = genres.indexes(named: name)
        if found.isEmpty { throw SubsonicError.notFound("genre \(name)") }
        return found
    }

    public func subsonicSongsByGenre(_ p: QueryParameters, _ w: inout NodeWriter) throws {
        let name = try Self.required(p, "genre")
        let count = try Self.int(p, "count", default: 10, max: 500), offset = try Self.int(p, "offset", default: 0)
        var list: [UInt32] = []
        for g in genres.indexes(named: name) { list += genres.songs(of: g) }
        if list.count > 1 { list.sort() }
        let page = list.dropFirst(Int(min(offset, Int64(list.count)))).prefix(Int(count))
        writeSongList(&w, "songsByGenre", page)
    }

    func writeSongList<C: Collection>(_ w: inout NodeWriter, _ name: StaticString, _ list: C) where C.Element == UInt32 {
        arena.withUnsafeBufferPointer { a in
            w.open(name)
            w.beginList("song")
            for s in list { writeSong(&w, "song", s, a) }
            w.endList()
            w.close()
        }
    }

    public func subsonicRandomSongs(_ p: QueryParameters, _ w: inout NodeWriter) throws {
        let size = Int(try Self.int(p, "size", default: 10, max: 500))
        let from = try Self.optionalInt(p, "fromYear"), to = try Self.optionalInt(p, "toYear")
        var pool: [UInt32]? = nil
        if let g = p["genre"], !g.isEmpty {
            var list: [UInt32] = []
            for e in genres.indexes(named: g) { list += genres.songs(of: e) }
            pool = list
        }
        func fits(_ s: UInt32) -> Bool {
            let y = songs[Int(s)].year
            return (from.map { y >= $0 } ?? true) && (to.map { y <= $0 } ?? true)
        }
        if from != nil || to != nil { pool = (pool ?? Array(0..<UInt32(songs.count))).filter(fits) }
        var rng = SystemRandomNumberGenerator()
        var picked: [UInt32] = []
        let total = pool?.count ?? songs.count
        if total <= size * 2 {
            var all = pool ?? Array(0..<UInt32(songs.count))
            all.shuffle(using: &rng)
            picked = Array(all.prefix(size))
        } else {
            var seen: Set<UInt32> = []
            while picked.count < size {
                let k = Int.random(in: 0..<total, using: &rng)
                let s = pool?[k] ?? UInt32(k)
                if seen.insert(s).inserted { picked.append(s) }
            }
        }
        writeSongList(&w, "randomSongs", picked)
    }

    // MARK: album lists

    /// The albums of an album list, in its order (`getAlbumList`'s `type`).
    func albumList(_ p: QueryParameters, _ ix: SubsonicIndex) throws -> [UInt32] {
        let type = try Self.required(p, "type")
        let size = Int(try Self.int(p, "size", default: 10, max: 500)), offset = Int(min(try Self.int(p, "offset", default: 0), Int64(albums.count)))
        func page(_ order: [UInt32]) -> [UInt32] { Array(order.dropFirst(offset).prefix(size)) }
        switch type {
        case "random":
            var rng = SystemRandomNumberGenerator()
            if albums.count <= size * 2 { return Array((0..<UInt32(albums.count)).shuffled(using: &rng).prefix(size)) }
            var seen: Set<UInt32> = []
            var out: [UInt32] = []
            while out.count < size {
                let a = UInt32.random(in: 0..<UInt32(albums.count), using: &rng)
                if seen.insert(a).inserted { out.append(a) }
            }
            return out
        case "newest":
            return page(ix.albumsNewest)
        case "alphabeticalByName":
            return page(albums.byName)
        case "alphabeticalByArtist":
            return Array(ix.albumsByArtist[offset..<min(albums.count, offset + size)])
        case "byYear":
            guard let from = try Self.optionalInt(p, "fromYear") else { throw SubsonicError.missing("fromYear") }
            guard let to = try Self.optionalInt(p, "toYear") else { throw SubsonicError.missing("toYear") }
            let (lo, hi) = (min(from, to), max(from, to))
            var keyed: [(Int64, UInt32)] = []
            for al in 0..<albums.count {
                guard let first = albums.songs(of: UInt32(al)).first else { continue }
                let y = songs[Int(first)].year
                if y >= lo && y <= hi { keyed.append((y, UInt32(al))) }
            }
            keyed.sort { from <= to ? $0 < $1 : ($0.0, $1.1) > ($1.0, $0.1) }
            return page(keyed.map(\.1))
        case "byGenre":
            let name = try Self.required(p, "genre")
            var seen = Bitmap(capacity: albums.count)
            var out: [UInt32] = []
            for g in genres.indexes(named: name) {
                for s in genres.songs(of: g) {
                    let al = songs[Int(s)].album
                    if !seen.contains(al) { seen.insert(al); out.append(al) }
                }
            }
            out.sort { albums.nameRank[Int($0)] != albums.nameRank[Int($1)] ? albums.nameRank[Int($0)] < albums.nameRank[Int($1)] : $0 < $1 }
            return page(out)
        case "frequent", "recent", "starred", "highest":
            return []  // no play history or ratings on a read-only server
        default:
            throw SubsonicError.generic("unknown album list type '\(type)'")
        }
    }

    public func subsonicAlbumList(_ p: QueryParameters, _ w: inout NodeWriter, id3: Bool, _ server: SubsonicServer, _ ix: SubsonicIndex) throws {
        let list = try albumList(p, ix)
        arena.withUnsafeBufferPointer { a in
            w.open(id3 ? "albumList2" : "albumList")
            w.beginList("album")
            for al in list {
                if id3 { writeAlbumID3(&w, "album", al, a, server) } else { writeAlbumChild(&w, "album", al, a) }
            }
            w.endList()
            w.close()
        }
    }

    // MARK: search

    /// `search2`/`search3`: artists, albums and songs matching `query` by
    /// Avalon's prefix search; an empty query (or `""`, `*`) pages through everything.
    public func subsonicSearch(_ p: QueryParameters, _ w: inout NodeWriter, id3: Bool, _ server: SubsonicServer) throws {
        var query = p["query"] ?? ""
        if query == "\"\"" || query == "*" { query = "" }
        let artistCount = Int(try Self.int(p, "artistCount", default: 20, max: 500)), artistOffset = try Self.int(p, "artistOffset", default: 0)
        let albumCount = Int(try Self.int(p, "albumCount", default: 20, max: 500)), albumOffset = try Self.int(p, "albumOffset", default: 0)
        let songCount = Int(try Self.int(p, "songCount", default: 20, max: 500)), songOffset = try Self.int(p, "songOffset", default: 0)
        func window(_ total: Int, _ offset: Int64, _ count: Int) -> Range<UInt32> {
            let lo = Int(min(offset, Int64(total)))
            return UInt32(lo)..<UInt32(min(total, lo + count))
        }
        let foundArtists: [UInt32], foundAlbums: [UInt32], foundSongs: [UInt32]
        if searchableQuery(query).isEmpty {
            foundArtists = Array(window(artists.count, artistOffset, artistCount))
            foundAlbums = Array(window(albums.count, albumOffset, albumCount))
            foundSongs = Array(window(songs.count, songOffset, songCount))
        } else {
            let q = searchableQuery(query)
            foundArtists = artistCount == 0 ? [] : Array(artists.search.search(q).dropFirst(Int(min(artistOffset, Int64(artists.count)))).prefix(artistCount))
            foundAlbums = albumCount == 0 ? [] : Array(albums.search.search(q).dropFirst(Int(min(albumOffset, Int64(albums.count)))).prefix(albumCount))
            let need = Int(min(Int64(songs.count), songOffset + Int64(songCount)))
            foundSongs = songCount == 0 ? [] : Array(firstSearchMatches(query, need: need).dropFirst(Int(min(songOffset, Int64(need)))))
        }
        let counts = id3 && !foundArtists.isEmpty ? foundArtists.map { Int64(albumsOf(artist: $0).count) } : []
        arena.withUnsafeBufferPointer { a in
            w.open(id3 ? "searchResult3" : "searchResult2")
            w.beginList("artist")
            for (k, r) in foundArtists.enumerated() {
                if id3 { writeArtistID3(&w, "artist", r, albumCount: counts[k], a) } else { writeArtist(&w, "artist", r, a) }
            }
            w.endList()
            w.beginList("album")
            for al in foundAlbums {
                if id3 { writeAlbumID3(&w, "album", al, a, server) } else { writeAlbumChild(&w, "album", al, a) }
            }
            w.endList()
            w.beginList("song")
            for s in foundSongs { writeSong(&w, "song", s, a) }
            w.endList()
            w.close()
        }
    }
}
