import TestSupport
import XCTest
@testable import AvalonCore

final class IDTests: XCTestCase {
    func testSpecExamples() {
        XCTAssertEqual(ItemID.album("¡Uno!").uuidString, "32792eb5-03ff-5837-9869-d77ac9b5c99f")
        XCTAssertEqual(ItemID.artist("Minor Threat").uuidString, "debcc564-211b-559c-b810-e72598bdaf47")
        XCTAssertEqual(ItemID.genre("Punk Ska").uuidString, "3af7ba62-d87f-5258-af62-d7c5655ec567")
        XCTAssertEqual(ItemID.song(path: "/music/Voodoo_Glow_Skulls/02-adicción,_tradición,_revolución.ogg").uuidString,
                       "56b33b92-d5b6-5971-b166-dc959b442c0c")
    }

    func testNamesDifferingInCaseShareAnID() {
        XCTAssertEqual(ItemID.artist("MINOR THREAT"), ItemID.artist("minor threat"))
        XCTAssertEqual(ItemID.album("ΣΩΚΡΑΤΗΣ"), ItemID.album("σωκρατης"))
        XCTAssertNotEqual(ItemID.album("ΣΩΚΡΑΤΗΣ"), ItemID.album("σωκρατησ"))
        // Song paths keep their case.
        XCTAssertNotEqual(ItemID.song(path: "/a/B.mp3"), ItemID.song(path: "/a/b.mp3"))
    }

    func testPythonLowercasing() {
        XCTAssertEqual(pythonLowercased("ΣΩΚΡΑΤΗΣ"), "σωκρατης")
        XCTAssertNotEqual("ΣΩΚΡΑΤΗΣ".lowercased(), "σωκρατης", "if Swift learns final sigma this helper can go")
        XCTAssertEqual(pythonLowercased("ΟΔΥΣΣΕΥΣ ΚΑΙ"), "οδυσσευς και")
        XCTAssertEqual(pythonLowercased("Σ"), "σ")           // no cased letter before it
        XCTAssertEqual(pythonLowercased("ΑΣ'Α"), "ασ'α")     // cased letter after the apostrophe
        XCTAssertEqual(pythonLowercased("İstanbul"), "i̇stanbul")
        XCTAssertEqual(pythonLowercased("ПРИВЕТ Мир"), "привет мир")
        XCTAssertEqual(pythonLowercased("ÀÉÎ ẞ"), "àéî ß")
        XCTAssertEqual(pythonLowercased("日本 🎸 ABC"), "日本 🎸 abc")
    }

    func testHexRoundTrip() {
        let id = ItemID.album("x")
        XCTAssertEqual(ItemID(hex32: id.hex32), id)
        XCTAssertEqual(id.hex32.count, 32)
        XCTAssertEqual(id.hex32, id.hex32.lowercased())
        XCTAssertEqual(ItemID(hex32: id.hex32.uppercased()), id)
        XCTAssertNil(ItemID(hex32: String(id.hex32.dropLast())))
        XCTAssertNil(ItemID(hex32: "g" + String(id.hex32.dropFirst())))
        XCTAssertEqual(id.bytes.withUnsafeBytes { ItemID(bytes: $0) }, id)
    }

    /// The answers' UUID writer against `uuidString`: every byte value at
    /// every place, and seeded random ids.
    func testWrittenUUIDsEveryByteEveryPlace() {
        func written(_ id: ItemID) -> String {
            var bytes = [UInt8](repeating: 0, count: JSONCursor.maxBytesUUID)
            let n = bytes.withUnsafeMutableBufferPointer { b -> Int in
                var c = JSONCursor(b.baseAddress!)
                c.uuid(id)
                return c.p - b.baseAddress!
            }
            return String(decoding: bytes[..<n], as: UTF8.self)
        }
        var ids: [ItemID] = []
        for place in 0..<16 {
            for v in 0..<256 {
                let shift = UInt64(8 * (place % 8))
                ids.append(place < 8 ? ItemID(hi: UInt64(v) << shift, lo: 0) : ItemID(hi: 0, lo: UInt64(v) << shift))
            }
        }
        let seed: UInt64 = 0x5EED_0012
        print("IDTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        for _ in 0..<1000 { ids.append(ItemID(hi: rng.next(), lo: rng.next())) }
        for id in ids { XCTAssertEqual(written(id), "\"" + id.uuidString + "\"") }
    }

    /// Every byte value at every place of an id: taken as the digit it is
    /// (either case) or refused, as a byte-by-byte parse takes it.
    func testHexDigitsEveryByteEveryPlace() {
        let digits = Array("0123456789abcdef".utf8)
        func value(_ b: UInt8) -> UInt64? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt64(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt64(b - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        var rng = SeededGenerator(test: #function)
        for place in 0..<32 {
            var base = (0..<32).map { _ in digits[Int.random(in: 0..<16, using: &rng)] }
            if place % 2 == 0 { base = base.map { $0 >= UInt8(ascii: "a") ? $0 - 0x20 : $0 } }  // upper case too
            for b in 0...255 {
                var bytes = base
                bytes[place] = UInt8(b)
                var expected: ItemID? = ItemID(hi: 0, lo: 0)
                for (i, c) in bytes.enumerated() {
                    guard let v = value(c) else { expected = nil; break }
                    if i < 16 { expected!.hi |= v << UInt64(4 * (15 - i)) } else { expected!.lo |= v << UInt64(4 * (31 - i)) }
                }
                XCTAssertEqual(ItemID(hex32: bytes), expected, "\(bytes)")
            }
        }
    }

    func testParsingClientForms() {
        let id = ItemID(hex32: "debcc564211b559cb810e72598bdaf47")!
        for form in ["debcc564-211b-559c-b810-e72598bdaf47", "DEBCC564211B559CB810E72598BDAF47",
                     "{debcc564-211b-559c-b810-e72598bdaf47}", "urn:uuid:debcc564-211b-559c-b810-e72598bdaf47",
                     "de-bc-c564211b559cb810e72598bdaf47-", "DEBCC564-211B-559C-B810-E72598BDAF47",
                     "debcc564-211b-559c-b810-e7-2598bdaf47"] {
            XCTAssertEqual(ItemID(parsing: form), id, form)
        }
        for bad in ["", "debcc564", "debcc564-211b-559c-b810-e72598bdaf4", "debcc564-211b-559c-b810-e72598bdaf477",
                    "xebcc564-211b-559c-b810-e72598bdaf47", " debcc564211b559cb810e72598bdaf47", "not-a-uuid",
                    "debcc564-211b-559c-b810-e72598bdaf4g", "debcc564-211b-559c-b810-e72598bda-47"] {
            XCTAssertNil(ItemID(parsing: bad), bad)
        }
    }

    func testOrderingIsNumeric() {
        let a = ItemID(hex32: "0fffffffffffffffffffffffffffffff")!
        let b = ItemID(hex32: "10000000000000000000000000000000")!
        XCTAssertLessThan(a, b)
    }
}
