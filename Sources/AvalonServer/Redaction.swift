import AvalonConfig
import AvalonStore

/// Keeps secrets out of what leaves the process: log lines, Sentry events,
/// error answers. Query parameters that carry secrets lose their values, and
/// the configured secrets themselves are masked wherever they appear.
struct Redactor: Sendable {
    /// Query parameters whose values are never recorded.
    static let sensitiveKeys: Set<String> = ["secret", "password", "api_key", "apikey", "token", "access_token"]
    /// Shorter secrets are not masked in free text (a one-letter test secret
    /// would mask every such letter); in URLs they are, by parameter name.
    static let minimumMaskedLength = 6

    let secrets: [String]

    init(secrets: [String]) {
        self.secrets = secrets.filter { $0.count >= Self.minimumMaskedLength }.sorted { $0.count > $1.count }
    }

    /// The admin secret, the database password and the Sentry DSN's keys.
    init(config: Config) {
        var s: [String] = []
        if let a = config.adminSecret { s.append(a) }
        if let p = config.databaseURL.password { s.append(p) }
        if let dsn = config.sentryDSN, let d = ErrorReporter.parse(dsn) {
            s.append(d.publicKey)
            if let k = d.secretKey { s.append(k) }
        }
        self.init(secrets: s)
    }

    /// `a=1&secret=x` → `a=1&secret=***`; keys compared decoded and in any case.
    static func query(_ q: String) -> String {
        guard !q.isEmpty else { return q }
        return q.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
            guard let eq = part.firstIndex(of: "=") else { return String(part) }
            let key = String(part[..<eq]).replacing("+", with: " ").removingURLEscapes().lowercased()
            return sensitiveKeys.contains(key) ? part[..<eq] + "=***" : String(part)
        }.joined(separator: "&")
    }

    /// A path and query for the record.
    func url(_ pathAndHost: String, query: String) -> String {
        text(query.isEmpty ? pathAndHost : pathAndHost + "?" + Self.query(query))
    }

    /// Masks every configured secret in free text.
    func text(_ s: String) -> String {
        var out = s
        for secret in secrets where out.contains(secret) { out = out.replacing(secret, with: "***") }
        return out
    }
}
