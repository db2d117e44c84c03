import TestSupport
import XCTest
@testable import AvalonCore

final class QueryTests: XCTestCase {
    let c = buildFixture()

    func assertError(_ e: Endpoint, _ qs: String, code: Int, status: Int, message: String, payload: [String: AnyHashable],
                     file: StaticString = #filePath, line: UInt = #line) {
        let a = ask(c, e, qs)
        XCTAssertEqual(a.status, status, qs, file: file, line: line)
        XCTAssertTrue(a.json["success"] is NSNull, qs, file: file, line: line)
        XCTAssertEqual((a.json["warnings"] as? [Any])?.count, 0, file: file, line: line)
        let err = a.error ?? [:]
        XCTAssertEqual(err["code"] as? Int, code, qs, file: file, line: line)
        XCTAssertEqual(err["message"] as? String, message, qs, file: file, line: line)
        let keys = [100: "invalid_input_name", 101: "invalid_input_type", 102: "invalid_input_value"]
        XCTAssertEqual(err["message_key"] as? String, "avalon.service.error." + keys[code]!, file: file, line: line)
        XCTAssertEqual((err["payload"] as? NSDictionary) ?? [:], payload as NSDictionary, qs, file: file, line: line)
    }

    func testErrors() {
        assertError(.songs, "album_id=nope", code: 101, status: 400, message: "Invalid field value for UUID field album_id: 'nope'",
                    payload: ["field": "album_id", "value": "nope"])
        assertError(.songs, "genre_id=x&artist_id=y", code: 101, status: 400, message: "Invalid field value for UUID field artist_id: 'y'",
                    payload: ["field": "artist_id", "value": "y"])
        assertError(.albums, "order=name&direction=up", code: 102, status: 400, message: "Invalid sort direction 'up'",
                    payload: ["direction": "up"])
        assertError(.albums, "order=count", code: 100, status: 400, message: "Invalid order-by field 'count'", payload: ["field": "count"])
        assertError(.songs, "order=index", code: 100, status: 400, message: "Invalid order-by field 'index'", payload: ["field": "index"])
        assertError(.genres, "limit=ten", code: 101, status: 400, message: "Invalid field value for integer field limit: 'ten'",
                    payload: ["field": "limit", "value": "ten"])
        assertError(.genres, "offset=1.5", code: 101, status: 400, message: "Invalid field value for integer field offset: '1.5'",
                    payload: ["field": "offset", "value": "1.5"])
        assertError(.genres, "limit=-1", code: 102, status: 400, message: "The value of limit may not be negative",
                    payload: ["field": "limit", "value": -1])
        assertError(.genres, "limit=1&offset=-3", code: 102, status: 400, message: "The value of offset may not be negative",
                    payload: ["field": "offset", "value": -3])
        assertError(.genres, "limit=", code: 101, status: 400, message: "Invalid field value for integer field limit: ''",
                    payload: ["field": "limit", "value": ""])
        assertError(.genres, "limit=%EF%BC%93", code: 101, status: 400, message: "Invalid field value for integer field limit: '３'",
                    payload: ["field": "limit", "value": "３"])
        // Unescaped quote characters survive into message and payload.
        assertError(.albums, "order=%22%5C%27", code: 100, status: 400, message: "Invalid order-by field '\"\\''",
                    payload: ["field": "\"\\'"])
    }

