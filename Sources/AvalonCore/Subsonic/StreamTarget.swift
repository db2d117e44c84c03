/// Where nginx finds a song's file: the worker names it, nginx sends it
/// (X-Accel-Redirect to an `internal` location that maps only the music
/// folder). The relative path comes from the database, so it is checked here
/// as untrusted: nothing that could climb out of the folder is named.
public enum StreamTarget {
    /// `prefix/segment/…` with each segment percent-encoded, or nil for a
    /// path with an empty, `.` or `..` segment, a leading `/`, or a NUL or
    /// other control character.
    public static func uri<C: Collection>(prefix: String, relativePath path: C) -> String? where C.Element == UInt8 {
        guard !path.isEmpty, path.first != UInt8(ascii: "/") else { return nil }
        var out = Array(prefix.utf8)
        out.reserveCapacity(out.count + path.count * 3 + 1)
        for segment in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if segment.isEmpty || segment.elementsEqual([UInt8(ascii: ".")]) || segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                return nil
            }
            out.append(UInt8(ascii: "/"))
            for b in segment {
                if b < 0x20 || b == 0x7F { return nil }
                if isUnreserved(b) {
                    out.append(b)
                } else {
                    out += [UInt8(ascii: "%"), hex(b >> 4), hex(b & 15)]
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `Content-Disposition` for a download (RFC 6266 with RFC 5987's
    /// `filename*`): an ASCII fallback, then the name itself in UTF-8.
    public static func attachment<C: Collection>(relativePath path: C) -> String where C.Element == UInt8 {
        let name = path.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? []
        let fallback = name.map { b -> UInt8 in
            b < 0x20 || b >= 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") ? UInt8(ascii: "_") : b
        }
        var encoded: [UInt8] = []
        for b in name {
            if isUnreserved(b) { encoded.append(b) } else { encoded += [UInt8(ascii: "%"), hex(b >> 4), hex(b & 15)] }
        }
        return "attachment; filename=\"\(String(decoding: fallback, as: UTF8.self))\"; filename*=UTF-8''\(String(decoding: encoded, as: UTF8.self))"
    }

    @inline(__always)
    static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
            || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    @inline(__always)
    static func hex(_ v: UInt8) -> UInt8 { v < 10 ? 48 + v : 55 + v }
}
