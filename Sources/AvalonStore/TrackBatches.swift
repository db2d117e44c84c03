import AvalonCore

/// Rows of `tracks` copied out of the database cursor as raw bytes, so that
/// one thread steps the cursor while another parses ids and builds: at ten
/// million tracks reading alone took half the load on one core.
struct TrackBatch {
    static let rows = 8192
    /// Each row's five text columns (id, name, album, artist, genre), back to
    /// back: `used` bytes of `storage`. Written here, where a copy knows the
    /// end; `Array.append(contentsOf:)` cost ~90 instructions a text on the
    /// thread that steps the cursor, which bounds the whole read. (A struct
    /// over a class: a class's stored vars cost an exclusivity check each.)
    private var storage = BatchBytes(capacity: TrackBatch.rows * 180)
    private var used = 0
    /// Per row and text column, its length; `TrackBatch.null` for NULL.
    var lengths: [UInt32] = []
    /// Per row: length, track, year.
    var numbers: [Int64] = []
    var count: Int { numbers.count / 3 }
    static let null = UInt32.max

    init() {
        lengths.reserveCapacity(Self.rows * 5)
        numbers.reserveCapacity(Self.rows * 3)
    }

    @inline(__always)
    mutating func appendText(_ b: UnsafeBufferPointer<UInt8>?) {
        guard let b else { lengths.append(Self.null); return }
        let n = b.count
        if n > storage.capacity - used { grow(toHold: used + n) }
        if n > 0 { (storage.start + used).update(from: b.baseAddress!, count: n) }
        used += n
        lengths.append(UInt32(n))
    }

    private mutating func grow(toHold n: Int) {
        let bigger = BatchBytes(capacity: Swift.max(n, 2 * storage.capacity))
        bigger.start.update(from: storage.start, count: used)
        storage = bigger
    }

    mutating func clear() {
        used = 0
        lengths.removeAll(keepingCapacity: true)
        numbers.removeAll(keepingCapacity: true)
    }

    /// Calls `body` with each row's five text columns (nil: NULL) and its three numbers.
    func forEachRow(_ body: (UnsafeBufferPointer<UInt8>?, UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>?,
                             UnsafeBufferPointer<UInt8>?, UnsafeBufferPointer<UInt8>?, Int64, Int64, Int64) -> Void) {
        do {
            let base = UnsafePointer(storage.start)
            var at = 0
            var texts = (UnsafeBufferPointer<UInt8>?.none, UnsafeBufferPointer<UInt8>?.none, UnsafeBufferPointer<UInt8>?.none,
                         UnsafeBufferPointer<UInt8>?.none, UnsafeBufferPointer<UInt8>?.none)
            for r in 0..<count {
                func next(_ c: Int) -> UnsafeBufferPointer<UInt8>? {
                    let n = lengths[r * 5 + c]
                    if n == Self.null { return nil }
                    defer { at += Int(n) }
                    return UnsafeBufferPointer(start: base + at, count: Int(n))
                }
                texts = (next(0), next(1), next(2), next(3), next(4))
                body(texts.0, texts.1 ?? UnsafeBufferPointer(start: nil, count: 0), texts.2, texts.3, texts.4,
                     numbers[r * 3], numbers[r * 3 + 1], numbers[r * 3 + 2])
            }
        }
    }
}

/// A batch's bytes, freed with the last batch that holds them. The queue's
/// copies of a batch share them, as they shared an array's storage: one
/// thread at a time owns a batch (the filler, then the queue, the builder).
final class BatchBytes {
    let start: UnsafeMutablePointer<UInt8>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        start = .allocate(capacity: capacity)
    }

    deinit { start.deallocate() }
}

/// A bounded queue of batches between the reading thread and the building one.
final class BatchQueue: @unchecked Sendable {
    private let lock = Lock()
    private let changed = Condition()
    private var full: [TrackBatch] = []
    private var empty: [TrackBatch] = []
    private var finished = false
    /// Batches in flight at most: bounds the memory the queue holds.
    private let depth: Int

    init(depth: Int = 4) {
        self.depth = depth
        empty = (0..<depth).map { _ in TrackBatch() }
    }

    /// A batch to fill (waits while all are queued).
    func takeEmpty() -> TrackBatch {
        lock.locked {
            while empty.isEmpty { lock.wait(changed) }
            return empty.removeLast()
        }
    }

    func put(_ b: TrackBatch) {
        lock.locked { full.append(b); changed.broadcast() }
    }

    /// No more batches come.
    func finish() {
        lock.locked { finished = true; changed.broadcast() }
    }

    /// The next filled batch, nil after `finish` once all were taken.
    func takeFull() -> TrackBatch? {
        lock.locked {
            while full.isEmpty && !finished { lock.wait(changed) }
            return full.isEmpty ? nil : full.removeFirst()
        }
    }

    func giveBack(_ b: TrackBatch) {
        var b = b
        b.clear()
        lock.locked { empty.append(b); changed.broadcast() }
    }
}
@inline(__always)
func phase(_ what: String) { LoadPhases.ended?(what) }
