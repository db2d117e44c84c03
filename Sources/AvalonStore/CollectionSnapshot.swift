import AvalonCore
import CSystem
import Dispatch
import Glibc

/// A collection's indexes kept in a file (SNAPSHOT_PATH), so that a restart
/// or the second load of a reload reads them instead of building them. The
/// database stays the truth: a snapshot is used only when it names the
/// generation the database holds now, and only when every checksum holds;
/// anything else is ignored and rebuilt from the database.
///
/// The file: a head (magic, format, the key it was written for, a checksum),
/// the collection's arrays each as a section (count, element size, one
/// checksum per 4 MiB chunk, the bytes), then an end mark. Trusted input:
/// the folder and the file must be this user's and writable by nobody else,
/// since a checksum stops damage, not someone who writes a valid file.
public enum CollectionSnapshot {
    static let magic = Array("AVALON SNAPSHOT\n".utf8)
    static let endMagic = Array("AVALON SNAP END\n".utf8)
    static let chunk = 4 << 20

    public enum Outcome {
        case loaded(MusicCollection)
        /// No file: nothing to say.
        case missing
        /// A file that cannot be used (stale, damaged, unsafe): why.
        case unusable(String)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// What a snapshot must have been written for: the format, the build
    /// (layouts change with it) and the database's generation stamp (its
    /// text is the database's: a long one is cut, with its length and checksum).
    /// Nil when the running executable cannot be named (no /proc): no snapshot then.
    public static func key(stamp: String) -> String? {
        guard let executable else { return nil }
        var text = stamp
        if stamp.utf8.count > 1024 {
            let sum = Array(stamp.utf8).withUnsafeBytes { avalon_checksum($0.baseAddress, $0.count) }
            text = String(decoding: stamp.utf8.prefix(512), as: UTF8.self) + "… (\(stamp.utf8.count) bytes, checksum \(sum))"
        }
        return "avalon build \(String(cString: avalon_build_commit())) \(String(cString: avalon_build_date())) \(executable), snapshot format \(MusicCollection.snapshotFormat), \(MemoryLayout<Int>.size * 8)-bit; \(text)"
    }

    /// The running executable's file: a development build stamps no commit,
    /// and any rebuild may change the arrays' layout.
    static let executable: String? = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return nil }
        return "executable \(st.st_dev):\(st.st_ino) \(st.st_size) bytes, modified \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }()

    /// Reads the snapshot at `path` when it was written for `key`.
    public static func read(path: String, key: String) -> Outcome {
        let folder: Int32
        do { folder = try openFolder(of: path) } catch {
            return .unusable("\(error)")
        }
        defer { close(folder) }
        // Opened in the folder checked, not by path again; never waiting on a
        // FIFO (the type is checked before any read).
        let fd = openat(folder, fileName(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            return errno == ENOENT ? .missing : .unusable("cannot open it: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        do {
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw Failure("it is not a regular file") }
            guard st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
                throw Failure("it must belong to this user and be writable by nobody else")
            }
            var r = SnapshotFileReader(fd: fd, size: Int(st.st_size))
            // The key holds the database's text: not logged.
            guard try r.head() == key else { return .unusable("it was written for another generation or build") }
            let c = try MusicCollection(snapshot: &r)
            try r.end()
            return .loaded(c)
        } catch {
            return .unusable("\(error)")
        }
    }

