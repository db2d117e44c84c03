import Synchronization
/// The four collection endpoints: from parameters to the exact JSON answer.
extension ResponseBuffer {
    /// Makes an answer with `body` and returns its HTTP status: 200, or an
    /// API error's (its envelope replaces whatever was written).
    public func answer(_ body: () throws -> Void) -> Int {
        do {
            try body()
            return 200
        } catch let e as APIError {
            set(e.body)
            return e.status
        } catch {
            let e = APIError.unknown("\(error)")
            set(e.body)
            return e.status
        }
    }
}

extension MusicCollection {
    static let elementFields = ["id", "name"]
    // Built once: an array literal in a function is allocated on every call.
    static let idFilterKeys: [(Kind, QueryParameters.Key)] = [(.album, .albumID), (.artist, .artistID), (.genre, .genreID)]
    static let nameFilterKeys: [(Kind, QueryParameters.Key)] = [(.album, .album), (.artist, .artist), (.genre, .genre)]
    static let filterKeys = nameFilterKeys + idFilterKeys
    static let songFields = SongField.allCases.map(\.rawValue)

    // MARK: songs

    /// Songs matching a search: by their own name, or their album's, artist's or genre's.
    func searchSongs(_ query: String) -> Bitmap {
        var set = Bitmap(capacity: songs.count)
        let searches = self.searches, parts = songSearch.count
        let ranges = SearchIndex.matchRanges(searchableQuery(query), in: searches)
        for k in 0..<parts {
            for s in searches[k].matches(in: ranges[k]) { set.insert(s) }
        }
        for (t, (keySongs, list)) in elementSongs.enumerated() {
            for c in keySongs[ranges[parts + t]] {
                for i in Int(c.at)..<Int(c.end) { set.insert(list[i]) }
            }
        }
        return set
    }

    /// The first `need` songs, ascending, that match a search. Songs are taken in
    /// blocks that double in size, the first one sized by the expected density
    /// of matches, so a page of a large result touches a small bitmap instead of
    /// setting every match in one as large as the collection.
    func firstSearchMatches(_ query: String, need: Int, firstBlock: Int? = nil) -> [UInt32] {
        let q = searchableQuery(query)
        var out: [UInt32] = []
        if need <= 0 { return out }
        out.reserveCapacity(min(need, 1024))
        let searches = self.searches, parts = songSearch.count
        let ranges = SearchIndex.matchRanges(q, in: searches)
        var estimate = ranges[0..<parts].reduce(0) { $0 + $1.count }
        // Each matched element's song list is ascending: a cursor into it, the
        // albums' first, then the artists', then the genres'. An element matched
        // twice gets two cursors, which set the same bits.
        let elementSongs = self.elementSongs
        var cursors: [KeySongs] = []
        cursors.reserveCapacity(ranges[parts...].reduce(0) { $0 + $1.count })
        var kindEnds = (0, 0, 0)
        for t in 0..<elementSongs.count {
            for c in elementSongs[t].keySongs[ranges[parts + t]] where c.at < c.end {
                estimate += Int(c.end - c.at)
                cursors.append(c)
            }
            switch t {
            case 0: kindEnds.0 = cursors.count
            case 1: kindEnds.1 = cursors.count
            default: kindEnds.2 = cursors.count
            }
        }
        if estimate == 0 { return out }
        let total = songs.count
        // The block's bitmap; raw memory, as an array of words is allocated
        // through the runtime's generic path, which costs more than the search.
        var words = UnsafeMutableBufferPointer<UInt64>(start: nil, count: 0)
        defer { words.deallocate() }
        var lo = 0
        var size = max(64, firstBlock ?? min(total, 2 * need * (total / estimate + 1)))
        while lo < total && out.count < need {
            let hi = min(total, lo + size)
            let width = UInt32(hi - lo), base = UInt32(lo)
            let used = (Int(width) + 63) >> 6
            if words.count < used {
                words.deallocate()
                words = .allocate(capacity: used)
            }
            do {
                let w = words
                w.baseAddress!.initialize(repeating: 0, count: used)
                for k in 0..<parts {
                    searches[k].matches(in: ranges[k]).withUnsafeBufferPointer { songs in
                        for s in songs {
                            let d = s &- base
                            if d < width { w[Int(d >> 6)] |= 1 << UInt64(d & 63) }
                        }
                    }
                }
                cursors.withUnsafeMutableBufferPointer { cs in
                    for t in 0..<elementSongs.count {
                        elementSongs[t].songs.withUnsafeBufferPointer { l in
                            let kinds = t == 0 ? 0..<kindEnds.0 : t == 1 ? kindEnds.0..<kindEnds.1 : kindEnds.1..<kindEnds.2
                            for c in kinds where cs[c].head < UInt32(hi) {
                                var i = Int(cs[c].at)
                                let end = Int(cs[c].end)
                                while i < end && l[i] < UInt32(hi) {
                                    let d = l[i] - base
                                    w[Int(d >> 6)] |= 1 << UInt64(d & 63)
                                    i += 1
                                }
                                cs[c].at = UInt32(i)
                                cs[c].head = i < end ? l[i] : .max
                            }
                        }
                    }
                }
                for k in 0..<used where w[k] != 0 {
                    var bits = w[k]
                    while bits != 0 && out.count < need {
                        out.append(base + UInt32(k << 6 | bits.trailingZeroBitCount))
                        bits &= bits - 1
                    }
                    if out.count == need { break }
                }
            }
            lo = hi
            size *= 2
        }
        return out
    }

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
    private func withElementJSON<R>(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> R) -> R {
        albums.json.withUnsafeBufferPointer { a in
            artists.json.withUnsafeBufferPointer { r in
                genres.json.withUnsafeBufferPointer { g in body(a, r, g) }
            }
        }
    }

