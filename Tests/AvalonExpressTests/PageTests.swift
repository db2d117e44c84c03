import AvalonTagWriter
import Foundation
import TestSupport
import XCTest

/// A WebDriver session with headless Chromium (Debian's chromium and
/// chromium-driver), spoken to in plain HTTP and JSON.
final class Browser {
    let driver: Background
    let port = freePort()
    let profile = makeTempDir("avalon-chromium")
    var session = ""

    init() throws {
        driver = try Background([try which("chromedriver"), "--port=\(port)"], environment: ProcessInfo.processInfo.environment,
                                logPath: profile + "/chromedriver.log")
        let port = self.port
        guard waitUntil(timeout: 20, { canConnect(port: port) }) else { throw SupportError("chromedriver did not start: \(driver.log)") }
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": [
            "binary": try which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,860",
                     "--user-data-dir=\(profile)/profile", "--lang=en-US"],
        ]]]]
        // A session that cannot start must not leave chromedriver running.
        do {
            let value = try call("POST", "/session", capabilities)
            guard let id = (value as? [String: Any])?["sessionId"] as? String else { throw SupportError("no WebDriver session: \(value)") }
            session = id
        } catch {
            _ = driver.stop()
            removeTree(profile)
            throw error
        }
    }

    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> Any {
        let text = try body.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        let r = try httpRequest(port: port, path: path, method: method, timeout: 60, body: text ?? (method == "POST" ? "{}" : nil),
                                http11: true)
        let value = (r.json["value"]) as Any
        if r.status != 200 { throw SupportError("WebDriver \(method) \(path): \(r.status) \(r.text.prefix(400))") }
        return value
    }

    func open(_ url: String) throws { try call("POST", "/session/\(session)/url", ["url": url]) }

    /// Element ids for a CSS selector.
    func find(_ css: String) throws -> [String] {
        let list = try call("POST", "/session/\(session)/elements", ["using": "css selector", "value": css]) as? [[String: String]] ?? []
        return list.compactMap { $0.values.first }
    }

    func text(_ element: String) throws -> String { try call("GET", "/session/\(session)/element/\(element)/text") as? String ?? "" }
    func attribute(_ element: String, _ name: String) throws -> String? {
        try call("GET", "/session/\(session)/element/\(element)/attribute/\(name)") as? String
    }
    func type(_ element: String, _ keys: String) throws { try call("POST", "/session/\(session)/element/\(element)/value", ["text": keys]) }
    /// The focused element's id.
    func active() throws -> String? {
        (try call("GET", "/session/\(session)/element/active") as? [String: String])?.values.first
    }
    func screenshot() throws -> Data {
        guard let b64 = try call("GET", "/session/\(session)/screenshot") as? String, let data = Data(base64Encoded: b64) else {
            throw SupportError("no screenshot")
        }
        return data
    }

    /// Runs `script` (a function body) in the page and returns its value.
    @discardableResult
    func execute(_ script: String, _ args: [Any] = []) throws -> Any {
        try call("POST", "/session/\(session)/execute/sync", ["script": script, "args": args])
    }
    func click(_ element: String) throws { try call("POST", "/session/\(session)/element/\(element)/click") }
    /// Keys pressed and released in order, to the focused element (WebDriver's
    /// key codes: "\u{E008}" Shift, "\u{E012}" ←, "\u{E014}" →); a modifier is held
    /// over the keys after it.
    func press(_ keys: [String], holding modifier: String? = nil) throws {
        var actions: [[String: Any]] = []
        if let modifier { actions.append(["type": "keyDown", "value": modifier]) }
        for k in keys { actions += [["type": "keyDown", "value": k], ["type": "keyUp", "value": k]] }
        if let modifier { actions.append(["type": "keyUp", "value": modifier]) }
        try call("POST", "/session/\(session)/actions", ["actions": [["type": "key", "id": "keyboard", "actions": actions]]])
        try call("DELETE", "/session/\(session)/actions")
    }
    /// A mouse click on the element a CSS selector finds, at `fraction` of its width from the left.
    func click(_ css: String, at fraction: Double) throws {
        let box = try execute("const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]",
                              [css]) as? [NSNumber] ?? []
        guard box.count == 4 else { throw SupportError("no box for \(css)") }
        let x = Int(box[0].doubleValue + box[2].doubleValue * fraction), y = Int(box[1].doubleValue + box[3].doubleValue / 2)
        try call("POST", "/session/\(session)/actions", ["actions": [["type": "pointer", "id": "mouse", "parameters": ["pointerType": "mouse"],
            "actions": [["type": "pointerMove", "origin": "viewport", "x": x, "y": y],
                        ["type": "pointerDown", "button": 0], ["type": "pointerUp", "button": 0]]]]])
        try call("DELETE", "/session/\(session)/actions")
    }

    func quit() {
        if !session.isEmpty { _ = try? call("DELETE", "/session/\(session)") }
        session = ""
        _ = driver.stop()
        removeTree(profile)
    }
}