    /// Writes the snapshot of `collection` for `key` at `path`: an unnamed
    /// file in the checked folder, synced, then linked and renamed over the
    /// old snapshot. Refuses to replace a file that is not a snapshot.
    public static func write(_ collection: MusicCollection, path: String, key: String) throws {
        let folder = try openFolder(of: path)
        defer { close(folder) }
        let name = fileName(path)
        try checkReplaceable(folder, name, path)
        removeLeftovers(folder, name)
        let temp = temporaryName(path, writer: getpid())
        var fd = avalon_open_unnamed(folder, 0o600)
        let unnamed = fd >= 0
        if !unnamed {
            // No O_TMPFILE here (some file systems): a named file, which a
            // writer killed midway leaves (the next writer removes it).
            unlinkat(folder, temp, 0)
            fd = openat(folder, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw Failure("cannot create a file in \(folderOf(path)): \(String(cString: strerror(errno)))") }
        var linked = !unnamed, done = false
        defer {
            close(fd)
            if linked && !done { unlinkat(folder, temp, 0) }
        }
        var w = SnapshotFileWriter(fd: fd)
        try w.head(key: key)
        try collection.write(snapshot: &w)
        try w.end()
        guard fdatasync(fd) == 0 else { throw Failure("cannot sync the snapshot: \(String(cString: strerror(errno)))") }
        if unnamed {
            unlinkat(folder, temp, 0)
            guard linkat(AT_FDCWD, "/proc/self/fd/\(fd)", folder, temp, AT_SYMLINK_FOLLOW) == 0 else {
                throw Failure("cannot link the snapshot into \(folderOf(path)): \(String(cString: strerror(errno)))")
            }
            linked = true
        }
        try checkReplaceable(folder, name, path)
        guard renameat(folder, temp, folder, name) == 0 else {
            throw Failure("cannot rename \(temp) to \(path): \(String(cString: strerror(errno)))")
        }
        done = true
        fsync(folder)
    }

    /// A path that names something else (a database, a log: a mistake in
    /// SNAPSHOT_PATH) is never replaced: only a snapshot of this user.
    static func checkReplaceable(_ folder: Int32, _ name: String, _ path: String) throws {
        var st = stat()
        if fstatat(folder, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            guard errno == ENOENT else { throw Failure("\(path): \(String(cString: strerror(errno)))") }
            return
        }
        var head = [UInt8](repeating: 0, count: magic.count)
        let fd = openat(folder, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        let n = fd >= 0 && (st.st_mode & S_IFMT) == S_IFREG ? head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) } : -1
        if fd >= 0 { close(fd) }
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), n == magic.count, head == magic else {
            throw Failure("\(path) exists and is not a snapshot of this user: not replaced (does SNAPSHOT_PATH name the right file?)")
        }
    }

    /// Named temporary files of writers that are gone (killed midway, before O_TMPFILE or without it).
    static func removeLeftovers(_ folder: Int32, _ name: String) {
        let prefix = "." + name + ".tmp-"
        let copy = dup(folder)
        guard copy >= 0, let d = fdopendir(copy) else { if copy >= 0 { close(copy) }; return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let entry = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            guard entry.hasPrefix(prefix), let pid = pid_t(entry.dropFirst(prefix.count)), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlinkat(folder, entry, 0) }
        }
    }

    /// Removes the named temporary file a writer with this pid left when it was killed.
    public static func removeLeftover(_ path: String, writer pid: pid_t) {
        guard let folder = try? openFolder(of: path) else { return }
        unlinkat(folder, temporaryName(path, writer: pid), 0)
        close(folder)
    }

    static func temporaryName(_ path: String, writer pid: pid_t) -> String { "." + fileName(path) + ".tmp-\(pid)" }

    static func fileName(_ path: String) -> String { String(path.split(separator: "/").last ?? "snapshot") }

    static func folderOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The folder, opened by walking the path from / one folder at a time
    /// without letting the kernel follow links: each folder stepped into
    /// belongs to root or this user and nobody else may write it unless it is
    /// sticky (as /tmp), and the last nobody else may write at all; a link is
    /// followed only when root or this user owns it (so none planted in /tmp);
    /// no FUSE mount, whose owners and modes say what its owner wants.
    /// Otherwise another user could plant a snapshot, or point a write
    /// elsewhere. What is read or written goes through the descriptor returned.
    static func openFolder(of path: String) throws -> Int32 {
        let folder = folderOf(path)
        let refused = Failure("its folder \(folder) must be a directory of this user (or root) that nobody else may write, under folders of root or this user that nobody else may write (or sticky ones, as /tmp), reached through no link of another user and no FUSE mount")
        var pending: [String] = folder.split(separator: "/").reversed().map(String.init)
        var fd = avalon_open_walk(AT_FDCWD, "/")
        var hops = 0
        func trusted(_ fd: Int32, last: Bool) -> Bool {
            var st = stat()
            guard fd >= 0, fstat(fd, &st) == 0, avalon_on_fuse(fd) == 0,
                  (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid() || st.st_uid == 0 else { return false }
            return st.st_mode & 0o022 == 0 || (!last && st.st_mode & S_ISVTX != 0)
        }
        guard trusted(fd, last: false) else { if fd >= 0 { close(fd) }; throw refused }
        while let part = pending.popLast() {
            if part == "." || part.isEmpty { continue }
            var st = stat()
            if part != "..", fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
                hops += 1
                var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(fd, part, &target, target.count - 1)
                guard hops <= 40, n > 0, st.st_uid == geteuid() || st.st_uid == 0 else { close(fd); throw refused }
                let text = String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                pending += text.split(separator: "/").reversed().map(String.init)
                if text.hasPrefix("/") {
                    close(fd)
                    fd = avalon_open_walk(AT_FDCWD, "/")
                }
                continue
            }
            let next = avalon_open_walk(fd, part)
            close(fd)
            fd = next
            guard trusted(fd, last: false) else { if fd >= 0 { close(fd) }; throw refused }
        }
        // The folder itself: nobody else may write it, and it is opened for reading (its entries).
        let dir = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        close(fd)
        guard trusted(dir, last: true) else { if dir >= 0 { close(dir) }; throw refused }
        return dir
    }
}

