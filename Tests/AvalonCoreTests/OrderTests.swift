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
}
