/// Sorting helpers for building indexes from flat arrays without per-item objects.

/// Radix sort of (key, value) pairs by key. Stable. Large inputs first go into
/// 65,536 buckets by their top 16 varying bits (one pass over memory), then
/// each bucket, small enough to stay in cache, is LSD-sorted on the bits
/// below; passes whose digit is the same for every key are skipped.
func radixSortPairs(keys: inout [UInt64], values: inout [UInt32]) {
    let n = keys.count
    precondition(values.count == n)
    if n < 2 { return }
    withScratch(n) { k2, v2 in
        keys.withUnsafeMutableBufferPointer { kp in
            values.withUnsafeMutableBufferPointer { vp in radixSortPairs(kp, vp, k2, v2) }
        }
    }
}

/// Scratch for a sort of `n` pairs, left uninitialised: its pages are first
/// touched by the sort's writes (at ten million songs a fresh page costs more
/// than the sorting of what it holds, so none is written twice).
func withScratch<R>(_ n: Int, _ body: (UnsafeMutableBufferPointer<UInt64>, UnsafeMutableBufferPointer<UInt32>) -> R) -> R {
    let k2 = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: n), v2 = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: n)
    defer { k2.deallocate(); v2.deallocate() }
    return body(k2, v2)
}

/// `radixSortPairs` in place, with scratch of the same size (`withScratch`).
func radixSortPairs(_ kp: UnsafeMutableBufferPointer<UInt64>, _ vp: UnsafeMutableBufferPointer<UInt32>,
                    _ k2p: UnsafeMutableBufferPointer<UInt64>, _ v2p: UnsafeMutableBufferPointer<UInt32>) {
    let n = kp.count
    if n < 2 { return }
    let varying = varyingBits(kp)
    if n < 1 << 16 || varying >> 16 == 0 {
        lsdSort(kp, vp, k2p, v2p, varying: varying)
        return
    }
    // The bucket digit: the 16 bits from the highest varying one down.
    let shift = UInt64(63 - varying.leadingZeroBitCount - 15)
    do {
        let both = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2 * 65537)  // 1 MiB: the heap, not a thread's stack
        defer { both.deallocate() }
        let cp = UnsafeMutableBufferPointer(rebasing: both[0..<65537]), fp = UnsafeMutableBufferPointer(rebasing: both[65537...])
        cp.initialize(repeating: 0)
        for k in kp { cp[Int((k >> shift) & 0xFFFF) + 1] += 1 }
        for i in 1...65536 { cp[i] += cp[i - 1] }
        _ = fp.initialize(from: cp)
        for i in 0..<n {
            let d = Int((kp[i] >> shift) & 0xFFFF)
            let at = fp[d]
            fp[d] = at + 1
            k2p[at] = kp[i]
            v2p[at] = vp[i]
        }
        for d in 0..<65536 where cp[d + 1] - cp[d] > 1 {
            let r = cp[d]..<cp[d + 1]
            let bk = UnsafeMutableBufferPointer(rebasing: k2p[r]), bv = UnsafeMutableBufferPointer(rebasing: v2p[r])
            let low = varyingBits(bk) & ((1 << shift) - 1)
            lsdSort(bk, bv, UnsafeMutableBufferPointer(rebasing: kp[r]), UnsafeMutableBufferPointer(rebasing: vp[r]), varying: low)
        }
    }
    // The sorted pairs are in k2/v2.
    kp.baseAddress!.update(from: k2p.baseAddress!, count: n)
    vp.baseAddress!.update(from: v2p.baseAddress!, count: n)
}

/// Few pairs sorted by key in place, stable.
@inline(__always)
private func insertionSortPairs(_ keys: UnsafeMutableBufferPointer<UInt64>, _ values: UnsafeMutableBufferPointer<UInt32>) {
    for i in 1..<keys.count {
        let k = keys[i], v = values[i]
        var j = i
        while j > 0 && keys[j - 1] > k {
            keys[j] = keys[j - 1]
            values[j] = values[j - 1]
            j -= 1
        }
        keys[j] = k
        values[j] = v
    }
}

