/// The bytes of one answer, in memory that a worker reuses for every request:
/// no allocation per answer, and the memory stays warm in the cache.
public final class ResponseBuffer {
    public private(set) var start: UnsafeMutablePointer<UInt8>
    public private(set) var count = 0
    private var capacity: Int
    /// The capacity kept between answers; an unusually large one gives its memory back.
    private let usual: Int

    public init(capacity: Int = 1 << 16) {
        usual = max(64, capacity)
        self.capacity = usual
        start = .allocate(capacity: usual)
    }

    deinit { start.deallocate() }

    /// Replaces the contents with what `body` writes and returns the count
    /// of: at most `bound` bytes.
    public func write(bound: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        if bound > capacity {
            // The old contents are replaced, so nothing is copied.
            start.deallocate()
            capacity = bound
            start = .allocate(capacity: bound)
        }
        count = body(start)
        assert(count <= bound)
    }

    public func set(_ bytes: [UInt8]) {
        write(bound: bytes.count) { p in
            bytes.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: $0.count) }
            return bytes.count
        }
    }

    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: start, count: count) }

    public var array: [UInt8] { Array(bytes) }

    /// Gives back the memory of an unusually large answer.
    public func shrink() {
        guard capacity > usual else { return }
        start.deallocate()
        capacity = usual
        start = .allocate(capacity: usual)
        count = 0
    }
}
