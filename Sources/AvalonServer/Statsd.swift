import AvalonCore
import Glibc

/// Request timers over UDP. Sending never blocks and never fails a request.
/// Timers are batched, one per line, into packets of at most `packetLimit`
/// bytes, sent when full or by a flusher thread `flushInterval` after the first
/// timer in them: one sendto per request cost a worker about as much system
/// time as the whole FastCGI exchange, and a timer syscall per request not much less.
public final class Statsd: @unchecked Sendable {
    private var fd: Int32 = -1
    private var addr = sockaddr_storage()
    private var addrLen: socklen_t = 0
    let prefix: String
    private let prefixDot: [UInt8]
    private let lock = Lock()
    private let cond = Condition()
    private var packet: [UInt8] = []
    private var flusherStarted = false
    static let packetLimit = 1400  // fits an Ethernet MTU
    static let flushInterval = 0.1

    public init(host: String, port: Int, prefix: String) {
        self.prefix = prefix
        prefixDot = Array((prefix + ".").utf8)
        packet.reserveCapacity(Self.packetLimit)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { return }
        defer { freeaddrinfo(res) }
        fd = socket(ai.pointee.ai_family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        memcpy(&addr, ai.pointee.ai_addr, Int(ai.pointee.ai_addrlen))
        addrLen = ai.pointee.ai_addrlen
    }

    /// Queues `PREFIX.NAME:MS|ms` for a time in microseconds.
    public func timing(_ name: String, microseconds: Int) {
        guard fd >= 0 else { return }
        // Milliseconds to three decimals, written as Python prints a float.
        let thousandths = max(0, microseconds)
        var name = name
        name.withUTF8 { name in
            // The line is built on the stack: this runs once per request.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefixDot.count + name.count + 40) { line in
                var c = JSONCursor(line.baseAddress!)
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
                let n = c.p - line.baseAddress!
                let bytes = UnsafeBufferPointer(rebasing: line[..<n])
                lock.locked {
                    if !packet.isEmpty && packet.count + 1 + n > Self.packetLimit { sendLocked() }
                    if packet.isEmpty {
                        cond.signal()  // a new batch: the flusher starts its clock
                    } else {
                        packet.append(0x0A)
                    }
                    packet.append(contentsOf: bytes)
                }
            }
        }
        startFlusher()
    }

    /// Sends what is queued now.
    public func flush() { lock.locked { sendLocked() } }

    private func sendLocked() {
        guard fd >= 0, !packet.isEmpty else { return }
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, packet.count, Int32(MSG_DONTWAIT), $0, addrLen) }
        }
        packet.removeAll(keepingCapacity: true)
    }

    /// The thread starts with the first timer, so in a worker, never in the master before fork.
    private func startFlusher() {
        guard !flusherStarted else { return }
        flusherStarted = true  // once: a failed start is not retried per request
        startThread { [self] in flushLoop() }
    }

    /// Sleeps while nothing is queued; sends a batch `flushInterval` after it began.
    private func flushLoop() -> Never {
        lock.locked {
            while true {
                while packet.isEmpty { lock.wait(cond) }
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                let nanos = Int(now.tv_nsec) + Int(Self.flushInterval * 1e9)
                let deadline = timespec(tv_sec: now.tv_sec + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
                while !packet.isEmpty && lock.wait(cond, until: deadline) != ETIMEDOUT {}
                sendLocked()
            }
        }
    }
}
