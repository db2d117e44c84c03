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

    func quit() {
        if !session.isEmpty { _ = try? call("DELETE", "/session/\(session)") }
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
        let target = ProcessInfo.processInfo.environment["AVALON_SCREENSHOT"] ?? (NSTemporaryDirectory() + "/avalon-page.png")
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

    /// An empty collection and an API that fails are shown, not a blank page.
    func testEmptyAndFailingAPIInChromium() throws {
        let server = try ExpressServer()
        defer { server.stop() }
        let browser = try Browser()
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(server.port)/#/?q=nothing-matches-this")
        XCTAssertTrue(waitUntil(timeout: 20) {
            (try? browser.find("#song-results .status").first.map(browser.text)) == "No songs."
        })
        // The API stops answering (nginx finds no socket): the page says so.
        try FileManager.default.removeItem(atPath: server.root + "/avalon.sock")
        try browser.open("http://127.0.0.1:\(server.port)/#/genres")
        XCTAssertTrue(waitUntil(timeout: 20) {
            guard let e = try? browser.find("#error").first, (try? browser.attribute(e, "hidden")) == nil else { return false }
            return ((try? browser.text(e)) ?? "").contains("The server answered 502")
        }, "error box: \(String(describing: try? browser.find("#error").first.map(browser.text)))")
    }
}
