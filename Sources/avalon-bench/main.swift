// Benchmark of the collection: generate a synthetic database, then load it
// and time the queries that matter. Figures, not assertions.
//   avalon-bench generate TRACKS DB_URL
//   avalon-bench load DB_URL   (AVALON_BENCH_PHASES=1: when each phase of the load ended)
//   avalon-bench make-music SOURCE_DIR DEST_DIR COUNT [MB]   (tagged copies of SOURCE_DIR's files; MB: grown to
//     that size by a hole after their first 4 KiB, where audio would be: tags stay at both ends, the disk holds little)
//   avalon-bench tag FILE TITLE ALBUM ARTIST GENRE TRACK DATE
//   avalon-bench add-covers DIR KB   (make-music's albums get covers of KB each: even albums a cover.jpg,
//     odd ones the picture embedded in each of their files)
import AvalonCore
import AvalonScan
import AvalonTagWriter
import TestSupport
import CSystem
import AvalonServer
import AvalonStore
import Foundation

/// Writes a buffer larger than L2 so the next request starts with cold caches.
enum Eviction {
    /// Allocated at first use, after the resident size is taken.
    nonisolated(unsafe) static var buffer = [UInt64](repeating: 1, count: 1 << 20)
}

func evictCaches() {
    Eviction.buffer.withUnsafeMutableBufferPointer { b in
        for i in stride(from: 0, to: b.count, by: 8) { b[i] &+= 1 }
    }
}

func residentMB() -> Double {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(cString: line)
        if s.hasPrefix("VmRSS:") {
            return Double(s.split(separator: " ")[1])! / 1024
        }
    }
    return 0
}

extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func generate(tracks: Int, url: DatabaseURL) throws {
    var rng = SplitMix64(seed: 42)
    let syllables = ["lo", "ve", "ka", "ri", "son", "mar", "tel", "din", "ga", "po", "the", "un", "der", "sky", "fire", "moon"]
    var words = ["love", "the", "night", "blue", "heart", "Café", "Über", "東京", "Σωκράτης", "Кино"]
    while words.count < 5000 {
        let n = 1 + rng.below(3)
        words.append((0..<n).map { _ in syllables[rng.below(syllables.count)] }.joined())
    }
    func name(_ r: inout SplitMix64) -> String {
        let n = 1 + r.below(5)
        return (0..<n).map { _ in let w = words[r.below(words.count)]; return r.below(3) == 0 ? w.capitalizedFirst() : w }.joined(separator: " ")
    }
    var rows = CollectionRows()
    func named(_ count: Int, _ f: (String) -> ItemID) -> [CollectionRows.Named] {
        var seen = Set<ItemID>()
        var out: [CollectionRows.Named] = []
        while out.count < count {
            let n = name(&rng)
            let id = f(n)
            if seen.insert(id).inserted { out.append(.init(id: id, name: n)) }
        }
        return out
    }
    rows.albums = named(max(1, tracks * 7 / 100), ItemID.album)
    rows.artists = named(max(1, tracks * 45 / 1000), ItemID.artist)
    rows.genres = named(150, ItemID.genre)
    rows.tracks.reserveCapacity(tracks)
    for i in 0..<tracks {
        rows.tracks.append(.init(id: ItemID.song(path: "/music/\(i).mp3"), name: name(&rng), length: Int64(rng.below(600)),
                                 track: Int64(rng.below(20)), year: Int64(1950 + rng.below(75)),
                                 album: rows.albums[rng.below(rows.albums.count)].id,
                                 artist: rows.artists[rng.below(rows.artists.count)].id,
                                 genre: rows.genres[rng.below(rows.genres.count)].id))
    }
    let store = try openStore(url)
    let t0 = monotonicSeconds()
    if getenv("AVALON_BENCH_FILES") != nil {
        // The scanner's per-file facts too (avalon_files, the music folder): what the Subsonic API loads beside the songs.
        let files = rows.tracks.enumerated().map { i, t -> FileRecord in
            var tags = FileTags()
            (tags.title, tags.track, tags.year, tags.length, tags.bitRate, tags.disc) = ("t", t.track, t.year, t.length, 128 + Int64(i % 192), 1)
            var r = FileRecord(path: "/music/\(i).mp3", size: 3_000_000 + Int64(i % 5_000_000), mtime: 1_600_000_000_000_000_000, ctime: 1_600_000_000_000_000_000,
                               racy: false, tags: tags, created: 1_600_000_000 + Int64(i))
            r.song = t.id
            return r
        }
        var write = ScanWrite(rows: rows, files: files, scanner: "avalon-bench")
        write.folder = MusicFolder(root: "/music", prefix: "/music")
        _ = try store.write(write, check: { _ in })
    } else {
        try store.replace(with: rows)
    }
    let dt = monotonicSeconds() - t0
    let total = rows.tracks.count + rows.albums.count + rows.artists.count + rows.genres.count
    print(String(format: "write %@: %ld rows in %.2f s = %.0f rows/s", url.description, total, dt, Double(total) / dt))
}

