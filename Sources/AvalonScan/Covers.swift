import AvalonCore
import AvalonStore
import CTagLib

/// One song as the cover rules see it.
struct CoverSong {
    var id: ItemID, album: ItemID, artist: ItemID
    var directory: Substring
    var picture: String, front: Bool
}

/// The covers of albums, artists and songs (README, "Cover art"), from the
/// file records (sorted by path) and the songs in the same order:
/// - a folder's image: the best name by cover > folder > front > album, then
///   .jpg > .jpeg > .png > .webp, then the name's bytes;
/// - an album: the folder image of the first of its songs' folders that has
///   one, else the first song's embedded front cover, else its first picture;
/// - a song: its folder's image, else its embedded picture, else its album's;
/// - an artist: the cover of the first of its albums by name (then id) that has one.
func chooseCovers(files: [FileRecord], songs: [CoverSong], albumNames: [ItemID: String]) -> [ItemID: String] {
    var folderImage: [Substring: (rank: Int32, name: String, picture: String)] = [:]
    for f in files where f.tags == nil {
        guard let picture = f.picture, !picture.isEmpty else { continue }
        let (dir, name) = split(f.path)
        let rank = PathBytes.withCString(String(name)) { avalon_folder_image_rank($0) }
        guard rank >= 0 else { continue }
        if let best = folderImage[dir], precedes((best.rank, Array(best.name.utf8)), (rank, Array(name.utf8))) { continue }
        folderImage[dir] = (rank, String(name), picture)
    }
    var covers: [ItemID: String] = [:]
    var albumEmbedded: [ItemID: (picture: String, front: Bool)] = [:]
    for s in songs {
        if let image = folderImage[s.directory] {
            if covers[s.album] == nil { covers[s.album] = image.picture }
        } else if !s.picture.isEmpty, covers[s.album] == nil {
            if let e = albumEmbedded[s.album], e.front || !s.front { continue }
            albumEmbedded[s.album] = (s.picture, s.front)
        }
    }
    for (album, e) in albumEmbedded where covers[album] == nil { covers[album] = e.picture }
    var artistCover: [ItemID: (name: [UInt8], album: ItemID, picture: String)] = [:]
    for s in songs {
        let own = folderImage[s.directory]?.picture ?? (s.picture.isEmpty ? nil : s.picture)
        if let cover = own ?? covers[s.album] { covers[s.id] = cover }
        guard let albumCover = covers[s.album] else { continue }
        let name = Array((albumNames[s.album] ?? "").utf8)
        if let best = artistCover[s.artist], !precedes((name, s.album.hex32), (best.name, best.album.hex32)) { continue }
        artistCover[s.artist] = (name, s.album, albumCover)
    }
    for (artist, c) in artistCover { covers[artist] = c.picture }
    return covers
}

/// A path's directory and name (split at the last "/" byte: a combining
/// mark after it would join it in a Character).
func split(_ path: String) -> (Substring, Substring) {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return ("", Substring(path)) }
    return (path[..<slash], path[path.utf8.index(after: slash)...])
}

private func precedes(_ a: (Int32, [UInt8]), _ b: (Int32, [UInt8])) -> Bool {
    a.0 != b.0 ? a.0 < b.0 : a.1.lexicographicallyPrecedes(b.1)
}

private func precedes(_ a: ([UInt8], String), _ b: ([UInt8], String)) -> Bool {
    a.0 != b.0 ? a.0.lexicographicallyPrecedes(b.0) : a.1 < b.1
}

