import Foundation
import TestSupport
import XCTest
@testable import AvalonCore

/// A small collection with awkward names, built as the scanner would.
struct FixtureSong {
    var path: String, title: String, album: String, artist: String, genre: String
    var length: Int64, track: Int64, year: Int64
}

let fixtureSongs: [FixtureSong] = [
    .init(path: "/m/1.mp3", title: "This Is Giving Up", album: "Dear You", artist: "Jawbreaker", genre: "Punk", length: 219, track: 3, year: 1995),
    .init(path: "/m/2.mp3", title: "Accident Prone", album: "Dear You", artist: "Jawbreaker", genre: "Punk", length: 362, track: 12, year: 1995),
    .init(path: "/m/3.ogg", title: "Straight Edge", album: "Complete Discography", artist: "Minor Threat", genre: "Hardcore", length: 45, track: 2, year: 1981),
    .init(path: "/m/4.ogg", title: "Adicción, Tradición, Revolución", album: "¡Firme!", artist: "Voodoo Glow Skulls", genre: "Punk Ska", length: 180, track: 2, year: 1995),
    .init(path: "/m/5.flac", title: "ΣΩΚΡΑΤΗΣ  και  φίλοι", album: "Ελληνικά", artist: "Σωκράτης", genre: "Λαϊκά", length: 200, track: 1, year: 2001),
    .init(path: "/m/6.flac", title: "Кино \"Группа крови\"", album: "Группа крови", artist: "Кино", genre: "Rock", length: 285, track: 1, year: 1988),
    .init(path: "/m/7.mp3", title: "東京 Love Song 🎸", album: "東京", artist: "Band\\Slash", genre: "J-Pop", length: 0, track: 0, year: 0),
    .init(path: "/m/8.mp3", title: "Love\tTabs\nand lines", album: "", artist: "", genre: "", length: -5, track: 99999999999, year: -1),
    .init(path: "/m/9.mp3", title: "love", album: "dear you", artist: "JAWBREAKER", genre: "punk", length: 100, track: 4, year: 1990),
    .init(path: "/m/10.mp3", title: "Lovely Day", album: "Menagerie", artist: "Bill Withers", genre: "Soul", length: 255, track: 1, year: 1977),
]

/// Builds the collection the way the scanner stores it: names differing only in
/// case share the id of the first spelling.
func buildFixture(_ list: [FixtureSong] = fixtureSongs) -> MusicCollection {
    var b = CollectionBuilder()
    for s in list {
        b.addElement(.album, id: .album(s.album), name: s.album)
        b.addElement(.artist, id: .artist(s.artist), name: s.artist)
        b.addElement(.genre, id: .genre(s.genre), name: s.genre)
        b.addSong(id: .song(path: s.path), name: s.title, length: s.length, track: s.track, year: s.year,
                  album: .album(s.album), artist: .artist(s.artist), genre: .genre(s.genre))
    }
    return b.build()
}

struct Answer {
    let status: Int
    let json: [String: Any]
    var success: [[String: Any]] { json["success"] as? [[String: Any]] ?? [] }
    var names: [String] { success.map { $0["name"] as! String } }
    var ids: [String] { success.map { $0["id"] as! String } }
    var error: [String: Any]? { (json["errors"] as? [[String: Any]])?.first }
}

func ask(_ c: MusicCollection, _ e: Endpoint, _ qs: String) -> Answer {
    let r = c.respond(e, QueryParameters(queryString: qs))
    guard let obj = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] else {
        XCTFail("not a JSON object: \(String(decoding: r.body, as: UTF8.self))")
        return Answer(status: r.status, json: [:])
    }
    return Answer(status: r.status, json: obj)
}