extension String {
    func capitalizedFirst() -> String { prefix(1).uppercased() + dropFirst() }
}

func load(url: DatabaseURL) throws {
    let rss0 = residentMB()
    let t0 = monotonicSeconds()
    if getenv("AVALON_BENCH_PHASES") != nil {
        // Page faults and CPU too: at 10M a fresh page costs several µs of
        // system time, so the memory a phase touches shows in its time.
        func usage() -> (faults: Int, cpu: Double) {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
            return (u.ru_minflt, s(u.ru_utime) + s(u.ru_stime))
        }
        let u0 = usage()
        // And the CPU of the thread that ended the phase since its last one:
        // phases run side by side, so a phase's own cost shows only here.
        let lock = NSLock()
        nonisolated(unsafe) var lastOf: [pthread_t: Double] = [:]
        LoadPhases.ended = { what in
            let u = usage()
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            let cpu = Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
            let tid = pthread_self()
            let own = lock.withLock { () -> Double in
                defer { lastOf[tid] = cpu }
                // A thread id may be reused by a later thread, whose CPU starts at 0.
                let last = lastOf[tid] ?? 0
                return cpu >= last ? cpu - last : cpu
            }
            print("  " + what.padding(toLength: 19, withPad: " ", startingAt: 0)
                  + String(format: "ended at %6.2f s, resident %5.0f MB, CPU %6.2f s, page faults %5.0fk, its thread %5.2f s", monotonicSeconds() - t0,
                           residentMB(), u.cpu - u0.cpu, Double(u.faults - u0.faults) / 1000, own))
        }
    }
    let store = try openStore(url)
    // AVALON_BENCH_SNAPSHOT=PATH: read the snapshot there when it fits the
    // database, as avalon-fcgi does with SNAPSHOT_PATH; else load from the
    // database and write it (timed apart, after the load's figures).
    let snapshot = getenv("AVALON_BENCH_SNAPSHOT").map { String(cString: $0) }
    var fromSnapshot: MusicCollection?
    var snapshotKey: String?
    if let snapshot, let stamp = try store.generationStamp(), let key = CollectionSnapshot.key(stamp: stamp) {
        snapshotKey = key
        switch CollectionSnapshot.read(path: snapshot, key: snapshotKey!) {
        case .loaded(let read):
            fromSnapshot = read
            snapshotKey = nil
            print("from the snapshot \(snapshot)")
        case .missing: print("no snapshot yet: from the database")
        case .unusable(let why): print("snapshot not used (\(why)): from the database")
        }
    }
    let c = try fromSnapshot ?? store.load()
    releaseFreedMemory()  // as avalon-fcgi does after loading
    LoadPhases.ended = nil
    let dt = monotonicSeconds() - t0
    let rss1 = residentMB()
    if let snapshot, let key = snapshotKey {
        let t = monotonicSeconds()
        try CollectionSnapshot.write(c, path: snapshot, key: key)
        var st = stat()
        stat(snapshot, &st)
        print(String(format: "snapshot written in %.2f s: %.0f MB", monotonicSeconds() - t, Double(st.st_size) / 1048576))
    }
    print(String(format: "tracks %ld albums %ld artists %ld genres %ld", c.songs.count, c.albums.count, c.artists.count, c.genres.count))
    print(String(format: "load+index: %.2f s; resident %.0f MB (%.0f MB before load); arrays %.0f MB",
                 dt, rss1, rss0, Double(c.memoryBytes) / 1048576))
    if getenv("AVALON_BENCH_LOAD_ONLY") != nil { return }
    let artist = c.artists.items[c.artists.count / 2].id.uuidString
    let queries: [(Endpoint, String)] = [
        (.songs, "query=love&limit=50"),
        (.songs, "query=love"),
        (.songs, "artist_id=\(artist)"),
        (.albums, "order=name&limit=100"),
        (.songs, "order=name&limit=20&offset=1000"),
        (.songs, "query=the&order=year&direction=desc&limit=10"),
        (.songs, ""),
    ]
    let only = getenv("AVALON_BENCH_ONLY").map { String(cString: $0) }
    // One buffer for every answer, as a worker has.
    let out = ResponseBuffer()
    for (e, qs) in queries where only == nil || qs.hasPrefix(only!) {
        let p = QueryParameters(queryString: qs)
        _ = c.respond(e, p, into: out)
        var bytes = out.count
        let reps = bytes > 1 << 20 ? 3 : getenv("AVALON_BENCH_REPS").flatMap { Int(String(cString: $0)) } ?? 2000
        let t = monotonicSeconds()
        for _ in 0..<reps { _ = c.respond(e, p, into: out); bytes = out.count }
        let per = (monotonicSeconds() - t) / Double(reps)
        // Cold: the caches a worker finds after nginx and the kernel ran in between.
        var cold = 0.0
        let coldReps = bytes > 1 << 20 ? 1 : getenv("AVALON_BENCH_COLD_REPS").flatMap { Int(String(cString: $0)) } ?? 300
        for _ in 0..<coldReps {
            evictCaches()
            let t0 = monotonicSeconds()
            _ = c.respond(e, p, into: out)
            bytes = out.count
            cold += monotonicSeconds() - t0
        }
        let shown = qs.count > 40 ? String(qs.prefix(40)) + "…" : qs
        print("\(e.rawValue)?\(shown)".padding(toLength: 55, withPad: " ", startingAt: 0)
              + String(format: "%10.1f µs  %10.1f µs cold  %10ld bytes", per * 1e6, cold / Double(coldReps) * 1e6, bytes))
    }
}


