import AvalonCore
import CTagLib
import Glibc

/// What reading one file's tags gave.
enum TagOutcome {
    case tags(SongTags)
    /// Not audio, or it crashed or hung the reader: recorded, and not read
    /// again until it changes.
    case skipped(String)
    /// Could not be opened (permissions, I/O): its stored record stands and
    /// it is read again next time.
    case unreadable(String)
    /// A folder image (`cover.jpg`, …), stored in the cover cache under this name.
    case folderImage(String)
}

/// Seconds a file may take in a tag reader before it counts as hung. Far
/// beyond any real file, even on a slow network mount: a file that times
/// out is skipped until it changes (or a --full scan).
func tagReadTimeout() -> Double {
    guard let raw = getenv("AVALON_TEST_READER_TIMEOUT"), let v = Double(String(cString: raw)), v > 0 else { return 30 }
    return v
}

/// Reads the tags of `files` in child processes, one per thread (a crash or
/// an endless loop costs one file; the child is replaced), `batch` files a
/// request. `done` gets each batch's outcomes with their indexes in `files`,
/// and its warnings, one batch at a time. With `pictureDir`, the children
/// store each file's picture and each folder image there (see pictures.cpp),
/// only of files whose real path is under `musicRoot` (the root's real path).
func readTagsInChildren(_ files: [ListedFile], threads: Int, batch: Int = 64, timeout: Double = tagReadTimeout(),
                        pictureDir: String? = nil, musicRoot: String? = nil,
                        done: @escaping ([(Int, TagOutcome)], [String]) -> Void) {
    guard !files.isEmpty else { return }
    let dir = pictureDir.map { strdup($0)! }
    let realRoot = musicRoot.map { strdup($0)! }
    defer { free(dir); free(realRoot) }
    let lock = Lock()
    var next = 0
    let batches = (files.count + batch - 1) / batch
    onThreads(min(threads, batches)) { _ in
        var reader = avalon_reader(pid: 0, fd: -1, picture_dir: dir.map { UnsafePointer($0) },
                                   music_root: realRoot.map { UnsafePointer($0) })
        defer { avalon_reader_stop(&reader) }
        while let start = lock.locked({ () -> Int? in
            guard next < files.count else { return nil }
            defer { next += batch }
            return next
        }) {
            let range = start..<min(files.count, start + batch)
            var outcomes: [(Int, TagOutcome)] = []
            var warnings: [String] = []
            // The paths as the system's bytes, NUL-terminated, in one buffer.
            var bytes: [UInt8] = []
            var offsets: [Int] = []
            for i in range {
                offsets.append(bytes.count)
                bytes += PathBytes.bytes(files[i].path)
                bytes.append(0)
            }
            let follow = range.map { files[$0].link ? UInt8(1) : 0 }
            var results = [avalon_read_result](repeating: avalon_read_result(), count: range.count)
            bytes.withUnsafeBufferPointer { b in
                let base = UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self)
                let paths: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
                avalon_reader_read(&reader, paths, follow, Int32(range.count), &results, Int32(min(timeout * 1000, 2e9)))
            }
            for (k, i) in range.enumerated() {
                let why = withUnsafeBytes(of: results[k].err) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
                let picture = withUnsafeBytes(of: results[k].picture.name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
                switch Int(results[k].status) {
                case Int(AVALON_READ_OK):
                    var tags = songTags(results[k].tags, path: files[i].path) { warnings.append($0) }
                    (tags.picture, tags.pictureFront) = (picture, results[k].picture.front != 0)
                    outcomes.append((i, .tags(tags)))
                    avalon_free_tags(&results[k].tags)
                case Int(AVALON_READ_UNREADABLE): outcomes.append((i, .unreadable(why)))
                case _ where !picture.isEmpty: outcomes.append((i, .folderImage(picture)))
                default: outcomes.append((i, .skipped(why)))
                }
            }
            lock.locked { done(outcomes, warnings) }
        }
    }
}
