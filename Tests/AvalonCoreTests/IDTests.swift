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
