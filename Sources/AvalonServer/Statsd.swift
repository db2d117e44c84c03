import Glibc

/// Request timers over UDP. Sending never blocks and never fails a request.
public final class Statsd: @unchecked Sendable {
    private var fd: Int32 = -1
    private var addr = sockaddr_storage()
    private var addrLen: socklen_t = 0
    let prefix: String

    public init(host: String, port: Int, prefix: String) {
        self.prefix = prefix
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { return }
        defer { freeaddrinfo(res) }
        fd = socket(ai.pointee.ai_family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        memcpy(&addr, ai.pointee.ai_addr, Int(ai.pointee.ai_addrlen))
        addrLen = ai.pointee.ai_addrlen
    }

    deinit { if fd >= 0 { close(fd) } }

    /// `PREFIX.NAME:MS|ms`
    public func timing(_ name: String, milliseconds: Double) {
        guard fd >= 0 else { return }
        let ms = (milliseconds * 1000).rounded() / 1000
        let packet = Array("\(prefix).\(name):\(ms)|ms".utf8)
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, packet.count, Int32(MSG_DONTWAIT), $0, addrLen) }
        }
    }
}
