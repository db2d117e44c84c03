import Logging

/// Sends unhandled errors to Sentry. Not yet built: with SENTRY_DSN set, the
/// server says so at start-up instead of pretending to report.
final class ErrorReporter: @unchecked Sendable {
    init?(dsn: String, logger: Logger) {
        return nil
    }

    func report(message: String, url: String, method: String) {}
}