/// Stable MSD radix sort in place of fewer than 65,536 pairs (k2/v2: scratch
/// of the same size): by the 8 bits from the highest varying one, then each
/// bucket the same way. Most runs here are the buckets of a larger sort or
/// the ties of a string sort, a few hundred pairs with six or more varying
/// bytes: LSD passed over each of those bytes, zeroing and summing 256
/// counts a pass; after one MSD pass most buckets hold a few pairs.
private func msdSort(_ keys: UnsafeMutableBufferPointer<UInt64>, _ values: UnsafeMutableBufferPointer<UInt32>,
                     _ k2: UnsafeMutableBufferPointer<UInt64>, _ v2: UnsafeMutableBufferPointer<UInt32>, varying: UInt64) {
    let n = keys.count
    if n < 2 || varying == 0 { return }
    if n <= 48 {
        // A pass costs its whole count array whatever n is: few pairs are cheaper by insertion.
        insertionSortPairs(keys, values)
        return
    }
    let shift = UInt64(max(0, 63 - varying.leadingZeroBitCount - 7))
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 257) { cp in
        cp.initialize(repeating: 0)
        for k in keys { cp[Int((k >> shift) & 0xFF) + 1] += 1 }
        for i in 1...256 { cp[i] += cp[i - 1] }
        let kp = keys.baseAddress!, vp = values.baseAddress!, k2p = k2.baseAddress!, v2p = v2.baseAddress!
        for i in 0..<n {
            let d = Int((kp[i] >> shift) & 0xFF)
            let at = cp[d]
            cp[d] = at &+ 1
            k2p[at] = kp[i]
            v2p[at] = vp[i]
        }
        kp.update(from: k2p, count: n)
        vp.update(from: v2p, count: n)
        // Bucket d now ends at cp[d] (and starts where d - 1 ends).
        var start = 0
        for d in 0..<256 {
            let end = cp[d]
            if end - start > 1 {
                let r = start..<end
                let bk = UnsafeMutableBufferPointer(rebasing: keys[r])
                let low = varyingBits(bk) & ((1 << shift) &- 1)
                msdSort(bk, UnsafeMutableBufferPointer(rebasing: values[r]), UnsafeMutableBufferPointer(rebasing: k2[r]),
                        UnsafeMutableBufferPointer(rebasing: v2[r]), varying: low)
            }
            start = end
        }
    }
}

/// Items 0..<count in stable ascending order of `key`, by counting, when the
/// keys span fewer than `maxRange` values (else nil): two passes and the
/// order itself, no keys or scratch kept.
func countingOrder(count: Int, maxRange: UInt64 = 1 << 20, key: (Int) -> UInt64) -> [UInt32]? {
    guard count > 0 else { return [] }
    var low = UInt64.max, high = UInt64.min
    for i in 0..<count {
        let k = key(i)
        low = min(low, k)
        high = max(high, k)
    }
    guard high - low < maxRange else { return nil }
    var at = [Int](repeating: 0, count: Int(high - low) + 2)
    for i in 0..<count { at[Int(key(i) - low) + 1] += 1 }
    for v in 1..<at.count { at[v] += at[v - 1] }
    return [UInt32](unsafeUninitializedCapacity: count) { out, initialized in
        at.withUnsafeMutableBufferPointer { at in
            for i in 0..<count {
                let v = Int(key(i) - low)
                out[at[v]] = UInt32(i)
                at[v] += 1
            }
        }
        initialized = count
    }
}

/// The bits in which the keys differ.
@inline(__always)
private func varyingBits(_ keys: UnsafeMutableBufferPointer<UInt64>) -> UInt64 {
    var orAll: UInt64 = 0, andAll: UInt64 = ~0
    for k in keys { orAll |= k; andAll &= k }
    return orAll ^ andAll
}

