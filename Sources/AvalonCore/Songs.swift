/// `songs`: filters, selection and the exact JSON of each song.
extension MusicCollection {
    static let elementFields = ["id", "name"]
    // Built once: an array literal in a function is allocated on every call.
    static let idFilterKeys: [(Kind, QueryParameters.Key)] = [(.album, .albumID), (.artist, .artistID), (.genre, .genreID)]
    static let nameFilterKeys: [(Kind, QueryParameters.Key)] = [(.album, .album), (.artist, .artist), (.genre, .genre)]
    static let filterKeys = nameFilterKeys + idFilterKeys
    static let songFields = SongField.allCases.map(\.rawValue)

    /// The id filters of a request, parsed; the first malformed one throws.
    func idFilters(_ p: QueryParameters) throws -> [(Kind, ItemID)] {
        var filters: [(Kind, ItemID)] = []
        for (kind, key) in Self.idFilterKeys {
            if let v = p[key] {
                guard let id = ItemID(parsing: v) else { throw APIError.invalidType(key.name, v, "UUID") }
                filters.append((kind, id))
            }
        }
        return filters
    }

    /// The songs the filters select (`idFilters`: those of `p`, parsed).
    func selectSongs(_ p: QueryParameters, idFilters: [(Kind, ItemID)]) throws -> Selection {
        // Each filter is a set of allowed albums, artists or genres.
        var allowed: [(Kind, [UInt32])] = []
        for (kind, key) in Self.nameFilterKeys {
            if let name = p[key] { allowed.append((kind, withTable(kind) { $0.indexes(named: name) })) }
        }
        for (kind, id) in idFilters {
            allowed.append((kind, withTable(kind) { $0.index(of: id) }.map { [$0] } ?? []))
        }
        let query = p[.query].map(searchSongs)
        if allowed.isEmpty { return query.map(Selection.bits) ?? .all }

        // Start from the smallest filter's songs and check the rest per song.
        func size(_ f: (Kind, [UInt32])) -> Int { withTable(f.0) { t in f.1.reduce(0) { $0 + t.songs(of: $1).count } } }
        let (kind, elems) = allowed.min { size($0) < size($1) }!
        var base: [UInt32] = []
        withTable(kind) { t in for e in elems { base.append(contentsOf: t.songs(of: e)) } }
        if elems.count > 1 { base.sort() }
        // One filter and no search, the usual case: its songs are the answer.
        if allowed.count == 1 && query == nil { return .list(base) }
        return .list(base.filter { s in
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
            return query?.contains(s) ?? true
        })
    }

    public func songsBody(_ p: QueryParameters, into out: ResponseBuffer) throws {
        // UUID errors come first, then order, then paging (docs/API.md, Errors).
        let ids = try idFilters(p)
        let paging = try Paging(p, fields: Self.songFields)
        let picked: [UInt32]
        let filtered = Self.filterKeys.contains { p[$0.1] != nil }
        if paging.order == nil, let limit = paging.limit, let query = p[.query], !filtered {
            // A page of a search: only its first offset + limit matches are needed.
            let need = Int(min(Int64(songs.count), paging.offset.addingReportingOverflow(limit).overflow ? .max : paging.offset + limit))
            let first = firstSearchMatches(query, need: need)
            picked = paging.offset == 0 ? first : Array(first.dropFirst(Int(min(paging.offset, Int64(need)))))
        } else if let order = paging.order, let field = SongField(rawValue: order), let query = p[.query], !filtered,
                  let limit = paging.limit,
                  let found = orderedSearchPage(query, field: field, paging: paging, limit: limit) {
            picked = found
        } else if let order = paging.order, let field = SongField(rawValue: order) {
            let keys = songKeys, songs = self.songs
            picked = ordered(try selectSongs(p, idFilters: ids), total: songs.count, paging: paging, globalOrder: songOrder[SongField.allCases.firstIndex(of: field)!]) {
                keys.key(field, songs[Int($0)], $0)
            }
        } else {
            let selection = try selectSongs(p, idFilters: ids)
            if case .all = selection {
                // Every song (or a window of them) in position order: no list of
                // picks, which at 10M songs alone would be 40 MB.
                let win = paging.window(songs.count)
                renderSongs(UInt32(win.lowerBound)..<UInt32(win.upperBound), into: out)
                return
            }
            picked = selection.unordered(paging, total: songs.count)
        }
        renderSongs(picked, into: out)
    }

