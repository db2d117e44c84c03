/// The bytes of one answer, in memory that a worker reuses for every request:
/// no allocation per answer, and the memory stays warm in the cache.
///
/// Writers take room before they write: `cursor(room:)` makes sure that many
/// bytes (and `JSONCursor.padding` more, which padded copies may touch) fit,
/// and `commit` checks, in every build, that the cursor stayed inside the room
/// it took. A bound computed too small is a clean stop, never a write past
/// the allocation: each record's room comes from its actual lengths, and no
/// single write is longer than the padding plus the room.
///
/// With a `sink`, a large answer streams: once more than `chunkBytes` are
/// held, they are handed to the sink and the buffer starts over, so an answer
/// of any size needs at most about `chunkBytes` of memory.
public final class ResponseBuffer {
    public private(set) var start: UnsafeMutablePointer<UInt8>
    /// Bytes held now (after those already streamed).
    public private(set) var count = 0
    /// Bytes already handed to the sink for this answer.
    public private(set) var streamed = 0
    private var capacity: Int
    /// The end of the room the open cursor took.
    private var roomEnd: UnsafeMutablePointer<UInt8>
    /// The capacity kept between answers; an unusually large one gives its memory back.
    private let usual: Int

    /// Receives full chunks of a streaming answer, in order. Nil: answers are held whole.
    public var sink: ((UnsafeBufferPointer<UInt8>) -> Void)?
    /// Held bytes past which a streaming answer hands them on.
    public var chunkBytes = 4 << 20

    public init(capacity: Int = 1 << 16) {
        usual = max(64, capacity)
        self.capacity = usual
        start = .allocate(capacity: usual + JSONCursor.padding)
        roomEnd = start
    }

    deinit { start.deallocate() }

    /// Every byte of the answer, streamed or held.
    public var total: Int { streamed + count }

    /// Starts a new answer.
    public func reset() {
        count = 0
        streamed = 0
    }

    /// A cursor at the end of what is held, with room for `room` bytes.
    @inline(__always)
    public func cursor(room: Int) -> JSONCursor {
        precondition(room >= 0)
        if count + room > capacity { makeRoom(room) }
        roomEnd = start + count + room
        return JSONCursor(start + count)
    }

    /// Keeps what `c` wrote; stops the process if it wrote past its room.
    @inline(__always)
    public func commit(_ c: JSONCursor) {
        precondition(c.p <= roomEnd && c.p >= start + count, "an answer overran the room it took: a bound is too small")
        count = c.p - start
    }

    /// Streams what is held when a sink takes it and it is large enough, or
    /// grows the buffer (keeping what it holds).
    private func makeRoom(_ room: Int) {
        if let sink, count >= chunkBytes / 2 || count + room > chunkBytes {
            if count > 0 { sink(UnsafeBufferPointer(start: start, count: count)) }
            streamed += count
            count = 0
            if room <= capacity { return }
        }
        var c = capacity * 2
        while c < count + room { c *= 2 }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: c + JSONCursor.padding)
        p.update(from: start, count: count)
        start.deallocate()
        start = p
        capacity = c
    }

    /// Replaces the contents with `bytes`.
    public func set(_ bytes: [UInt8]) {
        reset()
        var c = cursor(room: bytes.count)
        bytes.withUnsafeBufferPointer { if !$0.isEmpty { c.raw($0) } }
        commit(c)
    }

    /// What is held (all of it, unless the answer streamed).
    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: start, count: count) }

    public var array: [UInt8] { Array(bytes) }

    /// Gives back the memory of an unusually large answer.
    public func shrink() {
        guard capacity > usual else { return }
        start.deallocate()
        capacity = usual
        start = .allocate(capacity: usual + JSONCursor.padding)
        roomEnd = start
        count = 0
    }
}
