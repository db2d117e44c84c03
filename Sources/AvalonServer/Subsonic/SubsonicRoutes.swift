import AvalonConfig
import AvalonCore

/// The Subsonic API as a worker serves it: where it lives, who may sign in,
/// and what every answer's envelope says. Nil in the router: the API is off
/// and its paths are 404 like any unknown path.
public struct SubsonicAPI: Sendable {
    /// `SUBSONIC_PATH/`.
    let prefix: [UInt8]
    let accounts: SubsonicAccounts
    let server: SubsonicServer
    /// nginx's internal location of the music folder (`SUBSONIC_STREAM_PATH`).
    let streamPath: String
    /// nginx's internal location of the cover cache (`SUBSONIC_COVER_PATH`).
    let coverPath: String

    public init(path: String, accounts: SubsonicAccounts, loadedAtMilliseconds: Int64, streamPath: String = "/avalon-internal-music",
                coverPath: String = "/avalon-internal-covers") {
        prefix = Array((path + "/").utf8)
        self.streamPath = streamPath
        self.coverPath = coverPath
        self.accounts = accounts
        server = SubsonicServer(serverVersion: avalonVersion, loadedAtMilliseconds: loadedAtMilliseconds)
    }

    /// The API as configured, or nil when no users file is set; a file that
    /// is unsafe or malformed is an error that says how to fix it.
    public static func load(_ config: Config) throws -> SubsonicAPI? {
        guard let accounts = try SubsonicAccounts.load(config) else { return nil }
        return SubsonicAPI(path: config.subsonicPath, accounts: accounts, loadedAtMilliseconds: Int64(wallNanoseconds() / 1_000_000),
                           streamPath: config.subsonicStreamPath, coverPath: config.subsonicCoverPath)
    }
}

/// What a Subsonic method gets once its caller is signed in.
struct SubsonicCall {
    let collection: MusicCollection
    let params: QueryParameters
    let server: SubsonicServer
    let user: String
    let streamPath: String
    var coverPath = ""
    var index: SubsonicIndex { collection.subsonic }
}

extension Route {
    /// A Subsonic method (also answered as `name.view`).
    static func subsonic(_ name: StaticString, _ body: @escaping (SubsonicCall, inout NodeWriter) throws -> Void) -> Route {
        Route(path: name, access: .subsonic, cacheable: false, label: "subsonic_\(name)", statsd: nil) { call in
            try call.router.subsonicAnswer(call) { try body($0, &$1); return nil }
        }
    }

    /// `stream` and `download`: the song's file, sent by nginx (no byte of
    /// it passes through the worker). No transcoding: `format` is ignored.
    static func subsonicFile(_ name: StaticString, download: Bool) -> Route {
        Route(path: name, access: .subsonic, cacheable: false, label: "subsonic_\(name)", statsd: nil) { call in
            try call.router.subsonicAnswer(call) { c, _ in
                let song = try c.collection.parseSongID(c.params)
                let files = c.collection.files
                guard files.has(Int(song)), let uri = StreamTarget.uri(prefix: c.streamPath, relativePath: files.path(Int(song))) else {
                    throw SubsonicError.notFound("file of song")
                }
                var head = AnswerHead(status: 200, contentType: SongFiles.contentType(suffix: files.suffix(Int(song))))
                head.extraHeaders = "X-Accel-Redirect: \(uri)\r\n"
                if download { head.extraHeaders += "Content-Disposition: \(StreamTarget.attachment(relativePath: files.path(Int(song))))\r\n" }
                return head
            }
        }
    }

    /// `getCoverArt`: the picture, sent by nginx from the cover cache. Asked
    /// by its content id it never changes (cached a year); asked by a song's,
    /// album's or artist's id, a rescan may change it (cached briefly).
    /// `size` is ignored: originals only.
    static let subsonicCoverArt = Route(path: "getCoverArt", access: .subsonic, cacheable: false, label: "subsonic_getCoverArt", statsd: nil) { call in
        try call.router.subsonicAnswer(call) { c, _ in
            let (picture, fixed) = try c.collection.coverPicture(c.params)
            let covers = c.collection.covers
            var head = AnswerHead(status: 200, contentType: covers.contentType(picture))
            head.extraHeaders = "X-Accel-Redirect: \(c.coverPath)/\(covers.names[Int(picture)])\r\n"
                + (fixed ? "Cache-Control: private, max-age=31536000, immutable\r\n" : "Cache-Control: private, max-age=300\r\n")
            return head
        }
    }

