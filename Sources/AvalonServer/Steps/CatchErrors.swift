import AvalonCore
import Logging

/// An error nothing expected: logged and reported (secrets masked, with the
/// request id), answered 500 with code 1; the worker goes on.
final class CatchErrors: RequestStep {
    let logger: Logger
    let reporter: ErrorReporter?
    let redactor: Redactor

    init(logger: Logger, reporter: ErrorReporter?, redactor: Redactor) {
        self.logger = logger
        self.reporter = reporter
        self.redactor = redactor
    }

    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        do {
            try next()
        } catch {
            let (method, url) = c.describe(redactor)
            let id = c.requestID.string
            logger.error("Unhandled error processing \(method) \(url): \(error)",
                         metadata: ["request_id": "\(id)", "error": "\(error)", "error_type": "\(type(of: error))"])
            reporter?.report(message: redactor.text("\(error)"), url: url, method: method, requestID: id)
            // Part of a streamed answer is out already: nothing can replace it.
            guard c.out.streamed == 0 else { return }
            let e = APIError.unknown(redactor.text("\(error)"))
            c.out.set(e.body)
            c.head.status = e.status
            c.head.contentType = AnswerHead.jsonType
            c.head.noStore = false
        }
    }
}
