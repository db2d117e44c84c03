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

    /// 32 hex digits as an id, against a plain model: every byte value at
    /// every place of a valid id, and seeded random strings of hex digits,
    /// near misses ('/', ':', '@', 'G', '`', 'g', 0x80+) and any bytes.
    func testHex32AgreesWithAPlainModel() {
        func model(_ b: [UInt8]) -> ItemID? {
            guard b.count == 32 else { return nil }
            var v: [UInt64] = []
            for c in b {
                switch c {
                case 0x30...0x39: v.append(UInt64(c - 0x30))
                case 0x41...0x46: v.append(UInt64(c - 0x41 + 10))
                case 0x61...0x66: v.append(UInt64(c - 0x61 + 10))
                default: return nil
                }
            }
            return ItemID(hi: v[0..<16].reduce(0) { $0 << 4 | $1 }, lo: v[16..<32].reduce(0) { $0 << 4 | $1 })
        }
        let seed: UInt64 = 20261131
        print("IDTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let digits = Array("0123456789abcdefABCDEF".utf8), near = Array("/:@G`g".utf8) + [0x00, 0x7F, 0x80, 0xB0, 0xC6, 0xE6, 0xFF]
        let valid = Array("0123456789abcdefFEDCBA9876543210".utf8)
        var checked = 0
        for place in 0..<32 {
            for byte in UInt8.min...UInt8.max {
                var b = valid
                b[place] = byte
                XCTAssertEqual(b.withUnsafeBufferPointer { ItemID(hex32: $0) }, model(b), "byte \(byte) at \(place)")
                checked += 1
            }
        }
        for _ in 0..<20_000 {
            let b = (0..<32).map { _ -> UInt8 in
                switch rng.next() % 16 {
                case 0: return near[Int(rng.next() % UInt64(near.count))]
                case 1: return UInt8(truncatingIfNeeded: rng.next())
                default: return digits[Int(rng.next() % UInt64(digits.count))]
                }
            }
            XCTAssertEqual(b.withUnsafeBufferPointer { ItemID(hex32: $0) }, model(b), String(decoding: b, as: UTF8.self).debugDescription)
            checked += 1
        }
        XCTAssertEqual(model(valid), ItemID(hi: 0x0123_4567_89AB_CDEF, lo: 0xFEDC_BA98_7654_3210))
        XCTAssertNil(Array(valid.prefix(31)).withUnsafeBufferPointer { ItemID(hex32: $0) })
        XCTAssertEqual(checked, 32 * 256 + 20_000)
    }
}