/// LSD radix sort in place (k2/v2: scratch of the same size), 11-bit digits
/// (2,048 buckets, still in cache); only the digits that hold `varying` bits
/// are passed over. Fewer than 65,536 pairs go MSD (`msdSort`).
private func lsdSort(_ keys: UnsafeMutableBufferPointer<UInt64>, _ values: UnsafeMutableBufferPointer<UInt32>,
                     _ k2: UnsafeMutableBufferPointer<UInt64>, _ v2: UnsafeMutableBufferPointer<UInt32>, varying: UInt64) {
    let n = keys.count
    if n < 2 || varying == 0 { return }
    if n < 1 << 16 {
        msdSort(keys, values, k2, v2, varying: varying)
        return
    }
    let bits = 11
    let radix = 1 << bits
    let digitMask = UInt64(radix - 1)
    var (src, dst) = ((keys, values), (k2, v2))
    withUnsafeTemporaryAllocation(of: Int.self, capacity: radix + 1) { cp in
        for pass in 0..<((64 + bits - 1) / bits) {
            let shift = UInt64(pass * bits)
            if (varying >> shift) & digitMask == 0 { continue }
            cp.initialize(repeating: 0)
            for k in src.0 { cp[Int((k >> shift) & digitMask) + 1] += 1 }
            for i in 1...radix { cp[i] += cp[i - 1] }
            for i in 0..<n {
                let d = Int((src.0[i] >> shift) & digitMask)
                let at = cp[d]
                cp[d] = at + 1
                dst.0[at] = src.0[i]
                dst.1[at] = src.1[i]
            }
            swap(&src, &dst)
        }
    }
    if src.0.baseAddress != keys.baseAddress {
        keys.baseAddress!.update(from: src.0.baseAddress!, count: n)
        values.baseAddress!.update(from: src.1.baseAddress!, count: n)
    }
}

/// Sorts `items` by byte strings, 8 bytes at a time (MSD): `chunk(item, depth)`
/// gives bytes depth*8 ..< depth*8+8 of the item's string big-endian, zero
/// padded, and `ended(item, depth, chunk)` whether the string ends within
/// them (given the chunk: a tied run is split by it, and reading the string
/// again there cost a cache miss per item). Only runs that tie on a
/// chunk and go on are sorted further, so shared prefixes cost little. The
/// keys and the scratch are allocated once, and each run sorted deeper uses
/// their part of them. Runs to sort deeper wait on a list, not the stack:
/// strings sharing a prefix of megabytes (crafted tags) go that many levels deep.
///
/// `marks`, when on, get each place whose string differs from the one before
/// it: the sort sees every tie, so equal strings are found without reading
/// them again (at ten million songs, that second read cost seconds of cache
/// misses). Two strings that end in the same chunk with the same bytes are
/// equal when `sameEnd` says so (zero padding cannot tell "a" from "a\0"; a
/// chunk that holds its terminator can).
// Inlined into each caller: only there are the closures and the marks
// specialized (unspecialized, a 1M load took 3.7% more instructions).
@inline(__always)
func sortStrings<M: TieMarks>(_ items: inout [UInt32], marks: M = NoTieMarks(), sameEnd: (UInt32, UInt32) -> Bool = { _, _ in true },
                              chunk: (UInt32, Int) -> UInt64, ended: (UInt32, Int, UInt64) -> Bool) {
    let n = items.count
    if n < 2 { return }
    let keys = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: n)
    defer { keys.deallocate() }
    withScratch(n) { k2, v2 in
        items.withUnsafeMutableBufferPointer { ip in
            // 12 bytes a run; pairs never wait here (see `sortRun`), so at most n / 3 runs do.
            var runs: [(start: UInt32, end: UInt32, depth: UInt32)] = [(0, UInt32(n), 0)]
            while let run = runs.popLast() {
                let r = Int(run.start)..<Int(run.end)
                sortRun(UnsafeMutableBufferPointer(rebasing: ip[r]), UnsafeMutableBufferPointer(rebasing: keys[r]),
                        UnsafeMutableBufferPointer(rebasing: k2[r]), UnsafeMutableBufferPointer(rebasing: v2[r]),
                        marks: marks.from(r.lowerBound),
                        depth: Int(run.depth), sameEnd: sameEnd, chunk: chunk, ended: ended) { deeper in
                    runs.append((run.start + UInt32(deeper.lowerBound), run.start + UInt32(deeper.upperBound), run.depth + 1))
                }
            }
        }
    }
}

