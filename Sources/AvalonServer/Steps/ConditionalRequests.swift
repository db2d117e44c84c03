import AvalonCore

/// A cacheable answer (a list of the collection) depends only on its URL and the collection's
/// generation, so both make a strong ETag, and a client that sends it back
/// in `If-None-Match` gets 304 without the answer being made again.
/// Answers that are not 200 (errors) carry none.
final class ConditionalRequests: RequestStep {
    /// `"G-`: the generation in clear, for people reading headers.
    private let prefix: [UInt8]
    /// Mixed into every tag: 0, or for a collection no scan of ours wrote
    /// (generation 0, whose content can change without its number), a value
    /// drawn at each load.
    private let salt: UInt64

    init(generation: Int64, salt: UInt64) {
        self.salt = salt
        prefix = Array("\"\(generation)-".utf8)
    }

    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        let etag = c.etag
        etag.clear()
        guard Route.cacheable[c.route.rawValue] else { return try next() }
        etag.set(prefix: prefix, hash: hash(c))
        if etag.matches(ifNoneMatch: c.request.ifNoneMatch) {
            c.head = AnswerHead(status: 304, contentType: "")
            return
        }
        try next()
        if c.head.status != 200 { etag.clear() }
    }

    /// FNV-1a over path, "?" and query, then splitmix's finaliser.
    private func hash(_ c: RequestContext) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ salt
        @inline(__always) func add(_ b: UInt8) { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        for b in c.path { add(b) }
        add(UInt8(ascii: "?"))
        for b in c.request.query { add(b) }
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }
}

/// An answer's ETag, held in place: `"G-XXXXXXXXXXXXXXXX"`. Its length sits
/// behind a pointer too: a class's stored property would pay a runtime
/// exclusivity check on every request.
final class ETag {
    private let storage = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 48)
    private let length = UnsafeMutablePointer<Int>.allocate(capacity: 1)

    init() { length.pointee = 0 }

    deinit {
        storage.deallocate()
        length.deallocate()
    }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: storage[..<length.pointee]) }

    func clear() { length.pointee = 0 }

    func set(prefix: [UInt8], hash: UInt64) {
        precondition(prefix.count + 17 <= storage.count, "ETag prefix too long")
        _ = storage.initialize(from: prefix)
        let hex = ETag.hex
        for i in 0..<16 { storage[prefix.count + i] = hex[Int(hash >> (60 - 4 * UInt64(i)) & 0xF)] }
        storage[prefix.count + 16] = UInt8(ascii: "\"")
        length.pointee = prefix.count + 17
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// If-None-Match's weak comparison: any listed tag, `W/` or not, or `*`.
    func matches(ifNoneMatch header: UnsafeBufferPointer<UInt8>) -> Bool {
        guard length.pointee > 0, !header.isEmpty else { return false }
        let tag = bytes
        for item in header.split(separator: UInt8(ascii: ",")) {
            var s = item[...]
            while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
            while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
            if s.elementsEqual([UInt8(ascii: "*")]) { return true }
            if s.starts(with: [UInt8(ascii: "W"), UInt8(ascii: "/")]) { s = s.dropFirst(2) }
            if s.elementsEqual(tag) { return true }
        }
        return false
    }
}
