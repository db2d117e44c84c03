import TestSupport
import XCTest
@testable import AvalonCore

final class OrderTests: XCTestCase {
    /// Sorts the fixture's JSON the slow obvious way and checks every field,
    /// both directions, for the whole list and for a filtered one.
    func testEveryFieldBothDirections() {
        let c = buildFixture()
        for field in SongField.allCases.map(\.rawValue) {
            for dir in ["asc", "desc"] {
                for filter in ["", "&query=love", "&genre=punk"] {
                    let a = ask(c, .songs, "order=\(field)&direction=\(dir)\(filter)")
                    XCTAssertEqual(a.status, 200)
                    let keys = a.success.map { sortKey($0[field]!, field) }
                    let expected = dir == "asc" ? keys.sorted(by: lessThan) : keys.sorted(by: lessThan).reversed()
                    XCTAssertEqual(keys.map(\.description), expected.map(\.description), "\(field) \(dir) \(filter)")
                    XCTAssertEqual(a.success.count, ask(c, .songs, String(filter.dropFirst())).success.count)
                }
            }
        }
        for e in [Endpoint.albums, .artists, .genres] {
            for field in ["id", "name"] {
                for dir in ["asc", "desc"] {
                    let a = ask(c, e, "order=\(field)&direction=\(dir)")
                    let keys = a.success.map { sortKey($0[field]!, field) }
                    let expected = dir == "asc" ? keys.sorted(by: lessThan) : keys.sorted(by: lessThan).reversed()
                    XCTAssertEqual(keys.map(\.description), expected.map(\.description), "\(e) \(field) \(dir)")
                }
            }
        }
    }

    enum Key: CustomStringConvertible {
        case int(Int64), bytes([UInt8])
        var description: String {
            switch self {
            case .int(let v): return "\(v)"
            case .bytes(let b): return String(decoding: b, as: UTF8.self)
            }
        }
    }

    func sortKey(_ v: Any, _ field: String) -> Key {
        if let n = v as? Int { return .int(Int64(n)) }
        let s = v as! String
        // Ids compare as numbers: the hex digits in order do that.
        return .bytes(Array((field.hasSuffix("id") ? s.replacingOccurrences(of: "-", with: "") : s).utf8))
    }

    func lessThan(_ a: Key, _ b: Key) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.bytes(let x), .bytes(let y)): return x.lexicographicallyPrecedes(y)
        default: return false
        }
    }

    func testCodePointOrderNotLocaleOrder() {
        let c = buildFixture()
        let names = ask(c, .artists, "order=name").names
        XCTAssertEqual(names, ["", "Band\\Slash", "Bill Withers", "Jawbreaker", "Minor Threat", "Voodoo Glow Skulls", "Σωκράτης", "Кино"])
    }

    func testPaging() {
        let c = buildFixture()
        let all = ask(c, .songs, "order=name").names
        XCTAssertEqual(all.count, 10)
        XCTAssertEqual(ask(c, .songs, "order=name&limit=0").names, [])
        XCTAssertEqual(ask(c, .songs, "order=name&limit=3").names, Array(all[0..<3]))
        XCTAssertEqual(ask(c, .songs, "order=name&limit=3&offset=8").names, Array(all[8...]))
        XCTAssertEqual(ask(c, .songs, "order=name&limit=3&offset=10").names, [])
        XCTAssertEqual(ask(c, .songs, "order=name&limit=3&offset=99999999999999999999").names, [])
        XCTAssertEqual(ask(c, .songs, "order=name&limit=99999999999999999999&offset=2").names, Array(all[2...]))
        XCTAssertEqual(ask(c, .songs, "order=name&offset=5").names, all)
        XCTAssertEqual(ask(c, .songs, "order=name&direction=desc&limit=2&offset=1").names, Array(all.reversed()[1..<3]))
        // Pages of an unordered list are stable and cover it exactly once.
        let pages = (0..<4).flatMap { ask(c, .songs, "limit=3&offset=\($0 * 3)").names }
        XCTAssertEqual(pages, ask(c, .songs, "").names)
        let love = ask(c, .songs, "query=lov&order=year&direction=desc&limit=2&offset=1")
        XCTAssertEqual(love.success.map { $0["year"] as! Int }, [1977, 0])
    }

    /// `ordered` has three ways to a page: walking the order prepared at load
    /// (large selections), sorting the selection (small ones), and keeping the
    /// best offset+limit in a heap (small pages of many matches). Each must
    /// give what a naive full sort gives, ties (many equal keys) included.
    func testEveryOrderingPathAgainstANaiveSort() throws {
        var rng = SeededGenerator(test: #function)
        let total = 4000
        let c = buildFixture()
        // Few distinct keys: most comparisons are ties, broken by position.
        let keys: [UInt64] = (0..<total).map { _ in UInt64.random(in: 0..<12, using: &rng) }
        func ascending(_ x: UInt32, _ y: UInt32) -> Bool {
            let (a, b) = (keys[Int(x)], keys[Int(y)])
            return a != b ? a < b : x < y
        }
        let globalAsc: [UInt32] = (0..<UInt32(total)).sorted(by: ascending)
        for size in [1, 7, 60, 400, 499, 501, 1500, 3999, 4000] {
            let shuffled: [UInt32] = (0..<UInt32(total)).shuffled(using: &rng)
            let list: [UInt32] = Array(shuffled.prefix(size)).sorted()
            for direction in ["asc", "desc"] {
                let pages: [(Int?, Int)] = [(nil, 0), (10, 0), (10, 5), (1, 0), (0, 0), (50, 30), (size, 0), (3, max(0, size - 2)), (5, size + 4)]
                for (limit, offset) in pages {
                    var q = "order=year&direction=\(direction)&offset=\(offset)"
                    if let limit { q += "&limit=\(limit)" }
                    let paging = try Paging(QueryParameters(queryString: q), fields: ["year"])
                    let naive: [UInt32] = direction == "asc" ? list.sorted(by: ascending) : list.sorted(by: ascending).reversed()
                    let expected = limit.map { Array(naive.dropFirst(offset).prefix($0)) } ?? naive
                    for selection in [Selection.list(list), .bits(Bitmap(list, capacity: total))] {
                        let got = c.ordered(selection, total: total, paging: paging, globalOrder: globalAsc) { keys[Int($0)] }
                        XCTAssertEqual(got, expected, "size \(size) \(q)")
                    }
                }
            }
        }
        // The heap alone, where every key ties and where all differ.
        for k in [1, 2, 10, 99] {
            let list = (0..<UInt32(300)).map { $0 }
            XCTAssertEqual(c.topK(list, k, descending: false) { _ in 7 }, Array(list.prefix(k)))
            XCTAssertEqual(c.topK(list, k, descending: true) { _ in 7 }, Array(list.reversed().prefix(k)))
            XCTAssertEqual(c.topK(list, k, descending: true) { UInt64($0) * 3 % 301 }, Array(list.sorted { $0 * 3 % 301 > $1 * 3 % 301 }.prefix(k)))
        }
    }
}
