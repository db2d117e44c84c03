import AvalonCore

/// The admin secret as a request may carry it.
extension Router {
    /// Whether the request carries the admin secret: `X-API-Key`,
    /// `Authorization: Bearer`, or a literal `?secret=`, each compared in constant time.
    func isAdmin(_ request: RequestBytes) -> Bool {
        guard let adminSecret else { return false }
        var secret = adminSecret
        return secret.withUTF8 { s in
            if constantTimeEquals(request.apiKey, s) { return true }
            if let token = request.bearerToken, constantTimeEquals(token, s) { return true }
            guard let given = Self.literalSecretParameter(request.query) else { return false }
            var g = given
            return g.withUTF8 { constantTimeEquals($0, s) }
        }
    }

    /// The value of the first parameter whose key is spelled exactly `secret`
    /// in the raw query: no escapes, no other case. Only that spelling is
    /// accepted, so that the shipped nginx configurations, which mask it in
    /// their logs, cannot be passed by a spelling they do not know.
    static func literalSecretParameter(_ query: UnsafeBufferPointer<UInt8>) -> String? {
        let key = Array("secret=".utf8)
        var start = 0
        while start < query.count {
            let end = query[start...].firstIndex(of: UInt8(ascii: "&")) ?? query.count
            if end - start >= key.count, query[start..<(start + key.count)].elementsEqual(key) {
                return QueryParameters(raw: UnsafeBufferPointer(rebasing: query[start..<end]))[.secret]
            }
            start = end + 1
        }
        return nil
    }
}

/// Compares a secret without an early exit: the time taken does not tell
/// how much of a guess was right. An empty guess never matches.
func constantTimeEquals(_ given: UnsafeBufferPointer<UInt8>, _ secret: UnsafeBufferPointer<UInt8>) -> Bool {
    guard !given.isEmpty, !secret.isEmpty else { return false }
    var diff = UInt8(truncatingIfNeeded: given.count ^ secret.count) | (given.count == secret.count ? 0 : 1)
    for i in 0..<secret.count {
        diff |= secret[i] ^ given[i % given.count]
    }
    return diff == 0
}