    /// Bytes of a song record besides its values: the separator, the braces
    /// and the eleven keys (140 today). `ResponseBuffer.commit` stops the
    /// process if a record ever outgrows its room, in every build.
    static let songRecordFixedBytes = 160
    /// Rows whose data is loaded ahead of writing them, at a time.
    static let renderBatch = 512

    /// The success answer listing `picked`. The rows of a batch are loaded
    /// first, then the names and elements they point to, then written: within
    /// a pass the loads do not depend on one another, so their cache misses
    /// overlap instead of queueing behind the writing of each song.
    func renderSongs<C: Collection>(_ picked: C, into out: ResponseBuffer) where C.Element == UInt32 {
        let ao = albums.jsonOffsets, ro = artists.jsonOffsets, go = genres.jsonOffsets
        songs.withUnsafeBufferPointer { songs in
        withElementJSON { aj, rj, gj in
            arena.withUnsafeBufferPointer { a in
                out.beginSuccessList()
                var first = true
                var batchStart = picked.startIndex
                while batchStart != picked.endIndex {
                    let batchEnd = picked.index(batchStart, offsetBy: Self.renderBatch, limitedBy: picked.endIndex) ?? picked.endIndex
                    let batch = picked[batchStart..<batchEnd]
                    var sink: UInt8 = 0
                    for i in batch {
                        let s = songs[Int(i)]
                        sink &+= a[Int(s.name.start)] &+ aj[Int(ao[Int(s.album)])] &+ rj[Int(ro[Int(s.artist)])] &+ gj[Int(go[Int(s.genre)])]
                    }
                    touchedBytes.store(sink, ordering: .relaxed)
                    for i in batch {
                        let s = songs[Int(i)]
                        let (al, ar, ge) = (Int(s.album), Int(s.artist), Int(s.genre))
                        let room = Self.songRecordFixedBytes + JSONCursor.maxBytesUUID + 3 * JSONCursor.maxBytesInt
                            + JSONCursor.maxBytes(string: Int(s.name.count))
                            + Int(ao[al + 1] - ao[al]) + Int(ro[ar + 1] - ro[ar]) + Int(go[ge + 1] - go[ge])
                        var c = out.cursor(room: room)
                        if !first { c.raw(", ") }
                        first = false
                        c.raw("{\"id\": ")
                        c.uuid(s.id)
                        c.raw(", \"name\": "); c.string(padded: slice(a, s.name))
                        c.raw(", \"length\": "); c.int(s.length)
                        c.raw(", \"track\": "); c.int(s.track)
                        c.raw(", \"year\": "); c.int(s.year)
                        c.raw(", \"album\": "); c.name(aj, ao, al)
                        c.raw(", \"album_id\": "); c.id(aj, ao, al)
                        c.raw(", \"artist\": "); c.name(rj, ro, ar)
                        c.raw(", \"artist_id\": "); c.id(rj, ro, ar)
                        c.raw(", \"genre\": "); c.name(gj, go, ge)
                        c.raw(", \"genre_id\": "); c.id(gj, go, ge)
                        c.raw("}")
                        out.commit(c)
                    }
                    batchStart = batchEnd
                }
                out.endSuccessList()
            }
        }
        }
    }

    /// The three tables' JSON fragments at once.
    func withElementJSON<R>(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> R) -> R {
        albums.json.withUnsafeBufferPointer { a in
            artists.json.withUnsafeBufferPointer { r in
                genres.json.withUnsafeBufferPointer { g in body(a, r, g) }
            }
        }
    }
}