    func testPrecedence() {
        // UUIDs before order, order direction before field, order before paging, limit before offset.
        assertError(.songs, "limit=x&order=nope&direction=sideways&album_id=bad", code: 101, status: 400,
                    message: "Invalid field value for UUID field album_id: 'bad'", payload: ["field": "album_id", "value": "bad"])
        assertError(.songs, "limit=x&order=nope&direction=sideways", code: 102, status: 400,
                    message: "Invalid sort direction 'sideways'", payload: ["direction": "sideways"])
        assertError(.songs, "limit=x&order=nope", code: 100, status: 400,
                    message: "Invalid order-by field 'nope'", payload: ["field": "nope"])
        assertError(.songs, "offset=y&limit=x", code: 101, status: 400,
                    message: "Invalid field value for integer field limit: 'x'", payload: ["field": "limit", "value": "x"])
        // Offset must be an integer even without limit; negative offset only matters with a limit.
        assertError(.songs, "offset=y", code: 101, status: 400,
                    message: "Invalid field value for integer field offset: 'y'", payload: ["field": "offset", "value": "y"])
        XCTAssertEqual(ask(c, .songs, "offset=-4").success.count, fixtureSongs.count)
        assertError(.songs, "limit=-1&offset=-1", code: 102, status: 400,
                    message: "The value of limit may not be negative", payload: ["field": "limit", "value": -1])
        // Direction without order is ignored; album_id is not a parameter of /albums.
        XCTAssertEqual(ask(c, .songs, "direction=sideways").status, 200)
        XCTAssertEqual(ask(c, .albums, "album_id=bad").status, 200)
        // Validated even when the result is empty.
        assertError(.songs, "query=zzzz&order=count", code: 100, status: 400, message: "Invalid order-by field 'count'", payload: ["field": "count"])
    }

    func testFilters() {
        XCTAssertEqual(Set(ask(c, .songs, "artist=jawBREAKER").names), ["This Is Giving Up", "Accident Prone", "love"])
        XCTAssertEqual(Set(ask(c, .songs, "artist=Jawbreaker&year=1990&album=DEAR+YOU&query=love").names), ["love"])
        XCTAssertEqual(ask(c, .songs, "artist=nobody").names, [])
        XCTAssertEqual(ask(c, .songs, "artist=jawbreaker&genre=soul").names, [])
        XCTAssertEqual(ask(c, .songs, "album=%CE%95%CE%9B%CE%9B%CE%97%CE%9D%CE%99%CE%9A%CE%AC").names, ["ΣΩΚΡΑΤΗΣ  και  φίλοι"])
        XCTAssertEqual(ask(c, .songs, "artist=σωκράτης").names, ["ΣΩΚΡΑΤΗΣ  και  φίλοι"])
        let id = ItemID.artist("Minor Threat")
        XCTAssertEqual(ask(c, .songs, "artist_id=" + id.uuidString).names, ["Straight Edge"])
        XCTAssertEqual(ask(c, .songs, "artist_id=urn:uuid:" + id.hex32.uppercased()).names, ["Straight Edge"])
        XCTAssertEqual(ask(c, .songs, "artist_id={" + id.uuidString + "}").names, ["Straight Edge"])
        XCTAssertEqual(ask(c, .songs, "artist_id=" + ItemID.artist("nobody").uuidString).names, [])
        XCTAssertEqual(ask(c, .songs, "genre_id=\(ItemID.genre("punk").uuidString)&album_id=\(ItemID.album("dear you").uuidString)").names.count, 3)
        XCTAssertEqual(ask(c, .songs, "genre=").names, ["Love\tTabs\nand lines"])
        // First value of a repeated parameter counts; unknown parameters are ignored.
        XCTAssertEqual(ask(c, .songs, "artist=кино&artist=jawbreaker&foo=bar").names, ["Кино \"Группа крови\""])
    }

    func testSongJSON() {
        let a = ask(c, .songs, "query=straight")
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(a.success.count, 1)
        let s = a.success[0]
        XCTAssertEqual(Set(s.keys), ["id", "name", "length", "track", "year", "album", "album_id", "artist", "artist_id", "genre", "genre_id"])
        XCTAssertEqual(s["id"] as? String, ItemID.song(path: "/m/3.ogg").uuidString)
        XCTAssertEqual(s["album_id"] as? String, ItemID.album("Complete Discography").uuidString)
        XCTAssertEqual(s["artist"] as? String, "Minor Threat")
        XCTAssertEqual(s["length"] as? Int, 45)
        XCTAssertEqual(s["track"] as? Int, 2)
        XCTAssertEqual(s["year"] as? Int, 1981)
        let body = String(decoding: c.respond(.songs, QueryParameters(queryString: "query=tabs")).body, as: UTF8.self)
        XCTAssertTrue(body.contains("\"Love\\tTabs\\nand lines\""), body)
        XCTAssertTrue(body.contains("\"track\": 99999999999"), body)
        XCTAssertTrue(body.hasPrefix("{\"errors\": [], \"success\": [{"), body)
        XCTAssertTrue(body.hasSuffix("}], \"warnings\": []}"), body)
        let empty = String(decoding: c.respond(.songs, QueryParameters(queryString: "query=zzz")).body, as: UTF8.self)
        XCTAssertEqual(empty, "{\"errors\": [], \"success\": [], \"warnings\": []}")
    }

