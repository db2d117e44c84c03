/// `albums`, `artists`, `genres`: `{"id", "name"}` items.
extension MusicCollection {
    /// `albums`, `artists` or `genres`. By kind, not by table: a caller outside
    /// this class that reads `albums` to pass it copies the table, retaining
    /// every array in it (4,000 instructions a request).
    public func elementsBody(_ kind: Kind, _ p: QueryParameters, into out: ResponseBuffer) throws {
        switch kind {
        case .album: try elementsBody(albums, p, into: out)
        case .artist: try elementsBody(artists, p, into: out)
        case .genre: try elementsBody(genres, p, into: out)
        }
    }

    /// Borrowed, not copied: a copy of a table retains every array in it.
    func elementsBody(_ t: borrowing ElementTable, _ p: QueryParameters, into out: ResponseBuffer) throws {
        let paging = try Paging(p, fields: Self.elementFields)
        let selection = p[.query].map { q in Selection.list(t.search.search(searchableQuery(q))) } ?? .all
        let picked: [UInt32]
        if let order = paging.order {
            let byName = order == "name"
            let ranks = byName ? t.nameRank : t.idRank
            picked = ordered(selection, total: t.count, paging: paging, globalOrder: byName ? t.byName : t.byID) {
                UInt64(ranks[Int($0)])
            }
        } else {
            picked = selection.unordered(paging, total: t.count)
        }
        let offsets = t.jsonOffsets
        t.json.withUnsafeBufferPointer { j in
            out.beginSuccessList()
            // A record is exactly its separator, braces and keys (20 bytes)
            // plus its id and name fragment: room for a batch of them is exact,
            // so one check covers the batch (batches keep streaming granular).
            picked.withUnsafeBufferPointer { picked in
                var at = 0
                while at < picked.count {
                    let end = min(picked.count, at + Self.renderBatch)
                    var room = 0
                    for k in at..<end {
                        let i = Int(picked[k])
                        room += 20 + Int(offsets[i + 1] - offsets[i])
                    }
                    var c = out.cursor(room: room)
                    for k in at..<end {
                        let i = Int(picked[k])
                        if k > 0 { c.raw(", ") }
                        c.raw("{\"id\": ")
                        c.id(j, offsets, i)
                        c.raw(", \"name\": ")
                        c.name(j, offsets, i)
                        c.raw("}")
                    }
                    out.commit(c)
                    at = end
                }
            }
            out.endSuccessList()
        }
    }
}
