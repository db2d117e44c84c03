import XCTest
@testable import AvalonCore

/// The radix sorts the indexes are built with, past the sizes where they
/// switch strategy (65,536 pairs: buckets by the top varying bits first),
/// against the standard library's stable sort.
final class SortingTests: XCTestCase {
    func testRadixSortPairsMatchesAStableSort() {
        let seed: UInt64 = 20261127
        print("SortingTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let shapes: [(String, (inout SplitMix64) -> UInt64)] = [
            ("any 64 bits", { $0.next() }),
            ("ranks below 2^24", { $0.next() % (1 << 24) }),
            ("few values", { $0.next() % 7 }),
            ("biased years", { UInt64(bitPattern: 1950 + Int64($0.next() % 75)) ^ (1 << 63) }),
            ("top bits only", { $0.next() & 0xFFF0_0000_0000_0000 }),
            ("one value", { _ in 42 }),
            ("buckets of hundreds, low bits varying", { ($0.next() % 1024) << 40 | $0.next() % 256 }),
            // Eight bytes of text, as a string sort's chunks are: every byte varies, over a few values.
            ("letters", { r in (0..<8).reduce(UInt64(0)) { k, _ in k << 8 | (0x60 + r.next() % 27) } }),
            // One bit varying in every byte: the MSD sort goes all eight levels down.
            ("a bit in every byte", { r in (0..<8).reduce(UInt64(0)) { k, _ in k << 8 | (r.next() & 1) } }),
        ]
        for n in [3, 48, 49, 64, 65, 1000, 20_000, 70_000, 300_000] {
            for (name, make) in shapes {
                var keys = (0..<n).map { _ in make(&rng) }
                var values = (0..<UInt32(n)).map { $0 }
                let expected = values.sorted { keys[Int($0)] < keys[Int($1)] }  // stable
                radixSortPairs(keys: &keys, values: &values)
                XCTAssertEqual(values, expected, "\(name), \(n) pairs")
                XCTAssertEqual(keys, expected.map { keys[Int($0)] }.sorted(), "\(name), \(n) pairs: keys")
            }
        }
    }

