/// Writes the answer to FastCGI once the steps inside have made it.
final class SendAnswer: RequestStep {
    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        try next()
        // A streamed answer's head went out with its first chunk.
        if c.out.streamed == 0 {
            putHead(c.head, length: c.head.status == 304 ? nil : c.out.count, requestID: c.requestID.bytes, etag: c.etag.bytes, c.stream)
        }
        if !c.isHead { put(c.out.bytes, c.stream) }
        c.out.shrink()
    }
}
