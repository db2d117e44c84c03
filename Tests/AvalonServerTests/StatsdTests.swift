@testable import AvalonServer
import AvalonCore
import Glibc
import TestSupport
import XCTest

final class StatsdTests: XCTestCase {
    func testLinesAndBatching() {
        let (fd, port) = bindLoopback(SOCK_DGRAM)
        defer { close(fd) }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String? {
            var buf = [UInt8](repeating: 0, count: 2048)
            let n = recv(fd, &buf, buf.count, 0)
            return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
        }
        let s = Statsd(host: "127.0.0.1", port: port, prefix: "av")
        s.timing("request.songs", milliseconds: 1.2)
        s.timing("request.albums", milliseconds: 3)
        s.timing("request.genres", milliseconds: 0.13349)
        s.timing("request.artists", milliseconds: 1234.5)
        s.flush()
        XCTAssertEqual(receive(), "av.request.songs:1.2|ms\nav.request.albums:3.0|ms\nav.request.genres:0.133|ms\nav.request.artists:1234.5|ms")
        // An idle worker asks when the batch is due, waits that long, asks again.
        XCTAssertEqual(s.flushIfDue(), -1, "nothing queued: no time limit")
        let begun = monotonicNanoseconds()
        s.timing("request.songs", milliseconds: 7)
        s.timing("request.songs", milliseconds: 8)
        let wait = s.flushIfDue(now: begun)
        XCTAssert((99...101).contains(wait), "due 100 ms after its first timer, not \(wait)")
        XCTAssert((50...51).contains(s.flushIfDue(now: begun + 50_000_000)), "still queued halfway")
        XCTAssertEqual(s.flushIfDue(now: monotonicNanoseconds() + 101_000_000), -1, "sent once due")
        XCTAssertEqual(receive(), "av.request.songs:7.0|ms\nav.request.songs:8.0|ms")
        s.timing("request.genres", milliseconds: 9)
        usleep(110_000)
        XCTAssertEqual(s.flushIfDue(), -1)
        XCTAssertEqual(receive(), "av.request.genres:9.0|ms")
        // A packet never outgrows the limit: the timers spill into more packets.
        for _ in 0..<100 { s.timing("request.songs", milliseconds: 10.25) }
        s.flush()
        var lines = 0
        while let p = receive() {
            XCTAssertLessThanOrEqual(p.utf8.count, Statsd.packetLimit)
            lines += p.split(separator: "\n").count
            if lines >= 100 { break }
        }
        XCTAssertEqual(lines, 100)
    }
}