let args = CommandLine.arguments
do {
    switch (args.count > 1 ? args[1] : "", args.count) {
    case ("generate", 4): try generate(tracks: Int(args[2])!, url: DatabaseURL(parsing: args[3]))
    case ("load", 3): try load(url: DatabaseURL(parsing: args[2]))
    case ("make-music", 5): try makeMusic(from: args[2], to: args[3], count: Int(args[4])!)
    case ("make-music", 6): try makeMusic(from: args[2], to: args[3], count: Int(args[4])!, sparseMegabytes: Int(args[5])!)
    case ("add-covers", 4): try addCovers(to: args[2], kilobytes: Int(args[3])!)
    case ("check-render", 2): exit(checkRender() ? 0 : 1)
    case ("render", 4): try render(url: DatabaseURL(parsing: args[2]), request: args[3])
    case ("subsonic", 3): try subsonic(url: DatabaseURL(parsing: args[2]))
    case ("tag", 9):
        guard writeTags(args[2], title: args[3], album: args[4], artist: args[5], genre: args[6], track: args[7], date: args[8]) else {
            print("avalon-bench: cannot tag \(args[2])")
            exit(1)
        }
    default:
        print("usage: [AVALON_BENCH_FILES=1] avalon-bench generate TRACKS DB_URL | avalon-bench load DB_URL | avalon-bench check-render | avalon-bench render DB_URL 'songs?QUERY' | avalon-bench subsonic DB_URL")
        exit(2)
    }
} catch {
    print("avalon-bench: \(error)")
    exit(1)
}

