import AvalonCore
import CCrypto

/// Bytes for cover tests: pictures whose first bytes say their type (the
/// scanner trusts only those), and an M4A TagLib reads (no MP4 fixture ships).
public enum CoverBytes {
    /// A picture of `type` ("jpg", "png", "webp", "gif"): its magic bytes, then `count` bytes from `seed`.
    public static func picture(_ type: String, seed: UInt64, count: Int = 3000) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var body = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        switch type {
        case "jpg": return [0xFF, 0xD8, 0xFF, 0xE0] + body
        case "png": return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + body
        case "gif": return Array("GIF89a".utf8) + body
        default:
            body = Array("WEBPVP8 ".utf8) + body
            return Array("RIFF".utf8) + be32(body.count, little: true) + body
        }
    }

    /// A one-second AAC track's boxes without samples: enough for TagLib's
    /// MP4 reader (a sound handler, mdhd, an mp4a entry with its rate).
    public static func m4a() -> [UInt8] {
        func box(_ type: String, _ payload: [UInt8]) -> [UInt8] { be32(8 + payload.count) + Array(type.utf8) + payload }
        let zeros = { (n: Int) in [UInt8](repeating: 0, count: n) }
        let ftyp = box("ftyp", Array("M4A ".utf8) + be32(0) + Array("M4A isom".utf8))
        let mvhd = box("mvhd", zeros(12) + be32(1000) + be32(1000) + zeros(80))
        let hdlr = box("hdlr", zeros(8) + Array("soun".utf8) + zeros(13))
        let mdhd = box("mdhd", zeros(12) + be32(44100) + be32(44100) + [0x55, 0xC4, 0, 0])
        let mp4a = be32(36) + Array("mp4a".utf8) + zeros(6) + [0, 1] + zeros(8) + [0, 2, 0, 16] + zeros(4) + [0xAC, 0x44, 0, 0]
        let stsd = box("stsd", zeros(4) + be32(1) + mp4a)
        let trak = box("trak", box("mdia", mdhd + hdlr + box("minf", box("stbl", stsd))))
        return ftyp + box("moov", mvhd + trak) + box("mdat", zeros(16))
    }

    /// The SHA-256 of `bytes`, in hex: a picture's name in the cover cache, before its extension.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var n: UInt32 = 0
        _ = bytes.withUnsafeBufferPointer { b in EVP_Digest(b.baseAddress, b.count, &digest, &n, EVP_sha256(), nil) }
        return digest.prefix(Int(n)).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// A PNG a browser decodes: `width`×`height` RGB, a gradient from `seed`,
    /// its image data in stored (uncompressed) deflate blocks.
    public static func realPNG(width: Int, height: Int, seed: UInt8 = 0) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)  // filter: none
            for x in 0..<width { raw += [UInt8(truncatingIfNeeded: x * 4 + Int(seed)), UInt8(truncatingIfNeeded: y * 4), seed] }
        }
        var z: [UInt8] = [0x78, 0x01]
        var at = 0
        repeat {
            let n = min(65535, raw.count - at)
            z.append(at + n == raw.count ? 1 : 0)
            z += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            z += raw[at..<at + n]
            at += n
        } while at < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        z += be32(Int(b << 16 | a))
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in body {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return be32(data.count) + body + be32(Int(~crc))
        }
        let header = be32(width) + be32(height) + [8, 2, 0, 0, 0]  // 8-bit RGB
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", z) + chunk("IEND", [])
    }

    static func be32(_ v: Int, little: Bool = false) -> [UInt8] {
        let b = [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
        return little ? b.reversed() : b
    }
}