    // MARK: albums, artists, genres

    /// Borrowed, not copied: a copy of a table retains every array in it.
    public func elementsBody(_ t: borrowing ElementTable, _ p: QueryParameters, into out: ResponseBuffer) throws {
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

    // MARK: ordering

    /// Songs tested one by one at most, for a walk to be worth it.
    static let walkBudget = 4096

    /// A small ordered page of a search with many matches, without the set of
    /// all matches: walks the songs in the field's order and tests each (its
    /// name against the query as the index would, its album, artist and genre
    /// against the matched elements) until the page is full. Nil when the
    /// matches look too sparse for that (the caller builds the set).
    func orderedSearchPage(_ query: String, field: SongField, paging: Paging, limit: Int64) -> [UInt32]? {
        let q = searchableQuery(query)
        let total = songs.count
        let need64 = paging.offset.addingReportingOverflow(limit)
        guard !q.isEmpty, total > 0, !need64.overflow, need64.partialValue <= Int64(Self.walkBudget) else { return nil }
        let need = Int(need64.partialValue)
        if need == 0 { return [] }
        let parts = songSearch.count
        let ranges = SearchIndex.matchRanges(q, in: searches)
        // Matched suffixes and element songs overcount matches (a song matched
        // twice counts twice), so the walk may run past its budget; it stops there.
        var estimate = ranges[0..<parts].reduce(0) { $0 + $1.count }
        for t in 0..<elementSongs.count {
            for c in elementSongs[t].keySongs[ranges[parts + t]] { estimate += Int(c.end - c.at) }
        }
        guard estimate > 0, need * total / estimate <= Self.walkBudget else { return nil }
        // The matched albums, artists and genres, as bitmaps over each table.
        var elementHits: [Bitmap] = []
        for t in 0..<elementSongs.count {
            var b = Bitmap(capacity: withTable(Kind(rawValue: t)!) { $0.count })
            for e in searches[parts + t].matches(in: ranges[parts + t]) { b.insert(e) }
            elementHits.append(b)
        }
        let order = songOrder[SongField.allCases.firstIndex(of: field)!]
        var out: [UInt32] = []
        out.reserveCapacity(need)
        var term: [UInt8] = [], words: [Range<Int>] = []
        var tested = 0
        return arena.withUnsafeBufferPointer { a -> [UInt32]? in
            for k in 0..<total {
                let s = order[paging.descending ? total - 1 - k : k]
                let song = songs[Int(s)]
                var hit = elementHits[0].contains(song.album) || elementHits[1].contains(song.artist) || elementHits[2].contains(song.genre)
                if !hit {
                    tested += 1
                    if tested > 4 * Self.walkBudget { return nil }  // sparser than estimated: build the set after all
                    hit = Self.nameMatches(slice(a, song.name), q, &term, &words)
                }
                if hit {
                    out.append(s)
                    if out.count == need { break }
                }
            }
            return Array(out.dropFirst(Int(paging.offset)))
        }
    }

    /// Whether `q` (normalised) is a prefix of one of the keys the search
    /// index files `name` under: the whole normalised name, or the run of its
    /// words from any word on, joined by single spaces.
    static func nameMatches(_ name: UnsafeBufferPointer<UInt8>, _ q: [UInt8], _ term: inout [UInt8], _ words: inout [Range<Int>]) -> Bool {
        searchableBytes(name, into: &term, words: &words)
        if words.isEmpty { return false }
        if term.count >= q.count && term[0..<q.count].elementsEqual(q) { return true }
        for w in 1..<max(1, words.count) {
            // Compare q with words[w...] joined by single spaces, without building it.
            var i = 0
            var v = w
            var pos = words[v].lowerBound
            while i < q.count {
                if pos == words[v].upperBound {
                    guard v + 1 < words.count, q[i] == 0x20 else { break }
                    i += 1
                    v += 1
                    pos = words[v].lowerBound
                    continue
                }
                guard term[pos] == q[i] else { break }
                pos += 1
                i += 1
            }
            if i == q.count { return true }
        }
        return false
    }

    /// The page of `selection` in the order of `key`. Whole lists and large
    /// selections walk the order prepared at load; small ones are sorted by key.
    func ordered(_ selection: Selection, total: Int, paging: Paging, globalOrder: [UInt32],
                 key: (UInt32) -> UInt64) -> [UInt32] {
        var list: [UInt32]
        switch selection {
        case .all:
            let win = paging.window(total)
            return paging.descending ? win.map { globalOrder[total - 1 - $0] } : win.map { globalOrder[$0] }
        case .bits(let set):
            let count = set.count
            if count * 8 > total { return walk(globalOrder, set, count, paging) }
            list = set.members(0..<count)
        case .list(let l):
            if l.count * 8 > total { return walk(globalOrder, Bitmap(l, capacity: total), l.count, paging) }
            list = l
        }
        let win = paging.window(list.count)
        if win.isEmpty { return [] }
        // A small page of many matches: keep only the best offset+limit.
        if win.upperBound * 8 <= list.count {
            return Array(topK(list, win.upperBound, descending: paging.descending, key: key)[win])
        }
        var keyed = list.map { (key($0), $0) }
        if paging.descending {
            keyed.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 > $1.1 }
        } else {
            keyed.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        }
        return keyed[win].map(\.1)
    }

