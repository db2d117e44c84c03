import AvalonConfig
import AvalonCore
import CSystem
import Glibc

/// Memory the master maps before it forks, so the master and every worker
/// see the same words: the pool's metrics, the workers' states, the
/// collection's description, the log level and the failed Subsonic sign-ins
/// (`SignInFailures`, after the slots: a word per slot and address bucket).
///
/// Each word has one writer, and every access is atomic (relaxed): a worker
/// writes only its own slot, the master only the master's words and the
/// slots' states. The one exception is the log level, a setting that any
/// process may store whole (last write wins; nothing is read, changed and
/// written back). Nothing on the request path takes a lock or makes a syscall.
///
/// Slots are numbered; a worker gets a free slot from the master at fork,
/// so a replacement worker continues its predecessor's counters: they never
/// go backwards, and the table never grows with worker churn.
public final class SharedTable: @unchecked Sendable {
    /// Words written by the master.
    enum MasterWord: Int, CaseIterable {
        case configuredWorkers, masterPid, masterStarted
        case songs, albums, artists, genres, loadedAt, loadNanoseconds
        case reloadsSucceeded, reloadsFailed, workerRestarts
        /// The log level's `Config.LogLevel` raw value; 0: as configured.
        case logLevel
        /// The generation of the collection served; 1 while the latest
        /// reload failed (until one succeeds).
        case collectionGeneration, reloadFailing
        /// The seed of the sign-in failures' address hashes (set once, at init).
        case signInSeed
    }

    /// Words the master writes for each slot.
    enum SlotStateWord: Int, CaseIterable {
        case pid, state, spawnedAt, generation
    }

    enum SlotState: UInt64 {
        case free = 0, active = 1, retiring = 2
    }

    static let masterWords = 32
    static let stateWords = 4

    public let slotCount: Int
    let base: UnsafeMutablePointer<UInt64>
    let words: Int

    /// Maps the table for `slots` workers: shared, anonymous, zeroed.
    public init(slots: Int) {
        precondition(MasterWord.allCases.count <= Self.masterWords && SlotStateWord.allCases.count <= Self.stateWords)
        slotCount = slots
        words = Self.masterWords + slots * Self.stateWords + slots * WorkerSlot.words + slots * SignInFailures.words
        let bytes = words * 8
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("cannot map the shared table (\(bytes) bytes): \(String(cString: strerror(errno)))")
        }
        base = p.bindMemory(to: UInt64.self, capacity: words)
        self[.signInSeed] = UInt64.random(in: 0...UInt64.max)
    }

    /// The failed Subsonic sign-ins (`SignInFailures`), after the slots.
    var signInRegions: UnsafeMutablePointer<UInt64> { word(Self.masterWords + slotCount * (Self.stateWords + WorkerSlot.words)) }

    private func word(_ i: Int) -> UnsafeMutablePointer<UInt64> {
        precondition(i >= 0 && i < words, "shared table index out of range")
        return base + i
    }

    subscript(_ w: MasterWord) -> UInt64 {
        get { avalon_load(word(w.rawValue)) }
        set { avalon_store(word(w.rawValue), newValue) }
    }

    /// The master's counter words: it is their only writer.
    func increment(_ w: MasterWord) { avalon_add_own(word(w.rawValue), 1) }

    func state(_ slot: Int, _ w: SlotStateWord) -> UInt64 {
        precondition(slot >= 0 && slot < slotCount)
        return avalon_load(word(Self.masterWords + slot * Self.stateWords + w.rawValue))
    }

    func setState(_ slot: Int, _ w: SlotStateWord, _ v: UInt64) {
        precondition(slot >= 0 && slot < slotCount)
        avalon_store(word(Self.masterWords + slot * Self.stateWords + w.rawValue), v)
    }

    /// The slot a worker writes its own words into.
    func slot(_ i: Int) -> WorkerSlot {
        precondition(i >= 0 && i < slotCount)
        return WorkerSlot(base: word(Self.masterWords + slotCount * Self.stateWords + i * WorkerSlot.words))
    }

    /// Slots whose worker is alive, with their state.
    func liveSlots() -> [(slot: Int, pid: pid_t, state: SlotState)] {
        (0..<slotCount).compactMap { i in
            let s = SlotState(rawValue: state(i, .state)) ?? .free
            let pid = pid_t(truncatingIfNeeded: state(i, .pid))
            return s == .free || pid <= 0 ? nil : (i, pid, s)
        }
    }
}

/// One worker's words: its identity, the request in hand and its counters.
/// `WorkerSlot.words` long, a whole number of cache lines so that two
/// workers never write the same line. Every write checks its index against
/// the slot's end.
struct WorkerSlot {
    enum Word: Int {
        case pid, startedAt, processRequests, busySince, pathLength
        /// The path of the request in hand, `pathWords` words of bytes.
        case path
    }

