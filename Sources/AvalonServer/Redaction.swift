import AvalonConfig
import AvalonStore

/// Keeps secrets out of what leaves the process: log lines, Sentry events,
/// error answers. Query parameters that carry secrets lose their values, and
/// the configured secrets themselves are masked wherever they appear.
struct Redactor: Sendable {
    /// Query parameters whose values are never recorded: the admin secret's,
    /// and the Subsonic API's credentials (`p` password, `t` token, `s` salt).
    static let sensitiveKeys: Set<String> = ["secret", "password", "api_key", "apikey", "token", "access_token", "p", "t", "s"]

    let secrets: [String]

    /// Every secret is masked in free text, however short: a weak database
    /// password is the operator's choice, its appearance in a log is not.
    init(secrets: [String]) {
        self.secrets = Array(Set(secrets.filter { !$0.isEmpty })).sorted { $0.count > $1.count }
    }

    /// The admin secret, the database's credentials and the Sentry DSN's keys.
    init(config: Config) {
        var s: [String] = []
        if let a = config.adminSecret { s.append(a) }
        s += config.databaseURL.secrets
        if let dsn = config.sentryDSN, let d = ErrorReporter.parse(dsn) {
            // The public key is no secret in Sentry's model (browsers get it), but a
            // real one (32 hex digits) is masked too; a one-letter test key is not.
            if d.publicKey.count >= 8 { s.append(d.publicKey) }
            if let k = d.secretKey { s.append(k) }
        }
        self.init(secrets: s)
    }

    static func isSensitive(_ key: String) -> Bool {
        sensitiveKeys.contains(key) || key.contains("secret") || key.contains("password") || key.contains("token")
    }

    /// `a=1&secret=x` → `a=1&secret=***`; keys compared decoded and in any case.
    static func query(_ q: String) -> String {
        guard !q.isEmpty else { return q }
        return q.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
            guard let eq = part.firstIndex(of: "=") else { return String(part) }
            let key = String(part[..<eq]).replacing("+", with: " ").removingURLEscapes().lowercased()
            return isSensitive(key) ? part[..<eq] + "=***" : String(part)
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
