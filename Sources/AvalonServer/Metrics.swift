import AvalonConfig
import AvalonCore
import Glibc

/// The status codes counted one by one; any other is "other".
enum StatusClass {
    static let codes = [200, 304, 400, 404, 405, 500, 503]
    static let count = codes.count + 1

    @inline(__always)
    static func index(_ status: Int) -> Int {
        switch status {
        case 200: return 0
        case 304: return 1
        case 400: return 2
        case 404: return 3
        case 405: return 4
        case 500: return 5
        case 503: return 6
        default: return 7
        }
    }

    static func label(_ i: Int) -> String { i < codes.count ? String(codes[i]) : "other" }
}

/// Request duration buckets, 25 µs to 1 s, and one past the last.
enum DurationBuckets {
    static let bounds: [UInt64] = [25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
                                   10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000]
    static let count = bounds.count + 1
    static let labels = ["0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                         "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"]

    @inline(__always)
    static func index(_ ns: UInt64) -> Int {
        var i = 0
        while i < bounds.count && ns > bounds[i] { i += 1 }
        return i
    }
}

/// The pool's metrics in Prometheus' text format 0.0.4, summed over every slot.
enum PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ table: SharedTable) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
            out += name
            if !labels.isEmpty {
                out += "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
            }
            out += " " + value + "\n"
        }
        let slots = (0..<table.slotCount).map(table.slot)
        func total(_ at: Int) -> UInt64 { slots.reduce(0) { $0 &+ $1.load(at) } }

        family("avalon_requests_total", "counter", "Requests answered, by endpoint and HTTP status.")
        for e in MetricEndpoint.allCases {
            for c in 0..<StatusClass.count {
                let n = total(WorkerSlot.requestsAt + e.rawValue * StatusClass.count + c)
                if n > 0 { sample("avalon_requests_total", [("endpoint", e.label), ("code", StatusClass.label(c))], "\(n)") }
            }
        }
        family("avalon_request_duration_seconds", "histogram", "Time from a request's start to its last byte handed to FastCGI.")
        for e in MetricEndpoint.allCases {
            let counts = (0..<DurationBuckets.count).map { total(WorkerSlot.bucketsAt + e.rawValue * DurationBuckets.count + $0) }
            let count = counts.reduce(0, &+)
            guard count > 0 else { continue }
            var cumulative: UInt64 = 0
            for (i, n) in counts.enumerated() {
                cumulative &+= n
                sample("avalon_request_duration_seconds_bucket", [("endpoint", e.label), ("le", DurationBuckets.labels[i])], "\(cumulative)")
            }
            sample("avalon_request_duration_seconds_sum", [("endpoint", e.label)], seconds(total(WorkerSlot.sumsAt + e.rawValue)))
            sample("avalon_request_duration_seconds_count", [("endpoint", e.label)], "\(count)")
        }
        family("avalon_response_bytes_total", "counter", "Bytes of answer bodies, by endpoint.")
        for e in MetricEndpoint.allCases {
            let n = total(WorkerSlot.bytesAt + e.rawValue)
            if n > 0 { sample("avalon_response_bytes_total", [("endpoint", e.label)], "\(n)") }
        }

        let live = table.liveSlots()
        var states: [String: Int] = ["idle": 0, "busy": 0, "retiring": 0]
        var pids: [pid_t] = [pid_t(truncatingIfNeeded: table[.masterPid])]
        for s in live where processIsAlive(s.pid) {
            pids.append(s.pid)
            let name = s.state == .retiring ? "retiring" : table.slot(s.slot)[.busySince] != 0 ? "busy" : "idle"
            states[name, default: 0] += 1
        }
        family("avalon_workers", "gauge", "Live worker processes by state (retiring: finishing requests after a reload).")
        for name in ["idle", "busy", "retiring"] { sample("avalon_workers", [("state", name)], "\(states[name]!)") }
        family("avalon_workers_configured", "gauge", "Worker processes the pool is configured to keep.")
        sample("avalon_workers_configured", [], "\(table[.configuredWorkers])")
        family("avalon_worker_restarts_total", "counter", "Workers that died unexpectedly and were replaced.")
        sample("avalon_worker_restarts_total", [], "\(table[.workerRestarts])")
        family("avalon_reloads_total", "counter", "Collection reloads, by result.")
        sample("avalon_reloads_total", [("result", "success")], "\(table[.reloadsSucceeded])")
        sample("avalon_reloads_total", [("result", "failure")], "\(table[.reloadsFailed])")

        family("avalon_collection_items", "gauge", "Items of the collection being served, by kind.")
        for (kind, w) in [("songs", SharedTable.MasterWord.songs), ("albums", .albums), ("artists", .artists), ("genres", .genres)] {
            sample("avalon_collection_items", [("kind", kind)], "\(table[w])")
        }
        family("avalon_collection_loaded_timestamp_seconds", "gauge", "When the collection being served was loaded (Unix time).")
        sample("avalon_collection_loaded_timestamp_seconds", [], seconds(table[.loadedAt]))
        family("avalon_collection_generation", "gauge", "The generation of the collection served (0: written by no scan of ours).")
        sample("avalon_collection_generation", [], "\(table[.collectionGeneration])")
        family("avalon_collection_load_seconds", "gauge", "How long loading and indexing the collection being served took.")
        sample("avalon_collection_load_seconds", [], seconds(table[.loadNanoseconds]))

        family("avalon_health_check_failures", "gauge",
               "1 when the latest run of a health check, in any worker, failed; 0 when it passed.")
        for c in HealthCheckName.allCases {
            let latest = slots.map { $0.lastCheck(c) }.max { $0.at < $1.at }
            if let l = latest, l.at > 0 { sample("avalon_health_check_failures", [("name", c.rawName)], l.failed ? "1" : "0") }
        }

        var rss: UInt64 = 0, pss: UInt64 = 0
        for pid in pids {
            let m = memoryOf(pid)
            rss += m.resident
            pss += m.proportional
        }
        family("avalon_pool_resident_memory_bytes", "gauge",
               "Resident memory of the master and its live workers, added up (shared pages count once per process).")
        sample("avalon_pool_resident_memory_bytes", [], "\(rss)")
        family("avalon_pool_proportional_memory_bytes", "gauge",
               "Proportional set size of the master and its live workers: shared pages divided among their sharers.")
        sample("avalon_pool_proportional_memory_bytes", [], "\(pss)")

        family("avalon_build_info", "gauge", "The running build: always 1.")
        sample("avalon_build_info", [("version", avalonVersion), ("commit", BuildInfo.commit)], "1")
        return out
    }

    static func seconds(_ ns: UInt64) -> String {
        let s = ns / 1_000_000_000, frac = ns % 1_000_000_000
        guard frac > 0 else { return "\(s)" }
        var f = String(frac)
        f = String(repeating: "0", count: 9 - f.count) + f
        while f.hasSuffix("0") { f.removeLast() }
        return "\(s).\(f)"
    }

    /// Label values escape backslash, double quote and line feed.
    static func escape(_ s: String) -> String {
        guard s.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return s }
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