    func testJSONEscapesControlCharacters() {
        var w = JSONWriter()
        w.string("a\u{0}b\u{1F}\"\\/\u{7F}é😀\r\u{8}\u{C}")
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), "\"a\\u0000b\\u001f\\\"\\\\/\u{7F}é😀\\r\\b\\f\"")
        var n = JSONWriter()
        for v: Int64 in [0, -1, 42, Int64.max, Int64.min] { n.int(v); n.raw(",") }
        XCTAssertEqual(String(decoding: n.bytes, as: UTF8.self), "0,-1,42,9223372036854775807,-9223372036854775808,")
    }

    func testIntegers() {
        XCTAssertEqual(parseInteger(" 12 "), 12)
        XCTAssertEqual(parseInteger("+3"), 3)
        XCTAssertEqual(parseInteger("-0"), 0)
        XCTAssertEqual(parseInteger("007"), 7)
        XCTAssertEqual(parseInteger("\t-5\n\u{0B}"), -5)
        XCTAssertEqual(parseInteger("\u{1C}8\u{1F}"), 8)   // Python strips these too
        XCTAssertEqual(parseInteger("\u{3000}9"), 9)
        XCTAssertEqual(parseInteger("999999999999999999"), 999_999_999_999_999_999)
        XCTAssertEqual(parseInteger("9223372036854775807"), Int64.max)
        XCTAssertEqual(parseInteger("99999999999999999999"), Int64.max)
        XCTAssertEqual(parseInteger("-99999999999999999999"), Int64.min)
        for bad in ["", " ", "+", "1_0", "1.0", "0x10", "１", "1 2", "--1"] { XCTAssertNil(parseInteger(bad), bad) }
    }

    func testQueryStringDecoding() {
        let p = QueryParameters(queryString: "a=1+2&b=%41%zz%4&&c&d=x=y&a=again&%61%62=k&e=%FF")
        XCTAssertEqual(p["a"], "1 2")
        XCTAssertEqual(p["b"], "A%zz%4")
        XCTAssertEqual(p["c"], "")
        XCTAssertEqual(p["d"], "x=y")
        XCTAssertEqual(p["ab"], "k")
        XCTAssertEqual(p["e"], "\u{FFFD}")
    }

    /// The keys the API reads are recognised while parsing: escaped, repeated,
    /// invalid and far down the list, they must read as by name.
    func testKnownKeys() {
        let p = QueryParameters(queryString: "%71uer%79=love&limit=5&limit=7&order=&album%FF=x&%FF=y&%FE=z")
        XCTAssertEqual(p[.query], "love")
        XCTAssertEqual(p[.limit], "5")
        XCTAssertEqual(p[.order], "")
        XCTAssertNil(p[.album])
        XCTAssertNil(p[.offset])
        XCTAssertEqual(p["album\u{FFFD}"], "x")
        XCTAssertEqual(p["\u{FFFD}"], "y")   // %FE repairs to the same key: the first is kept
        let many = (0..<40).map { "k\($0)=\($0)" }.joined(separator: "&") + "&offset=3&k1=again"
        let q = QueryParameters(queryString: many)
        XCTAssertEqual(q[.offset], "3")
        XCTAssertEqual(q["k1"], "1")
        XCTAssertEqual(q["k39"], "39")
        XCTAssertNil(q[.limit])
    }
}
