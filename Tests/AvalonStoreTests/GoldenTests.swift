import AvalonCore
import AvalonStore
import Foundation
import TestSupport
import XCTest

/// Answers of the old Python server 0.6.0, recorded from it (gunicorn, see
/// ../shared/REFERENCE.md) over a database its own scanner wrote from
/// deploy/demo-music; ours must match them on that same database.
final class GoldenTests: XCTestCase {
    func testAnswersMatchTheOldServer() throws {
        let dir = Bundle.module.path(forResource: "Golden", ofType: nil)!
        let db = NSTemporaryDirectory() + "/golden-\(getpid()).sqlite"
        try? FileManager.default.removeItem(atPath: db)
        try FileManager.default.copyItem(atPath: dir + "/old-scanner.sqlite", toPath: db)
        defer { try? FileManager.default.removeItem(atPath: db) }
        let collection = try SQLiteStore(path: db).load()
        XCTAssertEqual(collection.songs.count, 7)
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/old-server-answers.json"))) as! [[String: Any]]
        XCTAssertEqual(cases.count, 62)
        for c in cases {
            let endpoint = Endpoint(rawValue: c["endpoint"] as! String)!
            let query = c["query"] as! String
            let label = "\(endpoint.rawValue)?\(query)"
            let ours = collection.respond(endpoint, QueryParameters(queryString: query))
            XCTAssertEqual(ours.status, c["status"] as? Int, label)
            let mine = try JSONSerialization.jsonObject(with: Data(ours.body)) as! [String: Any]
            let theirs = c["body"] as! [String: Any]
            XCTAssertEqual(mine["errors"] as? NSArray, theirs["errors"] as? NSArray, label)
            XCTAssertEqual(mine["warnings"] as? NSArray, theirs["warnings"] as? NSArray, label)
            guard let their = theirs["success"] as? [[String: Any]] else {
                XCTAssertTrue(mine["success"] is NSNull, label)
                continue
            }
            let my = mine["success"] as? [[String: Any]] ?? []
            // Without order= the old order is arbitrary: compare as sets.
            func sorted(_ l: [[String: Any]]) -> [NSDictionary] {
                l.map { $0 as NSDictionary }.sorted { ($0["id"] as! String) < ($1["id"] as! String) }
            }
            XCTAssertEqual(sorted(my), sorted(their), label)
            // With order=, ties may fall either way, but the ordered field's sequence must match.
            let params = QueryParameters(queryString: query)
            if let field = params["order"] {
                XCTAssertEqual(my.map { "\($0[field]!)" }, their.map { "\($0[field]!)" }, label)
            }
        }
    }
}