/// Sorts one run by its chunk at `depth`, and hands each tied run whose
/// strings go on (in place, after those that ended) to `deeper`. Marks the
/// places after the first whose strings it tells apart; a deeper run marks
/// its own (its first place is marked here).
@inline(__always)
private func sortRun(_ items: UnsafeMutableBufferPointer<UInt32>, _ keys: UnsafeMutableBufferPointer<UInt64>,
                     _ k2: UnsafeMutableBufferPointer<UInt64>, _ v2: UnsafeMutableBufferPointer<UInt32>,
                     marks: some TieMarks, depth: Int, sameEnd: (UInt32, UInt32) -> Bool,
                     chunk: (UInt32, Int) -> UInt64, ended: (UInt32, Int, UInt64) -> Bool, deeper: (Range<Int>) -> Void) {
    let n = items.count
    if n < 2 { return }
    for i in 0..<n { keys[i] = chunk(items[i], depth) }
    if n < 48 {
        // Few items: insertion sort of the keys, each chunk read once.
        insertionSortPairs(keys, items)
    } else {
        radixSortPairs(keys, items, k2, v2)
    }
    var i = 0
    while i < n {
        var j = i + 1
        while j < n && keys[j] == keys[i] { j += 1 }
        if marks.on && j < n { marks.mark(j) }
        if j - i > 1 {
            // Strings that ended in this chunk sort first (kept in order in
            // v2), the rest (in k2) go deeper.
            var done = 0, more = 0
            for k in i..<j {
                let it = items[k]
                if ended(it, depth, keys[k]) { v2[i + done] = it; done += 1 } else { k2[i + more] = UInt64(it); more += 1 }
            }
            if done > 0 && more > 0 {
                for k in 0..<done { items[i + k] = v2[i + k] }
                for k in 0..<more { items[i + done + k] = UInt32(truncatingIfNeeded: k2[i + k]) }
            }
            if marks.on {
                if done > 1 { for k in (i + 1)..<(i + done) where !sameEnd(items[k - 1], items[k]) { marks.mark(k) } }
                if done > 0 && more > 0 { marks.mark(i + done) }
            }
            if more == 2 {
                // Two strings that go on: compared chunk by chunk here, as deeper runs would order them.
                let a = i + done
                var d = depth + 1
                while true {
                    let ka = chunk(items[a], d), kb = chunk(items[a + 1], d)
                    let ea = ended(items[a], d, ka), eb = ended(items[a + 1], d, kb)
                    if ka != kb || ea || eb {
                        if ka > kb || (ka == kb && eb && !ea) { items.swapAt(a, a + 1) }
                        if marks.on && (ka != kb || ea != eb || !sameEnd(items[a], items[a + 1])) { marks.mark(a + 1) }
                        break
                    }
                    d += 1
                }
            } else if more > 2 {
                deeper((i + done)..<j)
            }
        }
        i = j
    }
}

/// 8 bytes of the string `arena[start..<start + count]` from `depth*8`
/// (big-endian, zero padded), for `sortStrings`: one load where eight bytes
/// are inside the arena, byte by byte at its end.
@inline(__always)
func lengthChunk(_ arena: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int, _ depth: Int) -> UInt64 {
    let base = arena.baseAddress ?? UnsafePointer(bitPattern: 1)!
    let from = start + depth * 8, left = count - depth * 8
    if from + 8 <= arena.count {
        let w = UInt64(bigEndian: UnsafeRawPointer(base + from).loadUnaligned(as: UInt64.self))
        return left >= 8 ? w : (left <= 0 ? 0 : w & ~(UInt64.max >> UInt64(8 * left)))
    }
    var k: UInt64 = 0
    for i in 0..<8 { k = k << 8 | (i < left ? UInt64(base[from + i]) : 0) }
    return k
}

