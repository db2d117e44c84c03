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

    /// libpq's `target_session_attrs` asks for a standby (or a read-only server).
    public var prefersStandby: Bool {
        guard case .postgres(let uri) = self, let q = uri.firstIndex(of: "?") else { return false }
        return uri[uri.index(after: q)...].split(separator: "&").contains { p in
            ["target_session_attrs=standby", "target_session_attrs=prefer-standby", "target_session_attrs=read-only"].contains(String(p))
        }
    }

    /// The password the URL carries (in its user info or a `password=`
    /// parameter), so that it can be masked wherever text is recorded.
    public var password: String? {
        guard case .postgres(let uri) = self else { return nil }
        let chars = Array(uri)
        if let (colon, at) = DatabaseURL.userInfoPassword(chars), at > colon + 1 {
            return String(chars[(colon + 1)..<at]).removingURLEscapes()
        }
        guard let q = uri.firstIndex(of: "?") else { return nil }
        for part in uri[uri.index(after: q)...].split(separator: "&") where part.hasPrefix("password=") {
            return String(part.dropFirst("password=".count)).removingURLEscapes()
        }
        return nil
    }

    /// Where the password of `scheme://user:password@host` is: the colon and the at sign.
    static func userInfoPassword(_ chars: [Character]) -> (Int, Int)? {
        guard let schemeEnd = (0..<max(0, chars.count - 2)).first(where: { chars[$0] == ":" && chars[$0 + 1] == "/" && chars[$0 + 2] == "/" }) else { return nil }
        let start = schemeEnd + 3
        let authorityEnd = chars[start...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? chars.count
        guard let at = chars[start..<authorityEnd].lastIndex(of: "@"),
              let colon = chars[start..<at].firstIndex(of: ":") else { return nil }
        return (colon, at)
    }

    /// `scheme://user:secret@host` → `scheme://user:***@host`, and any
    /// `password=` parameter's value → `***`.
    public static func redact(_ s: String) -> String {
        var chars = Array(s)
        if let (colon, at) = userInfoPassword(chars) {
            chars = Array(chars[..<colon]) + Array(":***") + Array(chars[at...])
        }
        var out = String(chars)
        guard let q = out.firstIndex(of: "?") else { return out }
        let params = out[out.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { p in
            p.hasPrefix("password=") ? "password=***" : String(p)
        }
        out = String(out[...q]) + params.joined(separator: "&")
        return out
    }
}

extension String {
    /// `%XX` escapes decoded (libpq decodes them in URIs); invalid ones stay.
    public func removingURLEscapes() -> String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        let u = Array(utf8)
        var i = 0
        while i < u.count {
            if u[i] == 0x25, i + 2 < u.count, let v = UInt8(String(decoding: u[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                bytes.append(v)
                i += 3
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