/// COUNT tagged audio files for the scan benchmark, copies of the files in SOURCE.
func makeMusic(from source: String, to dest: String, count: Int, sparseMegabytes: Int = 0) throws {
    let fm = FileManager.default
    let sources = try fm.contentsOfDirectory(atPath: source).sorted().map { source + "/" + $0 }
    var rng = SplitMix64(seed: 7)
    for i in 0..<count {
        let src = sources[i % sources.count]
        let ext = (src as NSString).pathExtension
        // Albums of 12 tracks in folders of their own, as a library is laid out.
        let album = i / 12
        let dir = "\(dest)/artist\(album % 97)/album\(album)"
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/\(i).\(ext)"
        if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
        try fm.copyItem(atPath: src, toPath: path)
        _ = writeTags(path, title: "Song \(rng.below(100000)) love", album: "Album \(album)", artist: "Artist \(album % 97)",
                      genre: "Genre \(i % 23)", track: "\(i % 20 + 1)/20", date: "\(1960 + i % 60)")
        if sparseMegabytes > 0 { try insertHole(path, at: 4096, bytes: sparseMegabytes << 20) }
    }
}

/// Covers for make-music's albums: a distinct picture per album, half as
/// folder images, half embedded in every file of the album.
func addCovers(to dest: String, kilobytes: Int) throws {
    let fm = FileManager.default
    for artist in try fm.contentsOfDirectory(atPath: dest).sorted() {
        for album in try fm.contentsOfDirectory(atPath: dest + "/" + artist).sorted() {
            let dir = "\(dest)/\(artist)/\(album)", n = Int(album.dropFirst("album".count)) ?? 0
            let picture = CoverBytes.picture("jpg", seed: UInt64(n), count: kilobytes << 10)
            if n % 2 == 0 {
                try Data(picture).write(to: URL(fileURLWithPath: dir + "/cover.jpg"))
                continue
            }
            for file in try fm.contentsOfDirectory(atPath: dir) where !writePicture(dir + "/" + file, picture) {
                throw BenchError("cannot embed a picture in \(dir)/\(file)")
            }
        }
    }
}

