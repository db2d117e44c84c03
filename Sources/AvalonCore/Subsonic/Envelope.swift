/// The `subsonic-response` envelope and the specification's errors
/// (OpenSubsonic, Responses/error.md).
public struct SubsonicError: Error, Sendable {
    public let code: Int
    public let message: String

    public init(_ code: Int, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func generic(_ m: String) -> SubsonicError { SubsonicError(0, m) }
    public static func missing(_ name: String) -> SubsonicError { SubsonicError(10, "Required parameter is missing: \(name)") }
    public static let clientMustUpgrade = SubsonicError(20, "Incompatible Subsonic REST protocol version. Client must upgrade.")
    public static let serverMustUpgrade = SubsonicError(30, "Incompatible Subsonic REST protocol version. Server must upgrade.")
    public static let wrongCredentials = SubsonicError(40, "Wrong username or password.")
    /// A client address locked out after too many failed sign-ins (code 40: clients know it).
    public static let lockedOut = SubsonicError(40, "Too many failed sign-ins from this address; try again in a minute.")
    public static let mechanismNotSupported = SubsonicError(42, "Provided authentication mechanism not supported.")
    public static let conflictingMechanisms = SubsonicError(43, "Multiple conflicting authentication mechanisms provided.")
    public static let invalidAPIKey = SubsonicError(44, "Invalid API key.")
    public static let notAuthorized = SubsonicError(50, "User is not authorized for the given operation: this server is read-only.")
    public static func notFound(_ what: String) -> SubsonicError { SubsonicError(70, "The requested data was not found: \(what)") }
}

/// What every Subsonic answer carries besides its data.
public struct SubsonicServer: Sendable {
    public static let apiVersion = "1.16.1"
    /// The articles `getArtists` and `getIndexes` index names without.
    public static let ignoredArticles = "The El La Los Las Le Les"
    /// The same articles, lowercased, each with the space that ends it, as bytes:
    /// both index-key paths strip these.
    static let articles: [[UInt8]] = ignoredArticles.split(separator: " ").map { Array($0.lowercased().utf8) + [0x20] }

    public let serverVersion: String
    /// When this collection was loaded, ISO 8601: the `created` of albums
    /// until the scanner records when it first saw each file.
    public let created: String
    /// The same, milliseconds since 1970 (`getIndexes`' `lastModified`).
    public let createdMilliseconds: Int64

    public init(serverVersion: String, loadedAtMilliseconds: Int64) {
        self.serverVersion = serverVersion
        createdMilliseconds = loadedAtMilliseconds
        created = isoDate(milliseconds: loadedAtMilliseconds)
    }

    /// Opens the envelope; `end` closes it.
    public func begin(_ w: inout NodeWriter, ok: Bool) {
        if w.json {
            var c = w.out.cursor(room: 1)
            c.raw("{")
            w.out.commit(c)
        } else {
            var c = w.out.cursor(room: 64)
            c.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            w.out.commit(c)
        }
        w.open("subsonic-response")
        if !w.json { w.attr("xmlns", static: "http://subsonic.org/restapi") }
        w.attr("status", static: ok ? "ok" : "failed")
        w.attr("version", Self.apiVersion)
        w.attr("type", static: "avalon")
        w.attr("serverVersion", serverVersion)
        w.attr("openSubsonic", true)
    }

    public func end(_ w: inout NodeWriter) {
        w.close()
        if w.json {
            var c = w.out.cursor(room: 1)
            c.raw("}")
            w.out.commit(c)
        }
    }

    /// A whole error answer, written by a fresh writer (the caller resets the buffer).
    public func error(_ e: SubsonicError, _ w: inout NodeWriter) {
        begin(&w, ok: false)
        w.open("error")
        w.attr("code", Int64(e.code))
        w.attr("message", e.message)
        w.close()
        end(&w)
    }
}

/// Howard Hinnant's civil_from_days: the Gregorian date `days` after 1970-01-01.
@inline(__always)
func civilDate(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    return civilDate(era: era, dayOfEra: UInt64(z - era * 146_097))
}

/// The date of day `doe` (0...146,096) of 400-year era `era` (era 0 starts 0000-03-01).
@inline(__always)
func civilDate(era: Int64, dayOfEra doe: UInt64) -> (year: Int64, month: Int64, day: Int64) {
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (Int64(yoe) + era * 400 + (m <= 2 ? 1 : 0), Int64(m), Int64(d))
}

/// A stored time (Unix seconds) as milliseconds within 1970...9999: a
/// corrupt one is written as the nearest of those, never a trap, and never
/// a year that clients' ISO 8601 parsers refuse.
@inline(__always)
func milliseconds(seconds s: Int64) -> Int64 {
    min(max(s, 0), 253_402_300_799) * 1000
}

/// `2026-11-27T20:22:46.000Z` from milliseconds since 1970 (proleptic Gregorian, UTC).
func isoDate(milliseconds ms: Int64) -> String {
    // Floor divisions that cannot overflow at Int64.min.
    let secs = ms / 1000 - (ms % 1000 < 0 ? 1 : 0)
    let days = secs / 86400 - (secs % 86400 < 0 ? 1 : 0)
    let rem = secs - days * 86400
    let (y, m, d) = civilDate(days: days)
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    let milli = (ms % 1000 + 1000) % 1000
    let frac = milli < 10 ? "00\(milli)" : milli < 100 ? "0\(milli)" : "\(milli)"
    return "\(y)-\(two(m))-\(two(d))T\(two(rem / 3600)):\(two(rem / 60 % 60)):\(two(rem % 60)).\(frac)Z"
}
