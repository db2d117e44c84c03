import CTagWriter

/// Writes tags with TagLib: for tests and demo collections.
public func writeTags(_ path: String, title: String? = nil, album: String? = nil, artist: String? = nil,
                      genre: String? = nil, track: String? = nil, date: String? = nil) -> Bool {
    avalon_write_tags(path, title, album, artist, genre, track, date) == 0
}

/// Sets one property by TagLib's name (DISCNUMBER, …); "" removes it.
public func writeProperty(_ path: String, _ key: String, _ value: String) -> Bool {
    avalon_write_property(path, key, value) == 0
}

/// Writes MP3 tags as ID3v2.4 (24), ID3v2.3 (23) or ID3v1 alone (1).
public func writeMP3Tags(_ path: String, kind: Int32, title: String? = nil, album: String? = nil, artist: String? = nil,
                         genre: String? = nil, track: String? = nil, date: String? = nil) -> Bool {
    avalon_write_mp3_tags(path, kind, title, album, artist, genre, track, date) == 0
}

/// Replaces the file's pictures with `data` (MP3, FLAC, Ogg, MP4) as picture `type` (3: front cover); nil removes them.
public func writePicture(_ path: String, _ data: [UInt8]?, mime: String = "image/jpeg", type: Int32 = 3) -> Bool {
    (data ?? []).withUnsafeBufferPointer { avalon_write_picture(path, $0.baseAddress, UInt32($0.count), mime, type) } == 0
}
