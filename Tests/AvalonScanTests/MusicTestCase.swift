import Foundation
import TestSupport
import XCTest

/// A test with a temp dir of its own and the audio fixtures at hand.
class MusicTestCase: XCTestCase {
    var dir = ""
    var fixtures = ""
    override func setUp() {
        dir = makeTempDir()
        fixtures = Bundle.module.path(forResource: "Fixtures", ofType: nil)!
    }
    override func tearDown() {
        // Tests that take permissions away leave folders root may enter but not list elsewhere.
        _ = try? runProgram(["/bin/chmod", "-R", "u+rwx", dir])
        removeTree(dir)
    }
}
