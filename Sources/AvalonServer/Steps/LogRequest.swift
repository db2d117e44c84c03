import AvalonCore
import Logging

/// A DEBUG line per request, built only when that level is on.
final class LogRequest: RequestStep {
    let logger: Logger
    let redactor: Redactor

    init(logger: Logger, redactor: Redactor) {
        self.logger = logger
        self.redactor = redactor
    }

    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        try next()
        // The shared level word directly: swift-log's check goes through its handler box.
        guard LogLevelControl.current == .debug else { return }
        let (method, url) = c.describe(redactor)
        let ms = Double((monotonicNanoseconds() &- c.started) / 1000) / 1000
        logger.debug("\(method) \(url) \(c.head.status) \(c.out.total) bytes \(ms) ms", metadata: ["request_id": "\(c.requestID.string)"])
    }
}
