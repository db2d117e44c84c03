import Foundation
import TestSupport
import XCTest
@testable import AvalonCore

/// `years`: the distinct years of the songs with their counts, ordered and
/// paged as the other lists are.
final class YearsTests: XCTestCase {
    func pairs(_ a: Answer) -> [[Int]] { a.success.map { [$0["year"] as! Int, $0["songs"] as! Int] } }

    func testYearsWithTheirSongCounts() {
        let c = buildFixture()
        // Counted from the fixture by hand: 1995 ×3, one each otherwise (0 and -1 are kept: the tags said so).
        let expected = [[-1, 1], [0, 1], [1977, 1], [1981, 1], [1988, 1], [1990, 1], [1995, 3], [2001, 1]]
        XCTAssertEqual(pairs(ask(c, .years, "")), expected)
        XCTAssertEqual(pairs(ask(c, .years, "order=year&direction=desc")), expected.reversed())
        XCTAssertEqual(pairs(ask(c, .years, "order=songs&direction=desc&limit=1")), [[1995, 3]])
        XCTAssertEqual(pairs(ask(c, .years, "order=songs&limit=2")), [[-1, 1], [0, 1]], "ties keep year order")
        XCTAssertEqual(pairs(ask(c, .years, "limit=2&offset=6")), [[1995, 3], [2001, 1]])
        XCTAssertEqual(pairs(ask(c, .years, "offset=100&limit=5")), [])
        XCTAssertEqual(ask(c, .years, "query=anything").success.count, expected.count, "unknown parameters are ignored")
        XCTAssertEqual(ask(c, .years, "order=name").status, 400)
        XCTAssertEqual(ask(c, .years, "order=name").error?["code"] as? Int, 100)
        XCTAssertEqual(ask(c, .years, "order=year&direction=up").error?["code"] as? Int, 102)
        XCTAssertEqual(ask(c, .years, "limit=x").error?["code"] as? Int, 101)
        XCTAssertEqual(ask(c, .years, "limit=-1").error?["code"] as? Int, 102)
        XCTAssertEqual(pairs(ask(buildFixture([]), .years, "")), [])
    }

    /// A seeded random collection: the counts equal a plain count of its songs.
    func testCountsMatchASongCount() {
        var g = SeededGenerator(test: "YearsTests")
        var list: [FixtureSong] = []
        for i in 0..<500 {
            let year = Int64.random(in: 1950...1960, using: &g)
            list.append(.init(path: "/r/\(i).mp3", title: "t\(i)", album: "a", artist: "b", genre: "g", length: 1, track: 1, year: year))
        }
        let counts = Dictionary(grouping: list, by: \.year).mapValues(\.count)
        let expected = counts.keys.sorted().map { [Int($0), counts[$0]!] }
        XCTAssertEqual(pairs(ask(buildFixture(list), .years, "")), expected)
    }
}