    /// The Subsonic API's methods, numbered after Avalon's routes in the metrics table.
    static let subsonicTable: [Route] = [
        .subsonic("ping") { _, _ in },
        .subsonic("getLicense") { _, w in
            w.open("license"); w.attr("valid", true); w.close()
        },
        .subsonic("getOpenSubsonicExtensions") { _, w in
            w.beginList("openSubsonicExtensions")
            for name in ["formPost", "apiKeyAuthentication"] {
                w.open("openSubsonicExtensions")
                w.attr("name", name)
                w.beginList("versions")
                w.element("versions", 1)
                w.endList()
                w.close()
            }
            w.endList()
        },
        .subsonic("getMusicFolders") { _, w in
            w.open("musicFolders")
            w.beginList("musicFolder")
            w.open("musicFolder"); w.attr("id", 1); w.attr("name", static: "Music"); w.close()
            w.endList()
            w.close()
        },
        .subsonic("getIndexes") { c, w in try c.collection.subsonicIndexes(c.params, &w, c.server, c.index) },
        .subsonic("getMusicDirectory") { c, w in try c.collection.subsonicDirectory(c.params, &w) },
        .subsonic("getArtists") { c, w in try c.collection.subsonicArtists(c.params, &w, c.index) },
        .subsonic("getArtist") { c, w in try c.collection.subsonicArtist(c.params, &w, c.server) },
        .subsonic("getAlbum") { c, w in try c.collection.subsonicAlbum(c.params, &w, c.server) },
        .subsonic("getSong") { c, w in try c.collection.subsonicSong(c.params, &w) },
        .subsonic("getGenres") { c, w in c.collection.subsonicGenres(&w, c.index) },
        .subsonic("getAlbumList") { c, w in try c.collection.subsonicAlbumList(c.params, &w, id3: false, c.server, c.index) },
        .subsonic("getAlbumList2") { c, w in try c.collection.subsonicAlbumList(c.params, &w, id3: true, c.server, c.index) },
        .subsonic("getRandomSongs") { c, w in try c.collection.subsonicRandomSongs(c.params, &w) },
        .subsonic("getSongsByGenre") { c, w in try c.collection.subsonicSongsByGenre(c.params, &w) },
        .subsonic("search2") { c, w in try c.collection.subsonicSearch(c.params, &w, id3: false, c.server) },
        .subsonic("search3") { c, w in try c.collection.subsonicSearch(c.params, &w, id3: true, c.server) },
        .subsonic("getStarred") { _, w in w.open("starred"); w.close() },
        .subsonic("getStarred2") { _, w in w.open("starred2"); w.close() },
        .subsonic("getPlaylists") { _, w in w.open("playlists"); w.beginList("playlist"); w.endList(); w.close() },
        .subsonic("getUser") { c, w in
            let name = c.params["username"] ?? ""
            guard !name.isEmpty else { throw SubsonicError.missing("username") }
            // Users see themselves only: nobody is an administrator here.
            guard name == c.user else { throw SubsonicError.notAuthorized }
            w.open("user")
            w.attr("username", c.user)
            // Streams and downloads only: a read-only server offers nothing else.
            for role in roles { w.attr(role, ["streamRole", "downloadRole"].contains(role.description)) }
            w.beginList("folder")
            w.element("folder", 1)  // the one music folder
            w.endList()
            w.close()
        },
        .subsonicFile("stream", download: false),
        .subsonicFile("download", download: true),
        subsonicCoverArt,
        .subsonic("getScanStatus") { c, w in
            w.open("scanStatus"); w.attr("scanning", false); w.attr("count", Int64(c.collection.songs.count)); w.close()
        },
        // Writes a read-only server does not offer: error 50 (numbered once for all).
        .subsonic("star") { _, _ in throw SubsonicError.notAuthorized },
        // A method this server does not know.
        Route(path: "", access: .subsonic, cacheable: false, label: "subsonic_other", statsd: nil) { call in
            try call.router.subsonicAnswer(call) { _, _ in
                let method = call.path.split(separator: UInt8(ascii: "/")).last.map { String(decoding: $0, as: UTF8.self) } ?? ""
                throw SubsonicError.generic("unknown method '\(method)'")
            }
        },
    ]

    static let subsonicPaths = subsonicTable.map(\.path)

    /// `getUser`'s flags, in the schema's order.
    private static let roles: [StaticString] = [
        "scrobblingEnabled", "adminRole", "settingsRole", "downloadRole", "uploadRole", "playlistRole", "coverArtRole",
        "commentRole", "podcastRole", "streamRole", "jukeboxRole", "shareRole", "videoConversionRole",
    ]
    /// Route numbers (in `Route.all`) of the write route and the unknown-method route.
    static let subsonicWrite = table.count + subsonicTable.count - 2
    static let subsonicOther = table.count + subsonicTable.count - 1

    /// The methods that change state, all answered as `star` is.
    static let subsonicWrites: [StaticString] = [
        "unstar", "setRating", "scrobble", "createPlaylist", "updatePlaylist", "deletePlaylist", "savePlayQueue",
        "savePlayQueueByIndex", "createBookmark", "deleteBookmark", "createShare", "updateShare", "deleteShare",
        "createUser", "updateUser", "deleteUser", "changePassword", "createInternetRadioStation",
        "updateInternetRadioStation", "deleteInternetRadioStation", "createPodcastChannel", "deletePodcastChannel",
        "deletePodcastEpisode", "downloadPodcastEpisode", "refreshPodcasts", "startScan", "jukeboxControl",
        "addChatMessage", "tokenInfo",
    ]
}

extension Router {
    /// The route of a method name after `SUBSONIC_PATH/` (a `.view` suffix dropped).
    static func subsonicRoute(_ name: UnsafeBufferPointer<UInt8>) -> MetricEndpoint {
        var n = name
        let view = StaticString(".view")
        if n.count > 5, UnsafeBufferPointer(start: view.utf8Start, count: 5).elementsEqual(n[(n.count - 5)...]) {
            n = UnsafeBufferPointer(rebasing: n[..<(n.count - 5)])
        }
        func same(_ s: StaticString) -> Bool {
            s.utf8CodeUnitCount == n.count && UnsafeBufferPointer(start: s.utf8Start, count: n.count).elementsEqual(n)
        }
        for (i, s) in Route.subsonicPaths.enumerated().dropLast() where same(s) {
            return MetricEndpoint(rawValue: Route.table.count + i)
        }
        for s in Route.subsonicWrites where same(s) { return MetricEndpoint(rawValue: Route.subsonicWrite) }
        return MetricEndpoint(rawValue: Route.subsonicOther)
    }
}