    static let pathWords = 16
    static var pathBytes: Int { pathWords * 8 }
    static let requestsAt = Word.path.rawValue + pathWords
    static let bucketsAt = requestsAt + MetricEndpoint.count * StatusClass.count
    static let sumsAt = bucketsAt + MetricEndpoint.count * DurationBuckets.count
    static let bytesAt = sumsAt + MetricEndpoint.count
    static let checksAt = bytesAt + MetricEndpoint.count
    /// Per health check: when it last ran (wall ns) and whether that run failed.
    static let checkWords = 2
    static let words = (checksAt + HealthCheckName.allCases.count * checkWords + 7) / 8 * 8

    let base: UnsafeMutablePointer<UInt64>

    @inline(__always)
    private func at(_ i: Int) -> UnsafeMutablePointer<UInt64> {
        precondition(i >= 0 && i < Self.words, "worker slot index out of range")
        return base + i
    }

    @inline(__always) func load(_ i: Int) -> UInt64 { avalon_load(at(i)) }
    @inline(__always) func store(_ i: Int, _ v: UInt64) { avalon_store(at(i), v) }
    @inline(__always) func add(_ i: Int, _ v: UInt64) { avalon_add_own(at(i), v) }

    subscript(_ w: Word) -> UInt64 {
        get { load(w.rawValue) }
        nonmutating set { store(w.rawValue, newValue) }
    }

    /// A worker starts: the counters stay, the identity is new.
    func claim(pid: pid_t) {
        self[.pid] = UInt64(pid)
        self[.startedAt] = wallNanoseconds()
        self[.processRequests] = 0
        self[.busySince] = 0
    }

    /// Marks a request in hand, with (the start of) its path.
    @inline(__always)
    func begin(at now: UInt64, path: UnsafeBufferPointer<UInt8>) {
        let n = min(path.count, Self.pathBytes)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Self.pathWords) { buf in
            let used = (n + 7) / 8
            if let src = path.baseAddress, n > 0 {
                buf.baseAddress!.initialize(repeating: 0, count: used)
                UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: src, byteCount: n)
            }
            for i in 0..<used { store(Word.path.rawValue + i, buf[i]) }
        }
        self[.pathLength] = UInt64(n)
        self[.busySince] = now
    }

    /// Counts a finished request.
    @inline(__always)
    func record(_ e: MetricEndpoint, status: Int, nanoseconds: UInt64, bytes: Int) {
        let row = e.rawValue
        add(Self.requestsAt + row * StatusClass.count + StatusClass.index(status), 1)
        add(Self.bucketsAt + row * DurationBuckets.count + DurationBuckets.index(nanoseconds), 1)
        add(Self.sumsAt + row, nanoseconds)
        add(Self.bytesAt + row, UInt64(max(0, bytes)))
        add(Word.processRequests.rawValue, 1)
        self[.busySince] = 0
    }

    /// The path of the request in hand and since when (monotonic ns), or nil.
    /// Read twice around the path so a request that ended meanwhile is not mixed in.
    func requestInHand() -> (path: String, since: UInt64)? {
        let since = self[.busySince]
        guard since != 0 else { return nil }
        let n = min(Int(self[.pathLength]), Self.pathBytes)
        var bytes = [UInt8](repeating: 0, count: (n + 7) / 8 * 8)
        bytes.withUnsafeMutableBytes { raw in
            for i in 0..<(n + 7) / 8 { raw.storeBytes(of: load(Word.path.rawValue + i), toByteOffset: i * 8, as: UInt64.self) }
        }
        guard self[.busySince] == since else { return nil }
        return (String(decoding: bytes[0..<n], as: UTF8.self), since)
    }

    func recordCheck(_ c: HealthCheckName, failed: Bool) {
        store(Self.checksAt + c.rawValue * Self.checkWords, wallNanoseconds())
        store(Self.checksAt + c.rawValue * Self.checkWords + 1, failed ? 1 : 0)
    }

    func lastCheck(_ c: HealthCheckName) -> (at: UInt64, failed: Bool) {
        (load(Self.checksAt + c.rawValue * Self.checkWords), load(Self.checksAt + c.rawValue * Self.checkWords + 1) != 0)
    }
}

/// Whether a process runs (a zombie, dead but not yet reaped, does not).
func processIsAlive(_ pid: pid_t) -> Bool {
    guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let stat = try? readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
    return state != "Z" && state != "X"
}

/// Resident and proportional set sizes of a process, in bytes (0 when gone).
func memoryOf(_ pid: pid_t) -> (resident: UInt64, proportional: UInt64) {
    var rss: UInt64 = 0, pss: UInt64 = 0
    if let statm = try? readFile("/proc/\(pid)/statm"),
       let pages = statm.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) {
        rss = pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
    if let rollup = try? readFile("/proc/\(pid)/smaps_rollup") {
        for line in rollup.split(separator: "\n") where line.hasPrefix("Pss:") {
            pss = (line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) } ?? 0) * 1024
        }
    }
    return (rss, pss)
}
