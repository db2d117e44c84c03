/// The four collection endpoints: from parameters to the exact JSON answer.
extension MusicCollection {
    public func respond(_ endpoint: Endpoint, _ params: QueryParameters) -> APIResponse {
        do {
            let body: [UInt8]
            switch endpoint {
            case .songs: body = try songsBody(params)
            case .albums: body = try elementsBody(albums, params)
            case .artists: body = try elementsBody(artists, params)
            case .genres: body = try elementsBody(genres, params)
            }
            return APIResponse(status: 200, body: body)
        } catch let e as APIError {
            return APIResponse(status: e.status, body: e.body)
        } catch {
            let e = APIError.unknown("\(error)")
            return APIResponse(status: e.status, body: e.body)
        }
    }

    static let elementFields = ["id", "name"]
    static let songFields = SongField.allCases.map(\.rawValue)

    // MARK: songs

    /// Songs matching a search: by their own name, or their album's, artist's or genre's.
    func searchSongs(_ query: String) -> [UInt32] {
        let q = searchableQuery(query)
        var out = songSearch.search(q)
        for table in [albums, artists, genres] {
            for e in table.search.search(q) { out.append(contentsOf: table.songs(of: e)) }
        }
        out.sort()
        return uniqueSorted(out)
    }

    /// The selected songs, ascending by position; nil means all of them.
    func selectSongs(_ p: QueryParameters) throws -> [UInt32]? {
        var idFilters: [(Kind, ItemID)] = []
        for (kind, key) in [(Kind.album, "album_id"), (.artist, "artist_id"), (.genre, "genre_id")] {
            if let v = p[key] {
                guard let id = ItemID(parsing: v) else { throw APIError.invalidType(key, v, "UUID") }
                idFilters.append((kind, id))
            }
        }
        // Each filter is a set of allowed albums, artists or genres.
        var allowed: [(Kind, [UInt32])] = []
        for (kind, key) in [(Kind.album, "album"), (.artist, "artist"), (.genre, "genre")] {
            if let name = p[key] { allowed.append((kind, table(kind).indexes(named: name))) }
        }
        for (kind, id) in idFilters {
            allowed.append((kind, table(kind).index(of: id).map { [$0] } ?? []))
        }
        let query = p["query"].map(searchSongs)
        if allowed.isEmpty { return query }

        // Start from the smallest set and check the others per song.
        func size(_ f: (Kind, [UInt32])) -> Int { f.1.reduce(0) { $0 + table(f.0).songs(of: $1).count } }
        let smallest = allowed.indices.min { size(allowed[$0]) < size(allowed[$1]) }!
        var base: [UInt32]
        if let q = query, q.count < size(allowed[smallest]) {
            base = q
        } else {
            let (kind, elems) = allowed[smallest]
            base = []
            for e in elems { base.append(contentsOf: table(kind).songs(of: e)) }
            if elems.count > 1 { base.sort() }
        }
        return base.filter { s in
            let song = songs[Int(s)]
            for (kind, elems) in allowed {
                let owner: UInt32
                switch kind {
                case .album: owner = song.album
                case .artist: owner = song.artist
                case .genre: owner = song.genre
                }
                if !elems.contains(owner) { return false }
            }
            if let q = query, !binaryContains(q, s) { return false }
            return true
        }
    }

