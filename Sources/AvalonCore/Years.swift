/// A year the collection's songs carry, and how many carry it (0: no year tag).
public struct YearCount: Sendable, Equatable, BitwiseCopyable {
    public let year: Int64
    public let songs: Int
}

extension MusicCollection {
    static let yearFields = ["year", "songs"]

    /// The distinct years in ascending order, from the songs sorted by year.
    static func yearCounts(_ songs: [Song], byYear: [UInt32]) -> [YearCount] {
        var out: [YearCount] = []
        var i = 0
        while i < byYear.count {
            let year = songs[Int(byYear[i])].year
            var j = i + 1
            while j < byYear.count && songs[Int(byYear[j])].year == year { j += 1 }
            out.append(YearCount(year: year, songs: j - i))
            i = j
        }
        return out
    }

    /// `years`: `{"year", "songs"}` items, by year unless `order` says otherwise.
    public func yearsBody(_ p: QueryParameters, into out: ResponseBuffer) throws {
        let paging = try Paging(p, fields: Self.yearFields)
        var order = Array(years.indices)
        if paging.order == "songs" {
            // Ties keep year order: the sort is stable.
            order.sort { years[$0].songs < years[$1].songs }
        }
        if paging.descending { order.reverse() }
        out.beginSuccessList()
        for (k, i) in order[paging.window(order.count)].enumerated() {
            var c = out.cursor(room: 24 + 2 * JSONCursor.maxBytesInt)
            if k > 0 { c.raw(", ") }
            c.raw("{\"year\": ")
            c.int(years[i].year)
            c.raw(", \"songs\": ")
            c.int(Int64(years[i].songs))
            c.raw("}")
            out.commit(c)
        }
        out.endSuccessList()
    }
}