    /// The first `k` of `list` in the order of (key, position), as the full
    /// sort would give them (same ties): a bounded heap whose root is the
    /// worst kept, so each further item costs one comparison unless it wins.
    func topK(_ list: [UInt32], _ k: Int, descending: Bool, key: (UInt32) -> UInt64) -> [UInt32] {
        guard k > 0 else { return [] }
        // `a` comes before `b` in the answer.
        @inline(__always) func before(_ a: (UInt64, UInt32), _ b: (UInt64, UInt32)) -> Bool {
            descending ? (a.0 != b.0 ? a.0 > b.0 : a.1 > b.1) : (a.0 != b.0 ? a.0 < b.0 : a.1 < b.1)
        }
        var heap: [(UInt64, UInt32)] = []
        heap.reserveCapacity(k)
        for s in list {
            let item = (key(s), s)
            if heap.count < k {
                // Sift up: a parent comes after its children in the answer.
                heap.append(item)
                var i = heap.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    guard before(heap[parent], heap[i]) else { break }
                    heap.swapAt(parent, i)
                    i = parent
                }
            } else if before(item, heap[0]) {
                heap[0] = item
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var worst = i
                    if l < k && before(heap[worst], heap[l]) { worst = l }
                    if r < k && before(heap[worst], heap[r]) { worst = r }
                    if worst == i { break }
                    heap.swapAt(i, worst)
                    i = worst
                }
            }
        }
        heap.sort(by: before)
        return heap.map(\.1)
    }

    /// The page of a large selection: the prepared order, skipping non-members.
    private func walk(_ order: [UInt32], _ set: Bitmap, _ count: Int, _ paging: Paging) -> [UInt32] {
        let win = paging.window(count)
        var out: [UInt32] = []
        if win.isEmpty { return out }
        out.reserveCapacity(win.count)
        var seen = 0
        let total = order.count
        for k in 0..<total {
            let s = order[paging.descending ? total - 1 - k : k]
            guard set.contains(s) else { continue }
            if seen >= win.lowerBound { out.append(s) }
            seen += 1
            if seen >= win.upperBound { break }
        }
        return out
    }
}

/// Which items a request selected, in whichever form was cheapest to make.
enum Selection {
    case all
    case list([UInt32])     // ascending
    case bits(Bitmap)

    /// The page in position order (the order without `order=`).
    func unordered(_ paging: Paging, total: Int) -> [UInt32] {
        switch self {
        case .all: return paging.window(total).map { UInt32($0) }
        case .list(let l): return Array(l[paging.window(l.count)])
        case .bits(let set): return set.members(paging.limit == nil ? 0..<Int.max : paging.window(Int.max))
        }
    }
}

/// An element's quoted id and quoted name in its table's JSON fragments.
extension JSONCursor {
    /// The quoted id of element `i` of a table's padded JSON fragments.
    @inline(__always)
    mutating func id(_ json: UnsafeBufferPointer<UInt8>, _ offsets: [UInt32], _ i: Int) {
        copy(padded: json.baseAddress! + Int(offsets[i]), count: JSONCursor.maxBytesUUID)
    }

    /// The quoted, escaped name of element `i`.
    @inline(__always)
    mutating func name(_ json: UnsafeBufferPointer<UInt8>, _ offsets: [UInt32], _ i: Int) {
        let start = Int(offsets[i]) + JSONCursor.maxBytesUUID
        copy(padded: json.baseAddress! + start, count: Int(offsets[i + 1]) - start)
    }
}

/// Where prefetching loads leave their result, so that they are not optimised
/// away. Atomic (a relaxed store is a plain store) because every thread that
/// renders writes it; nothing reads it.
let touchedBytes = Atomic<UInt8>(0)

@inline(__always)
func slice(_ a: UnsafeBufferPointer<UInt8>, _ r: TextRef) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(rebasing: a[Int(r.start)..<Int(r.start + r.count)])
}

extension ResponseBuffer {
    /// Starts a new answer with the envelope up to the success list.
    func beginSuccessList() {
        reset()
        var c = cursor(room: 32)
        c.raw("{\"errors\": [], \"success\": [")
        commit(c)
    }

    /// Closes the success list and the envelope.
    func endSuccessList() {
        var c = cursor(room: 32)
        c.raw("], \"warnings\": []}")
        commit(c)
    }
}
