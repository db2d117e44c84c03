/// Song search: the set of songs a query matches, its first matches, and
/// an ordered page walked without building the set.
extension MusicCollection {
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
}
