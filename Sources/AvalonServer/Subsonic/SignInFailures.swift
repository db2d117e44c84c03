import AvalonCore
import CSystem
import Glibc

/// Failed Subsonic sign-ins per client address, counted in the shared table
/// so that every worker refuses an address that failed too often lately,
/// whichever workers saw its failures. Each worker writes only its own
/// words (one writer per word, no lock); a check reads every worker's.
///
/// `buckets` buckets, one per address hash (direct-mapped; a different
/// address in the same bucket replaces the old one), each a word per worker
/// slot, side by side: a check reads one cache line for 8 slots, not one per
/// slot (writes, only on failures, may share a line). A word holds the hash's
/// high 32 bits, the window number (24 bits) and the failures (8 bits,
/// saturating), so a reader never sees half an update.
struct SignInFailures {
    static let buckets = 1024
    /// Words per worker slot.
    static let words = buckets

    /// Bucket b's words: `regions + b * slotCount`, slot i's at `+ i`.
    let regions: UnsafeMutablePointer<UInt64>
    let slotCount: Int
    /// This worker's slot.
    let own: Int
    /// Failures that lock an address out for the rest of the window.
    let limit: Int
    let windowSeconds: UInt64
    /// Chosen by the master before fork: hashes no client can predict.
    let seed: UInt64

    init(table: SharedTable, slot: Int, limit: Int, windowSeconds: Double) {
        regions = table.signInRegions
        slotCount = table.slotCount
        precondition(slot >= 0 && slot < slotCount)
        own = slot
        self.limit = limit
        self.windowSeconds = max(1, UInt64(windowSeconds))
        seed = table[.signInSeed]
    }

    /// The window a request falls into (monotonic: one clock for every process of the host).
    @inline(__always)
    func window() -> UInt64 { (monotonicNanoseconds() / 1_000_000_000 / windowSeconds) & 0xFF_FFFF }

    /// Whether `key` failed `limit` times in this window, summed over every worker.
    func lockedOut(_ key: UInt64) -> Bool { failures(key) >= limit }

    /// `key`'s failures in this window, summed over every worker.
    func failures(_ key: UInt64) -> Int {
        let bucket = Int(key & UInt64(Self.buckets - 1)), tag = key >> 32, now = window()
        var failures = 0
        let words = regions + bucket * slotCount
        for s in 0..<slotCount {
            let w = avalon_load(words + s)
            if w >> 32 == tag && (w >> 8) & 0xFF_FFFF == now { failures += Int(w & 0xFF) }
        }
        return failures
    }

    /// Counts a failure of `key` in this worker's own word of its bucket.
    func record(_ key: UInt64) {
        let p = regions + Int(key & UInt64(Self.buckets - 1)) * slotCount + own, tag = key >> 32, now = window()
        let w = avalon_load(p)
        let count = w >> 32 == tag && (w >> 8) & 0xFF_FFFF == now ? min(w & 0xFF, 254) + 1 : 1
        avalon_store(p, tag << 32 | now << 8 | count)
    }

    /// The key of a client address: an IPv4 address whole, an IPv6 one by its
    /// /64 (what one subscriber usually holds), an IPv4-mapped one as IPv4.
    /// Nil for anything else (no address, a unix socket's "unix:"): every
    /// client would share that one key, and ten wrong passwords from anybody
    /// would lock everybody out; such clients are not counted.
    func key(_ address: UnsafeBufferPointer<UInt8>) -> UInt64? {
        // Address characters only: inet_pton would stop at a NUL and take what
        // follows it along (into the lockout's log line, from a bare FastCGI client).
        guard address.count > 0, address.count < 64, address.allSatisfy({
            ($0 >= 0x30 && $0 <= 0x3A) || $0 == 0x2E || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66)
        }) else { return nil }
        var h = seed ^ 0xCBF2_9CE4_8422_2325
        func mix(_ b: UInt8) { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        // Parsed from a copy on the stack: no allocation per request.
        var a = in6_addr()
        let family = address.contains(UInt8(ascii: ":")) ? AF_INET6 : AF_INET
        let parsed = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { text -> Bool in
            for (i, b) in address.enumerated() { text[i] = CChar(bitPattern: b) }
            text[address.count] = 0
            return inet_pton(family, text.baseAddress!, &a) == 1
        }
        guard parsed else { return nil }
        withUnsafeBytes(of: &a) { raw in
            if family == AF_INET {
                for b in raw[0..<4] { mix(b) }
            } else if raw[0..<10].allSatisfy({ $0 == 0 }) && raw[10] == 0xFF && raw[11] == 0xFF {
                for b in raw[12..<16] { mix(b) }  // IPv4-mapped: as IPv4
            } else {
                mix(6)
                for b in raw[0..<8] { mix(b) }
            }
        }
        return finish(h)
    }

    private func finish(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The last few keys a worker saw (a ring): "logged already?" without a
/// table that grows with the addresses an attacker brings.
final class RecentKeys {
    private var keys = [UInt64](repeating: 0, count: 64)
    private var next = 0

    /// False when `key` is among the recent ones; else remembers it.
    func insert(_ key: UInt64) -> Bool {
        if keys.contains(key) { return false }
        keys[next] = key
        next = (next + 1) % keys.count
        return true
    }
}
