/// A set of item positions as bits: cheap to fill from many unsorted sources,
/// O(1) membership, and ascending iteration without sorting.
struct Bitmap {
    private(set) var words: [UInt64]

    init(capacity: Int) { words = [UInt64](repeating: 0, count: (capacity + 63) >> 6) }

    init(_ items: [UInt32], capacity: Int) {
        self.init(capacity: capacity)
        for i in items { insert(i) }
    }

    @inline(__always) mutating func insert(_ i: UInt32) { words[Int(i >> 6)] |= 1 << UInt64(i & 63) }
    @inline(__always) func contains(_ i: UInt32) -> Bool { words[Int(i >> 6)] & (1 << UInt64(i & 63)) != 0 }

    var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The members at ranks `window` in ascending order.
    func members(_ window: Range<Int>) -> [UInt32] {
        var out: [UInt32] = []
        if window.isEmpty { return out }
        out.reserveCapacity(window.count)
        var seen = 0
        for (w, word) in words.enumerated() where word != 0 {
            let n = word.nonzeroBitCount
            if seen + n <= window.lowerBound { seen += n; continue }
            var bits = word
            while bits != 0 {
                let b = bits.trailingZeroBitCount
                bits &= bits - 1
                if seen >= window.lowerBound { out.append(UInt32(w << 6 | b)) }
                seen += 1
                if seen >= window.upperBound { return out }
            }
        }
        return out
    }
}