/// Sections written one after another, each array's bytes straight from its memory.
struct SnapshotFileWriter: SnapshotWriting {
    let fd: Int32
    var sections: UInt64 = 0

    init(fd: Int32) { self.fd = fd }

    func put(_ p: UnsafeRawBufferPointer) throws {
        var at = 0
        while at < p.count {
            let n = Glibc.write(fd, p.baseAddress! + at, p.count - at)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CollectionSnapshot.Failure("cannot write the snapshot: \(String(cString: strerror(errno)))") }
            at += n
        }
    }

    func put(words: [UInt64]) throws { try words.withUnsafeBytes { try put($0) } }

    func pad(_ n: Int) throws {
        let zeros = [UInt8](repeating: 0, count: (8 - n % 8) % 8)
        try zeros.withUnsafeBytes { try put($0) }
    }

    func head(key: String) throws {
        var bytes = CollectionSnapshot.magic
        withUnsafeBytes(of: UInt64(MusicCollection.snapshotFormat).littleEndian) { bytes += $0 }
        let k = Array(key.utf8)
        withUnsafeBytes(of: UInt64(k.count).littleEndian) { bytes += $0 }
        bytes += k
        bytes += [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8)
        let sum = UInt64(bytes.withUnsafeBytes { avalon_checksum($0.baseAddress, $0.count) })
        withUnsafeBytes(of: sum.littleEndian) { bytes += $0 }
        try bytes.withUnsafeBytes { try put($0) }
    }

    mutating func write<T: BitwiseCopyable>(_ array: [T]) throws {
        try array.withUnsafeBytes { bytes in
            let chunks = (bytes.count + CollectionSnapshot.chunk - 1) / CollectionSnapshot.chunk
            var sums = [UInt32](repeating: 0, count: chunks)
            for c in 0..<chunks {
                let lo = c * CollectionSnapshot.chunk, hi = min(bytes.count, lo + CollectionSnapshot.chunk)
                sums[c] = avalon_checksum(bytes.baseAddress! + lo, hi - lo)
            }
            let words = [UInt64(array.count), UInt64(MemoryLayout<T>.stride), UInt64(chunks)]
            try put(words: words + [UInt64(SnapshotFileReader.headSum(words, sums))])
            try sums.withUnsafeBytes { try put($0) }
            try pad(chunks * 4)
            if bytes.count > 0 { try put(bytes) }
            try pad(bytes.count)
        }
        sections += 1
    }

    func end() throws {
        var bytes = CollectionSnapshot.endMagic
        withUnsafeBytes(of: sections.littleEndian) { bytes += $0 }
        try bytes.withUnsafeBytes { try put($0) }
    }
}

/// Sections read in order with pread, each into a new array of its own and
/// checked chunk by chunk, large ones on every core.
struct SnapshotFileReader: SnapshotReading {
    let fd: Int32
    let size: Int
    var at = 0
    var sections: UInt64 = 0

    init(fd: Int32, size: Int) { self.fd = fd; self.size = size }

    static func headSum(_ words: [UInt64], _ sums: [UInt32]) -> UInt32 {
        let bytes = words.withUnsafeBytes { Array($0) } + sums.withUnsafeBytes { Array($0) }
        return bytes.withUnsafeBytes { avalon_checksum($0.baseAddress, $0.count) }
    }

