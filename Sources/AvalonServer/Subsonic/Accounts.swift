import AvalonConfig
import CCrypto
import Glibc

/// The Subsonic API's users (`SUBSONIC_USERS_FILE`, `name:password` lines)
/// and API keys (`SUBSONIC_API_KEYS_FILE`, `key:username` lines). Both files
/// must be readable by their owner only: they hold secrets in clear, as the
/// token sign-in (MD5 of password and salt) needs the password itself.
public struct SubsonicAccounts: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    let users: [(name: [UInt8], password: [UInt8])]
    let keys: [(key: [UInt8], user: Int)]

    public init(users: [(String, String)], keys: [(String, String)] = []) {
        self.users = users.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        self.keys = keys.compactMap { k, u in users.firstIndex { $0.0 == u }.map { (Array(k.utf8), $0) } }
    }

    public var isEmpty: Bool { users.isEmpty }

    /// Reads the files named by the configuration; nil when no users file is set.
    public static func load(_ config: Config) throws -> SubsonicAccounts? {
        guard let usersFile = config.subsonicUsersFile else { return nil }
        let users = try readPairs(usersFile, setting: "SUBSONIC_USERS_FILE", what: "name:password")
        if users.isEmpty {
            throw Failure(description: "SUBSONIC_USERS_FILE \(usersFile) names no user; add name:password lines, or unset it to turn the Subsonic API off")
        }
        var keys: [(String, String)] = []
        if let keysFile = config.subsonicAPIKeysFile {
            keys = try readPairs(keysFile, setting: "SUBSONIC_API_KEYS_FILE", what: "key:username", missingIsEmpty: true)
            for (n, (_, user)) in keys.enumerated() where !users.contains(where: { $0.0 == user }) {
                throw Failure(description: "SUBSONIC_API_KEYS_FILE \(keysFile): key \(n + 1) belongs to '\(user)', who is not in \(usersFile); revoke it with avalon-subsonic-key revoke")
            }
        }
        return SubsonicAccounts(users: users, keys: keys)
    }

    /// `a:b` lines (blank lines and `#` comments skipped) of a file only its owner may read.
    /// The values never appear in an error: only line numbers.
    static func readPairs(_ path: String, setting: String, what: String, missingIsEmpty: Bool = false) throws -> [(String, String)] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT && missingIsEmpty { return [] }
            throw Failure(description: "\(setting) \(path): cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw Failure(description: "\(setting) \(path) is not a regular file")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw Failure(description: "\(setting) \(path) may be read by others than its owner (mode \(String(st.st_mode & 0o777, radix: 8))); fix: chmod 600 \(path)")
        }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 { throw Failure(description: "\(setting) \(path): cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += buf[0..<n]
        }
        var out: [(String, String)] = []
        for (n, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var l = Substring(line)
            if l.hasSuffix("\r") { l = l.dropLast() }
            if l.allSatisfy({ $0 == " " || $0 == "\t" }) || l.hasPrefix("#") { continue }
            guard let colon = l.firstIndex(of: ":"), colon != l.startIndex, l.index(after: colon) != l.endIndex else {
                throw Failure(description: "\(setting) \(path):\(n + 1): expected \(what) (the line is not shown)")
            }
            out.append((String(l[..<colon]), String(l[l.index(after: colon)...])))
        }
        return out
    }

    // MARK: sign-in

    /// The user `name` names, if any.
    func user(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
        users.firstIndex { $0.name.withUnsafeBufferPointer { constantTimeEquals(name, $0) } }
    }

    public func name(_ user: Int) -> String { String(decoding: users[user].name, as: UTF8.self) }

    /// The user signed in by a password (`enc:` and hex, or plain).
    func check(user: Int?, password given: String) -> Bool {
        var bytes = Array(given.utf8)
        if given.hasPrefix("enc:") {
            guard let decoded = hexDecode(given.utf8.dropFirst(4)) else { return false }
            bytes = decoded
        }
        // An unknown user costs a comparison too.
        let secret = user.map { users[$0].password } ?? Array("\u{0}unknown user\u{0}".utf8)
        let ok = bytes.withUnsafeBufferPointer { g in secret.withUnsafeBufferPointer { constantTimeEquals(g, $0) } }
        return ok && user != nil
    }

    /// The user signed in by a token: MD5 of password and salt, in hex.
    func check(user: Int?, token: String, salt: String) -> Bool {
        let secret = user.map { users[$0].password } ?? Array("\u{0}unknown user\u{0}".utf8)
        let expected = md5Hex(secret + Array(salt.utf8))
        let given = Array(token.lowercased().utf8)
        let ok = given.withUnsafeBufferPointer { g in expected.withUnsafeBufferPointer { constantTimeEquals(g, $0) } }
        return ok && user != nil
    }

    /// The user an API key belongs to. Every key is compared.
    func user(apiKey given: String) -> Int? {
        var found: Int?
        var g = given
        g.withUTF8 { g in
            for k in keys where k.key.withUnsafeBufferPointer({ constantTimeEquals(g, $0) }) { found = k.user }
        }
        return found
    }
}

/// Lower-case hex MD5 (OpenSSL's EVP), as Subsonic tokens spell it.
func md5Hex(_ bytes: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var n: UInt32 = 0
    _ = bytes.withUnsafeBufferPointer { b in EVP_Digest(b.baseAddress, b.count, &digest, &n, EVP_md5(), nil) }
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(Int(n) * 2)
    for d in digest[0..<Int(n)] { out.append(hex[Int(d >> 4)]); out.append(hex[Int(d & 15)]) }
    return out
}

func hexDecode<S: Sequence>(_ s: S) -> [UInt8]? where S.Element == UInt8 {
    var out: [UInt8] = []
    var high: UInt8?
    for c in s {
        let v: UInt8
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
        default: return nil
        }
        if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
    }
    return high == nil ? out : nil
}