/// Makes a file as large as real music without writing it: a hole inserted
/// where its audio would be (ext4 and XFS: FALLOC_FL_INSERT_RANGE). What a tag
/// reader reads, the start and the end, stays on disk, far apart as in a real file.
func insertHole(_ path: String, at offset: Int, bytes: Int) throws {
    let fd = open(path, O_RDWR)
    guard fd >= 0 else { throw BenchError("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    guard Int(st.st_size) > offset else { return }
    guard avalon_insert_hole(fd, Int64(offset), Int64(bytes)) == 0 else {
        throw BenchError("fallocate(INSERT_RANGE) on \(path): \(String(cString: strerror(errno))) (needs ext4 or XFS)")
    }
}

/// Renders values far past any fixed slack (long names, multibyte text,
/// characters escaped six bytes wide, extreme integers), held whole and
/// streamed in small chunks, and checks the JSON: run on a release build,
/// where `assert` is gone and only the buffer's own checks stand.
func checkRender() -> Bool {
    let control = String(repeating: "\u{01}\u{1F}\"\\", count: 3000)
    let multibyte = String(repeating: "東京🎸Σ", count: 8000)
    let long = String(repeating: "x", count: 200_000)
    let names = [control + multibyte, long, multibyte + control, "plain"]
    var b = CollectionBuilder()
    for (i, n) in names.enumerated() {
        b.addElement(.album, id: .album(n + "a"), name: n + "a")
        b.addElement(.artist, id: .artist(n + "r"), name: n + "r")
        b.addElement(.genre, id: .genre(n + "g"), name: n + "g")
        b.addSong(id: .song(path: "/\(i)"), name: n, length: .max, track: .min, year: Int64(i),
                  album: .album(n + "a"), artist: .artist(n + "r"), genre: .genre(n + "g"))
    }
    let c = b.build()
    var ok = true
    for (e, field) in [(Endpoint.songs, "name"), (.albums, "name"), (.artists, "name"), (.genres, "name")] {
        for chunk in [nil, 4096] as [Int?] {
            let out = ResponseBuffer(capacity: 64)
            var streamed: [UInt8] = []
            if let chunk {
                out.chunkBytes = chunk
                out.sink = { streamed.append(contentsOf: $0) }
            }
            _ = c.respond(e, QueryParameters(queryString: "order=name"), into: out)
            let body = streamed + out.array
            let suffix = e == .songs ? "" : e == .albums ? "a" : e == .artists ? "r" : "g"
            let parsed = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
            let got = (parsed?["success"] as? [[String: Any]])?.compactMap { $0[field] as? String } ?? []
            let expected = names.map { $0 + suffix }.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            let fine = got == expected
            ok = ok && fine
            print("check-render \(e.rawValue)\(chunk.map { " streamed in \($0)-byte chunks" } ?? ""): \(body.count) bytes, \(fine ? "ok" : "WRONG")")
        }
    }
    return ok
}

/// Writes one answer, rendered in this process and held whole, to standard
/// output: the reference a worker's streamed answer is compared with.
func render(url: DatabaseURL, request: String) throws {
    let c = try openStore(url).load()
    let parts = request.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
    guard let e = Endpoint(rawValue: String(parts[0])) else { throw StoreError("no endpoint \(parts[0])") }
    let out = ResponseBuffer()
    _ = c.respond(e, QueryParameters(queryString: parts.count > 1 ? String(parts[1]) : ""), into: out)
    var off = 0
    while off < out.count {
        let n = fwrite(out.start + off, 1, out.count - off, stdout)
        if n <= 0 { throw StoreError("cannot write the answer") }
        off += n
    }
    fflush(stdout)
}

/// Subsonic answers through the router, as a worker makes them (sign-in,
/// parameters, envelope and all), into one reused buffer.
func subsonic(url: DatabaseURL) throws {
    let c = try openStore(url).load()
    let api = SubsonicAPI(path: "/rest", accounts: SubsonicAccounts(users: [("bench", "bench")]), loadedAtMilliseconds: 0)
    let router = Router(collection: c, requestPath: "/avalon", adminSecret: nil, subsonic: api)
    print(String(format: "tracks %ld albums %ld artists %ld genres %ld", c.songs.count, c.albums.count, c.artists.count, c.genres.count))
    let album = c.albums.items[c.albums.count / 2].id.uuidString, artist = c.artists.items[c.artists.count / 2].id.uuidString
    let requests = [
        "search3?query=love", "search3?query=love&f=json", "search3?query=&songCount=500&songOffset=500000&artistCount=0&albumCount=0",
        "search3?query=&songCount=500&songOffset=500000&artistCount=0&albumCount=0&f=json",
        "getAlbum?id=\(album)", "getAlbum?id=\(album)&f=json", "getArtist?id=\(artist)", "getAlbumList2?type=alphabeticalByName&size=500",
        "getAlbumList2?type=alphabeticalByArtist&size=50", "getAlbumList2?type=random&size=50", "getRandomSongs?size=50",
        "getGenres", "getArtists", "ping",
    ]
    let out = ResponseBuffer()
    for r in requests {
        let parts = r.split(separator: "?", maxSplits: 1)
        var path = "/rest/" + parts[0] + ".view"
        var query = "u=bench&p=bench&v=1.16.1&c=bench&" + (parts.count > 1 ? parts[1] : "")
        var method = "GET"
        let once = { () -> Int in
            try! method.withUTF8 { m in
                try path.withUTF8 { p in
                    try query.withUTF8 { q in
                        var h = RequestBytes()
                        (h.method, h.query) = (m, q)
                        _ = try router.answer(h, path: p, into: out)
                        return out.count
                    }
                }
            }
        }
        var bytes = once()
        let reps = max(3, min(2000, 200_000_000 / max(1, bytes * 50)))
        let t = monotonicSeconds()
        for _ in 0..<reps { bytes = once() }
        let per = (monotonicSeconds() - t) / Double(reps)
        print(r.padding(toLength: 90, withPad: " ", startingAt: 0) + String(format: "%10.1f µs %10ld bytes", per * 1e6, bytes))
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
