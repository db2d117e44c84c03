import AvalonCore
import Glibc

/// Request timers over UDP. Sending never blocks and never fails a request.
/// Timers are batched, one per line, into packets of at most `packetLimit`
/// bytes, sent when full, or by the worker's accept loop once it is idle and
/// the batch is `flushInterval` old: one sendto per request cost a worker
/// about as much system time as the whole FastCGI exchange. Used by one
/// thread: a flusher thread of its own cost a lock per request and a wake-up
/// (two context switches) per batch.
public final class Statsd {
    private var fd: Int32 = -1
    private var addr = sockaddr_storage()
    private var addrLen: socklen_t = 0
    let prefix: String
    private let prefixDot: [UInt8]
    /// The packet being filled, and (behind pointers, so that no stored
    /// property of a class pays an exclusivity check per request) its length
    /// and the time its first timer was queued.
    private let packet: UnsafeMutablePointer<UInt8>
    private let state: UnsafeMutablePointer<(count: Int, since: UInt64)>
    static let packetLimit = 1400  // fits an Ethernet MTU
    static let flushInterval = 0.1

    public init(host: String, port: Int, prefix: String) {
        self.prefix = prefix
        prefixDot = Array((prefix + ".").utf8)
        packet = .allocate(capacity: Self.packetLimit)
        state = .allocate(capacity: 1)
        state.initialize(to: (0, 0))
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { return }
        defer { freeaddrinfo(res) }
        fd = socket(ai.pointee.ai_family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        memcpy(&addr, ai.pointee.ai_addr, Int(ai.pointee.ai_addrlen))
        addrLen = ai.pointee.ai_addrlen
    }

    deinit {
        packet.deallocate()
        state.deallocate()
        if fd >= 0 { close(fd) }
    }

    /// Queues `PREFIX.NAME:MS|ms` for a time in microseconds.
    public func timing(_ name: String, microseconds: Int) {
        guard fd >= 0 else { return }
        // Milliseconds to three decimals, written as Python prints a float.
        let thousandths = max(0, microseconds)
        var name = name
        name.withUTF8 { name in
            let room = prefixDot.count + name.count + 40
            guard room <= Self.packetLimit else { return }
            if state.pointee.count > 0 && state.pointee.count + 1 + room > Self.packetLimit { flush() }
            var c = JSONCursor(packet + state.pointee.count)
            if state.pointee.count > 0 {
                c.raw("\n")
            } else {
                state.pointee.since = monotonicNanoseconds()
            }
            prefixDot.withUnsafeBufferPointer { c.raw($0) }
            c.raw(name)
            c.raw(":")
            c.int(Int64(thousandths / 1000))
            c.raw(".")
            // Three decimals without trailing zeros, but at least one: 1.2, 3.0, 0.133.
            let f = thousandths % 1000
            c.int(Int64(f / 100))
            if f % 100 != 0 { c.int(Int64(f / 10 % 10)) }
            if f % 10 != 0 { c.int(Int64(f % 10)) }
            c.raw("|ms")
            state.pointee.count = c.p - packet
        }
    }

    /// Sends what is queued now.
    public func flush() {
        guard fd >= 0, state.pointee.count > 0 else { return }
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, state.pointee.count, Int32(MSG_DONTWAIT), $0, addrLen) }
        }
        state.pointee.count = 0
    }

    /// For an idle caller about to wait: sends the batch if it is due, and
    /// returns how many milliseconds it may wait before calling again (-1:
    /// nothing queued, wait as long as it likes).
    public func flushIfDue(now: UInt64 = monotonicNanoseconds()) -> Int32 {
        guard state.pointee.count > 0 else { return -1 }
        let due = state.pointee.since &+ UInt64(Self.flushInterval * 1e9)
        if now >= due {
            flush()
            return -1
        }
        return Int32((due - now + 999_999) / 1_000_000)
    }
}
