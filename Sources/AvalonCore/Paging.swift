/// Order and paging, validated in the old server's order.
struct Paging {
    var order: String?
    var descending = false
    var limit: Int64?
    var offset: Int64 = 0

    init(_ p: QueryParameters, fields: [String]) throws {
        if let order = p[.order] {
            let direction = p[.direction] ?? "asc"
            guard direction == "asc" || direction == "desc" else { throw APIError.invalidDirection(direction) }
            guard fields.contains(order) else { throw APIError.invalidName(order) }
            self.order = order
            descending = direction == "desc"
        }
        if let s = p[.limit] {
            guard let v = parseInteger(s) else { throw APIError.invalidType("limit", s, "integer") }
            limit = v
        }
        if let s = p[.offset] {
            guard let v = parseInteger(s) else { throw APIError.invalidType("offset", s, "integer") }
            offset = v
        }
        if let l = limit {
            if l < 0 { throw APIError.negative("limit", l) }
            if offset < 0 { throw APIError.negative("offset", offset) }
        }
    }

    /// The positions of an ordered list of `count` items that are returned.
    func window(_ count: Int) -> Range<Int> {
        guard let l = limit else { return 0..<count }
        let start = Int(min(offset, Int64(count)))
        let end = Int(min(Int64(count), offset.addingReportingOverflow(l).overflow ? Int64.max : offset + l))
        return start..<max(start, end)
    }
}
