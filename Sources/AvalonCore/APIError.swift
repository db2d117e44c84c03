/// An API error as the old server rendered it.
public struct APIError: Error, Sendable {
    public enum Value: Sendable { case string(String), int(Int64) }
    public let code: Int
    public let messageKey: String
    public let status: Int
    public let message: String
    public let payload: [(String, Value)]

    public init(code: Int, messageKey: String, status: Int, message: String, payload: [(String, Value)]) {
        self.code = code
        self.messageKey = messageKey
        self.status = status
        self.message = message
        self.payload = payload
    }

    public static func invalidName(_ field: String) -> APIError {
        APIError(code: 100, messageKey: "avalon.service.error.invalid_input_name", status: 400,
                 message: "Invalid order-by field '\(field)'", payload: [("field", .string(field))])
    }
    public static func invalidType(_ field: String, _ value: String, _ type: String) -> APIError {
        APIError(code: 101, messageKey: "avalon.service.error.invalid_input_type", status: 400,
                 message: "Invalid field value for \(type) field \(field): '\(value)'",
                 payload: [("field", .string(field)), ("value", .string(value))])
    }
    public static func invalidDirection(_ direction: String) -> APIError {
        APIError(code: 102, messageKey: "avalon.service.error.invalid_input_value", status: 400,
                 message: "Invalid sort direction '\(direction)'", payload: [("direction", .string(direction))])
    }
    public static func negative(_ field: String, _ value: Int64) -> APIError {
        APIError(code: 102, messageKey: "avalon.service.error.invalid_input_value", status: 400,
                 message: "The value of \(field) may not be negative", payload: [("field", .string(field)), ("value", .int(value))])
    }
    public static func unknown(_ message: String) -> APIError {
        APIError(code: 1, messageKey: "avalon.service.error.unknown", status: 500, message: message, payload: [])
    }
    public static func unavailable(_ message: String) -> APIError {
        APIError(code: 2, messageKey: "avalon.service.error.unavailable", status: 503, message: message, payload: [])
    }
    public static func notFound(_ path: String) -> APIError {
        APIError(code: 4, messageKey: "avalon.service.error.not_found", status: 404,
                 message: "No such endpoint: \(path)", payload: [("path", .string(path))])
    }
    public static func forbidden(_ message: String) -> APIError {
        APIError(code: 6, messageKey: "avalon.service.error.forbidden", status: 403, message: message, payload: [])
    }
    public static func methodNotAllowed(_ method: String) -> APIError {
        APIError(code: 5, messageKey: "avalon.service.error.method_not_allowed", status: 405,
                 message: "Method \(method) is not allowed", payload: [("method", .string(method))])
    }

    /// The whole response envelope for this error.
    public var body: [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.raw("{\"errors\": [{\"code\": ")
        w.int(Int64(code))
        w.raw(", \"message\": ")
        w.string(message)
        w.raw(", \"message_key\": ")
        w.string(messageKey)
        w.raw(", \"payload\": {")
        for (i, (k, v)) in payload.enumerated() {
            if i > 0 { w.raw(", ") }
            w.string(k)
            w.raw(": ")
            switch v {
            case .string(let s): w.string(s)
            case .int(let n): w.int(n)
            }
        }
        w.raw("}}], \"success\": null, \"warnings\": []}")
        return w.bytes
    }
}
