/// Sorting helpers for building indexes from flat arrays without per-item objects.

/// LSD radix sort of (key, value) pairs by key, 16 bits a pass; passes whose
/// digit is the same for every key are skipped. Stable.
func radixSortPairs(keys: inout [UInt64], values: inout [UInt32]) {
    let n = keys.count
    precondition(values.count == n)
    if n < 2 { return }
    var orAll: UInt64 = 0, andAll: UInt64 = ~0
    for k in keys { orAll |= k; andAll &= k }
    let varying = orAll ^ andAll
    var k2 = [UInt64](repeating: 0, count: n)
    var v2 = [UInt32](repeating: 0, count: n)
    var counts = [Int](repeating: 0, count: 65537)
    for pass in 0..<4 {
        let shift = UInt64(pass * 16)
        if (varying >> shift) & 0xFFFF == 0 { continue }
        for i in 0..<counts.count { counts[i] = 0 }
        keys.withUnsafeBufferPointer { kp in
            counts.withUnsafeMutableBufferPointer { cp in
                for k in kp { cp[Int((k >> shift) & 0xFFFF) + 1] += 1 }
                for i in 1..<65537 { cp[i] += cp[i - 1] }
            }
        }
        keys.withUnsafeBufferPointer { kp in
            values.withUnsafeBufferPointer { vp in
                k2.withUnsafeMutableBufferPointer { k2p in
                    v2.withUnsafeMutableBufferPointer { v2p in
                        counts.withUnsafeMutableBufferPointer { cp in
                            for i in 0..<n {
                                let d = Int((kp[i] >> shift) & 0xFFFF)
                                let at = cp[d]
                                cp[d] = at + 1
                                k2p[at] = kp[i]
                                v2p[at] = vp[i]
                            }
                        }
                    }
                }
            }
        }
        swap(&keys, &k2)
        swap(&values, &v2)
    }
}

/// Big-endian first 8 bytes of a byte string, zero padded: orders like the
/// bytes themselves up to ties, which `sortByBytes` then breaks.
@inline(__always)
func prefixKey(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
    var k: UInt64 = 0
    let m = min(8, count)
    for i in 0..<8 { k = k << 8 | (i < m ? UInt64(p[i]) : 0) }
    return k
}

/// Sorts items 0..<count by their byte strings (lexicographic, shorter first on
/// a common prefix, i.e. Unicode code point order for UTF-8).
/// `span(i)` gives each item's start and length in `arena`.
func sortByBytes(count: Int, arena: UnsafeBufferPointer<UInt8>, span: (Int) -> (Int, Int)) -> [UInt32] {
    let base = arena.baseAddress ?? UnsafePointer(bitPattern: 1)!
    var keys = [UInt64](repeating: 0, count: count)
    var perm = [UInt32](repeating: 0, count: count)
    for i in 0..<count {
        let (s, l) = span(i)
        keys[i] = prefixKey(base + s, l)
        perm[i] = UInt32(i)
    }
    radixSortPairs(keys: &keys, values: &perm)
    // Break ties among equal 8-byte prefixes by the whole string.
    var i = 0
    while i < count {
        var j = i + 1
        while j < count && keys[j] == keys[i] { j += 1 }
        if j - i > 1 {
            perm[i..<j].sort { a, b in
                let (sa, la) = span(Int(a)), (sb, lb) = span(Int(b))
                return compareBytes(base + sa, la, base + sb, lb) < 0
            }
        }
        i = j
    }
    return perm
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

/// Dense ranks (equal strings share a rank) from a permutation sorted by bytes.
func denseRanks(perm: [UInt32], arena: UnsafeBufferPointer<UInt8>, span: (Int) -> (Int, Int)) -> [UInt32] {
    var ranks = [UInt32](repeating: 0, count: perm.count)
    guard let base = arena.baseAddress, !perm.isEmpty else { return ranks }
    var rank: UInt32 = 0
    var prev = span(Int(perm[0]))
    for (pos, item) in perm.enumerated() {
        let cur = span(Int(item))
        if pos > 0 && compareBytes(base + prev.0, prev.1, base + cur.0, cur.1) != 0 { rank += 1 }
        ranks[Int(item)] = rank
        prev = cur
    }
    return ranks
}