    func testSortByBytesMatchesAStableSort() {
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("ab ΣΩ東".utf8)
        var arena: [UInt8] = []
        var spans: [(Int, Int)] = []
        for _ in 0..<120_000 {
            let len = Int(rng.next() % 20)
            spans.append((arena.count, len))
            for _ in 0..<len { arena.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
        }
        let perm = arena.withUnsafeBufferPointer { sortByBytes(count: spans.count, arena: $0) { spans[$0] } }
        func bytes(_ i: UInt32) -> ArraySlice<UInt8> {
            let (start, count) = spans[Int(i)]
            return arena[start..<(start + count)]
        }
        let expected = (0..<UInt32(spans.count)).sorted { (a: UInt32, b: UInt32) -> Bool in
            bytes(a).lexicographicallyPrecedes(bytes(b))
        }
        XCTAssertEqual(perm, expected)
        // Strings sharing long prefixes, ending at and around chunk edges, the
        // longer one first: every pair and a few runs of them, shorter first.
        for long in 1..<40 {
            for short in 0..<long {
                let list = [long, short, short, long].map { Array(repeating: UInt8(ascii: "a"), count: $0) }
                let arena = list.flatMap { $0 }
                var at = 0
                let spans = list.map { b -> (Int, Int) in defer { at += b.count }; return (at, b.count) }
                let pair = arena.withUnsafeBufferPointer { sortByBytes(count: 2, arena: $0) { spans[$0] } }
                XCTAssertEqual(pair, [1, 0], "\(long) and \(short) bytes")
                let four = arena.withUnsafeBufferPointer { sortByBytes(count: 4, arena: $0) { spans[$0] } }
                XCTAssertEqual(four, [1, 2, 0, 3], "\(long) and \(short) bytes, twice")
            }
        }
    }

    func testCountingOrderIsAStableSortOrNil() {
        var rng = SplitMix64(seed: 11)
        print("SortingTests seed 11")
        for (n, span) in [(0, UInt64(5)), (1, 1), (1000, 1), (5000, 7), (20000, 3000), (3000, 1 << 19)] {
            let base = UInt64.max - (1 << 21)
            let keys = (0..<n).map { _ in base + rng.next() % span }
            let order = countingOrder(count: n) { keys[$0] }
            let expected = (0..<UInt32(n)).sorted { (a: UInt32, b: UInt32) -> Bool in
                let (ka, kb) = (keys[Int(a)], keys[Int(b)])
                return ka != kb ? ka < kb : a < b
            }
            XCTAssertEqual(order, expected, "\(n) keys in \(span)")
        }
        XCTAssertNil(countingOrder(count: 2, key: { $0 == 0 ? 0 : 1 << 20 }), "a range of 2^20 + 1 values is not counted")
        XCTAssertNotNil(countingOrder(count: 2, key: { $0 == 0 ? 5 : 5 + (1 << 20) - 1 }))
    }

    /// Dense ranks and repeated ids come from the ties the sort saw. Against
    /// the old way, comparing each string with the one sorted before it:
    /// strings from a few bytes (NUL among them: the sort cannot tell "a" from
    /// "a\0" by its zero-padded chunks), lengths across the 8-byte chunks,
    /// many repeats, sizes on both sides of every switch of strategy.
    func testRanksAndRepeatsFromTheSortMatchComparingNeighbours() {
        let seed: UInt64 = 20261128
        print("SortingTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        for (n, alphabet, maxLength) in [(2, "a\0", 3), (3, "ab", 9), (47, "a\0b", 17), (48, "ab", 12), (200, "a\0", 20),
                                         (5_000, "ab\0 ", 26), (120_000, "abΣ\0", 12), (120_000, "a", 40)] {
            let bytes = Array(alphabet.utf8)
            var arena: [UInt8] = []
            var spans: [(Int, Int)] = []
            for _ in 0..<n {
                // Half the strings repeat an earlier one.
                if !spans.isEmpty && rng.next() % 2 == 0 { spans.append(spans[Int(rng.next() % UInt64(spans.count))]); continue }
                let len = Int(rng.next() % UInt64(maxLength + 1))
                spans.append((arena.count, len))
                for _ in 0..<len { arena.append(bytes[Int(rng.next() % UInt64(bytes.count))]) }
            }
            let plain = arena.withUnsafeBufferPointer { sortByBytes(count: n, arena: $0) { spans[$0] } }
            let (perm, ranks) = arena.withUnsafeBufferPointer { sortByBytesRanked(count: n, arena: $0) { spans[$0] } }
            XCTAssertEqual(perm, plain, "\(n) strings of \(alphabet.debugDescription): the same order")
            func string(_ i: UInt32) -> ArraySlice<UInt8> { arena[spans[Int(i)].0..<(spans[Int(i)].0 + spans[Int(i)].1)] }
            var expected = [UInt32](repeating: 0, count: n)
            var rank: UInt32 = 0
            for pos in 1..<n {
                if string(plain[pos]) != string(plain[pos - 1]) { rank += 1 }
                expected[Int(plain[pos])] = rank
            }
            XCTAssertEqual(ranks.count, n)
            XCTAssertEqual(zip(ranks, expected).filter { $0 != $1 }.count, 0, "\(n) strings of \(alphabet.debugDescription): ranks that differ")
            // Ids: the same strings' first sixteen bytes, so repeats are common.
            let ids = (0..<n).map { i -> ItemID in
                var b = [UInt8](string(UInt32(i)).prefix(16))
                b += [UInt8](repeating: 0, count: 16 - b.count)
                return b.withUnsafeBytes { ItemID(hi: UInt64(bigEndian: $0.load(as: UInt64.self)),
                                                  lo: UInt64(bigEndian: $0.load(fromByteOffset: 8, as: UInt64.self))) }
            }
            let (order, repeats) = MusicCollection.sortedByIDFindingRepeats(count: n) { ids[$0] }
            XCTAssertEqual(order, MusicCollection.sortedByID(ids), "\(n) ids: the same order")
            var seen = Set<ItemID>()
            let model = (0..<UInt32(n)).filter { !seen.insert(ids[Int($0)]).inserted }
            XCTAssertEqual(repeats, model, "\(n) ids: the repeated ones")
        }
        // Two strings that go on past a shared chunk and end in the next one
        // alike but for a NUL (the pair shortcut), and the shortest such pair.
        for list in [["aaaaaaaaa", "aaaaaaaaa\0"], ["aaaaaaaaa\0", "aaaaaaaaa"], ["a", "a\0"], ["a\0", "a"], ["aaaaaaaaa", "aaaaaaaaa"],
                     ["x", "aaaaaaaaa\0", "aaaaaaaaa", "aaaaaaaaa\0"]] {
            let arena = list.flatMap { Array($0.utf8) }
            var at = 0
            let spans = list.map { w -> (Int, Int) in defer { at += w.utf8.count }; return (at, w.utf8.count) }
            let (perm, ranks) = arena.withUnsafeBufferPointer { sortByBytesRanked(count: list.count, arena: $0) { spans[$0] } }
            var expected = [UInt32](repeating: 0, count: list.count)
            for pos in 1..<list.count {
                expected[Int(perm[pos])] = expected[Int(perm[pos - 1])] + (list[Int(perm[pos])] == list[Int(perm[pos - 1])] ? 0 : 1)
            }
            XCTAssertEqual(ranks, expected, "\(list.map(\.debugDescription))")
        }
    }
}
