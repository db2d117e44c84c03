import AvalonCore

/// Counts the request in the worker's slot of the shared table (and marks
/// it in hand meanwhile), and sends the statsd timer of the routes that have one.
final class RecordMetrics: RequestStep {
    let slot: WorkerSlot?
    let statsd: Statsd?

    init(slot: WorkerSlot?, statsd: Statsd?) {
        self.slot = slot
        self.statsd = statsd
    }

    func handle(_ c: RequestContext, next: () throws -> Void) throws {
        slot?.begin(at: c.started, path: c.path)
        defer {
            let elapsed = monotonicNanoseconds() &- c.started
            slot?.record(c.route, status: c.head.status, nanoseconds: elapsed, bytes: c.out.total)
            // A 304 made nothing: the old server sent no timer for it either.
            if let statsd, c.head.status != 304, let name = Route.statsdNames[c.route.rawValue] {
                statsd.timing(name, microseconds: Int((elapsed + 500) / 1000))
            }
        }
        try next()
    }
}
