import AvalonCore
import CFastCGI
import Glibc

/// Writes the CGI header lines of an answer and the blank line after them,
/// built on the stack: this runs once per request.
func putHead(_ head: AnswerHead, length: Int?, requestID: UnsafeBufferPointer<UInt8>, etag: UnsafeBufferPointer<UInt8>,
             _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    let prefix = head.status == 200 && head.contentType == AnswerHead.jsonType ? okJSONHead
        : head.status == 200 && head.contentType == AnswerHead.textType ? okTextHead
        : head.contentType.isEmpty ? Array("Status: \(head.status) \(reasonPhrases[head.status] ?? "")\r\n".utf8)
        : Array("Status: \(head.status) \(reasonPhrases[head.status] ?? "")\r\nContent-Type: \(head.contentType)\r\n".utf8)
    let capacity = prefix.count + requestID.count + etag.count + head.extraHeaders.utf8.count + 128 + 2 * JSONCursor.maxBytesInt
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buf in
        var c = JSONCursor(buf.baseAddress!)
        prefix.withUnsafeBufferPointer { c.raw($0) }
        if head.noStore { c.raw("Cache-Control: no-store\r\n") }
        if !head.extraHeaders.isEmpty {
            var extra = head.extraHeaders
            extra.withUTF8 { c.raw($0) }
        }
        if !etag.isEmpty {
            // Revalidate every time: the next generation may be out already.
            c.raw("Cache-Control: no-cache\r\nETag: ")
            c.raw(etag)
            // nginx's micro-cache (nginx/avalon-cache.conf) keeps it to the end of
            // this second, so a new generation shows through within 1 s; its
            // own `1s` would mean until the end of the next one. nginx hides it.
            // The precise clock (vDSO): the coarse one lags a few ms, and an entry
            // stamped with the second before nginx's expires at once.
            c.raw("\r\nX-Accel-Expires: @")
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            c.int(Int64(ts.tv_sec))
            c.raw("\r\n")
        }
        if !requestID.isEmpty {
            c.raw("X-Request-ID: ")
            c.raw(requestID)
            c.raw("\r\n")
        }
        if let length {
            c.raw("Content-Length: ")
            c.int(Int64(length))
            c.raw("\r\n")
        }
        c.raw("\r\n")
        let n = c.p - buf.baseAddress!
        precondition(n <= capacity, "response head overflow")
        buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: n) { _ = FCGX_PutStr($0, Int32(n), stream) }
    }
}

// The heads of most answers, built once: interpolating one costs more than the rest of a heartbeat.
private let okJSONHead = Array("Status: 200 OK\r\nContent-Type: \(AnswerHead.jsonType)\r\n".utf8)
private let okTextHead = Array("Status: 200 OK\r\nContent-Type: \(AnswerHead.textType)\r\n".utf8)

/// Writes bytes to a FastCGI stream.
/// In pieces that fit FCGX_PutStr's Int32 count (an answer held whole once
/// passed 2 GiB at 10M songs and stopped the worker).
func put(_ bytes: UnsafeBufferPointer<UInt8>, _ stream: UnsafeMutablePointer<FCGX_Stream>?) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    var done = 0
    while done < bytes.count {
        let n = min(bytes.count - done, 1 << 30)
        (base + done).withMemoryRebound(to: CChar.self, capacity: n) { _ = FCGX_PutStr($0, Int32(n), stream) }
        done += n
    }
}
