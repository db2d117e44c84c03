import AvalonCore
import CSystem
import Glibc

/// The id that ties nginx's access log, Avalon's log and Sentry's events to
/// one request: the request's `X-Request-ID` when it is usable, else a new one.
/// Held in memory the worker reuses: no allocation per request.
final class RequestID {
    static let maxLength = 64
    let storage = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: RequestID.maxLength)
    private(set) var count = 0
    private var random: SplitMix64

    init() { random = SplitMix64(seed: randomSeed()) }

    deinit { storage.deallocate() }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: storage[..<count]) }
    var string: String { String(decoding: bytes, as: UTF8.self) }

    /// An id passes when it is 1 to 64 printable ASCII characters without
    /// spaces: it goes into a header and log lines as it is.
    static func isUsable(_ id: UnsafeBufferPointer<UInt8>) -> Bool {
        id.count > 0 && id.count <= maxLength && id.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// Takes the given id, or makes a new one (32 hex digits, as nginx's $request_id).
    func set(from given: UnsafeBufferPointer<UInt8>) {
        if Self.isUsable(given) {
            UnsafeMutableRawBufferPointer(storage).copyMemory(from: UnsafeRawBufferPointer(given))
            count = given.count
            return
        }
        let hex: StaticString = "0123456789abcdef"
        for half in 0..<2 {
            var v = random.next()
            for i in 0..<16 {
                storage[half * 16 + i] = hex.utf8Start[Int(v & 15)]
                v >>= 4
            }
        }
        count = 32
    }
}

/// A seed from the kernel's generator, or from the clock and pid when it fails.
func randomSeed() -> UInt64 {
    var seed: UInt64 = 0
    if getrandom(&seed, 8, 0) != 8 { seed = wallNanoseconds() ^ UInt64(getpid()) << 32 }
    return seed
}
