import AvalonCore

/// A `DATABASE_URL` in the forms the README lists (Configuration).
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
                throw Invalid(description: "invalid DATABASE_URL \(DatabaseURL.redact(s)): the SQLite URL names no file")
            }
            guard path != ":memory:" else {
                throw Invalid(description: "invalid DATABASE_URL \(DatabaseURL.redact(s)): an in-memory SQLite database would be empty")
            }
            self = .sqlite(path: path)
            return
        }
        for scheme in ["postgresql+psycopg2://", "postgresql://", "postgres://"] where s.hasPrefix(scheme) {
            let rest = s.dropFirst(scheme.count)
            guard !rest.isEmpty else { throw Invalid(description: "invalid DATABASE_URL \(DatabaseURL.redact(s)): no host or database given") }
            let uri = "postgresql://" + rest
            guard !DatabaseURL.hasAmbiguousUserInfo(uri) else {
                throw Invalid(description: "invalid DATABASE_URL: its password holds an unencoded '/' or '@', which libpq would read as part of the host; percent-encode it (/ as %2F, @ as %40)")
            }
            self = .postgres(uri: uri)
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
    /// parameter), as libpq reads it.
    public var password: String? {
        guard case .postgres(let uri) = self else { return nil }
        let chars = Array(uri)
        if let (colon, at) = DatabaseURL.userInfoPassword(chars), at > colon + 1 {
            return String(chars[(colon + 1)..<at]).removingURLEscapes()
        }
        return DatabaseURL.parameters(uri).first { $0.key == "password" }.map { String($0.value).removingURLEscapes() }
    }

    /// Every credential the URL holds, raw and decoded, so that each can be
    /// masked wherever text is recorded: the user info's password and the
    /// value of every parameter whose name says password (`sslpassword` too).
    public var secrets: [String] {
        guard case .postgres(let uri) = self else { return [] }
        var out: [String] = []
        let chars = Array(uri)
        if let (colon, at) = DatabaseURL.userInfoPassword(chars), at > colon + 1 {
            out.append(String(chars[(colon + 1)..<at]))
        }
        for p in DatabaseURL.parameters(uri) where DatabaseURL.isCredential(p.key) && !p.value.isEmpty { out.append(String(p.value)) }
        out += out.map { $0.removingURLEscapes() }
        return Array(Set(out)).filter { !$0.isEmpty }
    }

    /// A parameter name that carries a credential: `password`, `sslpassword`, any case or escape.
    static func isCredential(_ rawKey: Substring) -> Bool {
        String(rawKey).replacing("+", with: " ").removingURLEscapes().lowercased().contains("password")
    }

    /// The `key=value` parameters after the first `?` that follows the user info.
    static func parameters(_ s: String) -> [(key: Substring, value: Substring)] {
        let chars = Array(s)
        let from = userInfoPassword(chars)?.1 ?? 0
        guard let q = chars[from...].firstIndex(of: "?") else { return [] }
        let query = Substring(String(chars[(q + 1)...]))
        return query.split(separator: "&").map { p in
            guard let eq = p.firstIndex(of: "=") else { return (p, p[p.endIndex...]) }
            return (p[..<eq], p[p.index(after: eq)...])
        }
    }

    /// Where the password of `scheme://user:password@host` is: the colon and
    /// the at sign, as libpq finds them (the first `@` before any `/`). For a
    /// URL libpq would misread (see `hasAmbiguousUserInfo`), up to the last
    /// `@`, so that masking takes the whole password.
    static func userInfoPassword(_ chars: [Character]) -> (Int, Int)? {
        guard let start = authorityStart(chars) else { return nil }
        let end = ambiguousUserInfo(chars) ? chars.lastIndex(of: "@")
            : chars[start...].firstIndex(where: { $0 == "@" || $0 == "/" }).flatMap { chars[$0] == "@" ? $0 : nil }
        guard let at = end, at > start, let colon = chars[start..<at].firstIndex(of: ":") else { return nil }
        return (colon, at)
    }

    private static func authorityStart(_ chars: [Character]) -> Int? {
        (0..<max(0, chars.count - 2)).first { chars[$0] == ":" && chars[$0 + 1] == "/" && chars[$0 + 2] == "/" }.map { $0 + 3 }
    }

    /// A URL libpq would read differently from what its writer meant: a
    /// password holding an unencoded `/` or `@` (libpq ends the user info at
    /// the first `/` or `@`, and would take the rest for a host).
    static func hasAmbiguousUserInfo(_ s: String) -> Bool { ambiguousUserInfo(Array(s)) }

    private static func ambiguousUserInfo(_ chars: [Character]) -> Bool {
        guard let start = authorityStart(chars) else { return false }
        let stop = chars[start...].firstIndex(where: { $0 == "@" || $0 == "/" })
        if let stop, chars[stop] == "@" {
            // A second `@` in the host part: the password held one.
            let hostEnd = chars[(stop + 1)...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? chars.count
            return chars[(stop + 1)..<hostEnd].contains("@")
        }
        // No user info for libpq, yet an `@` before the query: a password that held a `/`.
        guard let slash = stop else { return false }
        let queryStart = chars[slash...].firstIndex(of: "?") ?? chars.count
        return chars[start..<slash].contains(":") && chars[slash..<queryStart].contains("@")
    }

    /// `scheme://user:secret@host` → `scheme://user:***@host`, and the value
    /// of every parameter whose name says password → `***`.
    public static func redact(_ s: String) -> String {
        var chars = Array(s)
        if let (colon, at) = userInfoPassword(chars) {
            chars = Array(chars[..<colon]) + Array(":***") + Array(chars[at...])
        }
        let out = String(chars)
        let from = userInfoPassword(chars)?.1 ?? 0
        guard let q = chars[from...].firstIndex(of: "?") else { return out }
        let params = String(chars[(q + 1)...]).split(separator: "&", omittingEmptySubsequences: false).map { p -> String in
            guard let eq = p.firstIndex(of: "="), isCredential(p[..<eq]) else { return String(p) }
            return p[..<eq] + "=***"
        }
        return String(chars[...q]) + params.joined(separator: "&")
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
