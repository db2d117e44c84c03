import AvalonCore

/// Rows copied out of the database cursor as raw bytes, so that one thread
/// steps the cursor while another parses ids and builds: at ten million
/// tracks reading alone took half the load on one core. A batch holds rows of
/// one table: `texts` text columns, then `numbers` integer ones, per row.
struct RowBatch {
    static let rows = 8192
    enum Table { case tracks, files }
    private(set) var table = Table.tracks
    private(set) var texts = 5
    private(set) var numbers = 3
    /// Each row's text columns, back to back.
    private var bytes: [UInt8] = []
    /// Per row and text column, its length; `RowBatch.null` for NULL.
    private var lengths: [UInt32] = []
    /// Per row, its integer columns.
    private var values: [Int64] = []
    var count: Int { values.count / numbers }
    var isFull: Bool { count == Self.rows }
    static let null = UInt32.max

    init() {
        bytes.reserveCapacity(Self.rows * 180)
        lengths.reserveCapacity(Self.rows * 5)
        values.reserveCapacity(Self.rows * 4)
    }

    mutating func appendText(_ b: UnsafeBufferPointer<UInt8>?) {
        guard let b else { lengths.append(Self.null); return }
        bytes.append(contentsOf: b)
        lengths.append(UInt32(b.count))
    }

    /// The row's integers come after its texts: a row counts once they are in.
    mutating func appendNumber(_ v: Int64) { values.append(v) }

    /// Empty, for rows of `table`.
    mutating func clear(for table: Table, texts: Int, numbers: Int) {
        (self.table, self.texts, self.numbers) = (table, texts, numbers)
        bytes.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
    }

    /// Calls `body` with each row's text columns (nil: NULL) and its integers.
    func forEachRow(_ body: (UnsafeBufferPointer<UnsafeBufferPointer<UInt8>?>, UnsafeBufferPointer<Int64>) -> Void) {
        bytes.withUnsafeBufferPointer { all in
            values.withUnsafeBufferPointer { numbersOf in
                withUnsafeTemporaryAllocation(of: UnsafeBufferPointer<UInt8>?.self, capacity: texts) { row in
                    let base = all.baseAddress ?? UnsafePointer(bitPattern: 1)!
                    var at = 0
                    for r in 0..<count {
                        for c in 0..<texts {
                            let n = lengths[r * texts + c]
                            if n == Self.null {
                                row[c] = nil
                            } else {
                                row[c] = UnsafeBufferPointer(start: base + at, count: Int(n))
                                at += Int(n)
                            }
                        }
                        body(UnsafeBufferPointer(row), UnsafeBufferPointer(rebasing: numbersOf[(r * numbers)..<((r + 1) * numbers)]))
                    }
                }
            }
        }
    }
}

/// A bounded queue of batches between the reading thread and the building one.
final class BatchQueue: @unchecked Sendable {
    private let lock = Lock()
    private let changed = Condition()
    private var full: [RowBatch] = []
    private var empty: [RowBatch] = []
    private var finished = false
    /// Batches in flight at most: bounds the memory the queue holds.
    private let depth: Int

    init(depth: Int = 4) {
        self.depth = depth
        empty = (0..<depth).map { _ in RowBatch() }
    }

    /// An empty batch for rows of `table` (waits while all are queued).
    func takeEmpty(for table: RowBatch.Table, texts: Int, numbers: Int) -> RowBatch {
        var b = lock.locked {
            while empty.isEmpty { lock.wait(changed) }
            return empty.removeLast()
        }
        b.clear(for: table, texts: texts, numbers: numbers)
        return b
    }

    func put(_ b: RowBatch) {
        lock.locked { full.append(b); changed.broadcast() }
    }

    /// No more batches come.
    func finish() {
        lock.locked { finished = true; changed.broadcast() }
    }

    /// The next filled batch, nil after `finish` once all were taken.
    func takeFull() -> RowBatch? {
        lock.locked {
            while full.isEmpty && !finished { lock.wait(changed) }
            return full.isEmpty ? nil : full.removeFirst()
        }
    }

    func giveBack(_ b: RowBatch) {
        lock.locked { empty.append(b); changed.broadcast() }
    }
}
@inline(__always)
func phase(_ what: String) { LoadPhases.ended?(what) }
