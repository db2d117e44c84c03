import Glibc

/// Request timers over UDP. Sending never blocks and never fails a request.
/// Timers are batched, one per line, into packets of at most `packetLimit`
/// bytes, sent when full or `flushInterval` after the first timer in them:
/// one sendto per request would cost a worker more than most answers do.
public final class Statsd: @unchecked Sendable {
    private var fd: Int32 = -1
    private var addr = sockaddr_storage()
    private var addrLen: socklen_t = 0
    let prefix: String
    private let prefixDot: [UInt8]
    private var packet: [UInt8] = []
    private var deadline = 0.0
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

    deinit {
        flush()
        if fd >= 0 { close(fd) }
    }

    /// Queues `PREFIX.NAME:MS|ms`.
    public func timing(_ name: String, milliseconds: Double) {
        guard fd >= 0 else { return }
        // Milliseconds to three decimals, written as Python prints a float: 1.2, 3.0, 0.133.
        let thousandths = Int((max(0, milliseconds) * 1000).rounded())
        var fraction = Array(String(thousandths % 1000 + 1000).utf8.dropFirst())
        while fraction.count > 1 && fraction.last == UInt8(ascii: "0") { fraction.removeLast() }
        let whole = String(thousandths / 1000).utf8
        let length = prefixDot.count + name.utf8.count + 1 + whole.count + 1 + fraction.count + 3
        if !packet.isEmpty && packet.count + 1 + length > Self.packetLimit { flush() }
        if packet.isEmpty {
            deadline = monotonicSeconds() + Self.flushInterval
        } else {
            packet.append(0x0A)
        }
        packet += prefixDot
        packet += name.utf8
        packet.append(UInt8(ascii: ":"))
        packet += whole
        packet.append(UInt8(ascii: "."))
        packet += fraction
        packet += "|ms".utf8
    }

    /// Milliseconds until the queued timers are due, or nil when none are queued.
    public func millisecondsUntilFlush() -> Int32? {
        if packet.isEmpty { return nil }
        return Int32(max(0, min(1000, ((deadline - monotonicSeconds()) * 1000).rounded(.up))))
    }

    /// Sends the queued timers when they are due.
    public func flushIfDue() {
        if !packet.isEmpty && monotonicSeconds() >= deadline { flush() }
    }

    public func flush() {
        guard fd >= 0, !packet.isEmpty else { return }
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, packet.count, Int32(MSG_DONTWAIT), $0, addrLen) }
        }
        packet.removeAll(keepingCapacity: true)
    }
}