    func get(_ p: UnsafeMutableRawPointer, _ n: Int, at offset: Int) throws {
        var done = 0
        while done < n {
            let r = pread(fd, p + done, n - done, off_t(offset + done))
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw CollectionSnapshot.Failure("cannot read it: \(String(cString: strerror(errno)))") }
            guard r > 0 else { throw CollectionSnapshot.Failure("it ends early (\(size) bytes)") }
            done += r
        }
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= size - at else { throw CollectionSnapshot.Failure("it ends early (\(size) bytes)") }
        var out = [UInt8](repeating: 0, count: n)
        if n > 0 { try out.withUnsafeMutableBytes { try get($0.baseAddress!, n, at: at) } }
        at += n
        return out
    }

    mutating func word() throws -> UInt64 {
        try bytes(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    /// Zeros to the next 8-byte boundary: no byte of the file goes unchecked.
    mutating func padding(_ n: Int) throws {
        guard try bytes((8 - n % 8) % 8).allSatisfy({ $0 == 0 }) else { throw CollectionSnapshot.Failure("section \(sections) is damaged (padding)") }
    }

    /// The key the file was written for.
    mutating func head() throws -> String {
        guard try bytes(16) == CollectionSnapshot.magic else { throw CollectionSnapshot.Failure("it is not an Avalon snapshot") }
        let format = try word(), length = try word()
        guard format == UInt64(MusicCollection.snapshotFormat) else { throw CollectionSnapshot.Failure("its format is \(format), not \(MusicCollection.snapshotFormat)") }
        guard length < 65536 else { throw CollectionSnapshot.Failure("its head is damaged") }
        let key = try bytes(Int(length))
        _ = try bytes((8 - (32 + Int(length)) % 8) % 8)
        let headBytes = at
        let sum = try word()
        var all = [UInt8](repeating: 0, count: headBytes)
        try all.withUnsafeMutableBytes { try get($0.baseAddress!, headBytes, at: 0) }
        guard sum == UInt64(all.withUnsafeBytes { avalon_checksum($0.baseAddress, $0.count) }) else {
            throw CollectionSnapshot.Failure("its head is damaged (checksum)")
        }
        return String(decoding: key, as: UTF8.self)
    }

    mutating func read<T: BitwiseCopyable>(_ type: T.Type) throws -> [T] {
        let words = [try word(), try word(), try word()]
        let sum = try word()
        let (count, stride, chunks) = (words[0], words[1], words[2])
        guard stride == UInt64(MemoryLayout<T>.stride) else {
            throw CollectionSnapshot.Failure("section \(sections) holds \(stride)-byte entries where \(MemoryLayout<T>.stride) are expected")
        }
        let (total, overflow) = count.multipliedReportingOverflow(by: stride)
        guard !overflow, total <= UInt64(size - at), chunks == (total + UInt64(CollectionSnapshot.chunk) - 1) / UInt64(CollectionSnapshot.chunk) else {
            throw CollectionSnapshot.Failure("section \(sections)'s head is damaged")
        }
        let sumBytes = try bytes(Int(chunks) * 4)
        let sums = sumBytes.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        guard UInt64(Self.headSum(words, sums)) == sum else { throw CollectionSnapshot.Failure("section \(sections)'s head is damaged (checksum)") }
        try padding(Int(chunks) * 4)
        let n = Int(total), start = at
        guard n + (8 - n % 8) % 8 <= size - at else { throw CollectionSnapshot.Failure("it ends early (\(size) bytes)") }
        let fd = self.fd, size = self.size, section = sections
        let array = try [T](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
            guard n > 0 else { return }
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            let reader = SnapshotFileReader(fd: fd, size: size)
            // Chunks on every core: the copy from the page cache and the
            // checksums are the whole cost of a load from a snapshot.
            let failed = UnsafeMutablePointer<Int>.allocate(capacity: Int(chunks))
            defer { failed.deallocate() }
            DispatchQueue.concurrentPerform(iterations: Int(chunks)) { c in
                let lo = c * CollectionSnapshot.chunk, len = min(n, lo + CollectionSnapshot.chunk) - lo
                do {
                    try reader.get(base + lo, len, at: start + lo)
                    failed[c] = avalon_checksum(base + lo, len) == sums[c] ? 0 : 1
                } catch {
                    failed[c] = 2
                }
            }
            for c in 0..<Int(chunks) where failed[c] != 0 {
                throw CollectionSnapshot.Failure(failed[c] == 1 ? "section \(section) is damaged (checksum)" : "it ends early or cannot be read")
            }
            initialized = Int(count)
        }
        at += n
        try padding(n)
        sections += 1
        return array
    }

    mutating func end() throws {
        guard try bytes(16) == CollectionSnapshot.endMagic, try word() == sections, at == size else {
            throw CollectionSnapshot.Failure("its end is damaged")
        }
    }
}
