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
    /// The buffer's words, behind a pointer: a class's stored properties are
    /// checked for exclusive access at run time on every use (a runtime call),
    /// and `cursor`/`commit` run for every record.
    private struct State {
        var start: UnsafeMutablePointer<UInt8>
        var count: Int
        var streamed: Int
        var capacity: Int
        /// The end of the room the open cursor took.
        var roomEnd: UnsafeMutablePointer<UInt8>
    }
    private let s: UnsafeMutablePointer<State>
    /// The capacity kept between answers; an unusually large one gives its memory back.
    private let usual: Int

    public var start: UnsafeMutablePointer<UInt8> { s.pointee.start }
    /// Bytes held now (after those already streamed).
    public var count: Int { s.pointee.count }
    /// Bytes already handed to the sink for this answer.
    public var streamed: Int { s.pointee.streamed }

    /// Receives full chunks of a streaming answer, in order. Nil: answers are held whole.
    public var sink: ((UnsafeBufferPointer<UInt8>) -> Void)?
    /// Held bytes past which a streaming answer hands them on.
    public var chunkBytes = 4 << 20
    /// The content type of a streamed answer that is not JSON (Subsonic's
    /// XML), set by its writer while it writes; nil: JSON.
    public var streamContentType: String?

    public init(capacity: Int = 1 << 16) {
        usual = max(64, capacity)
        let start = UnsafeMutablePointer<UInt8>.allocate(capacity: usual + JSONCursor.padding)
        s = .allocate(capacity: 1)
        s.initialize(to: State(start: start, count: 0, streamed: 0, capacity: usual, roomEnd: start))
    }

    deinit {
        s.pointee.start.deallocate()
        s.deinitialize(count: 1)
        s.deallocate()
    }

    /// Every byte of the answer, streamed or held.
    public var total: Int { s.pointee.streamed + s.pointee.count }

    /// Starts a new answer.
    public func reset() {
        s.pointee.count = 0
        s.pointee.streamed = 0
    }

    /// A cursor at the end of what is held, with room for `room` bytes.
    @inline(__always)
    public func cursor(room: Int) -> JSONCursor {
        precondition(room >= 0)
        if s.pointee.count + room > s.pointee.capacity { makeRoom(room) }
        let at = s.pointee.start + s.pointee.count
        s.pointee.roomEnd = at + room
        return JSONCursor(at)
    }

    /// Keeps what `c` wrote; stops the process if it wrote past its room.
    @inline(__always)
    public func commit(_ c: JSONCursor) {
        let at = s.pointee.start + s.pointee.count
        precondition(c.p <= s.pointee.roomEnd && c.p >= at, "an answer overran the room it took: a bound is too small")
        s.pointee.count = c.p - s.pointee.start
    }

    /// Streams what is held when a sink takes it and it is large enough, or
    /// grows the buffer (keeping what it holds).
    private func makeRoom(_ room: Int) {
        let count = s.pointee.count
        if let sink, count >= chunkBytes / 2 || count + room > chunkBytes {
            if count > 0 { sink(UnsafeBufferPointer(start: s.pointee.start, count: count)) }
            s.pointee.streamed += count
            s.pointee.count = 0
            if room <= s.pointee.capacity { return }
        }
        let held = s.pointee.count
        var c = s.pointee.capacity * 2
        while c < held + room { c *= 2 }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: c + JSONCursor.padding)
        p.update(from: s.pointee.start, count: held)
        s.pointee.start.deallocate()
        s.pointee.start = p
        s.pointee.capacity = c
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
        guard s.pointee.capacity > usual else { return }
        s.pointee.start.deallocate()
        let start = UnsafeMutablePointer<UInt8>.allocate(capacity: usual + JSONCursor.padding)
        s.pointee = State(start: start, count: 0, streamed: s.pointee.streamed, capacity: usual, roomEnd: start)
    }
}
