@testable import AvalonCore
import XCTest

/// The X-Accel-Redirect target of a stream: a stored relative path is
/// untrusted, and what could climb out of the music folder is never named.
final class StreamTargetTests: XCTestCase {
    func uri(_ s: String) -> String? { StreamTarget.uri(prefix: "/m", relativePath: Array(s.utf8)) }

    func testEncodesEachSegment() {
        XCTAssertEqual(uri("a/b.mp3"), "/m/a/b.mp3")
        XCTAssertEqual(uri("Ärzte & Co/01 Über? #1 100%.mp3"),
                       "/m/%C3%84rzte%20%26%20Co/01%20%C3%9Cber%3F%20%231%20100%25.mp3")
        XCTAssertEqual(uri("..a/b..c/.hidden"), "/m/..a/b..c/.hidden", "dots inside names are names")
    }

    func testRefusesWhatCouldClimbOut() {
        for bad in ["", "/etc/passwd", "../etc/passwd", "a/../../etc/passwd", "a/..", "./a", "a/./b", "a//b", "a/",
                    "a\u{0}b", "a\nb", "a\rb", "a\u{7F}b", "a\tb"] {
            XCTAssertNil(uri(bad), bad.debugDescription)
        }
    }

    func testAttachment() {
        XCTAssertEqual(StreamTarget.attachment(relativePath: Array("dir/Über \"x\".mp3".utf8)),
                       "attachment; filename=\"__ber _x_.mp3\"; filename*=UTF-8''%C3%9Cber%20%22x%22.mp3")
    }

    func testContentTypes() {
        for (suffix, type) in [("mp3", "audio/mpeg"), ("ogg", "audio/ogg"), ("opus", "audio/ogg"), ("flac", "audio/flac"), ("m4a", "audio/mp4")] {
            XCTAssertEqual(SongFiles.contentType(suffix: suffix), type)
        }
    }
}
