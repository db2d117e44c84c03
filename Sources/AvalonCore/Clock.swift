import Glibc

/// Durations: CLOCK_MONOTONIC, which no clock change moves.
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

public func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }

/// Points in time that people read: CLOCK_REALTIME.
public func wallNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// `2026-11-24T17:51:20.123Z`: UTC, milliseconds.
public func isoTime(wallNanoseconds ns: UInt64) -> String {
    var t = time_t(ns / 1_000_000_000)
    var parts = tm()
    gmtime_r(&t, &parts)
    var buf = [CChar](repeating: 0, count: 32)
    let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S", &parts)
    let ms = Int(ns / 1_000_000 % 1000)
    let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) + "." + msText + "Z"
}
