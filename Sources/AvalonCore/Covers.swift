/// The covers the scanner chose (its own table, beside the old schema), in
/// flat arrays built at load: each song's, album's and artist's picture as
/// an index into the distinct pictures, and each picture's Subsonic id.
/// Empty for a database no scan with covers wrote.
public struct Covers: Sendable {
    /// A picture's `coverArt` id: "ca-" and the first 32 hex digits of the
    /// SHA-256 of its bytes. It changes when the picture does, so its answer
    /// may be cached for a year.
    public static let idPrefix: [UInt8] = Array("ca-".utf8)
    static let idLength = 35

    /// Each picture's id, `idLength` bytes each, back to back.
    let ids: [UInt8]
    /// Each picture's file name in the cover cache (64 hex digits, a dot, its extension).
    public let names: [String]
    /// Picture indexes (-1: none), indexed like songs, albums and artists.
    let songs: [Int32], albums: [Int32], artists: [Int32]
    /// A picture by the 128 bits its id carries.
    let byContent: [ItemID: Int32]

    public static let none = Covers(ids: [], names: [], songs: [], albums: [], artists: [], byContent: [:])

    /// `pictures` names each item's picture; the tables give the order of
    /// albums and artists. Names not of the cache's form are left out.
    init(pictures: [ItemID: String], songs songList: [Song], albums: [ItemID], artists: [ItemID]) {
        guard !pictures.isEmpty else { self = .none; return }
        var ids: [UInt8] = [], names: [String] = [], byContent: [ItemID: Int32] = [:]
        var byName: [String: Int32] = [:]
        func index(_ item: ItemID) -> Int32 {
            guard let name = pictures[item] else { return -1 }
            if let i = byName[name] { return i }
            let hex = Array(name.utf8.prefix(32))
            guard Covers.isPictureName(name), let key = ItemID(hex32: hex) else { return -1 }
            let i = Int32(names.count)
            byName[name] = i
            names.append(name)
            ids += Covers.idPrefix + hex
            byContent[key] = i
            return i
        }
        let s = songList.map { index($0.id) }, al = albums.map(index), ar = artists.map(index)
        self.init(ids: ids, names: names, songs: s, albums: al, artists: ar, byContent: byContent)
    }

    /// Pictures as a snapshot held them: the lookup by content is made again from the ids.
    init(ids: [UInt8], names: [String], songs: [Int32], albums: [Int32], artists: [Int32]) {
        var byContent: [ItemID: Int32] = [:]
        for p in 0..<names.count {
            let hex = ids[p * Self.idLength + Self.idPrefix.count..<(p + 1) * Self.idLength]
            if let key = hex.withUnsafeBufferPointer({ ItemID(hex32: $0) }) { byContent[key] = Int32(p) }
        }
        self.init(ids: ids, names: names, songs: songs, albums: albums, artists: artists, byContent: byContent)
    }

    init(ids: [UInt8], names: [String], songs: [Int32], albums: [Int32], artists: [Int32], byContent: [ItemID: Int32]) {
        self.ids = ids; self.names = names; self.songs = songs; self.albums = albums; self.artists = artists; self.byContent = byContent
    }

    @inline(__always)
    static func at(_ list: [Int32], _ i: Int) -> Int32 { i < list.count ? list[i] : -1 }

    public func song(_ i: Int) -> Int32 { Self.at(songs, i) }
    public func album(_ i: Int) -> Int32 { Self.at(albums, i) }
    public func artist(_ i: Int) -> Int32 { Self.at(artists, i) }

    /// Picture `p`'s id as bytes (valid while `ids` lives: the collection's).
    @inline(__always)
    func withID<R>(_ p: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        ids.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[Int(p) * Self.idLength..<Int(p + 1) * Self.idLength])) }
    }

    /// Whether a name is one the cover cache holds: 64 lower-case hex
    /// digits, a dot, an image extension. Nothing else is ever served.
    public static func isPictureName<S: StringProtocol>(_ name: S) -> Bool {
        let b = Array(name.utf8)
        guard b.count > 65, b[64] == UInt8(ascii: "."), b[..<64].allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return false }
        return ["jpg", "png", "gif", "webp"].contains(String(decoding: b[65...], as: UTF8.self))
    }

    /// The picture a `coverArt` id names, or nil.
    public func picture(id: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard id.count == Self.idLength, id.starts(with: Self.idPrefix),
              let key = ItemID(hex32: UnsafeBufferPointer(rebasing: id[Self.idPrefix.count...])) else { return nil }
        return byContent[key]
    }

    /// The MIME type of a picture by its name's extension (the scanner's sniffing chose it).
    public func contentType(_ p: Int32) -> String {
        let name = names[Int(p)]
        if name.hasSuffix(".png") { return "image/png" }
        if name.hasSuffix(".webp") { return "image/webp" }
        if name.hasSuffix(".gif") { return "image/gif" }
        return "image/jpeg"
    }
}

extension NodeWriter {
    /// `coverArt` of picture `p`, when there is one.
    @inline(__always)
    mutating func coverArt(_ covers: Covers, _ p: Int32) {
        guard p >= 0 else { return }
        covers.withID(p) { attr("coverArt", $0) }
    }
}
