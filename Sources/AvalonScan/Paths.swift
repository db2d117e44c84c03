import Glibc
/// Python's `os.path.normpath` for POSIX paths: song ids hash the path in
/// exactly this form, so it must match the old scanner's.
public func normalizePath(_ path: String) -> String {
    if path.isEmpty { return "." }
    let absolute = path.hasPrefix("/")
    // POSIX keeps a leading "//" (exactly two slashes) as it is.
    let initial = absolute ? (path.hasPrefix("//") && !path.hasPrefix("///") ? "//" : "/") : ""
    var parts: [Substring] = []
    for comp in path.split(separator: "/", omittingEmptySubsequences: true) {
        if comp == "." { continue }
        if comp == ".." {
            if let last = parts.last, last != ".." {
                parts.removeLast()
            } else if !absolute {
                parts.append(comp)
            }
            continue
        }
        parts.append(comp)
    }
    let joined = initial + parts.joined(separator: "/")
    return joined.isEmpty ? "." : joined
}

/// `path` from the working directory, normalised.
public func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return normalizePath(path) }
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
    let cwd = getcwd(&buf, buf.count).map { String(cString: $0) } ?? "."
    return normalizePath(cwd + "/" + path)
}

/// Python's `os.path.join(root, relative)` for a relative second part.
public func joinPath(_ root: String, _ relative: String) -> String {
    if root.isEmpty || root.hasSuffix("/") { return root + relative }
    return root + "/" + relative
}

/// File names are bytes; most are UTF-8, some are not (copied from old
/// systems, other encodings). A name that is not valid UTF-8 is carried in a
/// String with each of its bytes from 0x80 up as one scalar of Unicode's last
/// private use plane (U+10FF80…U+10FFFF), which real names do not use; every
/// system call gets the original bytes back. Its song id hashes those bytes.
public enum PathBytes {
    static let base: UInt32 = 0x10FF00

    /// The name as a String: itself when valid UTF-8, else escaped byte by byte.
    public static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> (String, valid: Bool) {
        if let s = String(validating: bytes, as: UTF8.self) { return (s, true) }
        var out = String.UnicodeScalarView()
        for b in bytes { out.append(b < 0x80 ? Unicode.Scalar(b) : Unicode.Scalar(base + UInt32(b))!) }
        return (String(out), false)
    }

    /// The original bytes of a path made by `string`.
    public static func bytes(_ path: String) -> [UInt8] {
        guard path.unicodeScalars.contains(where: { $0.value > base + 0x7F }) else { return Array(path.utf8) }
        var out: [UInt8] = []
        for s in path.unicodeScalars {
            if s.value >= base + 0x80 && s.value <= base + 0xFF { out.append(UInt8(s.value - base)) } else { out.append(contentsOf: String(s).utf8) }
        }
        return out
    }

    /// Calls `body` with the path as the C string the system knows.
    public static func withCString<R>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        var b = bytes(path)
        b.append(0)
        return try b.withUnsafeBufferPointer { try $0.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) } }
    }

    /// The path for people: escaped bytes shown as U+FFFD.
    public static func display(_ path: String) -> String {
        guard path.unicodeScalars.contains(where: { $0.value > base + 0x7F }) else { return path }
        return String(String.UnicodeScalarView(path.unicodeScalars.map { $0.value >= base + 0x80 && $0.value <= base + 0xFF ? "\u{FFFD}" : $0 }))
    }
}