final class PageTests: XCTestCase {
    /// The page in a real browser: counts load, a typed search renders the
    /// matching songs (the same the API gives), a sort header works from the
    /// keyboard, browsing reaches an artist's albums; a screenshot is kept.
    func testSearchInChromium() throws {
        let server = try ExpressServer()
        defer { server.stop() }
        let browser = try Browser()
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(server.port)/")
        XCTAssertTrue(waitUntil(timeout: 20) { ((try? browser.find("#counts").first.map(browser.text)) ?? nil)?.contains("9 songs") == true },
                      "counts: \(String(describing: try? browser.find("#counts").first.map(browser.text)))")
        // The search box has the focus on the search page: typing goes there.
        let box = try XCTUnwrap(try browser.find("#search").first)
        XCTAssertEqual(try browser.active(), box)
        try browser.type(box, "minor")
        var rows: [String] = []
        XCTAssertTrue(waitUntil(timeout: 20) {
            rows = ((try? browser.find("#song-results tbody tr")) ?? []).compactMap { try? browser.text($0) }
            return rows.count == 2
        }, "rows: \(rows)")
        let expected = (try server.get("/avalon/songs?query=minor&order=name").json["success"] as? [[String: Any]] ?? [])
            .compactMap { $0["name"] as? String }
        XCTAssertEqual(expected.count, 2)
        for (row, name) in zip(rows, expected) { XCTAssertTrue(row.hasPrefix(name), "\(rows) against \(expected)") }
        let artists = try browser.find("#artist-results a").map(browser.text)
        XCTAssertEqual(artists, ["Minor Threat"])
        let shot = try browser.screenshot()
        XCTAssertEqual(Array(shot.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG")
        // (The README's screenshot is testPlayerInChromium's.)
        let target = NSTemporaryDirectory() + "/avalon-page.png"
        try shot.write(to: URL(fileURLWithPath: target))
        print("screenshot: \(target)")

        // Sorting from the keyboard: Enter on the Title header's button.
        let title = try XCTUnwrap(try browser.find("#song-results th[data-field=name] button").first)
        try browser.type(title, "\u{E007}")
        XCTAssertTrue(waitUntil(timeout: 10) {
            (try? browser.find("#song-results th[data-field=name]").first.flatMap { try browser.attribute($0, "aria-sort") }) == "descending"
        })
        XCTAssertTrue(waitUntil(timeout: 10) {
            let now = ((try? browser.find("#song-results tbody tr")) ?? []).compactMap { try? browser.text($0) }
            return now.count == 2 && now.first?.hasPrefix(expected.last!) == true
        })
        // Browsing: the artist's page lists their albums.
        try browser.open("http://127.0.0.1:\(server.port)/#/artists")
        XCTAssertTrue(waitUntil(timeout: 10) { ((try? browser.find("#list-items a")) ?? []).count == 5 })
        let link = try XCTUnwrap(try browser.find("#list-items a").first { (try? browser.text($0)) == "Minor Threat" })
        try browser.type(link, "\u{E007}")
        XCTAssertTrue(waitUntil(timeout: 10) {
            (try? browser.find("#list-title").first.map(browser.text)) == "Minor Threat"
                && ((try? browser.find("#list-songs tbody tr")) ?? []).count == 2
        })
        // Years, from the browse menu: each year of the collection with its count, as the API gives them.
        let yearsLink = try XCTUnwrap(try browser.find("nav a").first { (try? browser.text($0)) == "Years" })
        try browser.type(yearsLink, "\u{E007}")
        let years = (try server.get("/avalon/years?order=year&direction=desc").json["success"] as? [[String: Int]] ?? [])
        XCTAssertFalse(years.isEmpty)
        let shown = years.map { "\($0["year"]! > 0 ? String($0["year"]!) : "No year") · \($0["songs"]!) \($0["songs"] == 1 ? "song" : "songs")" }
        var items: [String] = []
        XCTAssertTrue(waitUntil(timeout: 10) {
            items = ((try? browser.find("#list-items li")) ?? []).compactMap { try? browser.text($0) }
            return items == shown
        }, "\(items) against \(shown)")
        XCTAssertEqual(try browser.find("#error").first.flatMap { try browser.attribute($0, "hidden") }, "true")
    }

    /// An empty collection, an API that fails and a sign-in to a server without
    /// the Subsonic API are shown, not a blank page.
    func testEmptyAndFailingAPIInChromium() throws {
        let server = try ExpressServer()
        defer { server.stop() }
        let browser = try Browser()
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(server.port)/#/?q=nothing-matches-this")
        XCTAssertTrue(waitUntil(timeout: 20) {
            (try? browser.find("#song-results .status").first.map(browser.text)) == "No songs."
        })
        // Without Subsonic users there is nothing to sign in to: the form says so.
        try browser.click(try XCTUnwrap(try browser.find("#sign-in-open").first))
        try browser.type(try XCTUnwrap(try browser.find("#sign-in-user").first), "ann")
        try browser.type(try XCTUnwrap(try browser.find("#sign-in-password").first), "pass-word-1")
        try browser.click(try XCTUnwrap(try browser.find("#sign-in-submit").first))
        XCTAssertTrue(waitUntil(timeout: 10) {
            ((try? browser.find("#sign-in-error").first.map(browser.text)) ?? nil)?.hasPrefix("This server has no Subsonic API") == true
        })
        XCTAssertEqual(try browser.find("#player").first.flatMap { try browser.attribute($0, "hidden") }, "true")
        // The API stops answering (nginx finds no socket): the page says so.
        try FileManager.default.removeItem(atPath: server.root + "/avalon.sock")
        try browser.open("http://127.0.0.1:\(server.port)/#/genres")
        XCTAssertTrue(waitUntil(timeout: 20) {
            guard let e = try? browser.find("#error").first, (try? browser.attribute(e, "hidden")) == nil else { return false }
            return ((try? browser.text(e)) ?? "").contains("The server answered 502")
        }, "error box: \(String(describing: try? browser.find("#error").first.map(browser.text)))")
    }

    /// The player, signed in as a Subsonic user of avalon-express --users: a
    /// wrong password gets the API's own message; signed in, an album plays in
    /// order (the audio element reaches playing and its time advances), the
    /// keys and the position slider seek, next plays the next song, Space
    /// pauses; a search plays in the table's order; no request the page made
    /// was answered with an HTTP error; the credentials are never in the page's
    /// address, the log or sessionStorage as a password. Its screenshot is
    /// docs/page.png (AVALON_SCREENSHOT=docs/page.png).
    func testPlayerInChromium() throws {
        let dir = makeTempDir("avalon-player")
        defer { removeTree(dir) }
        let music = dir + "/music"
        try FileManager.default.copyItem(atPath: demoMusic, toPath: music)
        // Three 30-second tones, real PCM audio Chromium decodes: long enough to seek in.
        try FileManager.default.createDirectory(atPath: music + "/Test Tones", withIntermediateDirectories: false)
        for (i, (name, hertz)) in [("Tone One", 440.0), ("Tone Two", 554.37), ("Tone Three", 659.25)].enumerated() {
            let path = music + "/Test Tones/0\(i + 1)-\(name.lowercased().replacingOccurrences(of: " ", with: "_")).wav"
            try toneWAV(seconds: 30, hertz: hertz).write(to: URL(fileURLWithPath: path))
            XCTAssertTrue(writeTags(path, title: name, album: "Test Tones", artist: "The Sine Waves", genre: "Test",
                                    track: "\(i + 1)", date: "2026"), path)
        }
        // The tones' album has a cover (a folder image); the demo albums have none.
        let cover = CoverBytes.realPNG(width: 64, height: 48, seed: 7)
        try Data(cover).write(to: URL(fileURLWithPath: music + "/Test Tones/cover.png"))
        let users = dir + "/users"
        try "ann:pass-word-1\n".write(toFile: users, atomically: false, encoding: .utf8)
        chmod(users, 0o600)
        // An API key for ann, made as the operator makes one.
        let keys = ["SUBSONIC_USERS_FILE": users, "SUBSONIC_API_KEYS_FILE": dir + "/keys"]
        let made = try runProgram([product("avalon-subsonic-key"), "new", "ann"], environment: keys)
        XCTAssertEqual(made.status, 0, made.stderr)
        let key = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try ExpressServer(music: music, extra: ["--users", users], environment: ["SUBSONIC_API_KEYS_FILE": dir + "/keys"])
        defer { server.stop() }
        let albums = try server.get("/avalon/albums?query=Test%20Tones").json["success"] as? [[String: Any]] ?? []
        let album = try XCTUnwrap(albums.first?["id"] as? String, "\(albums)")
        let tones = (try server.get("/avalon/songs?album_id=\(album)&order=track").json["success"] as? [[String: Any]] ?? [])
        let ids = tones.compactMap { $0["id"] as? String }
        XCTAssertEqual(tones.compactMap { $0["name"] as? String }, ["Tone One", "Tone Two", "Tone Three"])

        let browser = try Browser()
        defer { browser.quit() }
        let page = "http://127.0.0.1:\(server.port)/"
        try browser.open(page)
        XCTAssertTrue(waitUntil(timeout: 20) { ((try? browser.find("#counts").first.map(browser.text)) ?? nil)?.contains("12 songs") == true })
        // What the page's Content-Security-Policy refuses from here on (asserted empty below).
        try browser.execute("""
            window.avalonPolicyViolations = [];
            document.addEventListener('securitypolicyviolation', e => window.avalonPolicyViolations.push(e.violatedDirective + ' ' + e.blockedURI));
            """)
        // Signed out: the page as it was, the player hidden, nothing asked of the Subsonic API.
        XCTAssertEqual(try browser.find("#player").first.flatMap { try browser.attribute($0, "hidden") }, "true")
        XCTAssertFalse(try String(contentsOfFile: server.root + "/logs/access.log").contains("/rest/"))

        // A wrong password: the message the API gives for it.
        let wrong = try server.get("/rest/ping?u=ann&p=not-it&v=1.16.1&c=t&f=json").json["subsonic-response"] as? [String: Any]
        let message = try XCTUnwrap((wrong?["error"] as? [String: Any])?["message"] as? String)
        try browser.click(try XCTUnwrap(try browser.find("#sign-in-open").first))
        let user = try XCTUnwrap(try browser.find("#sign-in-user").first), password = try XCTUnwrap(try browser.find("#sign-in-password").first)
        try browser.type(user, "ann")
        try browser.type(password, "not-it")
        try browser.click(try XCTUnwrap(try browser.find("#sign-in-submit").first))
        XCTAssertTrue(waitUntil(timeout: 10) { (try? browser.find("#sign-in-error").first.map(browser.text)) == message },
                      "\(String(describing: try? browser.find("#sign-in-error").first.map(browser.text))) against \(message)")
        try browser.type(password, "pass-word-1")
        try browser.click(try XCTUnwrap(try browser.find("#sign-in-submit").first))
        XCTAssertTrue(waitUntil(timeout: 10) { (try? browser.find("#player").first.flatMap { try browser.attribute($0, "hidden") }) == nil })
        XCTAssertEqual(try browser.find("#account-name").first.map(browser.text), "Signed in as ann")
        // What the tab keeps: a token and its salt, never the password; the page's address holds neither.
        let kept = try browser.execute("return sessionStorage.getItem('avalon-subsonic')") as? String ?? ""
        let keptJSON = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(kept.utf8)) as? [String: String])
        XCTAssertEqual(Set(keptJSON.keys), ["user", "token", "salt"])
        XCTAssertFalse(kept.contains("pass-word-1"))
        XCTAssertFalse((try browser.execute("return location.href") as? String ?? "").contains("ann"))

        // The album: its page has a play button; the songs play in track order.
        try browser.open(page + "#/album/" + album)
        let playAlbum = try XCTUnwrap(waitFor(timeout: 20) { try? browser.find(".album-head button.play").first })
        try browser.execute("""
            window.playerEvents = [];
            for (const e of ["playing", "pause", "seeked", "error"]) document.getElementById("audio").addEventListener(e, () => playerEvents.push(e));
            """)
        try browser.click(playAlbum)
        func audio() -> [String: Any] {
            (try? browser.execute("""
                const a = document.getElementById("audio");
                return { paused: a.paused, time: a.currentTime, duration: a.duration, song: a.dataset.song || "",
                         src: a.currentSrc, events: playerEvents.join(" "), error: a.error ? a.error.code : 0 };
                """)) as? [String: Any] ?? [:]
        }
        func time() -> Double { (audio()["time"] as? NSNumber)?.doubleValue ?? -1 }
        // What a failure prints: without the stream address (it holds the token).
        func state() -> String { "\(audio().filter { $0.key != "src" })" }
        XCTAssertTrue(waitUntil(timeout: 20) { (audio()["events"] as? String)?.contains("playing") == true && time() > 0.3 }, state())
        XCTAssertEqual(audio()["song"] as? String, ids[0])
        XCTAssertTrue((audio()["src"] as? String ?? "").contains("/rest/stream?id=\(ids[0])&"), "the stream URL")
        let t0 = time()
        XCTAssertTrue(waitUntil(timeout: 10) { time() > t0 + 1 }, "time advances: \(t0) → \(state())")
        XCTAssertEqual((audio()["duration"] as? NSNumber)?.doubleValue ?? 0, 30, accuracy: 0.5)
        XCTAssertEqual(try browser.execute("return navigator.mediaSession.metadata.title") as? String, "Tone One", "the system's now playing")
        // Covers load: the album's head, what is playing (the picture's own size: the original is sent).
        func coverWidths(_ selector: String) -> [Int] {
            ((try? browser.execute("return [...document.querySelectorAll('\(selector)')].map(i => i.complete ? i.naturalWidth : -1)")) as? [NSNumber] ?? []).map(\.intValue)
        }
        for selector in [".album-head .cover img", "#now-cover img"] {
            XCTAssertTrue(waitUntil(timeout: 10) { coverWidths(selector) == [64] }, "\(selector): \(coverWidths(selector))")
        }
        // Each cover box is drawn at the size the page gave it (under the page's
        // Content-Security-Policy, which refuses style attributes), and nothing broke the policy.
        let boxes = try browser.execute("""
            return [...document.querySelectorAll('.cover')].map(b => [getComputedStyle(b).getPropertyValue('--size').trim(), b.getBoundingClientRect().width])
            """) as? [[Any]] ?? []
        XCTAssertGreaterThanOrEqual(boxes.count, 2)
        for b in boxes {
            let size = (b.first as? String) ?? "", width = (b.last as? NSNumber)?.doubleValue ?? -1
            XCTAssertTrue(size.hasSuffix("px") && Double(size.dropLast(2)) == width, "a cover box: --size \(size), drawn \(width) px")
        }
        XCTAssertEqual(try browser.execute("return window.avalonPolicyViolations") as? [String], [], "Content-Security-Policy violations")

        // → seeks 10 seconds (outside a text field or button).
        try browser.execute("document.activeElement.blur()")
        // (The song plays on meanwhile: the upper bound grows with the time since.)
        let before = time(), read = Date()
        try browser.press(["\u{E014}"])
        XCTAssertTrue(waitUntil(timeout: 10) { time() > before + 9 && time() < before + 11 + Date().timeIntervalSince(read) },
                      "→ from \(before): \(state())")
        // A click at three quarters of the position slider seeks near there.
        let clicked = Date()
        try browser.click("#seek", at: 0.75)
        XCTAssertTrue(waitUntil(timeout: 10) { time() > 20 && time() < 25 + Date().timeIntervalSince(clicked) }, "slider: \(state())")
        XCTAssertEqual(audio()["paused"] as? Bool, false)

        // Next: the second song is the stream, and it plays.
        try browser.click(try XCTUnwrap(try browser.find("#next").first))
        XCTAssertTrue(waitUntil(timeout: 20) { audio()["song"] as? String == ids[1] && time() > 0.3 && audio()["paused"] as? Bool == false }, state())
        XCTAssertTrue((audio()["src"] as? String ?? "").contains("/rest/stream?id=\(ids[1])&"), "the stream URL")
        XCTAssertEqual(try browser.find("#now-title").first.map(browser.text), "Tone Two")
        // Shift+→ from the page: the third.
        try browser.execute("document.activeElement.blur()")
        try browser.press(["\u{E014}"], holding: "\u{E008}")
        XCTAssertTrue(waitUntil(timeout: 20) { audio()["song"] as? String == ids[2] && time() > 0.3 }, state())
        // Space pauses: the time stands still.
        try browser.press([" "])
        XCTAssertTrue(waitUntil(timeout: 10) { audio()["paused"] as? Bool == true }, state())
        let stopped = time()
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(time(), stopped, accuracy: 0.01)
        XCTAssertEqual(try browser.find("#play-pause").first.flatMap { try browser.attribute($0, "aria-label") }, "Play")
        XCTAssertEqual(audio()["error"] as? Int, 0)
        // Back to the start with the slider, then Shift+← goes to the previous song (past 3 seconds it would restart this one).
        try browser.click("#seek", at: 0.005)
        XCTAssertTrue(waitUntil(timeout: 10) { time() < 1 }, state())
        try browser.execute("document.activeElement.blur()")
        try browser.press(["\u{E012}"], holding: "\u{E008}")
        XCTAssertTrue(waitUntil(timeout: 20) { audio()["song"] as? String == ids[1] && audio()["paused"] as? Bool == false }, state())
        // The volume slider: a click at a quarter of it.
        try browser.click("#volume", at: 0.25)
        XCTAssertTrue(waitUntil(timeout: 10) {
            let v = (try? browser.execute("return document.getElementById('audio').volume") as? NSNumber)?.doubleValue ?? -1
            return v > 0.1 && v < 0.4
        })

        // A search plays in the table's order (by title: One, Three, Two).
        try browser.open(page + "#/?q=tone")
        let playAll = try XCTUnwrap(waitFor(timeout: 20) { try? browser.find("#song-results button.play-all").first },
                                    "\(String(describing: try? browser.execute("return document.querySelector('main').innerHTML")))")
        XCTAssertTrue(waitUntil(timeout: 10) { ((try? browser.find("#song-results tbody tr")) ?? []).count == 3 })
        // The album found by the search shows its cover too.
        XCTAssertTrue(waitUntil(timeout: 10) { coverWidths("#album-results .cover img") == [64] }, "\(coverWidths("#album-results .cover img"))")
        try browser.click(playAll)
        XCTAssertTrue(waitUntil(timeout: 20) { audio()["song"] as? String == ids[0] && time() > 0.3 }, state())
        try browser.click(try XCTUnwrap(try browser.find("#next").first))
        XCTAssertTrue(waitUntil(timeout: 20) { audio()["song"] as? String == ids[2] && time() > 0.3 }, state())
        XCTAssertEqual(try browser.find("#now-position").first.map(browser.text), "2 of 3")
        // The screenshot of the README: signed in, a song playing, its cover, a search
        // of the tones' album and a demo album without a cover (a placeholder).
        try browser.open(page + "#/?q=tone")
        XCTAssertTrue(waitUntil(timeout: 20) { ((try? browser.find("#song-results tbody tr")) ?? []).count == 3 })
        XCTAssertTrue(waitUntil(timeout: 10) { (try? browser.execute("return [...document.images].every(i => i.complete)")) as? Bool == true })
        Thread.sleep(forTimeInterval: 1)
        let shot = try browser.screenshot()
        let target = ProcessInfo.processInfo.environment["AVALON_SCREENSHOT"] ?? (NSTemporaryDirectory() + "/avalon-player.png")
        try shot.write(to: URL(fileURLWithPath: target))
        print("screenshot: \(target)")
        try browser.open(page + "#/?q=minor")
        XCTAssertTrue(waitUntil(timeout: 20) { ((try? browser.find("#song-results tbody tr")) ?? []).count == 2 })

        // Signing out stops the music and forgets the credentials.
        try browser.click(try XCTUnwrap(try browser.find("#sign-out").first))
        XCTAssertTrue(waitUntil(timeout: 10) { (try? browser.find("#player").first.flatMap { try browser.attribute($0, "hidden") }) == "true" })
        XCTAssertEqual(audio()["paused"] as? Bool, true)
        XCTAssertNil(try browser.execute("return sessionStorage.getItem('avalon-subsonic')") as? String)
        XCTAssertEqual(try browser.find("#error").first.flatMap { try browser.attribute($0, "hidden") }, "true")

        // An API key instead: a song of the search plays from its row.
        try browser.click(try XCTUnwrap(try browser.find("#sign-in-open").first))
        try browser.type(try XCTUnwrap(try browser.find("#sign-in-key").first), key)
        try browser.click(try XCTUnwrap(try browser.find("#sign-in-submit").first))
        XCTAssertTrue(waitUntil(timeout: 10) { (try? browser.find("#account-name").first.map(browser.text)) == "Signed in with an API key" })
        let rowPlay = try XCTUnwrap(waitFor(timeout: 20) { try? browser.find("#song-results tbody button.play").last })
        // (Scrolled down as a user would: the bar covers the bottom of the window.)
        try browser.execute("playerEvents.length = 0; window.scrollTo(0, document.body.scrollHeight)")
        try browser.click(rowPlay)
        let last = try XCTUnwrap((try server.get("/avalon/songs?query=minor&order=name").json["success"] as? [[String: Any]])?.last?["id"] as? String)
        XCTAssertTrue(waitUntil(timeout: 20) { audio()["song"] as? String == last && (audio()["events"] as? String)?.contains("playing") == true }, state())
        XCTAssertTrue((audio()["src"] as? String ?? "").contains("apiKey="), "the stream signs in with the key")

        // Every request the page made, as nginx logged it: none answered with an HTTP error, no credential in the log.
        // (nginx logs a request when it ends: a stream once the browser let it go, which quitting makes sure of.)
        browser.quit()
        var log = ""
        XCTAssertTrue(waitUntil(timeout: 10) {
            log = (try? String(contentsOfFile: server.root + "/logs/access.log")) ?? ""
            return log.components(separatedBy: "/avalon-internal-music/").count > 4
        }, log)
        let lines = log.split(separator: "\n")
        print("access log:\n" + log)
        XCTAssertTrue(lines.contains { $0.contains("/avalon-internal-music/") && $0.contains("\" 206 ") }, "streams answered in ranges")
        for line in lines {
            let status = line.range(of: #"" \d{3} "#, options: .regularExpression).map { Int(line[$0].dropFirst(2).prefix(3)) ?? 0 } ?? 0
            XCTAssertTrue(status >= 200 && status < 400, String(line))
        }
        XCTAssertFalse(log.contains(keptJSON["token"]!))
        XCTAssertFalse(log.contains("pass-word-1"))
    }
}

/// The first value `get` gives within `timeout` seconds.
func waitFor<T>(timeout: Double, _ get: () -> T?) -> T? {
    var value: T?
    _ = waitUntil(timeout: timeout) { value = get(); return value != nil }
    return value
}

/// `seconds` of a sine tone as 16-bit mono PCM WAV at 8 kHz.
func toneWAV(seconds: Int, hertz: Double) -> Data {
    let rate = 8000, samples = seconds * rate
    var d = Data()
    func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
    func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
    d.append(contentsOf: Array("RIFF".utf8)); u32(36 + samples * 2); d.append(contentsOf: Array("WAVEfmt ".utf8))
    u32(16); u16(1); u16(1); u32(rate); u32(rate * 2); u16(2); u16(16)
    d.append(contentsOf: Array("data".utf8)); u32(samples * 2)
    for i in 0..<samples {
        let v = Int16(8000 * sin(2 * Double.pi * hertz * Double(i) / Double(rate)))
        withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
    }
    return d
}
