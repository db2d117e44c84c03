import Synchronization

/// What every answer of the collection is made of: the envelope, element
/// fragments, and errors turned into their envelope.
extension ResponseBuffer {
    /// Makes an answer with `body` and returns its HTTP status: 200, or an
    /// API error's (its envelope replaces whatever was written).
    public func answer(_ body: () throws -> Void) -> Int {
        do {
            try body()
            return 200
        } catch let e as APIError {
            set(e.body)
            return e.status
        } catch {
            let e = APIError.unknown("\(error)")
            set(e.body)
            return e.status
        }
    }
}

/// An element's quoted id and quoted name in its table's JSON fragments.
extension JSONCursor {
    /// The quoted id of element `i` of a table's padded JSON fragments.
    @inline(__always)
    mutating func id(_ json: UnsafeBufferPointer<UInt8>, _ offsets: [UInt32], _ i: Int) {
        copy(padded: json.baseAddress! + Int(offsets[i]), count: JSONCursor.maxBytesUUID)
    }

    /// The quoted, escaped name of element `i`.
    @inline(__always)
    mutating func name(_ json: UnsafeBufferPointer<UInt8>, _ offsets: [UInt32], _ i: Int) {
        let start = Int(offsets[i]) + JSONCursor.maxBytesUUID
        copy(padded: json.baseAddress! + start, count: Int(offsets[i + 1]) - start)
    }
}

/// Where prefetching loads leave their result, so that they are not optimised
/// away. Atomic (a relaxed store is a plain store) because every thread that
/// renders writes it; nothing reads it.
let touchedBytes = Atomic<UInt8>(0)

@inline(__always)
func slice(_ a: UnsafeBufferPointer<UInt8>, _ r: TextRef) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(rebasing: a[Int(r.start)..<Int(r.start + r.count)])
}

extension ResponseBuffer {
    /// Starts a new answer with the envelope up to the success list.
    func beginSuccessList() {
        reset()
        var c = cursor(room: 32)
        c.raw("{\"errors\": [], \"success\": [")
        commit(c)
    }

    /// Closes the success list and the envelope.
    func endSuccessList() {
        var c = cursor(room: 32)
        c.raw("], \"warnings\": []}")
        commit(c)
    }
}
