/// The status and headers of an answer whose body is in a `ResponseBuffer`.
public struct AnswerHead: Sendable {
    public var status: Int
    public var contentType: String
    /// `Cache-Control: no-store`: answers that describe this moment (health, metrics).
    var noStore = false
    /// More header lines, each ending in CRLF (a stream's X-Accel-Redirect).
    var extraHeaders = ""

    init(status: Int, contentType: String, noStore: Bool = false) {
        self.status = status
        self.contentType = contentType
        self.noStore = noStore
    }

    static let jsonType = "application/json; charset=utf-8"
    static let textType = "text/plain; charset=utf-8"
}

/// The reason phrases of the statuses Avalon answers with.
let reasonPhrases: [Int: String] = [200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                                    500: "Internal Server Error", 503: "Service Unavailable"]