    func songsBody(_ p: QueryParameters) throws -> [UInt8] {
        // UUID errors come first, then order, then paging (SPEC's precedence).
        for key in ["album_id", "artist_id", "genre_id"] {
            if let v = p[key], ItemID(parsing: v) == nil { throw APIError.invalidType(key, v, "UUID") }
        }
        let paging = try Paging(p, fields: Self.songFields)
        let selection = try selectSongs(p)
        let picked: [UInt32]
        if let order = paging.order, let field = SongField(rawValue: order) {
            picked = ordered(selection, total: songs.count, paging: paging, globalOrder: songOrder[SongField.allCases.firstIndex(of: field)!]) {
                songKey(field, self.songs[Int($0)], $0, nameRank: self.songNameRank, idRank: self.songIDRank,
                        albums: self.albums, artists: self.artists, genres: self.genres)
            }
        } else if let sel = selection {
            picked = Array(sel[paging.window(sel.count)])
        } else {
            picked = paging.window(songs.count).map { UInt32($0) }
        }
        var w = JSONWriter(capacity: 64 + picked.count * 320)
        w.raw("{\"errors\": [], \"success\": [")
        arena.withUnsafeBufferPointer { a in
            for (n, i) in picked.enumerated() {
                let s = songs[Int(i)]
                let album = albums.items[Int(s.album)], artist = artists.items[Int(s.artist)], genre = genres.items[Int(s.genre)]
                w.raw(n == 0 ? "{\"id\": " : ", {\"id\": ")
                w.uuid(s.id)
                w.raw(", \"name\": "); w.string(slice(a, s.name))
                w.raw(", \"length\": "); w.int(s.length)
                w.raw(", \"track\": "); w.int(s.track)
                w.raw(", \"year\": "); w.int(s.year)
                w.raw(", \"album\": "); w.string(slice(a, album.name))
                w.raw(", \"album_id\": "); w.uuid(album.id)
                w.raw(", \"artist\": "); w.string(slice(a, artist.name))
                w.raw(", \"artist_id\": "); w.uuid(artist.id)
                w.raw(", \"genre\": "); w.string(slice(a, genre.name))
                w.raw(", \"genre_id\": "); w.uuid(genre.id)
                w.raw("}")
            }
        }
        w.raw("], \"warnings\": []}")
        return w.bytes
    }

    // MARK: albums, artists, genres

    func elementsBody(_ t: ElementTable, _ p: QueryParameters) throws -> [UInt8] {
        let paging = try Paging(p, fields: Self.elementFields)
        let selection = p["query"].map { t.search.search(searchableQuery($0)) }
        let picked: [UInt32]
        if let order = paging.order {
            let byName = order == "name"
            picked = ordered(selection, total: t.count, paging: paging, globalOrder: byName ? t.byName : t.byID) {
                UInt64(byName ? t.nameRank[Int($0)] : t.idRank[Int($0)])
            }
        } else if let sel = selection {
            picked = Array(sel[paging.window(sel.count)])
        } else {
            picked = paging.window(t.count).map { UInt32($0) }
        }
        var w = JSONWriter(capacity: 64 + picked.count * 80)
        w.raw("{\"errors\": [], \"success\": [")
        arena.withUnsafeBufferPointer { a in
            for (n, i) in picked.enumerated() {
                let e = t.items[Int(i)]
                w.raw(n == 0 ? "{\"id\": " : ", {\"id\": ")
                w.uuid(e.id)
                w.raw(", \"name\": ")
                w.string(slice(a, e.name))
                w.raw("}")
            }
        }
        w.raw("], \"warnings\": []}")
        return w.bytes
    }

    // MARK: ordering

    /// The page of `selection` (nil: all `total` items) in the order of `key`.
    /// Whole lists and large selections walk the order prepared at load;
    /// small selections are sorted by key.
    func ordered(_ selection: [UInt32]?, total: Int, paging: Paging, globalOrder: [UInt32],
                 key: (UInt32) -> UInt64) -> [UInt32] {
        guard let sel = selection else {
            let win = paging.window(total)
            return paging.descending ? win.map { globalOrder[total - 1 - $0] } : win.map { globalOrder[$0] }
        }
        let win = paging.window(sel.count)
        if win.isEmpty { return [] }
        if sel.count * 8 > total {
            var member = [UInt64](repeating: 0, count: (total + 63) / 64)
            for s in sel { member[Int(s) >> 6] |= 1 << UInt64(s & 63) }
            var out: [UInt32] = []
            out.reserveCapacity(win.count)
            var seen = 0
            for k in 0..<total {
                let s = globalOrder[paging.descending ? total - 1 - k : k]
                guard member[Int(s) >> 6] & (1 << UInt64(s & 63)) != 0 else { continue }
                if seen >= win.lowerBound { out.append(s) }
                seen += 1
                if seen >= win.upperBound { break }
            }
            return out
        }
        var keyed = sel.map { (key($0), $0) }
        if paging.descending {
            keyed.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 > $1.1 }
        } else {
            keyed.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        }
        return keyed[win].map(\.1)
    }
}

@inline(__always)
func slice(_ a: UnsafeBufferPointer<UInt8>, _ r: TextRef) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(rebasing: a[Int(r.start)..<Int(r.start + r.count)])
}

func binaryContains(_ a: [UInt32], _ x: UInt32) -> Bool {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) / 2
        if a[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo < a.count && a[lo] == x
}
