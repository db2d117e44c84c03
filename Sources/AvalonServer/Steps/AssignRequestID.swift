/// Takes the request's `X-Request-ID` or makes one.
final class AssignRequestID: RequestStep {
    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        c.requestID.set(from: c.request.requestID)
        try next()
    }
}
