import Logging

/// A step around the handler: it may act before and after `next`, which
/// runs the rest of the pipeline (as Hummingbird's middleware does).
protocol RequestStep: AnyObject {
    func handle(_ c: RequestContext, next: () throws -> Void) throws
}

/// The steps, outermost first, and the handler inside them.
struct Pipeline {
    let steps: [RequestStep]
    let handler: (RequestContext) throws -> Void

    func run(_ c: RequestContext) throws { try run(0, c) }

    private func run(_ i: Int, _ c: RequestContext) throws {
        guard i < steps.count else { return try handler(c) }
        try steps[i].handle(c) { try run(i + 1, c) }
    }
}

extension Pipeline {
    /// The one place the steps are put in order. The route is resolved before
    /// any of them runs (the context carries it), so none needs another to
    /// route; what they do need of each other is their nesting:
    /// - the request id first, so that everything after can log it;
    /// - metrics and the log line outside the rest, so that they see the
    ///   answer's final status and size, 304s and errors included;
    /// - `SendAnswer` outside `ConditionalRequests` and `CatchErrors`, which
    ///   change the answer (a 304, an error's 500) that it then writes;
    /// - `CatchErrors` innermost, so that an error still leaves an answer to send.
    static func standard(router: Router, slot: WorkerSlot?, statsd: Statsd?, reporter: ErrorReporter?, logger: Logger,
                         redactor: Redactor, etagSalt: UInt64) -> Pipeline {
        Pipeline(steps: [
            AssignRequestID(),
            RecordMetrics(slot: slot, statsd: statsd),
            LogRequest(logger: logger, redactor: redactor),
            SendAnswer(),
            ConditionalRequests(generation: router.collection.generation, salt: etagSalt),
            CatchErrors(logger: logger, reporter: reporter, redactor: redactor),
        ], handler: { c in
            c.head = try router.answer(c.route, c.request, path: c.path, into: c.out)
        })
    }
}
