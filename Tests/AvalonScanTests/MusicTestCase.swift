import AvalonScan
import AvalonStore
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

/// The rows and figures of a scan of `root` (a test convenience over `scanFiles`).
/// Reads the files under `root` on all cores and builds the rows to store.
/// With `previous` records (an incremental scan), a file whose size and times
/// match its record is not opened: its record's tags stand. Names differing
/// only in case share one id and keep the first spelling in path order, so
/// the rows are those a full scan of the same tree makes.
func scanCollection(root: String, previous: [FileRecord]? = nil, log: @escaping (String) -> Void,
                    progress: ((ScanStats) -> Void)? = nil) throws -> (CollectionRows, ScanStats) {
    let (rows, _, stats) = try scanFiles(root: root, previous: previous, log: log, progress: progress)
    return (rows, stats)
}