/// Sorts items 0..<count by their byte strings (lexicographic, shorter first on
/// a common prefix, i.e. Unicode code point order for UTF-8).
/// `span(i)` gives each item's start and length in `arena`.
func sortByBytes(count: Int, arena: UnsafeBufferPointer<UInt8>, span: (Int) -> (Int, Int)) -> [UInt32] {
    var perm = (0..<UInt32(count)).map { $0 }
    sortStrings(&perm, chunk: { item, depth in
        let (s, l) = span(Int(item))
        return lengthChunk(arena, s, l, depth)
    }, ended: { item, depth, _ in span(Int(item)).1 <= depth * 8 + 8 })
    return perm
}

/// `sortByBytes`, and each item's dense rank (equal strings share one), from
/// the ties the sort saw.
func sortByBytesRanked(count: Int, arena: UnsafeBufferPointer<UInt8>, span: (Int) -> (Int, Int)) -> (perm: [UInt32], ranks: [UInt32]) {
    var perm = (0..<UInt32(count)).map { $0 }
    return withTieMarks(count) { marks in
        sortStrings(&perm, marks: marks, sameEnd: { span(Int($0)).1 == span(Int($1)).1 }, chunk: { item, depth in
            let (s, l) = span(Int(item))
            return lengthChunk(arena, s, l, depth)
        }, ended: { item, depth, _ in span(Int(item)).1 <= depth * 8 + 8 })
        var ranks = [UInt32](repeating: 0, count: count)
        var rank: UInt32 = 0
        for pos in 0..<count {
            rank &+= UInt32(marks.differs(pos))
            ranks[Int(perm[pos])] = rank
        }
        return (perm, ranks)
    }
}

/// Where `sortStrings` notes the places whose string differs from the one
/// before: nowhere (`NoTieMarks`: the marking compiles away) or a byte a place.
protocol TieMarks {
    static var on: Bool { get }
    var on: Bool { get }
    /// The marks of the run that starts at place `offset`.
    func from(_ offset: Int) -> Self
    func mark(_ place: Int)
}

extension TieMarks {
    @inline(__always) var on: Bool { Self.on }
}

struct NoTieMarks: TieMarks {
    static var on: Bool { false }
    @inline(__always) func from(_ offset: Int) -> NoTieMarks { self }
    @inline(__always) func mark(_ place: Int) {}
}

struct ByteTieMarks: TieMarks {
    let bytes: UnsafeMutablePointer<UInt8>
    static var on: Bool { true }
    @inline(__always) func from(_ offset: Int) -> ByteTieMarks { ByteTieMarks(bytes: bytes + offset) }
    @inline(__always) func mark(_ place: Int) { bytes[place] = 1 }
    /// 1 when place `place` (not the first) differs from the one before, else 0.
    @inline(__always) func differs(_ place: Int) -> UInt8 { place == 0 ? 0 : bytes[place] }
}

/// Zeroed marks for `n` places, freed after `body`.
func withTieMarks<R>(_ n: Int, _ body: (ByteTieMarks) -> R) -> R {
    let d = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(n, 1))
    defer { d.deallocate() }
    d.initialize(repeating: 0)
    return body(ByteTieMarks(bytes: d.baseAddress!))
}

@inline(__always)
func compareBytes(_ a: UnsafePointer<UInt8>, _ la: Int, _ b: UnsafePointer<UInt8>, _ lb: Int) -> Int {
    let m = min(la, lb)
    var i = 0
    while i < m {
        if a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
        i += 1
    }
    return la == lb ? 0 : (la < lb ? -1 : 1)
}
