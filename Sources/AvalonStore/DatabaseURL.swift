import AvalonCore

/// A `DATABASE_URL` as SPEC allows it.
public enum DatabaseURL: Equatable, Sendable, CustomStringConvertible {
    /// A SQLite file: `sqlite:///relative` or `sqlite:////absolute`.
    case sqlite(path: String)
    /// A PostgreSQL connection URI for libpq (`postgresql://…`).
    case postgres(uri: String)

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(parsing raw: String) throws {
        let s = raw.trimmingWhitespace()
        if s.hasPrefix("sqlite:") {
            guard s.hasPrefix("sqlite:///") else {
                throw Invalid(description: "invalid DATABASE_URL \(DatabaseURL.redact(s)): a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
            }
            let path = String(s.dropFirst("sqlite:///".count))
            guard !path.isEmpty, !path.hasSuffix("/") else {
                throw Invalid(description: "invalid DATABASE_URL \(s): the SQLite URL names no file")
            }
            guard path != ":memory:" else {
                throw Invalid(description: "invalid DATABASE_URL \(s): an in-memory SQLite database would be empty")
            }
            self = .sqlite(path: path)
            return
        }
        for scheme in ["postgresql+psycopg2://", "postgresql://", "postgres://"] where s.hasPrefix(scheme) {
            let rest = s.dropFirst(scheme.count)
            guard !rest.isEmpty else { throw Invalid(description: "invalid DATABASE_URL \(s): no host or database given") }
            self = .postgres(uri: "postgresql://" + rest)
            return
        }
        let scheme = s.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        throw Invalid(description: "invalid DATABASE_URL \(DatabaseURL.redact(s)): unsupported scheme '\(scheme)' (use sqlite:///… or postgresql://…)")
    }

    /// The URL with any password replaced, for logs and errors.
    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:///" + path
        case .postgres(let uri): return DatabaseURL.redact(uri)
        }
    }

    /// `scheme://user:secret@host` → `scheme://user:***@host`.
    public static func redact(_ s: String) -> String {
        let chars = Array(s)
        guard let schemeEnd = (0..<max(0, chars.count - 2)).first(where: { chars[$0] == ":" && chars[$0 + 1] == "/" && chars[$0 + 2] == "/" }) else { return s }
        let start = schemeEnd + 3
        let authorityEnd = chars[start...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? chars.count
        guard let at = chars[start..<authorityEnd].lastIndex(of: "@"),
              let colon = chars[start..<at].firstIndex(of: ":") else { return s }
        return String(chars[..<colon]) + ":***" + String(chars[at...])
    }
}

